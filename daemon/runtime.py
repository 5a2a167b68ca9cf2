"""The long-running daemon: scheduler + HTTP endpoint + textfile, signals, reload, systemd notify."""

from __future__ import annotations

import contextlib
import logging
import select
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from collectors.model.snapshot import View
from daemon.build import build_evaluator, build_jobs, not_implemented
from daemon.config import Config, ConfigError, load_config, parse_listen_address, resolve_config_path
from daemon.scheduler import Job, Scheduler
from daemon.sdnotify import Notifier
from daemon.store import SnapshotStore
from exporters.http import BindError, HttpServer, serve
from exporters.prometheus import build_app, write_textfile
from exporters.webconfig import WebConfig, WebConfigError, load_web_config

log = logging.getLogger("physgap")

STOP_WAIT_SECONDS = 1.0
TEXTFILE_MIN_SECONDS = 1.0


@dataclass(frozen=True)
class WebSettings:
    listen: str
    web_config: Path | None
    telemetry_path: str
    # The web.yml's mtime and size: a rotated password hash or certificate path under the same file name
    # must count as a change on SIGHUP.
    web_config_stamp: tuple[int, int] | None = None


def _stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


class Daemon:
    def __init__(self, config_path: Path | None, listen: str | None = None, web_config: Path | None = None,
                 telemetry_path: str = "/metrics") -> None:
        self._config_path = config_path
        self._listen_flag = listen
        self._web_config_flag = web_config
        self._telemetry_path = telemetry_path
        # The kernel may deliver a signal to any thread, and only the main thread runs Python handlers: a
        # wakeup fd makes the main loop's select() return at once whichever thread the signal hit.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._stop_requested = False
        self._reload_requested = False
        self._notifier = Notifier()
        self._textfile_error = ""

    # -- signals ---------------------------------------------------------------------------------------

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        del frame
        log.info("received %s, stopping", signal.Signals(signum).name)
        self._stop_requested = True

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        del signum, frame
        self._reload_requested = True

    # -- lifecycle -------------------------------------------------------------------------------------

    def _web_settings(self, config: Config) -> WebSettings:
        web_config = self._web_config_flag or config.prometheus.web_config
        return WebSettings(
            listen=self._listen_flag or config.prometheus.listen,
            web_config=web_config,
            telemetry_path=self._telemetry_path,
            web_config_stamp=_stamp(web_config),
        )

    def _start_http(self, settings: WebSettings, store: SnapshotStore) -> HttpServer:
        """Raises ValueError, WebConfigError or BindError with an operator-readable message."""
        host, port = parse_listen_address(settings.listen)
        web: WebConfig | None = load_web_config(settings.web_config) if settings.web_config else None
        app = build_app(store.current, settings.telemetry_path)
        return serve(app, host, port, web)

    def run(self) -> int:
        # Handlers first: once the port answers, a supervisor may send SIGHUP/SIGTERM, and the default
        # SIGHUP action would kill the daemon.
        signal.set_wakeup_fd(self._wake_w.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        try:
            config, jobs = self._load()
        except ConfigError as exc:
            for problem in exc.problems:
                log.error("%s", problem)
            return 2
        _prepare_state_dir(config.daemon.state_dir)
        store = SnapshotStore(config.daemon.host, build_evaluator(config), [job.name for job in jobs])
        web_settings = self._web_settings(config)
        try:
            http = self._start_http(web_settings, store)
        except (ValueError, WebConfigError, BindError) as exc:
            log.error("%s", exc)
            return 2
        scheduler = Scheduler(jobs, store, config.daemon.state_dir)

        scheduler.start()
        host, port = http.address
        log.info("collectors: %s", ", ".join(f"{j.name} every {j.interval:g}s" for j in jobs))
        self._notifier.ready(f"serving on {host}:{port}")

        idle_tick = min(self._notifier.watchdog_interval or 5.0, 5.0)
        tick = idle_tick
        written_version = -1
        last_write = 0.0
        while not self._stop_requested:
            self._sleep(tick)
            if self._stop_requested:
                break
            if self._reload_requested:
                self._reload_requested = False
                config, scheduler, http, web_settings = self._reload(config, scheduler, http, web_settings, store)
            if scheduler.healthy(time.monotonic(), slack=tick * 2):
                self._notifier.watchdog()
            # The textfile follows the View at most once a second; while a newer View waits, wake up sooner.
            tick = idle_tick
            view = store.current()
            if config.prometheus.textfile is not None and view.version != written_version:
                if time.monotonic() - last_write >= TEXTFILE_MIN_SECONDS:
                    self._write_textfile(config.prometheus.textfile, view)
                    written_version = view.version
                    last_write = time.monotonic()
                else:
                    tick = TEXTFILE_MIN_SECONDS

        self._notifier.stopping()
        scheduler.stop(STOP_WAIT_SECONDS)
        http.shutdown()
        log.info("stopped")
        return 0

    def _sleep(self, seconds: float) -> None:
        readable, _, _ = select.select([self._wake_r], [], [], seconds)
        if readable:
            with contextlib.suppress(BlockingIOError):
                self._wake_r.recv(4096)

    def _load(self) -> tuple[Config, list[Job]]:
        """Config plus its collectors, or ConfigError: nothing is started or stopped before both exist."""
        config = load_config(resolve_config_path(self._config_path))
        jobs = build_jobs(config)
        for warning in not_implemented(config):
            log.warning("%s", warning)
        return config, jobs

    def _write_textfile(self, path: Path, view: View) -> None:
        try:
            write_textfile(path, view)
            self._textfile_error = ""
        except OSError as exc:
            message = f"cannot write textfile {path}: {exc.strerror or exc}"
            if message != self._textfile_error:
                log.warning("%s", message)
            self._textfile_error = message

    def _reload(self, config: Config, scheduler: Scheduler, http: HttpServer, web_settings: WebSettings,
                store: SnapshotStore) -> tuple[Config, Scheduler, HttpServer, WebSettings]:
        self._notifier.reloading()
        try:
            new_config, jobs = self._load()
        except ConfigError as exc:
            log.error("reload refused, the running configuration stays in force:\n%s", exc)
            self._notifier.ready("reload refused: bad configuration")
            return config, scheduler, http, web_settings
        new_settings = self._web_settings(new_config)
        if new_settings != web_settings:
            try:
                parse_listen_address(new_settings.listen)
                if new_settings.web_config:
                    load_web_config(new_settings.web_config)
                if new_settings.listen == web_settings.listen:
                    # Same socket address: the old listener must go before the new one can bind.
                    http.shutdown()
                    try:
                        new_http = self._start_http(new_settings, store)
                    except BindError:
                        http = self._start_http(web_settings, store)
                        raise
                else:
                    new_http = self._start_http(new_settings, store)
                    http.shutdown()
            except (ValueError, WebConfigError, BindError) as exc:
                log.error("reload refused, the running configuration stays in force: %s", exc)
                self._notifier.ready("reload refused: bad web settings")
                return config, scheduler, http, web_settings
            http = new_http
        scheduler.stop(STOP_WAIT_SECONDS)
        _prepare_state_dir(new_config.daemon.state_dir)
        store.reconfigure(new_config.daemon.host, build_evaluator(new_config), [j.name for j in jobs])
        scheduler = Scheduler(jobs, store, new_config.daemon.state_dir)
        scheduler.start()
        log.info("configuration reloaded from %s", new_config.source)
        self._notifier.ready("configuration reloaded")
        return new_config, scheduler, http, new_settings


def _prepare_state_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o750)
    except OSError as exc:
        log.warning("state directory %s unusable (%s): baselines will not survive a restart",
                    path, exc.strerror or exc)
