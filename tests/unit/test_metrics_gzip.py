"""/metrics with gzip, as Prometheus asks for it on every scrape: the same exposition as without, the static
part compressed once per View version."""

from __future__ import annotations

import gzip
import zlib
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from collectors.model.snapshot import CollectorStatus
from daemon.store import SnapshotStore
from exporters.prometheus import metrics_route
from tests.mqtt_broker import sample_view


def scrape(route: Any, encoding: str = "") -> tuple[dict[str, str], bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer.update(status=status, headers=dict(headers))

    body = b"".join(route({"HTTP_ACCEPT_ENCODING": encoding} if encoding else {}, start_response))
    assert answer["status"] == "200 OK"
    assert int(answer["headers"]["Content-Length"]) == len(body)
    return answer["headers"], body


def families(text: bytes) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text.decode())}


def without_moving(text: bytes) -> bytes:
    # Process values (CPU, RSS, fds) and reading ages move between two scrapes; the rest of a View does not.
    return b"".join(line for line in text.splitlines(keepends=True)
                    if b"process_" not in line and b"_age_seconds" not in line)


def test_the_gzip_answer_is_the_plain_exposition_and_reuses_its_static_part() -> None:
    store = SnapshotStore("pve1", lambda s: (), ["smart", "nic"])
    for status in sample_view(drives=16, nics=2).snapshot.collectors.values():
        store.record(status)
    route = metrics_route(store.current)
    plain_headers, plain = scrape(route)
    headers, packed = scrape(route, "gzip, deflate")
    assert "Content-Encoding" not in plain_headers
    assert (headers["Content-Encoding"], headers["Vary"]) == ("gzip", "Accept-Encoding")
    unpacked = gzip.decompress(packed)  # every member, as Go's and Python's readers read them
    assert without_moving(unpacked) == without_moving(plain)
    assert families(unpacked) == families(plain) and "physgap_drive_health" in families(unpacked)
    assert "process_resident_memory_bytes" in families(unpacked)
    # The same View again: the first member (the static families) is the very one already made.
    _, again = scrape(route, "gzip")
    first, rest = members(packed)
    assert members(again)[0] == first and rest
    assert plain.startswith(gzip.decompress(first))
    # A new View: a new static part.
    store.record(CollectorStatus("nic", False, error="gone"))
    _, changed = scrape(route, "gzip")
    assert members(changed)[0] != first


def members(body: bytes) -> tuple[bytes, bytes]:
    """The first gzip member of `body` and what follows it."""
    reader = zlib.decompressobj(wbits=31)
    reader.decompress(body)
    return body[:len(body) - len(reader.unused_data)], reader.unused_data
