"""The HTTP route table: /metrics cached per View version (ages and process metrics fresh, gzip when
asked), the status page at /, the liveness endpoint, the gaps as JSON, 404 for the rest."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from typing import Any

from collectors.model.readings import DriveReading, SlotScan
from collectors.model.snapshot import CollectorStatus, Gap
from daemon.store import SnapshotStore
from exporters.web import build_app, routes


def call(app: Any, accept_encoding: str = "", path: str = "/metrics") -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body: Iterable[bytes] = app({"PATH_INFO": path, "HTTP_ACCEPT_ENCODING": accept_encoding}, start_response)
    return seen["status"], seen["headers"], b"".join(body)


def drive(read_at: float) -> DriveReading:
    return DriveReading(drive="wwn-0x5000c500a1", device="/dev/sda", dev_type="sat", protocol="ATA", model="M",
                        serial="S", rotational=True, state="standby", health=0, evidence=(), smart_passed=True,
                        exit_status=0, read_at=read_at)


def test_new_readings_show_up_and_ages_move_without_a_new_view() -> None:
    store = SnapshotStore("h", lambda s: (), ["pcie", "smart"])
    app = build_app(routes(store.current))
    status, headers, body = call(app)
    assert status == "200 OK" and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b'physgap_collector_success{collector="pcie"} 0.0' in body
    store.record(CollectorStatus("pcie", True, readings=(SlotScan(True, "ok"),)))
    store.record(CollectorStatus("smart", True, readings=(drive(read_at=0.0),)))
    body = call(app)[2]
    assert b'physgap_collector_success{collector="pcie"} 1.0' in body  # the cache followed the new View
    assert b'physgap_drive_standby{drive="wwn-0x5000c500a1"} 1.0' in body
    ages = [line for line in body.splitlines() if line.startswith(b"physgap_drive_reading_age_seconds{")]
    assert len(ages) == 1 and float(ages[0].rsplit(b" ", 1)[1]) > 1e9  # read_at 0: the age is "now"
    assert b"process_cpu_seconds_total" in body


def test_gzip_when_the_scraper_asks_for_it() -> None:
    store = SnapshotStore("h", lambda s: (), ["pcie"])
    _, headers, body = call(build_app(routes(store.current)), accept_encoding="gzip, deflate")
    assert headers["Content-Encoding"] == "gzip"
    assert b"physgap_build_info" in gzip.decompress(body)
    assert int(headers["Content-Length"]) == len(body)


OPEN_P2 = Gap("P2", "Single NAS drive", "data loss", True, "critical", ("md0 survives no further drive failure",), True)


def test_the_gaps_as_json_follow_the_view() -> None:
    store = SnapshotStore("pve1", lambda s: (OPEN_P2,) if s.status("smart") and s.status("smart").success else (),
                          ["smart"])
    app = build_app(routes(store.current))
    status, headers, body = call(app, path="/api/v1/view")
    assert status == "200 OK" and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"host": "pve1", "gaps": []}
    store.record(CollectorStatus("smart", True))
    document = json.loads(call(app, path="/api/v1/view")[2])
    assert [(g["id"], g["status"], g["severity_display"]) for g in document["gaps"]] == [("P2", "open", "Critical")]
    assert document["gaps"][0]["evidence"] == ["md0 survives no further drive failure"]


def test_status_page_health_custom_telemetry_path_and_404() -> None:
    store = SnapshotStore("h", lambda s: (OPEN_P2,), ["pcie"])
    app = build_app(routes(store.current, telemetry_path="/physgap/metrics"))
    status, headers, body = call(app, path="/")
    assert status == "200 OK" and headers["Content-Type"] == "text/html; charset=utf-8"
    # The status page, not a landing page: the gap table of this View, linking to the moved metrics.
    assert b'<section id="gaps">' in body and b"md0 survives no further drive failure" in body
    assert b'href="physgap/metrics"' in body and b'href="api/v1/view"' in body
    assert call(app, path="/-/healthy")[:1] == ("200 OK",)
    assert b"physgap_build_info" in call(app, path="/physgap/metrics")[2]
    assert call(app, path="/metrics")[0] == "404 Not Found"  # moved, not served twice
    assert call(app, path="/nope")[0] == "404 Not Found"
    assert call(app, path="/index.html")[0] == "404 Not Found"


def test_the_status_page_follows_the_view_like_the_metrics() -> None:
    store = SnapshotStore("pve1", lambda s: (OPEN_P2,) if s.status("smart") and s.status("smart").success else (),
                          ["smart"])
    app = build_app(routes(store.current))
    assert b"No gap rules are enabled." in call(app, path="/")[2]
    store.record(CollectorStatus("smart", True, readings=(drive(read_at=0.0),)))
    body = call(app, path="/")[2]
    assert b"md0 survives no further drive failure" in body and b"wwn-0x5000c500a1" in body
