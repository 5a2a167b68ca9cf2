"""Prometheus exposition: a custom collector over the newest View, the /metrics route, the textfile text."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from collectors.kit.statefile import write_atomically
from collectors.model.snapshot import View
from exporters.encoding import GZIP_HEADERS, gzip_member, wants_gzip
from exporters.metrics import clock_families, metric_families, static_families
from exporters.process_metrics import ProcessMetrics

# The classic text format generate_latest() writes; every Prometheus since 2.0 reads it.
CONTENT_TYPE_METRICS = "text/plain; version=0.0.4; charset=utf-8"


def _generate(families: Callable[[], Iterable[Metric]]) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(families))
    return generate_latest(registry)


def _go_float(value: float) -> str:
    # prometheus_client's own number format (+Inf, 1e+06 ...), so the bytes match generate_latest's.
    return str(floatToGoString(value))  # type: ignore[no-untyped-call]  # untyped in prometheus_client


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')


def _text(families: Iterable[Metric]) -> bytes:
    """The text format of plain gauge and counter families, as generate_latest writes it.

    Per scrape only a few small families are formatted (the reading ages, the process metrics), and
    generate_latest's registry and per-name validation were most of a /metrics answer's cost. Anything this
    does not cover (other types, timestamps, _created samples) goes through generate_latest; a test holds
    the two to the same bytes.
    """
    families = list(families)
    lines: list[str] = []
    for family in families:
        if family.type not in ("gauge", "counter"):
            return _generate(lambda: families)
        name = family.name + "_total" if family.type == "counter" else family.name
        documentation = family.documentation.replace("\\", r"\\").replace("\n", r"\n")
        lines.append(f"# HELP {name} {documentation}\n# TYPE {name} {family.type}\n")
        for sample in family.samples:
            if sample.timestamp is not None or sample.name != name:
                return _generate(lambda: families)
            if sample.labels:
                labels = ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(sample.labels.items()))
                lines.append(f"{name}{{{labels}}} {_go_float(sample.value)}\n")
            else:
                lines.append(f"{name} {_go_float(sample.value)}\n")
    return "".join(lines).encode("utf-8")


def render(view: View) -> bytes:
    """Every physgap family as exposition text (without process_* series: see write_textfile)."""
    return _generate(lambda: metric_families(view))


StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def metrics_route(current: Callable[[], View]) -> WSGIApp:
    """The /metrics handler.

    Most of a scrape's cost is formatting text, and the View only changes when a collector reports
    (every few seconds at most): so its families are formatted once per View version and reused; the
    clock-dependent families (reading ages) and the process metrics are rendered on every scrape. Likewise
    for gzip, which Prometheus asks for on every scrape: the static part is compressed once per View version
    and the per-scrape part follows it as a second gzip member.
    """
    cache = _ExpositionCache(current)
    process = ProcessMetrics()

    def route(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        headers = [("Content-Type", CONTENT_TYPE_METRICS)]
        if wants_gzip(environ):
            static, dynamic = cache.parts(compressed=True)
            body = static + gzip_member(dynamic + process.text())
            headers += GZIP_HEADERS
        else:
            static, dynamic = cache.parts()
            body = static + dynamic + process.text()
        headers.append(("Content-Length", str(len(body))))
        start_response("200 OK", headers)
        return [body]

    return route


class _Families(Collector):
    """A custom collector yielding fresh families per call, as prometheus_client expects."""

    def __init__(self, families: Callable[[], Iterable[Metric]]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families()

    def describe(self) -> Iterable[Metric]:
        return ()


class _ExpositionCache:
    def __init__(self, current: Callable[[], View]) -> None:
        self._current = current
        self._lock = threading.Lock()
        self._version = -1
        self._static = b""
        self._static_gzip: bytes | None = None  # compressed on the first gzip scrape of a version

    def parts(self, compressed: bool = False) -> tuple[bytes, bytes]:
        """The static families (gzip-compressed if asked) and the clock-dependent ones, of one View."""
        view = self._current()
        with self._lock:
            if view.version != self._version:
                self._static = _generate(lambda: static_families(view))
                self._static_gzip = None
                self._version = view.version
            static = self._static
            if compressed:
                if self._static_gzip is None:
                    self._static_gzip = gzip_member(static)
                static = self._static_gzip
        return static, _text(clock_families(view, time.time()))


def write_textfile(path: Path, view: View) -> None:
    """Atomically (temp file in the same directory, fsync, rename), so node_exporter never reads half."""
    write_atomically(path, render(view), mode=0o644)
