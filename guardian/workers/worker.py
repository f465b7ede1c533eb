"""One proxy worker process: the threaded core with its own policy, cache and TLS.

A worker accepts from the listening socket it shares with the others (inherited from
the supervisor) and runs the same `ProxyServer` as a single-process Guardian. What must
be single stays with the supervisor, and the worker talks to it over its channel:

- out: request records (in batches, every `SEND_SECONDS`; a record that finds the
  buffer full is dropped and counted, and the count goes to the request log's own drop
  counter), minutes counted against daily limits, devices seen, TLS trust answers;
- in: a new configuration (the worker rebuilds its policy, mostly from the on-disk
  index cache, and applies the settings, then says which generation it runs), minutes
  and bonus time other workers and parents added, a CA reload, cache questions, stop.

Pauses and allowances are read from their file, as the command line's changes always
were; the neighbour table is read from the kernel. Started by fork (the first workers,
right after the supervisor built the policy, so the index pages stay shared) or by exec
of this module (a worker started again after one died): `run()` is the same for both.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import gc
import logging
import operator
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, cast

from guardian.cache import Cache
from guardian.cli import configure_logging
from guardian.config import CacheConfig, Config, ProxyConfig
from guardian.lists import ListStore, sources_for
from guardian.policy import NeighbourTable, PauseStore, Policy, PolicyHolder, SeenDevices
from guardian.policy.limits import UsageMeter
from guardian.policy.settings_page import address_for_devices
from guardian.proxy.context import ProxyContext, ProxySettings
from guardian.proxy.cores import core_for
from guardian.proxy.server import ProxyServer
from guardian.records import RequestRecord
from guardian.signals import SignalInbox
from guardian.tls.authority import CAError, StoredAuthority, tls_dir
from guardian.tls.intercept import Interceptor
from guardian.tls.trust import TrustRecords, read_trust_file
from guardian.workers.channel import Channel, ChannelClosed
from guardian.workers.pacing import ConnectionShares, PacedListener

log = logging.getLogger("guardian.worker")

SEND_SECONDS = 0.1  # records reach the supervisor's log writers this often
NOTES_SECONDS = 0.5  # counted minutes and devices seen
PAUSES_SECONDS = 1.0
NEIGHBOURS_SECONDS = 2.0
USAGE_PRUNE_SECONDS = 60.0
MAX_BUFFERED = 10_000  # records waiting to be sent; beyond this they are dropped and counted
RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(RequestRecord))
_as_tuple = operator.attrgetter(*RECORD_FIELDS)


def record_from_tuple(values: tuple[Any, ...]) -> RequestRecord:
    return RequestRecord(*values)


def per_worker_cache(config: CacheConfig, count: int) -> CacheConfig:
    """Each worker keeps its own cache of `max_bytes / count`: the household's memory for
    the cache stays what it configured (docs/cache.md, "Several workers")."""
    max_bytes = max(1, config.max_bytes // count)
    return dataclasses.replace(config, max_bytes=max_bytes,
                               max_object_bytes=min(config.max_object_bytes, max_bytes))


def per_worker_limits(config: ProxyConfig, count: int) -> ProxyConfig:
    """Each worker counts only its own connections, so each enforces its share of the
    connection limits (rounded up): one device still cannot hold much more than
    `max_connections_per_client` in all, nor the household more than `max_connections`."""
    return dataclasses.replace(config, max_connections=-(-config.max_connections // count),
                               max_connections_per_client=-(-config.max_connections_per_client // count))


@dataclasses.dataclass
class WorkerParts:
    """What a worker decides with: inherited across fork, or built after an exec."""

    config: Config
    slot: int
    count: int
    client_header_secret: str
    list_store: ListStore
    pauses: PauseStore
    neighbours: NeighbourTable
    seen: SeenDevices
    usage: UsageMeter
    policy: PolicyHolder
    generation: int
    shares: ConnectionShares | None = None  # open connections per worker, for even shares


class RecordRelay:
    """The worker's recorder: request threads only append to a deque; the housekeeping
    thread sends batches to the supervisor."""

    def __init__(self, limit: int = MAX_BUFFERED) -> None:
        self.limit = limit
        self._pending: collections.deque[RequestRecord] = collections.deque()
        self._dropped = 0
        self._lock = threading.Lock()

    def record(self, record: RequestRecord) -> None:
        if len(self._pending) >= self.limit:
            self.drop(1)
            return
        self._pending.append(record)

    def drop(self, n: int) -> None:
        with self._lock:  # only taken when something is lost
            self._dropped += n

    def take(self) -> tuple[list[tuple[Any, ...]], int]:
        """The records buffered now, as tuples, and the drops since the last call."""
        pending = self._pending
        batch = [_as_tuple(pending.popleft()) for _ in range(len(pending))]
        with self._lock:
            dropped, self._dropped = self._dropped, 0
        return batch, dropped


class RelayedTrust(TrustRecords):
    """TLS trust answers: kept here for this worker's decisions and sent to the
    supervisor, which alone writes trust.json (several writers would lose answers)."""

    def __init__(self, channel: Channel, known: dict[str, tuple[bool, float]]) -> None:
        super().__init__(None)
        self._channel = channel
        self._seen.update(known)

    def note(self, client_ip: str, trusted: bool) -> None:
        before = self.status(client_ip)
        super().note(client_ip, trusted)
        if before is None or before[0] != trusted:
            with contextlib.suppress(ChannelClosed):
                self._channel.send("trust", client_ip, trusted)

    def learn(self, client_ip: str, trusted: bool) -> None:
        """Another worker's answer (no echo back)."""
        TrustRecords.note(self, client_ip, trusted)


