"""What an exporter is to the runtime: something that starts with a source of Views, takes new settings on
reload, and stops. The runtime knows nothing else about Prometheus, textfiles, MQTT or pages."""

from __future__ import annotations

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
