"""The catalog: README's table is generated from it, its names and Home Assistant entities are valid, and
what it derives (link up, percent from ratio, unknown gaps) is what the exporters render."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from collectors.model.readings import UPS_FLAGS, DriveReading, LinkReading, UpsReading
from collectors.model.snapshot import CollectorStatus, Gap, Snapshot, View
from exporters import catalog
from exporters.metrics import clock_families, metric_families, static_families

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = ".venv/bin/python -m exporters.catalog --update README.md"

# Prometheus base-unit suffixes: a metric in one of these units ends in its suffix, and no other metric does.
SUFFIX_OF_UNIT = {"seconds": "_seconds", "celsius": "_celsius", "volts": "_volts", "ratio": "_ratio",
                  "bytes/s": "_bytes", "GT/s": "_gts"}

# Home Assistant's own lists (homeassistant/components/{sensor,binary_sensor}/__init__ and const.py).
SENSOR_DEVICE_CLASSES = {
    "apparent_power", "aqi", "area", "atmospheric_pressure", "battery", "blood_glucose_concentration",
    "carbon_dioxide", "carbon_monoxide", "conductivity", "current", "data_rate", "data_size", "date", "distance",
    "duration", "energy", "energy_distance", "energy_storage", "enum", "frequency", "gas", "humidity",
    "illuminance", "irradiance", "moisture", "monetary", "nitrogen_dioxide", "nitrogen_monoxide", "nitrous_oxide",
    "ozone", "ph", "pm1", "pm10", "pm25", "power_factor", "power", "precipitation", "precipitation_intensity",
    "pressure", "reactive_power", "signal_strength", "sound_pressure", "speed", "sulphur_dioxide", "temperature",
    "temperature_delta", "timestamp", "volatile_organic_compounds", "volatile_organic_compounds_parts", "voltage",
    "volume", "volume_flow_rate", "volume_storage", "water", "weight", "wind_direction", "wind_speed",
}
BINARY_SENSOR_DEVICE_CLASSES = {
    "battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door", "gas", "heat",
    "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug", "power", "presence", "problem",
    "running", "safety", "smoke", "sound", "tamper", "update", "vibration", "window",
}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
# "config" is for entities that change a device's configuration; a read-only sensor can only be diagnostic.
ENTITY_CATEGORIES = {None, "diagnostic"}
# For the device classes the catalog uses: the units and state classes HA accepts with them (DEVICE_CLASS_UNITS,
# DEVICE_CLASS_STATE_CLASSES). A device class missing here fails the test until its rules are added.
UNITS_OF_DEVICE_CLASS: dict[str, set[str | None]] = {
    "temperature": {"°C", "°F", "K"},
    "battery": {"%"},
    "duration": {"d", "h", "min", "s", "ms"},
    "voltage": {"V", "mV", "µV", "kV", "MV"},
    "data_rate": {"bit/s", "kbit/s", "Mbit/s", "Gbit/s", "B/s", "kB/s", "MB/s", "GB/s", "KiB/s", "MiB/s", "GiB/s"},
    "timestamp": {None},
}
STATE_CLASSES_OF_DEVICE_CLASS: dict[str, set[str]] = {
    "temperature": {"measurement"},
    "battery": {"measurement"},
    "duration": STATE_CLASSES,
    "voltage": {"measurement"},
    "data_rate": {"measurement"},
    "timestamp": set(),
}
# From a base unit to the HA unit: the factor the HA entity must apply.
SCALE = {("ratio", "%"): 100.0, ("bytes/s", "Mbit/s"): 8 / 1_000_000, ("seconds", "s"): 1.0,
         ("celsius", "°C"): 1.0, ("volts", "V"): 1.0, ("GT/s", "GT/s"): 1.0}


def all_fields() -> list[catalog.Field[object]]:
    return [field for _, field in catalog.fields()]


def test_readme_table_is_the_generated_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    begin, end = readme.index(catalog.README_BEGIN), readme.index(catalog.README_END)
    in_readme = readme[begin + len(catalog.README_BEGIN):end].strip("\n")
    assert in_readme == catalog.markdown_table().strip("\n"), \
        f"README.md's metric table differs from the catalog: regenerate it with `{REGENERATE}`"


def test_the_cli_prints_the_table_and_updates_only_the_marked_block(tmp_path: Path) -> None:
    printed = subprocess.run([sys.executable, "-m", "exporters.catalog"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
    assert printed == catalog.markdown_table()
    assert "| `physgap_drive_temperature_celsius` |" in printed

    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{catalog.README_BEGIN}\nstale | table\n{catalog.README_END}\nafter\n")
    subprocess.run([sys.executable, "-m", "exporters.catalog", "--update", str(readme)], cwd=ROOT, check=True)
    text = readme.read_text()
    assert "stale | table" not in text
    assert text == f"# x\n\nbefore\n{catalog.README_BEGIN}\n{catalog.markdown_table()}{catalog.README_END}\nafter\n"


def test_metric_names_are_unique_prefixed_and_carry_their_base_unit() -> None:
    names = [field.metric for field in all_fields()]
    assert names
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    for field in all_fields():
        assert re.fullmatch(r"physgap_[a-z0-9_]+", field.metric), field.metric
        assert field.metric.endswith("_total") == (field.metric_type == "counter"), field.metric
        assert field.metric.endswith("_info") == (field.metric_type == "info") == (field.unit == "info"), \
            field.metric
        base = field.metric.removesuffix("_total")
        if field.unit in SUFFIX_OF_UNIT:
            assert base.endswith(SUFFIX_OF_UNIT[field.unit]), f"{field.metric} is in {field.unit}"
        else:
            assert not base.endswith(tuple(SUFFIX_OF_UNIT.values())), f"{field.metric} is in {field.unit}"
        assert len(set(field.labels)) == len(field.labels), field.metric
        assert all(re.fullmatch(r"[a-z_][a-z0-9_]*", label) for label in field.labels), field.labels
        assert field.name and field.help, field.metric


def test_home_assistant_entities_use_only_what_home_assistant_accepts() -> None:
    with_ha = [field for field in all_fields() if field.ha is not None]
    assert with_ha, "no field becomes a Home Assistant entity"
    for field in with_ha:
        ha = field.ha
        assert ha is not None
        assert ha.entity_category in ENTITY_CATEGORIES, field.metric
        if ha.component == "binary_sensor":
            assert ha.device_class is None or ha.device_class in BINARY_SENSOR_DEVICE_CLASSES, field.metric
            assert ha.unit_of_measurement is None and ha.state_class is None and ha.scale == 1.0, field.metric
            continue
        assert ha.component == "sensor", field.metric
        assert ha.state_class is None or ha.state_class in STATE_CLASSES, field.metric
        if ha.device_class is not None:
            assert ha.device_class in SENSOR_DEVICE_CLASSES, field.metric
            assert ha.device_class in UNITS_OF_DEVICE_CLASS, f"add HA's rules for {ha.device_class} to this test"
            assert ha.unit_of_measurement in UNITS_OF_DEVICE_CLASS[ha.device_class], field.metric
            if ha.state_class is not None:
                assert ha.state_class in STATE_CLASSES_OF_DEVICE_CLASS[ha.device_class], field.metric
        if ha.unit_of_measurement is None:
            assert ha.scale == 1.0, field.metric
        else:
            assert (field.unit, ha.unit_of_measurement) in SCALE, f"{field.metric}: {field.unit} -> HA unit?"
            assert ha.scale == pytest.approx(SCALE[(field.unit, ha.unit_of_measurement)]), field.metric
        if field.metric_type == "counter":
            assert ha.state_class == "total_increasing", f"{field.metric} is a counter"


def test_the_daemon_s_own_sensors_are_diagnostic() -> None:
    assert catalog.COLLECTORS.fields
    for field in catalog.COLLECTORS.fields:
        assert field.ha is not None and field.ha.entity_category == "diagnostic", field.metric


class _Families(Collector):
    def __init__(self, view: View) -> None:
        self._view = view

    def collect(self) -> Iterable[Metric]:
        return metric_families(self._view)


def render(view: View) -> str:
    """The exposition text a scrape of this View gets."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(view))
    return generate_latest(registry).decode()