class Worker:
    def __init__(self, parts: WorkerParts, listener: socket.socket, channel: Channel) -> None:
        self.parts = parts
        self.channel = channel
        self.relay = RecordRelay()
        config = parts.config
        self.ctx = ProxyContext(settings=ProxySettings.build(per_worker_limits(config.proxy, parts.count)),
                                decider=parts.policy,
                                recorder=self.relay, cache=Cache(per_worker_cache(config.cache, parts.count)))
        self.ctx.client_header_secret = parts.client_header_secret  # the settings page checks it
        self.ctx.tls = self._open_tls(config)
        self.paced: PacedListener | None = None
        if parts.shares is not None:
            self.paced = PacedListener(listener, parts.shares, parts.slot)
            listener = cast(socket.socket, self.paced)  # ProxyServer only accepts, closes and names it
        self.proxy = ProxyServer(self.ctx, listener)
        if self.paced is not None and parts.shares is not None:  # paced exactly when shares are kept
            self.paced.held = lambda: len(self.proxy.connections)
            parts.shares.set(parts.slot, 0)
        self.stopped = threading.Event()
        self._wanted: tuple[Config, int] | None = None
        self._rebuild = threading.Condition()
        self._freezer = RebuildFreezer()

    def _open_tls(self, config: Config) -> Interceptor | None:
        """The CA the supervisor made or loaded, loaded again by this process."""
        try:
            ca = StoredAuthority(config.data_dir)
        except CAError:
            return None  # the supervisor said why when it started
        interceptor = Interceptor(ca, config.https.leaf_cache_size, config.https.extra_ca_file,
                                  None, address_for_devices(config.web))
        trust_file = tls_dir(config.data_dir) / "trust.json"
        interceptor.trust = RelayedTrust(self.channel, read_trust_file(trust_file))
        return interceptor

    # ------------------------------------------------------------------ running

    def run(self) -> int:
        inbox = SignalInbox((signal.SIGTERM,))  # acted on below, not in a handler (signals.py)
        # Ctrl-C reaches the whole process group: the supervisor decides; logs are its job.
        for ignored in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
            signal.signal(ignored, signal.SIG_IGN)
        self.proxy.start(core_for(self.parts.slot))
        threading.Thread(target=self._housekeeping, name="worker-housekeeping", daemon=True).start()
        threading.Thread(target=self._rebuild_loop, name="worker-rebuild", daemon=True).start()
        threading.Thread(target=self._listen, name="worker-channel", daemon=True).start()
        with contextlib.suppress(ChannelClosed):
            self.channel.send("ready", os.getpid(), self.parts.generation)
        while not self.stopped.is_set():  # the supervisor's "stop" sets it: seen within 0.5 s
            if inbox.wait(0.5):
                self.stopped.set()
        self.proxy.stop(STOP_GRACE_SECONDS)
        with self._rebuild:
            self._rebuild.notify()
        with contextlib.suppress(ChannelClosed):
            self._send_notes()
            self._send_records()
        return 0

    def _listen(self) -> None:
        try:
            while True:
                self._handle(self.channel.recv())
        except ChannelClosed:
            pass
        except Exception:
            log.exception("proxy worker %d: cannot follow the supervisor; stopping", self.parts.slot)
        self.stopped.set()  # the supervisor has gone (or said stop): drain and end

    def _handle(self, message: tuple[Any, ...]) -> None:
        kind = message[0]
        if kind == "stop":
            self.stopped.set()
        elif kind == "config":
            with self._rebuild:
                self._wanted = (message[1], message[2])
                self._rebuild.notify()
        elif kind == "usage":
            self.parts.usage.merge(message[1])
            self.ctx.connections.wake()  # a limit may have run out for open tunnels
        elif kind == "bonus":
            for (day, who, limit), total in message[1].items():
                self.parts.usage.set_bonus(day, who, limit, total)
            self.ctx.connections.wake()
        elif kind == "trust":
            if self.ctx.tls is not None and isinstance(self.ctx.tls.trust, RelayedTrust):
                self.ctx.tls.trust.learn(message[1], message[2])
        elif kind == "ca-reload":
            self.ctx.tls = self._open_tls(self.parts.config)
        elif kind == "ask":  # answered aside, so this thread keeps reading whatever comes
            threading.Thread(target=self._reply, args=(message[1], message[2]), daemon=True).start()

    def _reply(self, number: int, question: str) -> None:
        with contextlib.suppress(ChannelClosed):
            self.channel.send("answer", number, self._answer(question))

    def _answer(self, question: str) -> Any:
        cache = self.ctx.cache
        if question == "cache-stats":
            return cache.stats() if cache is not None else {}
        if question == "cache-clear":
            return cache.clear() if cache is not None else 0
        return None

    def _rebuild_loop(self) -> None:
        """Newest configuration first: a burst of reloads costs at most one build each."""
        while not self.stopped.is_set():
            with self._rebuild:
                while self._wanted is None and not self.stopped.is_set():
                    self._rebuild.wait()
                wanted, self._wanted = self._wanted, None
            if wanted is None:
                return
            config, generation = wanted
            try:
                self._apply(config)
            except Exception:
                log.exception("proxy worker %d: the new rules could not be built; the old ones stay",
                              self.parts.slot)
                continue
            self.parts.generation = generation
            with contextlib.suppress(ChannelClosed):
                self.channel.send("rebuilt", generation)

    def _apply(self, config: Config) -> None:
        parts = self.parts
        parts.usage.set_zone(config.zone())
        new = build_policy(config, parts, previous=parts.policy.policy)
        parts.policy.swap(new)
        parts.config = config
        self._freezer.after_rebuild()
        self.ctx.settings = ProxySettings.build(per_worker_limits(config.proxy, parts.count))
        if self.ctx.tls is not None:
            self.ctx.tls.settings_address = address_for_devices(config.web)
        self.ctx.pool.close()  # pooled connections were checked against the old destination rules
        if self.ctx.cache is not None:
            self.ctx.cache.configure(per_worker_cache(config.cache, parts.count))
        self.ctx.connections.wake()

    # ------------------------------------------------------------------ what goes to the supervisor

    def _housekeeping(self) -> None:
        parts = self.parts
        due = dict.fromkeys(("notes", "pauses", "neighbours", "prune"), 0.0)
        try:
            while not self.stopped.wait(SEND_SECONDS):
                self._send_records()
                if parts.shares is not None:  # closed connections lower the count between accepts
                    parts.shares.set(parts.slot, len(self.proxy.connections))
                now = time.monotonic()
                if now >= due["notes"]:
                    due["notes"] = now + NOTES_SECONDS
                    self._send_notes()
                if now >= due["pauses"]:
                    due["pauses"] = now + PAUSES_SECONDS
                    parts.pauses.refresh()
                if now >= due["neighbours"]:
                    due["neighbours"] = now + NEIGHBOURS_SECONDS
                    parts.neighbours.refresh_if_due()
                if now >= due["prune"]:
                    due["prune"] = now + USAGE_PRUNE_SECONDS
                    parts.usage.flush()  # no store here: only forgets days before yesterday
        except ChannelClosed:
            self.stopped.set()
        except Exception:
            log.exception("proxy worker %d: housekeeping failed; stopping", parts.slot)
            self.stopped.set()

    def _send_records(self) -> None:
        batch, dropped = self.relay.take()
        try:
            if batch:
                self.channel.send("records", batch)
        except ChannelClosed:
            self.relay.drop(len(batch))
            raise
        if dropped:
            self.channel.send("dropped", dropped)

    def _send_notes(self) -> None:
        minutes = self.parts.usage.take_pending()
        if minutes:
            self.channel.send("usage", minutes)
        seen = self.parts.seen.take_pending()
        if seen:
            self.channel.send("seen", seen)


