"""The HTTP exporter: one server, one route table, all behind the same web config (TLS, basic auth).

Routes: the telemetry path (/metrics), the status page at /, a liveness endpoint and the JSON view of the
gaps. Another page or JSON view is one more entry in `routes()`; every route sits behind the same TLS and basic
auth, because the web config wraps the whole app, not a route.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.model.snapshot import View
from exporters.base import ExporterError, ViewSource, file_stamp
from exporters.http import BindError, HttpServer, serve
from exporters.prometheus import metrics_route
from exporters.report import gaps_json
from exporters.sections import parse_listen_address
from exporters.status_page import status_page_route
from exporters.webconfig import WebConfig, WebConfigError, load_web_config

log = logging.getLogger("physgap.exporters.web")

StartResponse = Callable[..., Any]
Route = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

HEALTH_PATH = "/-/healthy"
VIEW_PATH = "/api/v1/view"

def _fixed(status: str, content_type: str, body: bytes) -> Route:
    def route(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        del environ
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    return route


def _view_json(current: Callable[[], View]) -> Route:
    def route(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        del environ
        body = gaps_json(current()).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return route


def routes(current: Callable[[], View], telemetry_path: str = "/metrics") -> dict[str, Route]:
    return {
        "/": status_page_route(current, telemetry_path),
        telemetry_path: metrics_route(current),
        HEALTH_PATH: _fixed("200 OK", "text/plain; charset=utf-8", b"OK\n"),
        VIEW_PATH: _view_json(current),
    }


_NOT_FOUND = _fixed("404 Not Found", "text/plain", b"Not Found\n")


def build_app(table: Mapping[str, Route]) -> Route:
    """Dispatch on the exact path; anything else is 404."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/") or "/"
        return table.get(path, _NOT_FOUND)(environ, start_response)

    return app


@dataclass(frozen=True)
class WebSettings:
    listen: str
    web_config: Path | None = None
    telemetry_path: str = "/metrics"
    # The web.yml's mtime and size: a rotated password hash or certificate path under the same file name
    # must count as a change on SIGHUP.
    web_config_stamp: tuple[int, int] | None = None

    stamp = staticmethod(file_stamp)


class HttpExporter:
    """The HTTP server as an exporter. A reconfigure that cannot bind or load its web config leaves the
    running server as it was."""

    name = "http"

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self._views: ViewSource | None = None
        self._server: HttpServer | None = None

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("not started")
        return self._server.address

    def start(self, views: ViewSource) -> None:
        self._views = views
        self._server = self._serve(self.settings)

    def _serve(self, settings: WebSettings) -> HttpServer:
        if self._views is None:
            raise RuntimeError("not started")
        try:
            host, port = parse_listen_address(settings.listen)
            web: WebConfig | None = load_web_config(settings.web_config) if settings.web_config else None
            return serve(build_app(routes(self._views.current, settings.telemetry_path)), host, port, web)
        except (ValueError, WebConfigError, BindError) as exc:
            raise ExporterError(str(exc)) from None

    def reconfigure(self, settings: WebSettings) -> None:
        if settings == self.settings or self._server is None:
            self.settings = settings
            return
        try:
            parse_listen_address(settings.listen)
            if settings.web_config:
                load_web_config(settings.web_config)
        except (ValueError, WebConfigError) as exc:
            raise ExporterError(str(exc)) from None
        if settings.listen == self.settings.listen:
            # Same socket address: the old listener must go before the new one can bind.
            self._server.shutdown()
            try:
                self._server = self._serve(settings)
            except ExporterError:
                self._server = self._serve(self.settings)
                raise
        else:
            server = self._serve(settings)
            self._server.shutdown()
            self._server = server
        self.settings = settings

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