def link(interface: str, operstate: str, carrier: bool | None, speed_mbps: int | None) -> LinkReading:
    return LinkReading(interface=interface, physical=True, kind="ethernet", operstate=operstate, admin_up=True,
                       carrier=carrier, speed_mbps=speed_mbps, full_duplex=True, max_speed_mbps=10_000,
                       supported_modes=("10000baseSR/Full",), expected_speed_mbps=None, carrier_changes=3)


def drive(name: str, state: str, read_at: float | None) -> DriveReading:
    return DriveReading(drive=name, device="/dev/sda", dev_type="sat", protocol="ATA", model="M", serial="S",
                        rotational=True, state=state, health=None if state == "unsupported" else 1, evidence=(),
                        smart_passed=True, exit_status=0, read_at=read_at, temperature_celsius=38.0)


def small_view() -> View:
    readings = (
        link("eth0", "up", False, None),  # operstate says up, but no carrier
        link("eth1", "up", True, 1000),
        UpsReading(ups="rack@nas:3493", source="nut", up=True, reason="", flags=("OL", "HE"),
                   battery_charge_ratio=0.57),
        UpsReading(ups="stale@nas:3493", source="nut", up=False, reason="DATA-STALE", flags=("OB",),
                   battery_charge_ratio=0.9),
        drive("wwn-0x1", "standby", 1_000.0),
        drive("vm-disk", "unsupported", None),
    )
    collectors = {"all": CollectorStatus("all", True, duration_seconds=0.5, last_run=1_700_000_000.0,
                                         last_success=1_700_000_000.0, readings=readings),
                  "late": CollectorStatus("late", None)}
    gaps = (Gap("P1", "No UPS", "", open=False, severity="high", evidence=(), evaluated=False),
            Gap("P3", "Slow link", "", open=True, severity="low", evidence=("eth1 1G of 10G",), evaluated=True))
    return View(Snapshot("host", 0.0, collectors), gaps, 1)


