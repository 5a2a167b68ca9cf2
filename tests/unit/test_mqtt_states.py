"""State documents: the catalog's Home Assistant states, unknown where nothing was measured, and the evidence
behind gaps and drive verdicts."""

from __future__ import annotations

import dataclasses
import json
from types import MappingProxyType
from typing import Any

from collectors.model.snapshot import CollectorStatus, Snapshot, View
from exporters.mqtt.entities import objects
from exporters.mqtt.settings import MqttSettings
from exporters.mqtt.states import state_documents
from exporters.mqtt.topics import field_id, safe_id, topics_of
from exporters.sections import MqttConfig
from tests.mqtt_broker import sample_view, ups

TOPICS = topics_of(MqttSettings(MqttConfig(host="b"), "pve1", None))


def documents(view: View, now: float = 2000.0) -> dict[str, Any]:
    return {topic: json.loads(state.payload) for topic, state in state_documents(view, TOPICS, now).items()}


def test_one_document_per_object_under_its_kind() -> None:
    topics = set(documents(sample_view(drives=3)))
    assert "physgap/pve1/drive/wwn-0x5000c50000000002" in topics
    assert "physgap/pve1/nic/enp1s0" in topics
    assert "physgap/pve1/array/md0" in topics
    assert f"physgap/pve1/gap/{safe_id('P2')}" in topics
    assert f"physgap/pve1/ups/{safe_id('rack@127.0.0.1:3493')}" in topics
    assert "physgap/pve1/collector/smart" in topics
    assert not any(t.startswith("physgap/pve1/build") for t in topics)  # nothing there for Home Assistant


def test_values_are_the_catalog_s_home_assistant_states() -> None:
    view = sample_view()
    docs = documents(view)
    checked = 0
    for obj in objects(view):
        document = docs[TOPICS.state(obj.kind.name, obj.object_id)]
        for field in obj.fields:
            key = field_id(field.name)
            assert document[key] == field.ha_state(obj.reading, 2000.0), (obj.object_id, key)
            checked += 1
    assert checked > 50
    nic = docs["physgap/pve1/nic/enp0s0"]
    assert nic["link_speed"] == 10000.0 and nic["link_up"] == "ON"
    drive = docs["physgap/pve1/drive/wwn-0x5000c50000000001"]
    assert drive["temperature"] == 35.0 and drive["health"] == "ON" and drive["reading_age"] == 1000.0


def test_what_was_not_measured_is_unknown_never_healthy() -> None:
    view = sample_view()
    stale = dataclasses.replace(ups(), up=False, reason="DATA-STALE", battery_charge_ratio=None)
    collectors = dict(view.snapshot.collectors)
    collectors["ups"] = dataclasses.replace(collectors["ups"], readings=(stale,))
    docs = documents(View(Snapshot("pve1", 1.0, MappingProxyType(collectors)), view.gaps, 2))
    document = docs[f"physgap/pve1/ups/{safe_id(stale.ups)}"]
    assert document["data_current"] == "OFF"
    assert document["battery_charge"] is None and document["on_battery"] is None
    gap = docs[f"physgap/pve1/gap/{safe_id('P4')}"]
    assert gap["open"] is None
    assert gap["attributes"]["status"] == "unknown"
    assert gap["attributes"]["evidence"] == "not measured yet"


def test_gaps_say_severity_status_and_evidence() -> None:
    docs = documents(sample_view())
    open_gap = docs[f"physgap/pve1/gap/{safe_id('P2')}"]
    assert open_gap["open"] == "ON"
    assert open_gap["attributes"] == {
        "id": "P2", "title": "Single NAS drive", "risk": "One failure loses data.", "severity": "critical",
        "status": "open", "evidence": "md0 raid1 degraded: 1 of 2 members failed"}
    resolved = docs[f"physgap/pve1/gap/{safe_id('P1')}"]
    assert resolved["open"] == "OFF" and resolved["attributes"]["status"] == "resolved"


def test_drive_health_says_the_verdict_and_why() -> None:
    docs = documents(sample_view())
    degrading = docs["physgap/pve1/drive/wwn-0x5000c50000000001"]["attributes"]
    assert degrading["verdict"] == "warning"
    assert degrading["evidence"] == "5592 pending sectors (was 0)"
    assert (degrading["model"], degrading["serial"]) == ("ST4000VN008", "ZDH00001")
    assert docs["physgap/pve1/drive/wwn-0x5000c50000000000"]["attributes"]["verdict"] == "ok"


def test_a_clock_only_change_is_not_a_change() -> None:
    early = state_documents(sample_view(), TOPICS, 2000.0)
    later = state_documents(sample_view(), TOPICS, 2030.0)
    topic = "physgap/pve1/drive/wwn-0x5000c50000000000"
    assert early[topic].payload != later[topic].payload  # the reading age grew...
    assert early[topic].stable == later[topic].stable  # ...which alone is no reason to publish
    warmer = state_documents(sample_view(temperature=41.0), TOPICS, 2000.0)
    assert warmer[topic].stable != early[topic].stable


def test_documents_are_strict_compact_json() -> None:
    for state in state_documents(sample_view(), TOPICS, 2000.0).values():
        text = state.payload.decode()
        parsed = json.loads(text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
        assert json.dumps(parsed, ensure_ascii=False, separators=(",", ":")) == text


def test_a_value_json_cannot_carry_is_unknown() -> None:
    odd = sample_view(temperature=float("nan"))
    document = documents(odd)["physgap/pve1/drive/wwn-0x5000c50000000000"]
    assert document["temperature"] is None


def test_a_collector_that_has_not_run_yet_is_unknown() -> None:
    view = View(Snapshot("pve1", 1.0, MappingProxyType({"smart": CollectorStatus("smart", None)})), (), 0)
    document = documents(view)["physgap/pve1/collector/smart"]
    assert document["last_run_succeeded"] is None and document["last_success"] is None
