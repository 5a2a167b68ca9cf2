"""The textfile exporter: the metrics as a file for node_exporter's textfile collector.

It follows the View at most once a second: the store wakes it when a new View exists, and it writes the
newest one (atomically, so node_exporter never reads half a file). A write that fails is logged once per
reason and retried with the next View.
"""

from __future__ import annotations

import logging
from pathlib import Path

from collectors.model.snapshot import View
from exporters.base import ViewSource, WakeLoop
from exporters.prometheus import write_textfile

log = logging.getLogger("physgap.exporters.textfile")

MIN_SECONDS = 1.0


class TextfileExporter:
    name = "textfile"

    def __init__(self, path: Path | None, min_seconds: float = MIN_SECONDS) -> None:
        self._path = path
        self._loop = WakeLoop("textfile", self._cycle, min_seconds)
        self._views: ViewSource | None = None
        self._error = ""
        # Which View version went to which path: a new path on reload gets the current View at once.
        self._written: tuple[Path, int] | None = None

    def start(self, views: ViewSource) -> None:
        self._views = views
        self._loop.start(views)

    def reconfigure(self, path: Path | None) -> None:
        if path != self._path:
            self._path = path
            self._error = ""
            self._loop.wake()

    def stop(self) -> None:
        self._loop.stop()

    def _cycle(self) -> None:
        path, views = self._path, self._views
        if path is None or views is None:
            return
        view = views.current()
        if self._written != (path, view.version):
            self._write(path, view)
            self._written = (path, view.version)

    def _write(self, path: Path, view: View) -> None:
        try:
            write_textfile(path, view)
            self._error = ""
        except OSError as exc:
            message = f"cannot write textfile {path}: {exc.strerror or exc}"
            if message != self._error:
                log.warning("%s", message)
            self._error = message