def reading_of(kind: catalog.Kind[object], key: str, view: View) -> object:
    return next(r for r in kind.objects(view) if kind.key(r)[0] == key)


def test_a_link_is_up_only_with_carrier_in_prometheus_and_home_assistant() -> None:
    view = small_view()
    text = render(view)
    assert 'physgap_nic_up{interface="eth0"} 0.0' in text
    assert 'physgap_nic_up{interface="eth1"} 1.0' in text
    # The speed is exported in bytes per second, and HA shows the Mbit/s that sysfs reported.
    assert 'physgap_nic_speed_bytes{interface="eth1"} 1.25e+08' in text
    assert 'physgap_nic_speed_bytes{interface="eth0"}' not in text
    kind, up = catalog.find("physgap_nic_up")
    assert up.ha_state(reading_of(kind, "eth0", view)) == "OFF"
    assert up.ha_state(reading_of(kind, "eth1", view)) == "ON"
    _, speed = catalog.find("physgap_nic_speed_bytes")
    assert speed.ha_state(reading_of(kind, "eth1", view)) == 1000.0
    assert speed.ha_state(reading_of(kind, "eth0", view)) is None


def test_a_ratio_reads_as_percent_in_home_assistant_and_stale_ups_values_are_absent() -> None:
    view = small_view()
    text = render(view)
    assert 'physgap_ups_battery_charge_ratio{ups="rack@nas:3493"} 0.57' in text
    assert 'physgap_ups_battery_charge_ratio{ups="stale@nas:3493"}' not in text
    kind, charge = catalog.find("physgap_ups_battery_charge_ratio")
    assert charge.ha_state(reading_of(kind, "rack@nas:3493", view)) == 57.0  # not 56.99999999999999
    assert charge.ha_state(reading_of(kind, "stale@nas:3493", view)) is None
    flags = [line for line in text.splitlines() if line.startswith('physgap_ups_status{flag=')]
    assert len(flags) == len(UPS_FLAGS) + 1  # every known flag, explicitly, then HE; none for the stale UPS
    assert 'physgap_ups_status{flag="OB",ups="rack@nas:3493"} 0.0' in flags
    assert 'physgap_ups_status{flag="HE",ups="rack@nas:3493"} 1.0' in flags


def test_an_unevaluated_gap_exports_0_but_is_unknown_in_home_assistant() -> None:
    view = small_view()
    text = render(view)
    assert 'physgap_gap_open{gap="P1",severity="high",title="No UPS"} 0.0' in text
    assert 'physgap_gap_evaluated{gap="P1"} 0.0' in text
    kind, gap_open = catalog.find("physgap_gap_open")
    assert gap_open.ha_state(reading_of(kind, "P1", view)) is None
    assert gap_open.ha_state(reading_of(kind, "P3", view)) == "ON"
    kind, success = catalog.find("physgap_collector_success")
    assert success.ha_state(reading_of(kind, "late", view)) is None  # not run yet is not a failure, nor a success
    _, last = catalog.find("physgap_collector_last_success_timestamp_seconds")
    assert last.ha_state(reading_of(kind, "all", view)) == "2023-11-14T22:13:20+00:00"


def test_drive_state_becomes_supported_standby_and_an_age_that_only_the_clock_families_carry() -> None:
    view = small_view()
    text = render(view)
    assert 'physgap_drive_smart_supported{drive="vm-disk"} 0.0' in text
    assert 'physgap_drive_standby{drive="wwn-0x1"} 1.0' in text
    assert 'physgap_drive_reachable{drive="wwn-0x1"} 1.0' in text
    assert 'physgap_drive_temperature_celsius{drive="wwn-0x1"} 38.0' in text
    # A disk without SMART has its identity and nothing else: no zeros that would read as "healthy".
    assert [line for line in text.splitlines() if 'drive="vm-disk"' in line and not line.startswith("#")] == [
        'physgap_drive_info{device="/dev/sda",drive="vm-disk",model="M",protocol="ATA",rotational="true",'
        'serial="S"} 1.0',
        'physgap_drive_smart_supported{drive="vm-disk"} 0.0']
    kind, health = catalog.find("physgap_drive_health")
    assert health.ha_state(reading_of(kind, "wwn-0x1", view)) == "ON"  # warning is a problem

    static = {family.name for family in static_families(view)}
    assert "physgap_drive_reading_age_seconds" not in static  # a cached rendering must not freeze an age
    ages = {family.name: family for family in clock_families(view, now=1_500.0)}
    samples = ages["physgap_drive_reading_age_seconds"].samples
    assert [(s.labels, s.value) for s in samples] == [({"drive": "wwn-0x1"}, 500.0)]
    _, age = catalog.find("physgap_drive_reading_age_seconds")
    assert age.ha_state(reading_of(kind, "wwn-0x1", view), now=1_500.0) == 500.0
    with pytest.raises(TypeError):
        age.read(reading_of(kind, "wwn-0x1", view))  # a clock field read without a clock is a bug, not None