STOP_GRACE_SECONDS = 10.0


def build_policy(config: Config, parts: WorkerParts, previous: Policy | None) -> Policy:
    return Policy(config, sources_for(config, parts.list_store),
                  cache_dir=config.data_dir / "cache" / "filters", neighbours=parts.neighbours,
                  seen=parts.seen, pauses=parts.pauses, previous=previous, usage=parts.usage)


def freeze_long_lived_objects(full: bool = False) -> None:
    """As in the supervisor (service.py), the rule index out of the collector's view;
    but usually without unfreezing first: a full collection writes to every object's
    header, which would copy every page this worker still shares with the others. A
    replaced policy holds no cycles (a rebuild leaves 0 unreachable objects) and is freed
    by reference counting; what can be lost is a cycle of a request in flight at a freeze,
    so every FULL_COLLECTION_EVERY-th rebuild collects everything (`full`)."""
    if full:
        gc.unfreeze()
    gc.collect()
    gc.freeze()


FULL_COLLECTION_EVERY = 16


class RebuildFreezer:
    """`freeze_long_lived_objects` after each rebuild of a process that shares its pages
    (a worker, or the supervisor the workers were forked from): a full collection only
    every FULL_COLLECTION_EVERY-th rebuild."""

    def __init__(self) -> None:
        self._rebuilds = 0

    def after_rebuild(self) -> None:
        self._rebuilds += 1
        freeze_long_lived_objects(full=self._rebuilds % FULL_COLLECTION_EVERY == 0)


