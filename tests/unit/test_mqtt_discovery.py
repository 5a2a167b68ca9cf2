"""Home Assistant discovery documents: well-formed, accepted by Home Assistant, one device per host, and
everything a user needs (why a gap is open, unavailable when physgap dies) wired in."""

from __future__ import annotations

import json
from typing import Any

from exporters.mqtt import discovery_documents, discovery_json
from exporters.mqtt.settings import MqttSettings
from exporters.mqtt.states import state_documents
from exporters.mqtt.topics import topics_of
from exporters.sections import MqttConfig
from tests.mqtt_broker import sample_view

# From Home Assistant's documentation: home-assistant.io/integrations/sensor ("Device class": the units
# each class accepts) and developers.home-assistant.io/docs/core/entity/sensor (state classes), as enforced
# by homeassistant/components/sensor/const.py DEVICE_CLASS_UNITS and DEVICE_CLASS_STATE_CLASSES; the MQTT
# sensor refuses a discovery config that breaks them. Only the classes physgap uses, plus a few neighbours
# so a catalog change to them is checked too.
SENSOR_UNITS: dict[str, set[str]] = {
    "battery": {"%"},
    "temperature": {"°C", "°F", "K"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
    "current": {"A", "mA"},
    "power": {"W", "kW", "MW", "GW", "TW", "mW", "BTU/h"},
    "duration": {"d", "h", "min", "s", "ms", "μs"},
    "data_rate": {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "B/s", "kB/s", "MB/s", "GB/s", "KiB/s", "MiB/s", "GiB/s"},
    "data_size": {"bit", "kbit", "Mbit", "Gbit", "B", "kB", "MB", "GB", "TB", "PB", "KiB", "MiB", "GiB", "TiB"},
    "frequency": {"Hz", "kHz", "MHz", "GHz"},
}
SENSOR_STATE_CLASSES: dict[str, set[str]] = {
    "battery": {"measurement"},
    "temperature": {"measurement"},
    "voltage": {"measurement"},
    "current": {"measurement"},
    "power": {"measurement"},
    "duration": {"measurement", "total", "total_increasing"},
    "data_rate": {"measurement"},
    "data_size": {"measurement", "total", "total_increasing"},
    "frequency": {"measurement"},
    "timestamp": set(),  # a point in time, not a quantity: no state class, no unit
}
UNITLESS_SENSOR_CLASSES = {"timestamp", "date", "enum"}
BINARY_SENSOR_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door", "gas", "heat",
    "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug", "power", "presence", "problem",
    "running", "safety", "smoke", "sound", "tamper", "update", "vibration", "window",
}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
ENTITY_CATEGORIES = {"diagnostic"}  # "config" is for settings a user can change; physgap only reports


def home_assistant_problems(topic: str, document: dict[str, Any]) -> list[str]:
    """What Home Assistant would refuse or misread in one discovery document (empty: fine)."""
    component = topic.split("/")[-4]
    found: list[str] = []

    def problem(text: str) -> None:
        found.append(f"{topic}: {text}")

    for key in ("name", "unique_id", "state_topic", "value_template", "device", "availability_topic"):
        if key not in document:
            problem(f"missing {key}")
    device_class = document.get("device_class")
    unit = document.get("unit_of_measurement")
    state_class = document.get("state_class")
    if component == "sensor":
        if device_class is not None:
            if device_class in UNITLESS_SENSOR_CLASSES:
                if unit is not None:
                    problem(f"{device_class} takes no unit, got {unit!r}")
            elif device_class not in SENSOR_UNITS:
                problem(f"device_class {device_class!r} is not in the test's table: add it from HA's docs")
            elif unit not in SENSOR_UNITS[device_class]:
                problem(f"unit {unit!r} is not one Home Assistant accepts for {device_class}")
            if state_class is not None and state_class not in SENSOR_STATE_CLASSES.get(device_class, set()):
                problem(f"state_class {state_class!r} is not allowed for {device_class}")
        if state_class is not None and state_class not in STATE_CLASSES:
            problem(f"unknown state_class {state_class!r}")
    elif component == "binary_sensor":
        if device_class is not None and device_class not in BINARY_SENSOR_CLASSES:
            problem(f"unknown binary_sensor device_class {device_class!r}")
        if unit is not None or state_class is not None:
            problem("a binary_sensor has no unit or state_class")
    else:
        problem(f"unexpected component {component}")
    category = document.get("entity_category")
    if category is not None and category not in ENTITY_CATEGORIES:
        problem(f"entity_category {category!r}")
    if not isinstance(document.get("expire_after"), int) or document["expire_after"] <= 0:
        problem("expire_after must be a positive integer")
    device = document.get("device", {})
    if not device.get("identifiers"):
        problem("the device needs identifiers")
    if "origin" in document and not document["origin"].get("name"):
        problem("origin needs a name")
    if "~" in document:
        for key, value in document.items():
            if key.endswith("_topic") and not (value.startswith("~") or value.endswith("~") or "~" not in value):
                problem(f"{key} uses ~ in the middle")
    return found


def settings(**config: Any) -> MqttSettings:
    return MqttSettings(MqttConfig(**{"host": "broker.lan", "interval": 60.0, **config}), "pve1", "http://pve1:9829/")


