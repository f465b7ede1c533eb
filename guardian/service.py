"""`guardian serve`: builds every part from the configuration and runs them together.

This is the one place that knows all the parts. The proxy core gets two hooks: the
policy (a PolicyHolder, rebuilt off the request path and swapped on reload or after a
list refresh) and a recorder (the access log and the SQLite log store). Around them run
the static-asset cache, the list store with its nightly refresh, the log store's
roll-up and retention jobs (APScheduler), the control socket for the command line, and
the settings page.

Signals: SIGHUP (or the file changing on disk) reloads the configuration, keeping the
old one if the new one is invalid; SIGUSR1 reopens log files; SIGTERM/SIGINT stop
gracefully, letting requests in flight finish within a bound.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import hashlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from guardian.accesslog import AccessLog
from guardian.cache import Cache
from guardian.config import Address, Config, ConfigError, find_config_path, load_config, worker_count
from guardian.config_edit import edit_config
from guardian.control import ControlServer
from guardian.fsutil import private_dir, remove_stale_temp_files
from guardian.lastgood import find_problems_in, load_at_start, load_file, restore_last_good, write_text
from guardian.lists import ListStore, RefreshSummary, refresh_lists, register_refresh_job, sources_for
from guardian.logstore import LogQueries, LogStore, register_jobs
from guardian.logstore.usage import UsageStore
from guardian.policy import NeighbourTable, PauseStore, Policy, PolicyHolder, SeenDevices
from guardian.policy.decide import missing_list_problem
from guardian.policy.limits import UsageMeter
from guardian.policy.settings_page import address_for_devices
from guardian.policy.usage import add_minutes, usage_rows
from guardian.proxy.context import FanOutRecorder, ProxyContext, ProxySettings
from guardian.proxy.cores import core_for, threads_started_on
from guardian.proxy.server import ProxyServer, open_listener
from guardian.signals import SignalInbox
from guardian.tls.authority import CAError, StoredAuthority, authority_for_service, household_name, tls_dir
from guardian.tls.intercept import Interceptor
from guardian.web.lazy import LazySettingsPage
from guardian.web.services import ConfigConflict
from guardian.workers.supervisor import Supervisor, WorkerCaches
from guardian.workers.worker import freeze_long_lived_objects

log = logging.getLogger("guardian")
# Where Guardian listens: the lines `guardian serve --quiet` (make run) keeps besides warnings.
started_log = logging.getLogger("guardian.started")

CONFIG_POLL_SECONDS = 2.0
RESTART_EXIT_STATUS = 75  # "try again": the systemd unit's Restart=on-failure starts Guardian again
STOP_GRACE_SECONDS = 10.0
SEEN_DEVICES_FLUSH_SECONDS = 60
# Requests read snapshots of the neighbour table and the pauses; these jobs keep them fresh.
NEIGHBOURS_CHECK_SECONDS = 2
PAUSES_CHECK_SECONDS = 1
USAGE_FLUSH_SECONDS = 30  # a power cut loses at most this much counted time (well under a minute)


@dataclasses.dataclass(frozen=True)
class Overrides:
    """Command-line settings that win over the file, on start and on every reload."""

    listen: Address | None = None
    web_listen: Address | None = None
    data_dir: Path | None = None

    def apply(self, config: Config) -> Config:
        if self.listen:
            config = dataclasses.replace(config, proxy=dataclasses.replace(config.proxy, listen=self.listen))
        if self.web_listen:
            config = dataclasses.replace(config, web=dataclasses.replace(config.web, listen=self.web_listen))
        if self.data_dir:
            config = dataclasses.replace(config, data_dir=self.data_dir)
        return config


class Guardian:
    def __init__(self, config_path: str | None, overrides: Overrides, *, last_good: bool = True,
                 processes: bool = False) -> None:
        """`processes`: run `[proxy] workers` proxy processes (`guardian serve`), and build
        indexes from list texts and the first CA in helper processes; without it (tests,
        embedding) everything runs in this process whatever the setting says."""
        self.config_path = find_config_path(config_path)
        self.overrides = overrides
        # An invalid file with a last-known-good copy: run on the copy, and say so everywhere
        # (unless last_good is False: `serve --no-last-good` then stops with the problems).
        self.config_problems: list = []
        if self.config_path is None:
            loaded = load_config(None)
        elif not last_good:
            loaded = load_file(self.config_path)
        else:
            start = load_at_start(self.config_path)
            loaded, self.config_problems = start.config, start.problems
        self.config = overrides.apply(loaded)
        self.started_config = self.config  # what the sockets, files and log were opened with
        self.data_dir = self.config.data_dir
        private_dir(self.data_dir)  # the browsing history lives here: 0700 whatever the umask
        config_file = Path(self.config_path) if self.config_path else None
        for leftover in remove_stale_temp_files(self.data_dir) + (
                remove_stale_temp_files(config_file.parent, config_file.name, recursive=False) if config_file else []):
            log.info("removed %s, left over from a write that was interrupted", leftover)
        self.stopped = threading.Event()
        self.exit_status = 0
        self.restart_changes: list[str] = []  # keys changed in the file that wait for a restart
        self._reload_lock = threading.Lock()
        self._rebuild_lock = threading.Lock()
        self._generation_lock = threading.Lock()
        self._generation_wanted = self._generation_built = 0
        self._config_mtime = self._mtime()
        self.worker_count = worker_count(self.config.proxy) if processes else 1
        # helpers for builds and the first CA: this long-running process never carries their
        # garbage or the certificate code (docs/architecture.md, "What is loaded when")
        self.processes = processes
        self.supervisor: Supervisor | None = None
        self.signals: SignalInbox | None = None  # run_forever's: a forked worker closes its copy

        # A failure part-way (a port in use, an unreadable file) must leave nothing behind:
        # every part that holds a socket or a thread is closed again before the error leaves.
        with contextlib.ExitStack() as undo:
            self._build_parts(undo)
            undo.pop_all()

    def _build_parts(self, undo: contextlib.ExitStack) -> None:
        self.list_store = ListStore.for_data_dir(self.data_dir)
        self.pauses = PauseStore.for_data_dir(self.data_dir)
        self.neighbours = NeighbourTable()
        self.devices_seen = SeenDevices.for_data_dir(self.data_dir, self.neighbours)
        self.usage_store = UsageStore.for_data_dir(self.data_dir)
        self.usage = UsageMeter(self.config.zone(), self.usage_store)
        self._fetch_missing_local_lists()
        self.policy = PolicyHolder(self._build_policy(self.config, previous=None))
        _freeze_long_lived_objects()
        self._problems_logged: frozenset[str] = frozenset()
        self._log_problems(self.policy.policy)
        cache = Cache(self.config.cache)
        # What the page and the command line manage: the one cache, or the workers' (start()).
        self.cache: Cache | WorkerCaches = cache
        # One process: the log writers take a share of every request, so they run on the
        # proxy's core too (cores.py); with workers, they are the supervisor's and run anywhere.
        self.proxy_core = core_for(0) if self.worker_count == 1 else None
        with threads_started_on(self.proxy_core):
            self.log_store = self._open_log_store()
            if self.log_store is not None:
                undo.callback(self.log_store.close)
            self.access_log = None
            if self.config.proxy.access_log:
                self.access_log = AccessLog(self.data_dir / "logs" / "access.log",
                                            self.config.proxy.access_log_max_mb * 2**20,
                                            self.config.proxy.access_log_keep, detail=self.config.log.detail)
                undo.callback(self.access_log.close)
        recorders = [r for r in (self.access_log, self.log_store) if r is not None]
        self.ctx = ProxyContext(settings=ProxySettings.build(self.config.proxy),
                                decider=self.policy, recorder=FanOutRecorder(*recorders), cache=cache)
        self.client_header_secret = self.ctx.client_header_secret
        self.ctx.tls = self._open_tls()
        listener = undo.enter_context(open_listener(self.config.proxy.listen))
        self.proxy = ProxyServer(self.ctx, listener)
        self.scheduler = BackgroundScheduler(timezone=self.config.zone())
        self.control: ControlServer | None = None
        web_socket = undo.enter_context(open_listener(self.config.web.listen, "the settings page"))
        self.web_socket = web_socket  # a forked proxy worker closes its copy
        # Made once both ports are bound, so it logs the set-up code only for a start that works.
        # The page itself (Flask) loads when its first visitor arrives (guardian/web/lazy.py).
        self.web_server = LazySettingsPage(self, web_socket)
        undo.callback(self.web_server.close)

    # ------------------------------------------------------------------ the parts

    @property
    def log_queries(self) -> LogQueries | None:
        return self.log_store.queries if self.log_store is not None else None

    def _open_log_store(self) -> LogStore | None:
        if not self.config.log.enabled:
            return None
        try:
            return LogStore(self.data_dir / "guardian.db", detail=self.config.log.detail,
                            keep_days=self.config.log.keep_days, max_mb=self.config.log.max_mb)
        except Exception:
            # Guardian always starts: without its log rather than not at all.
            log.exception("the request log cannot be opened; running without it")
            return None

    def _open_tls(self) -> Interceptor | None:
        """Guardian's certificate authority (made on the very first start) for HTTPS block pages."""
        try:
            ca = authority_for_service(self.data_dir, household_name(self.config.https.name), aside=self.processes)
        except CAError as exc:
            log.warning("HTTPS block pages are off: %s", exc)
            return None
        log.info("HTTPS: Guardian's certificate is %r (SHA-256 %s)", ca.common_name, ca.fingerprint())
        return Interceptor(ca, self.config.https.leaf_cache_size, self.config.https.extra_ca_file,
                           tls_dir(self.data_dir) / "trust.json", address_for_devices(self.config.web))

    def _fetch_missing_local_lists(self) -> None:
        """Lists on this machine (paths, file:// URLs) are stored before the first build,
        so they apply from the first request; remote ones arrive with the first refresh."""
        missing = [e.id for e in self.config.lists
                   if e.enabled and not e.url.startswith(("http://", "https://", "builtin:"))
                   and not self.list_store.has_copy(e.id)]
        if missing:
            for result in refresh_lists(self.config, self.list_store, missing).results:
                log.info("list %s: %s", result.id, result.message)

    def _build_policy(self, config: Config, previous: Policy | None) -> Policy:
        return Policy(config, sources_for(config, self.list_store), cache_dir=self.data_dir / "cache" / "filters",
                      neighbours=self.neighbours, seen=self.devices_seen, pauses=self.pauses, previous=previous,
                      usage=self.usage, build_aside=self.processes)

    def rebuild_policy(self, why: str = "lists changed") -> None:
        """The one way a new policy comes in (reload, list refresh, edits): build from the
        latest configuration and the stored lists as they are when the build starts, then
        swap it in. Callers change what a build reads first, then call this.

        Each call asks for a new generation. Builds run one at a time; a build takes the
        newest generation asked for when it starts, so one that started after a call
        covers it, and that call returns at once instead of building again. Two changes
        racing (a reload and a list refresh) can therefore never leave in force a policy
        built without one of them, and a burst of changes costs at most two builds."""
        with self._generation_lock:
            self._generation_wanted += 1
            wanted = self._generation_wanted
        with self._rebuild_lock:
            if self._generation_built >= wanted:
                return
            with self._generation_lock:
                target = self._generation_wanted
            config = self.config
            new = self._build_policy(config, previous=self.policy.policy)
            self.policy.swap(new)
            self._generation_built = target
            if self.supervisor is None:
                _freeze_long_lived_objects()
            else:  # as the workers do: keep the pages this process shares with them
                self.supervisor.freeze_after_rebuild()
                self.supervisor.send_config(config, target)
        self.ctx.connections.wake()  # open tunnels the new rules block are closed now
        if self.supervisor is not None:
            self.supervisor.wait_for(target)
        self._log_problems(new)
        log.info("policy rebuilt (generation %d, %s): %d profiles", target, why, len(config.profiles))

    def _log_problems(self, policy: Policy) -> None:
        """Each problem is logged when it appears, not again at every rebuild while it stays. A list
        never downloaded yet is news, not a problem: on a first start it is on its way."""
        problems = frozenset(policy.problems)
        new, self._problems_logged = problems - self._problems_logged, problems
        for problem in policy.problems:
            if problem not in new:
                continue
            missing = next((i for i in policy.missing_lists if missing_list_problem(i) == problem), None)
            if missing is not None and self.list_store.load_meta(missing) is None:
                log.info("list %r is not downloaded yet; it applies once it is", missing)
            else:
                log.warning("configuration: %s", problem)

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        if self.worker_count > 1:
            # First, while this process has no threads of its own running requests or jobs:
            # the workers are forked with the built policy and share its pages.
            self.supervisor = Supervisor(self, self.worker_count)
            self.supervisor.start(self._generation_built)
            self.cache = WorkerCaches(self.supervisor)
        else:
            self.proxy.start(self.proxy_core)
        host, port = self.proxy.address
        started_log.info("Guardian proxy listening on %s:%s (config: %s, data: %s%s)", host, port,
                         self.config.source, self.data_dir,
                         f", {self.worker_count} worker processes" if self.supervisor is not None else "")
        register_refresh_job(self.scheduler, lambda: self.config, self.list_store, self.rebuild_policy)
        if self.log_store is not None:
            register_jobs(self.scheduler, self.log_store)
        self.scheduler.add_job(self.devices_seen.flush, "interval", seconds=SEEN_DEVICES_FLUSH_SECONDS,
                               id="guardian-devices-seen", coalesce=True, max_instances=1)
        self.neighbours.refresh()
        self.scheduler.add_job(self.neighbours.refresh_if_due, "interval", seconds=NEIGHBOURS_CHECK_SECONDS,
                               id="guardian-neighbours", coalesce=True, max_instances=1)
        self.scheduler.add_job(self.pauses.refresh, "interval", seconds=PAUSES_CHECK_SECONDS,
                               id="guardian-pauses", coalesce=True, max_instances=1)
        self.scheduler.add_job(self.usage.flush, "interval", seconds=USAGE_FLUSH_SECONDS,
                               id="guardian-usage-flush", coalesce=True, max_instances=1)
        self.scheduler.start()
        self.control = ControlServer(self.data_dir, self._control_handlers())
        threading.Thread(target=self._serve_web, name="settings-page", daemon=True).start()
        started_log.info("settings page on http://%s/", self.web_address())
        threading.Thread(target=self._watch_config, name="config-watch", daemon=True).start()

    def _serve_web(self) -> None:
        try:
            self.web_server.run()
        except (OSError, ValueError):
            # close() from stop() pulls the socket out from under waitress's select loop
            if not self.stopped.is_set():
                raise

    def run_forever(self) -> int:
        # Signals wait in the inbox until start() is done; the main thread acts on them (signals.py).
        inbox = self.signals = SignalInbox((signal.SIGHUP, signal.SIGUSR1, signal.SIGTERM, signal.SIGINT))
        self.start()
        while not self.stopped.is_set():  # restart() sets it from another thread: seen within 0.5 s
            asked = set(inbox.wait(0.5))  # a burst of the same signal is one request
            if asked & {signal.SIGTERM, signal.SIGINT}:
                break
            if signal.SIGHUP in asked:
                threading.Thread(target=self.reload, name="reload", daemon=True).start()
            if signal.SIGUSR1 in asked:
                self.reopen_logs()
        log.info("stopping: finishing requests in flight (at most %.0f s)", STOP_GRACE_SECONDS)
        self.stop()
        return self.exit_status

    def stop(self) -> None:
        self.stopped.set()
        if self.control is not None:
            self.control.close()
        self.web_server.close()
        if self.supervisor is not None:
            self.supervisor.stop(STOP_GRACE_SECONDS)  # the workers' last records arrive before the logs close
        else:
            self.proxy.stop(STOP_GRACE_SECONDS)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.devices_seen.flush()
        self.usage.flush()
        self.usage_store.close()
        if self.log_store is not None:
            self.log_store.close()
        if self.access_log:
            self.access_log.close()

    def reopen_logs(self) -> None:
        if self.access_log:
            self.access_log.reopen()

    # ------------------------------------------------------------------ reloading

    def _mtime(self) -> float | None:
        try:
            return os.stat(self.config_path).st_mtime if self.config_path else None
        except OSError:
            return None

    def _watch_config(self) -> None:
        while not self.stopped.wait(CONFIG_POLL_SECONDS):
            mtime = self._mtime()
            if mtime != self._config_mtime:
                self._config_mtime = mtime
                self.reload()

    def reload(self) -> bool:
        """Load the configuration again and apply it; an invalid file leaves the old one in force."""
        with self._reload_lock:
            self._config_mtime = self._mtime()
            try:
                new = self.overrides.apply(load_file(self.config_path) if self.config_path
                                           else load_config(None))
            except ConfigError as exc:
                log.error("configuration not reloaded, the old one stays in force: %s", exc)
                if self.config_path is not None:
                    self.config_problems = find_problems_in(self.config_path)
                return False
            self.config_problems = []
            self.restart_changes = _restart_only_changes(self.started_config, new)
            for changed in self.restart_changes:
                log.warning("%s: the change takes effect after a restart", changed)
            # The settings page keeps listening where it started until a restart; route to it there.
            new = dataclasses.replace(new, web=dataclasses.replace(new.web, listen=self.started_config.web.listen))
            if new == self.config:
                # The same configuration again (the file watcher after a settings-page edit that
                # was applied already, a touch): nothing to rebuild.
                log.info("configuration reloaded from %s: unchanged, nothing to rebuild", new.source)
                return True
            self.config = new
            self.usage.set_zone(new.zone())
            self.rebuild_policy("configuration reloaded")
            self.ctx.settings = ProxySettings.build(new.proxy)
            if self.ctx.tls is not None:  # the settings page's names may have changed
                self.ctx.tls.settings_address = address_for_devices(new.web)
            # pooled connections were checked against the old destination rules
            self.ctx.pool.close()
            self.cache.configure(new.cache)
            if self.access_log is not None:
                self.access_log.detail = new.log.detail
            if self.log_store is not None:
                self.log_store.detail = new.log.detail
                self.log_store.keep_days, self.log_store.max_mb = new.log.keep_days, new.log.max_mb
            if self.scheduler.running:
                register_refresh_job(self.scheduler, lambda: self.config, self.list_store, self.rebuild_policy)
            log.info("configuration reloaded from %s", new.source)
            return True

    # ------------------------------------------------------------------ what the CLI and the settings page call

    def refresh_lists(self, ids: list[str] | None = None, force: bool = False) -> RefreshSummary:
        summary = refresh_lists(self.config, self.list_store, ids, force=force)
        if summary.changed:
            self.rebuild_policy()
        return summary

    def writable_config_path(self) -> Path:
        """Where edits go: the file in use, or ./guardian.toml (found first on the next start) for the defaults."""
        return self.config_path or Path("guardian.toml").resolve()

    def config_version(self) -> str:
        try:
            text = self.writable_config_path().read_bytes()
        except FileNotFoundError:
            text = b""
        return hashlib.sha256(text).hexdigest()

    def apply_config_edit(self, mutate: Callable[[Any], None], expected_version: str | None = None) -> Config:
        """Validate and write an edit (keeping comments), then apply it live."""
        with self._reload_lock:
            if expected_version is not None and expected_version != self.config_version():
                raise ConfigConflict("the configuration was changed elsewhere since this page was loaded")
            path = self.writable_config_path()
            edit_config(self.config_path, mutate, create_at=path)
            if self.config_path is None:
                self.config_path = path
        self.reload()
        return self.config

    def replace_config_text(self, text: str, expected_version: str | None = None) -> bool:
        """Write a whole new file text (the settings page's fix-the-file form), then reload."""
        with self._reload_lock:
            if expected_version is not None and expected_version != self.config_version():
                raise ConfigConflict("the configuration was changed elsewhere since this page was loaded")
            write_text(self.writable_config_path(), text)
            self.config_path = self.writable_config_path()
        return self.reload()

    def restore_last_good(self) -> bool:
        """Put the last-known-good copy back over an invalid file, then reload."""
        if self.config_path is None:
            return False
        with self._reload_lock:
            restore_last_good(self.config_path)
        return self.reload()

    def can_restart(self) -> bool:
        """True under systemd (which starts the service again when it exits with a failure status)."""
        return bool(os.environ.get("INVOCATION_ID"))

    def restart(self) -> None:
        """Stop gracefully with the status that makes systemd start Guardian again."""
        if not self.can_restart():
            raise RuntimeError("not running under systemd: nothing would start Guardian again")
        log.warning("restarting at a parent's request, for: %s", ", ".join(self.restart_changes) or "no change")
        self.exit_status = RESTART_EXIT_STATUS
        self.stopped.set()

    def proxy_address(self) -> str:
        return _public_address(self.config.proxy.listen)

    def web_address(self) -> str:
        return _public_address(self.config.web.listen)

    def _control_handlers(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        def lists_update(request: dict[str, Any]) -> dict[str, Any]:
            ids = request.get("ids") or None
            summary = self.refresh_lists(list(ids) if ids else None, bool(request.get("force")))
            return {"ok": not summary.failed,
                    "results": [{"id": r.id, "outcome": r.outcome, "message": r.message} for r in summary.results]}

        def reload(_: dict[str, Any]) -> dict[str, Any]:
            return {"ok": self.reload()}

        def cache_stats(_: dict[str, Any]) -> dict[str, Any]:
            return {"ok": True, "stats": self.cache.stats()}

        def cache_clear(_: dict[str, Any]) -> dict[str, Any]:
            return {"ok": True, "cleared": self.cache.clear()}

        def ca_reload(_: dict[str, Any]) -> dict[str, Any]:
            try:
                ca = StoredAuthority(self.data_dir)
            except CAError as exc:
                return {"ok": False, "error": str(exc)}
            self.ctx.tls = Interceptor(ca, self.config.https.leaf_cache_size, self.config.https.extra_ca_file,
                                       tls_dir(self.data_dir) / "trust.json", address_for_devices(self.config.web))
            if self.supervisor is not None:
                self.supervisor.reload_ca()
            return {"ok": True}

        def usage(request: dict[str, Any]) -> dict[str, Any]:
            return {"ok": True, "rows": usage_rows(self.policy.policy, request.get("device"))}

        def usage_add(request: dict[str, Any]) -> dict[str, Any]:
            return add_minutes(self.policy.policy, str(request.get("device")), str(request.get("service")),
                               int(request.get("minutes", 0)))

        def workers(_: dict[str, Any]) -> dict[str, Any]:
            if self.supervisor is None:
                return {"ok": True, "workers": [], "restarts": 0, "dropped": 0, "generation": self._generation_built}
            return {"ok": True, **self.supervisor.status()}

        return {"lists-update": lists_update, "reload": reload, "cache-stats": cache_stats,
                "cache-clear": cache_clear, "ca-reload": ca_reload, "usage": usage, "usage-add": usage_add,
                "workers": workers}


def _restart_only_changes(started: Config, new: Config) -> list[str]:
    """Keys whose new values only apply at the next start (they name sockets and files)."""
    pairs = {
        "proxy.listen": (started.proxy.listen, new.proxy.listen),
        "web.listen": (started.web.listen, new.web.listen),
        "data_dir": (started.data_dir, new.data_dir),
        "proxy.access_log": (started.proxy.access_log, new.proxy.access_log),
        "proxy.access_log_max_mb": (started.proxy.access_log_max_mb, new.proxy.access_log_max_mb),
        "proxy.access_log_keep": (started.proxy.access_log_keep, new.proxy.access_log_keep),
        "log.enabled": (started.log.enabled, new.log.enabled),
        "proxy.workers": (started.proxy.workers, new.proxy.workers),
    }
    return [key for key, (before, after) in pairs.items() if before != after]


def _freeze_long_lived_objects() -> None:
    """Move everything alive now (the filter engines' hundreds of thousands of objects)
    out of the cyclic garbage collector's view. Without this every full collection walks
    the whole rule index while requests wait. Frozen objects are freed by reference
    counting when a later rebuild drops them, but cycles among them never would be: so
    each rebuild first unfreezes, collects what the old snapshot left in cycles (one full
    collection per rebuild, off the request path), then freezes what is alive now."""
    freeze_long_lived_objects(full=True)
    _return_free_memory()


def _return_free_memory() -> None:
    """Give the pages a policy build freed back to the system (glibc keeps them otherwise:
    a first build from list texts left about 20 MiB resident that nothing used)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _public_address(address: Address) -> str:
    """The address a device on the network should use: the Pi's own when listening on all."""
    host = address.host
    if host in ("0.0.0.0", "::"):
        host = _primary_ip()
    return f"[{host}]:{address.port}" if ":" in host else f"{host}:{address.port}"


def _primary_ip() -> str:
    # A UDP "connect" sends nothing; it only asks the kernel which source address it would use.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"