# ---------------------------------------------------------------------- started by exec

def parts_from_setup(setup: dict[str, Any], channel: Channel) -> WorkerParts:
    """A worker started again after one died: everything built here, from the files."""
    config: Config = setup["config"]
    data_dir = Path(config.data_dir)
    neighbours = NeighbourTable()
    neighbours.refresh()
    usage = UsageMeter(config.zone())
    counted, bonus = setup["usage"]
    usage.merge([(*key, minute) for key, minutes in counted.items() for minute in minutes])
    for (day, who, limit), total in bonus.items():
        usage.set_bonus(day, who, limit, total)
    parts = WorkerParts(config=config, slot=setup["slot"], count=setup["count"],
                        client_header_secret=setup["secret"], list_store=ListStore.for_data_dir(data_dir),
                        pauses=PauseStore.for_data_dir(data_dir), neighbours=neighbours,
                        seen=SeenDevices.for_data_dir(data_dir, neighbours), usage=usage,
                        # set just below: building the policy needs the parts first
                        policy=None, generation=setup["generation"],  # type: ignore[arg-type]
                        shares=ConnectionShares(setup["shares_fd"], setup["count"]) if setup["shares_fd"] >= 0
                        else None)
    parts.policy = PolicyHolder(build_policy(config, parts, previous=None))
    freeze_long_lived_objects()
    return parts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m guardian.workers.worker",
                                     description="a proxy worker; started by guardian serve, not by hand")
    parser.add_argument("--listener", type=int, required=True, help="inherited listening socket")
    parser.add_argument("--channel", type=int, required=True, help="inherited socket to the supervisor")
    parser.add_argument("--shares", type=int, default=-1, help="inherited memfd of the workers' connection counts")
    parser.add_argument("--quiet", action="store_true", help="warnings and errors only (guardian serve --quiet)")
    args = parser.parse_args(argv)
    configure_logging(args.quiet)
    # Until the worker's own handlers are in, a signal for the group must not kill the start.
    for ignored in (signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(ignored, signal.SIG_IGN)
    channel = Channel(socket.socket(fileno=args.channel))
    listener = socket.socket(fileno=args.listener)
    try:
        kind, setup = channel.recv()
    except ChannelClosed:
        return 1
    if kind != "setup":
        return 1
    parts = parts_from_setup({**setup, "shares_fd": args.shares}, channel)
    return Worker(parts, listener, channel).run()


if __name__ == "__main__":
    status = main()
    sys.stdout.flush()
    os._exit(status)
