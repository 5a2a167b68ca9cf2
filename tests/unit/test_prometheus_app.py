"""The /metrics WSGI app: cached per View version, ages and process metrics fresh, gzip when asked."""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from typing import Any

from collectors.model.readings import DriveReading, SlotScan
from collectors.model.snapshot import CollectorStatus
from daemon.store import SnapshotStore
from exporters.prometheus import build_app


def call(app: Any, accept_encoding: str = "") -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body: Iterable[bytes] = app({"PATH_INFO": "/metrics", "HTTP_ACCEPT_ENCODING": accept_encoding}, start_response)
    return seen["status"], seen["headers"], b"".join(body)


def drive(read_at: float) -> DriveReading:
    return DriveReading(drive="wwn-0x5000c500a1", device="/dev/sda", dev_type="sat", protocol="ATA", model="M",
                        serial="S", rotational=True, state="standby", health=0, evidence=(), smart_passed=True,
                        exit_status=0, read_at=read_at)


def test_new_readings_show_up_and_ages_move_without_a_new_view() -> None:
    store = SnapshotStore("h", lambda s: (), ["pcie", "smart"])
    app = build_app(store.current)
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
    _, headers, body = call(build_app(store.current), accept_encoding="gzip, deflate")
    assert headers["Content-Encoding"] == "gzip"
    assert b"physgap_build_info" in gzip.decompress(body)
    assert int(headers["Content-Length"]) == len(body)
