"""The textfile exporter: the metrics as a file for node_exporter's textfile collector.

It follows the View at most once a second: the store wakes it when a new View exists, and it writes the
newest one (atomically, so node_exporter never reads half a file). A write that fails is logged once per
reason and retried with the next View.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from collectors.model.snapshot import View
from exporters.base import ViewSource
from exporters.prometheus import write_textfile

log = logging.getLogger("physgap.exporters.textfile")

MIN_SECONDS = 1.0


class TextfileExporter:
    name = "textfile"

    def __init__(self, path: Path | None, min_seconds: float = MIN_SECONDS) -> None:
        self._path = path
        self._min_seconds = min_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._views: ViewSource | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._thread: threading.Thread | None = None
        self._error = ""
        # Which View version went to which path: a new path on reload gets the current View at once.
        self._written: tuple[Path, int] | None = None

    def start(self, views: ViewSource) -> None:
        self._views = views
        self._unsubscribe = views.subscribe(lambda view: self._wake.set())
        self._wake.set()  # the View that exists already
        self._thread = threading.Thread(target=self._run, name="physgap-textfile", daemon=True)
        self._thread.start()

    def reconfigure(self, path: Path | None) -> None:
        if path != self._path:
            self._path = path
            self._error = ""
            self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._thread is not None:
            self._thread.join(1.0)

    def _run(self) -> None:
        last_write = float("-inf")
        while True:
            self._wake.wait()
            if self._stopping.is_set():
                return
            # At most one write per MIN_SECONDS: a burst of collector reports becomes one write of the newest.
            if self._stopping.wait(max(0.0, last_write + self._min_seconds - time.monotonic())):
                return
            self._wake.clear()
            path, views = self._path, self._views
            if path is None or views is None:
                continue
            view = views.current()
            if self._written == (path, view.version):
                continue
            self._write(path, view)
            self._written = (path, view.version)
            last_write = time.monotonic()

    def _write(self, path: Path, view: View) -> None:
        try:
            write_textfile(path, view)
            self._error = ""
        except OSError as exc:
            message = f"cannot write textfile {path}: {exc.strerror or exc}"
            if message != self._error:
                log.warning("%s", message)
            self._error = message
