"""Topic names and ids: safe for MQTT and Home Assistant, the same on every start, never shared by two
objects."""

from __future__ import annotations

import re

import pytest

from exporters.mqtt.settings import MqttSettings, status_page_url
from exporters.mqtt.topics import client_id_of, field_id, safe_id, topics_of
from exporters.sections import MqttConfig

SAFE = re.compile(r"[a-z0-9_-]+")


@pytest.mark.parametrize("key", [
    ("md0",), ("wwn-0x5000c500a1b2c3d4",), ("enp2s0f0np0",), ("tank",), ("eui-0025385b71b0e0a1",),
])
def test_ids_that_are_already_safe_are_kept_as_they_are(key: tuple[str, ...]) -> None:
    assert safe_id(*key) == key[0]


@pytest.mark.parametrize("key", [
    ("rack@127.0.0.1:3493",), ("a/b",), ("home/#",), ("sensor+1",), ("nul\0byte",), ("P1",), ("Tank",),
    ("M.2 slot",), ("0000:01:00.0", "8086:1572"), ("",), ("Ümlaut disk",), ("x" * 300,),
])
def test_every_id_is_safe_for_topics_and_home_assistant(key: tuple[str, ...]) -> None:
    made = safe_id(*key)
    assert SAFE.fullmatch(made), made
    assert not set(made) & {"+", "#", "/", "\0"}
    assert len(made) <= 64 + 7


def test_ids_are_stable_across_restarts() -> None:
    # Pinned: Home Assistant ties an entity's history and the user's customisations to these.
    assert safe_id("P1") == "p1_fbeae7"
    assert safe_id("rack@127.0.0.1:3493") == "rack_127_0_0_1_3493_514329"
    assert safe_id("0000:01:00.0", "8086:1572") == safe_id("0000:01:00.0", "8086:1572")


@pytest.mark.parametrize(("one", "other"), [
    (("Tank",), ("tank",)), (("a.b",), ("a:b",)), (("a_b", "c"), ("a", "b_c")), (("p1",), ("P1",)),
])
def test_objects_that_sanitise_alike_still_get_different_ids(one: tuple[str, ...], other: tuple[str, ...]) -> None:
    assert safe_id(*one) != safe_id(*other)


def test_field_ids_are_the_display_names_as_keys() -> None:
    assert field_id("Battery charge") == "battery_charge"
    assert field_id("SMART passed") == "smart_passed"
    assert field_id("Power-on time") == "power_on_time"  # a template reads value_json.<key>: no "-" in it


def test_every_field_key_is_a_template_identifier_and_unique_in_its_kind() -> None:
    from exporters.mqtt.entities import kinds

    for kind in kinds():
        keys = [field_id(field.name) for field in kind.ha_fields]
        assert len(keys) == len(set(keys)), kind.name
        assert all(re.fullmatch(r"[a-z][a-z0-9_]*", key) for key in keys), keys


def settings(**config: object) -> MqttSettings:
    return MqttSettings(MqttConfig(host="broker.lan", **config), "pve1", None)  # type: ignore[arg-type]


def test_topics_follow_the_contract() -> None:
    topics = topics_of(settings())
    assert topics.availability == "physgap/pve1/availability"
    assert topics.state("drive", "wwn-0x5") == "physgap/pve1/drive/wwn-0x5"
    assert topics.discovery("sensor", "drive", "wwn-0x5", "temperature") == \
        "homeassistant/sensor/physgap_pve1/drive_wwn-0x5_temperature/config"
    assert topics.unique_id("drive", "wwn-0x5", "temperature") == "physgap_pve1_drive_wwn-0x5_temperature"
    assert topics.homeassistant_status == "homeassistant/status"
    assert topics.discovery_filter == "homeassistant/+/physgap_pve1/+/config"


def test_configured_prefixes_and_an_odd_host_name_are_honoured() -> None:
    topics = topics_of(MqttSettings(MqttConfig(host="b", base_topic="lab/hw", discovery_prefix="ha/disc"),
                                    "PVE-1.lan", None))
    host = safe_id("PVE-1.lan")
    assert topics.availability == f"lab/hw/{host}/availability"
    assert topics.owns_discovery(f"ha/disc/sensor/physgap_{host}/x_y/config")
    assert not topics.owns_discovery("ha/disc/sensor/physgap_other/x_y/config")
    assert not topics.owns_discovery(f"homeassistant/sensor/physgap_{host}/x_y/config")


def test_the_client_id_is_per_host_unless_configured() -> None:
    assert client_id_of(settings()) == "physgap_pve1"
    assert client_id_of(settings(client_id="mine")) == "mine"


def test_expire_after_outlasts_two_lost_refreshes() -> None:
    assert settings(interval=60.0).expire_after == 180
    assert settings(interval=0.5).expire_after >= 2


@pytest.mark.parametrize(("listen", "expected"), [
    ("0.0.0.0:9829", "http://pve1:9829/"),
    (":9829", "http://pve1:9829/"),
    ("[::]:9829", "http://pve1:9829/"),
    ("192.168.1.5:9829", "http://192.168.1.5:9829/"),
    ("[fd00::5]:9829", "http://[fd00::5]:9829/"),
    ("127.0.0.1:9829", None),  # Home Assistant on another machine could never open it
    ("[::1]:9829", None),
    ("nonsense", None),
])
def test_the_status_page_url_is_one_home_assistant_can_open(listen: str, expected: str | None) -> None:
    assert status_page_url(listen, "pve1") == expected


def test_the_status_page_url_says_https_when_tls_is_on() -> None:
    assert status_page_url("0.0.0.0:9829", "pve1", https=True) == "https://pve1:9829/"
