"""The supervisor's side of `[proxy] workers = N`: start the workers, listen to them,
start one again when it dies, tell them about changes, stop them all.

The supervisor is the `guardian serve` process itself. It keeps everything that must be
single (the settings page, the scheduler and list refresh, the control socket, the
request-log and access-log writers, usage.db, devices_seen.json, trust.json) and runs
no proxy connections of its own. Each worker has one `Channel`, read here by one thread.

The workers share the one listening socket the supervisor opened, inherited across
fork: one accept queue, so a connection waiting to be accepted is never tied to a worker
that dies (with a socket per worker and SO_REUSEPORT, a dead worker's queue is reset).

The first workers are forked from the supervisor as soon as the policy is built and
frozen, before the supervisor starts its own threads, so they share its memory pages.
A worker started again later is exec'd afresh (a fork of a process with threads could
inherit a lock held by one of them): it builds its policy from the index cache.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from guardian.cache import Cache
from guardian.workers.channel import Channel, ChannelClosed
from guardian.workers.pacing import ConnectionShares
from guardian.workers.worker import (
    RebuildFreezer,
    Worker,
    WorkerParts,
    record_from_tuple,
)

if TYPE_CHECKING:
    from guardian.config import CacheConfig, Config
    from guardian.service import Guardian

log = logging.getLogger("guardian.workers")

ANSWER_SECONDS = 5.0  # a worker that does not answer a question in this long is left out
QUICK_DEATH_SECONDS = 5.0  # a worker that dies this soon after starting is started again more slowly
MAX_RESTART_DELAY = 30.0
CLEAN_EXIT_WAIT_SECONDS = 1.0  # a worker that stopped cleanly: is the whole service stopping?
REBUILD_WAIT_SECONDS = 10.0  # how long a reload waits for the workers to apply it


def _quiet() -> bool:
    """`serve --quiet` set the root logger to warnings: a worker started again says as little."""
    return logging.getLogger().level >= logging.WARNING


@dataclass
class Slot:
    """One worker: its place (0..N-1), its process and channel, what it reported."""

    index: int
    pid: int
    channel: Channel
    process: subprocess.Popen[bytes] | None = None  # set when exec'd
    generation: int = 0
    records: int = 0
    started: float = field(default_factory=time.monotonic)
    ready: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class Supervisor:
    def __init__(self, guardian: Guardian, count: int) -> None:
        self.guardian = guardian
        self.count = count
        self.listener: socket.socket = guardian.proxy.listener
        self.slots: dict[int, Slot] = {}
        self.stopping = threading.Event()
        self.restarts = 0
        self.dropped = 0  # records workers could not send (shown by `guardian stats` with the log's own)
        self._lock = threading.Lock()  # slots, questions; never held while sending
        self._config_lock = threading.Lock()  # the configuration sent: a worker being started cannot miss one
        self._config: Config = guardian.config
        self._generation = 0
        self._answers: dict[int, list[Any]] = {}
        self._answered = threading.Condition(self._lock)
        self._next_question = 0
        self._delays: dict[int, float] = {}
        self._freezer = RebuildFreezer()
        self.shares = ConnectionShares.create(count)

    # ------------------------------------------------------------------ starting

    def start(self, generation: int) -> None:
        """Fork the first workers. Called before the supervisor starts any thread of its own."""
        self._generation = generation
        for index in range(self.count):
            self._fork(index)
        self.guardian.usage.on_change(self._bonus_changed)

    def _fork(self, index: int) -> None:
        mine, theirs = Channel.pair()
        pid = os.fork()
        if pid == 0:  # the worker
            status = 1
            try:
                mine.close()
                status = self._run_forked(index, theirs)
            except BaseException:
                log.exception("proxy worker %d failed", index)
            finally:
                os._exit(status)  # no atexit or finalizers: the supervisor's files are not ours to close
        theirs.close()
        self._track(Slot(index, pid, mine))

    def _run_forked(self, index: int, channel: Channel) -> int:
        guardian = self.guardian
        if guardian.signals is not None:  # a signal now must not wake the supervisor's main loop
            guardian.signals.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as an exec'd worker, until Worker.run
        with contextlib.suppress(OSError):
            guardian.web_socket.close()
        guardian.usage.store = None  # the supervisor alone writes usage.db
        parts = WorkerParts(config=guardian.config, slot=index, count=self.count,
                            client_header_secret=guardian.client_header_secret, list_store=guardian.list_store,
                            pauses=guardian.pauses, neighbours=guardian.neighbours, seen=guardian.devices_seen,
                            usage=guardian.usage, policy=guardian.policy, generation=self._generation,
                            shares=self.shares)
        return Worker(parts, self.listener, channel).run()

    def _spawn(self, index: int) -> None:
        """A worker started again: a fresh interpreter given the socket and its channel."""
        mine, theirs = Channel.pair()
        fds = (self.listener.fileno(), theirs.fileno(), self.shares.fd)
        process = subprocess.Popen(
            [sys.executable, "-m", "guardian.workers.worker", "--listener", str(fds[0]), "--channel", str(fds[1]),
             "--shares", str(fds[2]), *(["--quiet"] if _quiet() else [])], pass_fds=fds, stdin=subprocess.DEVNULL)
        theirs.close()
        with self._config_lock:
            setup = {"config": self._config, "generation": self._generation, "slot": index, "count": self.count,
                     "secret": self.guardian.client_header_secret, "usage": self.guardian.usage.snapshot()}
            slot = Slot(index, process.pid, mine, process)
            with self._lock:
                self.slots[index] = slot
            with contextlib.suppress(ChannelClosed):
                mine.send("setup", setup)
        self._read_in_thread(slot)

    def _track(self, slot: Slot) -> None:
        with self._lock:
            self.slots[slot.index] = slot
        self._read_in_thread(slot)

    def _read_in_thread(self, slot: Slot) -> None:
        threading.Thread(target=self._read, args=(slot,), name=f"worker-{slot.index}", daemon=True).start()

    # ------------------------------------------------------------------ listening

    def _read(self, slot: Slot) -> None:
        try:
            while True:
                self._dispatch(slot, slot.channel.recv())
        except ChannelClosed:
            pass
        except Exception:
            log.exception("proxy worker %d: a message could not be handled; the worker is stopped", slot.index)
            with contextlib.suppress(OSError):
                os.kill(slot.pid, signal.SIGKILL)
        status, code = self._wait(slot)
        slot.channel.close()
        slot.done.set()
        lived = time.monotonic() - slot.started
        delay = min(MAX_RESTART_DELAY, max(0.5, 2 * self._delays.get(slot.index, 0.25))) \
            if lived < QUICK_DEATH_SECONDS else 0.0
        self._delays[slot.index] = delay
        if code == 0:
            # A worker ends cleanly only when told to stop: systemd signals the whole
            # group, and the supervisor's own SIGTERM may arrive a moment later.
            delay = max(delay, CLEAN_EXIT_WAIT_SECONDS)
        if self.stopping.wait(min(delay, CLEAN_EXIT_WAIT_SECONDS)) or self.guardian.stopped.is_set():
            return
        delay -= min(delay, CLEAN_EXIT_WAIT_SECONDS)
        log.warning("proxy worker %d (process %d) ended (%s) after %.0f s; its open connections were lost; "
                    "starting it again%s", slot.index, slot.pid, status, lived,
                    f" in {delay:.1f} s" if delay else "")
        while not self.stopping.wait(delay):
            try:
                self._spawn(slot.index)
            except OSError as exc:  # out of processes or file descriptors: try again
                delay = MAX_RESTART_DELAY
                log.error("proxy worker %d cannot be started (%s); trying again in %.0f s", slot.index, exc, delay)
                continue
            self.restarts += 1
            return

    @staticmethod
    def _wait(slot: Slot) -> tuple[str, int]:
        if slot.process is not None:
            code = slot.process.wait()
        else:
            _, raw = os.waitpid(slot.pid, 0)
            code = os.waitstatus_to_exitcode(raw)
        return (f"killed by signal {-code}" if code < 0 else f"exit status {code}"), code

    def _dispatch(self, slot: Slot, message: tuple[Any, ...]) -> None:
        kind = message[0]
        guardian = self.guardian
        if kind == "records":
            record = guardian.ctx.recorder.record
            for values in message[1]:
                record(record_from_tuple(values))
            slot.records += len(message[1])
        elif kind == "dropped":
            self._count_dropped(slot, message[1])
        elif kind == "usage":
            guardian.usage.merge(message[1], keep=True)
            self._broadcast(("usage", message[1]), but=slot)
        elif kind == "seen":
            for ip, when in message[1].items():
                guardian.devices_seen.note(ip, when)
        elif kind == "trust":
            if guardian.ctx.tls is not None:
                guardian.ctx.tls.trust.note(message[1], message[2])
            self._broadcast(("trust", message[1], message[2]), but=slot)
        elif kind == "rebuilt":
            with self._answered:
                slot.generation = message[1]
                self._answered.notify_all()
        elif kind == "ready":
            slot.pid, slot.generation = message[1], message[2]
            slot.ready.set()
            log.info("proxy worker %d (process %d) is serving", slot.index, slot.pid)
        elif kind == "answer":
            with self._answered:
                if message[1] in self._answers:
                    self._answers[message[1]].append(message[2])
                    self._answered.notify_all()

    def _count_dropped(self, slot: Slot, n: int) -> None:
        self.dropped += n
        guardian = self.guardian
        if guardian.log_store is not None:
            guardian.log_store.count_dropped(n)
        if guardian.access_log is not None:
            guardian.access_log.count_dropped(n)
        log.warning("proxy worker %d could not pass on %d request records (%d in all since the start)",
                    slot.index, n, self.dropped)

    # ------------------------------------------------------------------ telling the workers

    def _broadcast(self, message: tuple[Any, ...], but: Slot | None = None) -> None:
        with self._lock:
            slots = [s for s in self.slots.values() if s is not but]
        for slot in slots:
            with contextlib.suppress(ChannelClosed):
                slot.channel.send(*message)

    def send_config(self, config: Config, generation: int) -> None:
        """A rebuilt policy: every worker builds its own from the same configuration and lists."""
        with self._config_lock:
            self._config, self._generation = config, generation
            with self._lock:
                slots = list(self.slots.values())
            for slot in slots:
                with contextlib.suppress(ChannelClosed):
                    slot.channel.send("config", config, generation)

    def wait_for(self, generation: int, timeout: float = REBUILD_WAIT_SECONDS) -> bool:
        """Wait until every serving worker runs `generation` (or a later one): a reload,
        an edit or a list refresh is in force everywhere when it says it is done."""
        deadline = time.monotonic() + timeout
        with self._answered:
            while True:
                behind = [s for s in self.slots.values()
                          if s.ready.is_set() and not s.done.is_set() and s.generation < generation]
                left = deadline - time.monotonic()
                if not behind:
                    log.info("every proxy worker runs generation %d (%.2f s after the supervisor's)",
                             generation, timeout - left)
                    return True
                if left <= 0:
                    log.warning("proxy workers %s have not applied the new rules yet",
                                ", ".join(str(s.index) for s in behind))
                    return False
                self._answered.wait(min(left, 0.5))

    def freeze_after_rebuild(self) -> None:
        """The supervisor's own rebuilt policy out of the collector's view, the way a
        worker does it (worker.RebuildFreezer): a full collection each time
        would copy every page it shares with the workers forked from it."""
        self._freezer.after_rebuild()

    def reload_ca(self) -> None:
        self._broadcast(("ca-reload",))

    def _bonus_changed(self) -> None:
        self._broadcast(("bonus", self.guardian.usage.snapshot()[1]))

    def ask(self, question: str) -> list[Any]:
        """Ask every worker; the answers of those that answered within ANSWER_SECONDS."""
        with self._lock:
            self._next_question += 1
            number = self._next_question
            answers: list[Any] = []
            self._answers[number] = answers
            slots = list(self.slots.values())
        asked = 0
        for slot in slots:
            with contextlib.suppress(ChannelClosed):
                slot.channel.send("ask", number, question)
                asked += 1
        deadline = time.monotonic() + ANSWER_SECONDS
        with self._answered:
            while len(answers) < asked and (left := deadline - time.monotonic()) > 0:
                self._answered.wait(left)
            del self._answers[number]
        return list(answers)

    def status(self) -> dict[str, Any]:
        with self._lock:
            slots = sorted(self.slots.values(), key=lambda s: s.index)
        return {"workers": [{"slot": s.index, "pid": s.pid, "generation": s.generation, "records": s.records,
                             "serving": s.ready.is_set() and not s.done.is_set()} for s in slots],
                "restarts": self.restarts, "dropped": self.dropped, "generation": self._generation,
                "connections": self.shares.snapshot()}

    # ------------------------------------------------------------------ stopping

    def stop(self, grace: float) -> None:
        """Every worker finishes what is in flight (within `grace`), sends its last
        records, and ends; one that does not is killed."""
        self.stopping.set()
        self._broadcast(("stop",))
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes every worker's accept
        deadline = time.monotonic() + grace + 5
        with self._lock:
            slots = list(self.slots.values())
        for slot in slots:
            if not slot.done.wait(max(0.0, deadline - time.monotonic())):
                log.warning("proxy worker %d (process %d) did not stop in time; ending it", slot.index, slot.pid)
                with contextlib.suppress(OSError):
                    os.kill(slot.pid, signal.SIGKILL)
                slot.done.wait(5)
        with contextlib.suppress(OSError):
            self.listener.close()


class WorkerCaches:
    """The settings page's and the command line's view of the workers' caches, summed."""

    def __init__(self, supervisor: Supervisor) -> None:
        self._supervisor = supervisor

    @property
    def config(self) -> CacheConfig:
        return self._supervisor.guardian.config.cache

    def configure(self, config: CacheConfig) -> None:
        """Nothing here: each worker applies the configuration it is sent (max_bytes / N)."""

    def stats(self) -> dict[str, int]:
        total = dict.fromkeys(Cache(self.config).stats(), 0)  # every counter, even with no answer
        for stats in self._supervisor.ask("cache-stats"):
            for key, value in stats.items():
                total[key] = total.get(key, 0) + value
        return total

    def clear(self) -> int:
        return sum(self._supervisor.ask("cache-clear"))
