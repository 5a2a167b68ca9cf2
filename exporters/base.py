"""What an exporter is to the runtime: something that starts with a source of Views, takes new settings on
reload, and stops. The runtime knows nothing else about Prometheus, textfiles, MQTT or pages."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from collectors.model.snapshot import View


def file_stamp(path: Path | None) -> tuple[int, int] | None:
    """A file's mtime and size: a rotated certificate or password under the same name must count as a
    change on SIGHUP, though the settings that name it did not change."""
    if path is None:
        return None
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


class ViewSource(Protocol):
    """The snapshot store as exporters see it: the newest View, and news of the next one."""

    def current(self) -> View: ...

    def subscribe(self, callback: Callable[[View], None]) -> Callable[[], None]: ...


class ExporterError(Exception):
    """An exporter cannot start or take new settings; the message is for the operator. On reconfigure the
    exporter keeps running with its previous settings."""


class Exporter(Protocol):
    name: str

    def start(self, views: ViewSource) -> None:
        """Begin serving or publishing; raises ExporterError."""

    def reconfigure(self, settings: Any) -> None:
        """Take new settings (the same type it was built with) or raise ExporterError and keep the old."""

    def stop(self) -> None:
        """Stop within about a second; idempotent."""


class WakeLoop:
    """An exporter's own thread: it sleeps until the store has a new View, `wake()` is called or `due()`
    seconds pass, then runs `cycle()`, at most once per `min_seconds` (a burst of collector reports becomes
    one cycle over the newest View). A failing cycle is logged and the loop goes on: a bug must not end an
    exporter silently for the daemon's lifetime."""

    def __init__(self, name: str, cycle: Callable[[], None], min_seconds: float,
                 due: Callable[[], float | None] = lambda: None) -> None:
        self._name = name
        self._cycle = cycle
        self._min_seconds = min_seconds
        self._due = due
        self._wake = threading.Event()
        self.stopping = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None

    def start(self, views: ViewSource) -> None:
        self._unsubscribe = views.subscribe(lambda view: self._wake.set())
        self._wake.set()  # the View that exists already
        self._thread = threading.Thread(target=self._run, name=f"physgap-{self._name}", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, wait: float = 1.0) -> None:
        self.stopping.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._thread is not None:
            self._thread.join(wait)

    def _run(self) -> None:
        last_cycle = float("-inf")
        while True:
            self._wake.wait(self._due())
            if self.stopping.is_set():
                return
            if self.stopping.wait(max(0.0, last_cycle + self._min_seconds - time.monotonic())):
                return
            self._wake.clear()
            try:
                self._cycle()
            except Exception:
                logging.getLogger(f"physgap.exporters.{self._name}").exception("%s cycle failed", self._name)
            last_cycle = time.monotonic()
