"""`guardian serve`: builds every part from the configuration and runs them together.

This is the one place that knows all the parts: the proxy core, the access log, and
the services that plug into the core's two hooks. Signals: SIGHUP (or the file
changing on disk) reloads the configuration, keeping the old one if the new one is
invalid; SIGUSR1 reopens log files; SIGTERM/SIGINT stop gracefully.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
from pathlib import Path

from guardian.accesslog import AccessLog
from guardian.config import Address, Config, ConfigError, find_config_path, load_config
from guardian.proxy.context import FanOutRecorder, ProxyContext, ProxySettings
from guardian.proxy.server import ProxyServer, open_listener

log = logging.getLogger("guardian")

CONFIG_POLL_SECONDS = 2.0
STOP_GRACE_SECONDS = 10.0


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
    def __init__(self, config_path: str | None, overrides: Overrides) -> None:
        self.config_path = find_config_path(config_path)
        self.overrides = overrides
        self.config = overrides.apply(load_config(self.config_path))
        self.data_dir = self.config.data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.stopped = threading.Event()
        self._reload_lock = threading.Lock()
        self._config_mtime = self._mtime()

        self.access_log = None
        if self.config.proxy.access_log:
            self.access_log = AccessLog(self.data_dir / "logs" / "access.log",
                                        self.config.proxy.access_log_max_mb * 2**20, self.config.proxy.access_log_keep)
        self.recorder = FanOutRecorder(*[r for r in (self.access_log,) if r is not None])
        self.ctx = ProxyContext(settings=ProxySettings.build(self.config.proxy, self.config.web),
                                recorder=self.recorder)
        self.proxy = ProxyServer(self.ctx, open_listener(self.config.proxy.listen))

    # ------------------------------------------------------------------ running

    def start(self) -> None:
        self.proxy.start()
        host, port = self.proxy.address
        log.info("Guardian proxy listening on %s:%s (config: %s, data: %s)", host, port,
                 self.config.source, self.data_dir)
        threading.Thread(target=self._watch_config, name="config-watch", daemon=True).start()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=self.reload, daemon=True).start())
        signal.signal(signal.SIGUSR1, lambda *_: self.reopen_logs())
        signal.signal(signal.SIGTERM, lambda *_: self.stopped.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopped.set())

    def run_forever(self) -> int:
        self.install_signal_handlers()
        self.start()
        self.stopped.wait()
        log.info("stopping: finishing requests in flight (at most %.0f s)", STOP_GRACE_SECONDS)
        self.stop()
        return 0

    def stop(self) -> None:
        self.stopped.set()
        self.proxy.stop(STOP_GRACE_SECONDS)
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
                new = self.overrides.apply(load_config(self.config_path))
            except ConfigError as exc:
                log.error("configuration not reloaded, the old one stays in force: %s", exc)
                return False
            if new.proxy.listen != self.config.proxy.listen or new.data_dir != self.config.data_dir:
                log.warning("proxy.listen and data_dir changes take effect after a restart")
            self.ctx.settings = ProxySettings.build(new.proxy, new.web)
            # pooled connections were checked against the old destination rules
            self.ctx.pool.close()
            self.config = new
            log.info("configuration reloaded from %s", new.source)
            return True
