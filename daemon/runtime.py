"""The long-running daemon: the scheduler, the exporters, signals, reload and systemd notify.

The runtime starts, reconfigures and stops a list of exporters; what each one serves or writes is its
own business (exporters.base). The store wakes exporters when a new View exists.
"""

from __future__ import annotations

import contextlib
import logging
import select
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from daemon.build import build_evaluator, build_jobs
from daemon.config import Config, ConfigError, load_config, resolve_config_path
from daemon.scheduler import Job, Scheduler
from daemon.sdnotify import Notifier
from daemon.store import SnapshotStore
from exporters.base import Exporter, ExporterError
from exporters.gap_log import GapLogExporter
from exporters.mqtt import MqttExporter, MqttSettings, mqtt_settings
from exporters.textfile import TextfileExporter
from exporters.web import HttpExporter, WebSettings

log = logging.getLogger("physgap")

STOP_WAIT_SECONDS = 1.0


@dataclass(frozen=True)
class _Running:
    """An exporter and how its settings follow from the configuration."""

    exporter: Exporter
    settings_of: Callable[[Config], Any]


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

    # -- signals ---------------------------------------------------------------------------------------

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        del frame
        log.info("received %s, stopping", signal.Signals(signum).name)
        self._stop_requested = True

    def _on_reload(self, signum: int, frame: FrameType | None) -> None:
        del signum, frame
        self._reload_requested = True

    # -- exporters -------------------------------------------------------------------------------------

    def _web_settings(self, config: Config) -> WebSettings:
        web_config = self._web_config_flag or config.prometheus.web_config
        return WebSettings(
            listen=self._listen_flag or config.prometheus.listen,
            web_config=web_config,
            telemetry_path=self._telemetry_path,
            web_config_stamp=WebSettings.stamp(web_config),
        )

    def _mqtt_settings(self, config: Config) -> MqttSettings:
        if not config.mqtt.enabled:
            return MqttSettings(config.mqtt, config.daemon.host, None)  # nothing to link, no web.yml to parse
        web = self._web_settings(config)
        return mqtt_settings(config.mqtt, config.daemon.host, web.listen, web.web_config)

    def _exporters(self, config: Config) -> list[_Running]:
        """Every exporter this daemon runs, built with the settings `config` gives it."""
        return [
            _Running(HttpExporter(self._web_settings(config)), self._web_settings),
            _Running(TextfileExporter(config.prometheus.textfile), lambda c: c.prometheus.textfile),
            _Running(MqttExporter(self._mqtt_settings(config)), self._mqtt_settings),
            _Running(GapLogExporter(), lambda c: None),
        ]

    # -- lifecycle -------------------------------------------------------------------------------------

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
            for warning in exc.warnings:
                log.warning("%s", warning)
            for problem in exc.problems:
                log.error("%s", problem)
            return 2
        _prepare_state_dir(config.daemon.state_dir)
        store = SnapshotStore(config.daemon.host, build_evaluator(config), [job.name for job in jobs])
        exporters = self._exporters(config)
        started: list[_Running] = []
        for running in exporters:
            try:
                running.exporter.start(store)
            except ExporterError as exc:
                log.error("%s", exc)
                for done in reversed(started):
                    done.exporter.stop()
                return 2
            started.append(running)
        scheduler = Scheduler(jobs, store, config.daemon.state_dir)
        scheduler.start()
        log.info("collectors: %s", ", ".join(f"{j.name} every {j.interval:g}s" for j in jobs))
        self._notifier.ready("serving")

        tick = min(self._notifier.watchdog_interval or 5.0, 5.0)
        while not self._stop_requested:
            self._sleep(tick)
            if self._stop_requested:
                break
            if self._reload_requested:
                self._reload_requested = False
                config, scheduler = self._reload(config, scheduler, exporters, store)
            # A collector whose scheduler thread died is restarted here, and reads failed until it runs
            # again; only one that cannot make progress at all lets the watchdog lapse.
            scheduler.revive()
            if scheduler.healthy(time.monotonic(), slack=tick * 2):
                self._notifier.watchdog()

        self._notifier.stopping()
        scheduler.stop(STOP_WAIT_SECONDS)
        for running in reversed(exporters):
            running.exporter.stop()
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
        for problem in config.warnings:
            log.warning("%s", problem)
        return config, jobs

    def _reload(self, config: Config, scheduler: Scheduler, exporters: list[_Running],
                store: SnapshotStore) -> tuple[Config, Scheduler]:
        self._notifier.reloading()
        try:
            new_config, jobs = self._load()
        except ConfigError as exc:
            for warning in exc.warnings:
                log.warning("%s", warning)
            log.error("reload refused, the running configuration stays in force:\n%s", exc)
            self._notifier.ready("reload refused: bad configuration")
            return config, scheduler
        # Exporters first: one that cannot take its new settings refuses the whole reload, and those already
        # changed go back to the old settings, so the daemon never runs half of each configuration.
        changed: list[_Running] = []
        for running in exporters:
            try:
                running.exporter.reconfigure(running.settings_of(new_config))
            except ExporterError as exc:
                for done in reversed(changed):
                    with contextlib.suppress(ExporterError):
                        done.exporter.reconfigure(done.settings_of(config))
                log.error("reload refused, the running configuration stays in force: %s", exc)
                self._notifier.ready("reload refused: bad exporter settings")
                return config, scheduler
            changed.append(running)
        scheduler.stop(STOP_WAIT_SECONDS)
        _prepare_state_dir(new_config.daemon.state_dir)
        store.reconfigure(new_config.daemon.host, build_evaluator(new_config), [j.name for j in jobs])
        scheduler = Scheduler(jobs, store, new_config.daemon.state_dir)
        scheduler.start()
        log.info("configuration reloaded from %s", new_config.source)
        self._notifier.ready("configuration reloaded")
        return new_config, scheduler


def _prepare_state_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o750)
    except OSError as exc:
        log.warning("state directory %s unusable (%s): baselines will not survive a restart",
                    path, exc.strerror or exc)
