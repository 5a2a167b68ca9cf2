"""Prometheus exposition: a custom collector over the newest View, the WSGI app, and the textfile writer."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest, make_wsgi_app
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from daemon import __version__
from daemon.snapshot import View
from exporters.metrics import metric_families

CONTENT_TYPE_HTML = "text/html; charset=utf-8"


class ViewCollector(Collector):
    """Renders whatever View `current` returns at scrape time; never touches hardware."""

    def __init__(self, current: Callable[[], View]) -> None:
        self._current = current

    def collect(self) -> Iterator[Metric]:
        return metric_families(self._current())

    def describe(self) -> Iterable[Metric]:
        # Registering must not render: the registry would otherwise call collect() once to learn names.
        return ()


def build_registry(current: Callable[[], View], process_metrics: bool = True) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ViewCollector(current))
    if process_metrics:
        # The textfile leaves these out: node_exporter already exports its own process_* series.
        ProcessCollector(registry=registry)
    return registry


def render(view: View) -> bytes:
    registry = build_registry(lambda: view, process_metrics=False)
    return generate_latest(registry)


LANDING_PAGE = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>physgap</title></head>
<body><h1>physgap {__version__}</h1>
<p>Physical-layer health of this host: UPS, drives, links, PCIe, out-of-band management.</p>
<p><a href="metrics">Metrics</a></p>
</body></html>
""".encode()

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def build_app(registry: CollectorRegistry, telemetry_path: str = "/metrics") -> WSGIApp:
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == telemetry_path:
            metrics: Iterable[bytes] = metrics_app(environ, start_response)
            return metrics
        if path in ("/", ""):
            start_response("200 OK", [("Content-Type", CONTENT_TYPE_HTML),
                                      ("Content-Length", str(len(LANDING_PAGE)))])
            return [LANDING_PAGE]
        body = b"Not Found\n"
        start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return app


def write_textfile(path: Path, view: View) -> None:
    """Write atomically (temp file in the same directory, fsync, rename) so node_exporter never reads half."""
    data = render(view)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