def expand(document: dict[str, Any], key: str) -> str:
    value: str = document[key]
    return value.replace("~", document.get("~", "~"), 1) if value.startswith("~") else value


def test_every_document_is_one_home_assistant_accepts() -> None:
    documents = discovery_documents(sample_view(drives=3), settings())
    assert documents
    problems = [p for topic, document in documents for p in home_assistant_problems(topic, document)]
    assert problems == []


def test_expected_entities_are_there_with_the_right_classes() -> None:
    by_id = {doc["unique_id"]: doc for _, doc in discovery_documents(sample_view(), settings())}
    temperature = by_id["physgap_pve1_drive_wwn-0x5000c50000000000_temperature"]
    assert (temperature["device_class"], temperature["unit_of_measurement"], temperature["state_class"]) == \
        ("temperature", "°C", "measurement")
    charge = next(d for k, d in by_id.items() if k.startswith("physgap_pve1_ups_") and k.endswith("_battery_charge"))
    assert (charge["device_class"], charge["unit_of_measurement"]) == ("battery", "%")
    speed = by_id["physgap_pve1_nic_enp0s0_link_speed"]
    assert (speed["device_class"], speed["unit_of_measurement"]) == ("data_rate", "Mbit/s")
    link = by_id["physgap_pve1_nic_enp0s0_link_up"]
    assert link["device_class"] == "connectivity"
    for key in ("physgap_pve1_drive_wwn-0x5000c50000000000_health",
                next(k for k in by_id if k.startswith("physgap_pve1_gap_p2_") and k.endswith("_open"))):
        assert by_id[key]["device_class"] == "problem"
    collector = by_id["physgap_pve1_collector_smart_last_run_succeeded"]
    assert collector["entity_category"] == "diagnostic"


def test_one_device_per_host_with_a_link_to_the_status_page() -> None:
    documents = discovery_documents(sample_view(), settings())
    devices = {json.dumps(doc["device"], sort_keys=True) for _, doc in documents}
    assert len(devices) == 1
    device = documents[0][1]["device"]
    assert device["identifiers"] == ["physgap_pve1"]
    assert device["name"] == "pve1"
    assert device["configuration_url"] == "http://pve1:9829/"
    assert device["sw_version"] and device["model"]
    no_http = MqttSettings(MqttConfig(host="b"), "pve1", None)
    assert "configuration_url" not in discovery_documents(sample_view(), no_http)[0][1]["device"]


def test_entities_go_unavailable_with_the_will_and_expire_without_states() -> None:
    config_settings = settings()
    will = topics_of(config_settings).availability
    for _, document in discovery_documents(sample_view(), config_settings):
        assert expand(document, "availability_topic") == will
        assert (document["payload_available"], document["payload_not_available"]) == ("online", "offline")
        assert document["expire_after"] >= 3 * 60


def test_unique_ids_are_unique_and_name_the_discovery_topic() -> None:
    documents = discovery_documents(sample_view(drives=4), settings())
    ids = [doc["unique_id"] for _, doc in documents]
    assert len(ids) == len(set(ids))
    for topic, document in documents:
        node, object_id = topic.split("/")[2:4]
        assert document["unique_id"] == f"{node}_{object_id}"
        assert node == "physgap_pve1"


def test_every_template_reads_a_key_its_state_document_has() -> None:
    view = sample_view()
    config_settings = settings()
    states = {topic: json.loads(state.payload)
              for topic, state in state_documents(view, topics_of(config_settings), 2000.0).items()}
    for topic, document in discovery_documents(view, config_settings):
        state = states[expand(document, "state_topic")]
        key = document["value_template"].removeprefix("{{ value_json.").removesuffix(" }}")
        assert key in state, (topic, key)


def test_gaps_and_drive_health_carry_why_as_attributes() -> None:
    documents = dict(discovery_documents(sample_view(), settings()))
    with_attributes = {topic for topic, doc in documents.items() if "json_attributes_topic" in doc}
    assert with_attributes
    for topic in with_attributes:
        document = documents[topic]
        assert document["device_class"] == "problem"
        assert topic.endswith(("_open/config", "_health/config"))
        assert document["json_attributes_topic"] == document["state_topic"]
        assert document["json_attributes_template"] == "{{ value_json.attributes | tojson }}"
    gaps = [t for t in documents if "/gap_" in t]
    assert gaps and all(t in with_attributes for t in gaps)


def test_physgap_discovery_prints_what_would_be_published() -> None:
    printed = json.loads(discovery_json(sample_view(), settings()))
    assert printed == [{"topic": topic, "retain": True, "qos": 1, "payload": document}
                       for topic, document in discovery_documents(sample_view(), settings())]


def test_no_credential_ends_up_in_a_document(tmp_path: Any) -> None:
    secret_settings = settings(username="physgap", password_file=tmp_path / "pw")
    text = discovery_json(sample_view(), secret_settings)
    assert "password" not in text and str(tmp_path) not in text and "physgap_pw" not in text


def test_changing_the_interval_changes_expire_after() -> None:
    fast = dict(discovery_documents(sample_view(), settings(interval=5.0)))
    assert {doc["expire_after"] for doc in fast.values()} == {15}
