"""The catalog: every field physgap exports, described once.

Per kind of object (a UPS, a drive, a NIC, ...) it says where the readings come from in a View, how they
sort and which labels key them; per field the metric name, help, display name, base unit, Prometheus type,
labels, how to read the value, and the Home Assistant entity it becomes. Prometheus (exporters.metrics),
MQTT with Home Assistant discovery and the status page all walk this, so a name, a unit or a derived value
is decided here (or on the reading itself) and never recomputed by an exporter.

Pure data and pure functions: no exporter library is imported here. `python -m exporters.catalog` prints the
README's metric table.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from collectors.model.readings import (
    AMT_PROVISIONING,
    OOB_STATES,
    UPS_FLAGS,
    ArrayReading,
    ComputeScan,
    DriveReading,
    HostReading,
    LinkReading,
    OobLocalReading,
    OobReading,
    PcieLinkReading,
    SlotReading,
    SwitchPortReading,
    SwitchReading,
    UpsReading,
)
from collectors.model.snapshot import CollectorStatus, Gap, View
from daemon import __version__

log = logging.getLogger(__name__)
R = TypeVar("R")

# "info" is an identity series: always 1, the identity in its labels, exposed as a gauge named *_info.
PromType = Literal["gauge", "counter", "info"]
Component = Literal["sensor", "binary_sensor"]

# Base units (the Prometheus ones a metric name ends in, where there is one) and the unitless kinds of value.
UNITS = ("seconds", "celsius", "volts", "ratio", "bytes/s", "GT/s", "lanes", "count", "boolean", "state", "info")

README_BEGIN = "<!-- catalog:begin -->"
README_END = "<!-- catalog:end -->"


@dataclass(frozen=True)
class Sample:
    """One series of a field: its label values (in `Field.labels` order) and its value."""

    labels: tuple[str, ...]
    value: float


@dataclass(frozen=True)
class HomeAssistant:
    """The Home Assistant entity a field becomes, as HA's own integrations would declare it.

    `scale` converts the base unit into `unit_of_measurement` (ratio -> % is 100, bytes/s -> Mbit/s is 8e-6).
    """

    component: Component
    device_class: str | None = None
    unit_of_measurement: str | None = None
    state_class: str | None = None
    entity_category: str | None = None
    scale: float = 1.0

    def state(self, value: float) -> str | float:
        """The base-unit value as HA wants it: "ON"/"OFF" (MQTT's default payloads), an ISO 8601 time for a
        timestamp, else the scaled number."""
        if self.component == "binary_sensor":
            return "ON" if value != 0 else "OFF"
        if self.device_class == "timestamp":
            return datetime.fromtimestamp(value, UTC).isoformat()
        # 12 significant digits drop binary-float noise (0.57 x 100 = 56.99999999999999) and lose nothing real.
        return float(f"{value * self.scale:.12g}")


@dataclass(frozen=True)
class Field(Generic[R]):
    """One exported field of one kind of object.

    Exactly one of `value`, `samples` and `aged` says how to read it:
    - `value`: one sample per object, None meaning no sample; `label_values` supplies the labels beyond the
      kind's key (an info field's identity, a gap's title and severity);
    - `samples`: several per object, each (label values beyond the key, value), e.g. one per UPS flag;
    - `aged`: like `value` but depends on the clock too (`reading, now`); rendered fresh on every scrape,
      never cached with the View.
    `when`, if given, must hold for the object to have any sample of this field (a stale UPS shows no
    numbers, a drive without SMART no counters).
    """

    metric: str
    help: str
    name: str  # human display name: HA entity names, status-page column headers
    unit: str  # one of UNITS
    labels: tuple[str, ...]  # every label, the kind's key labels first
    metric_type: PromType = "gauge"
    scale_note: str = ""  # how the source's unit became the base unit, or what the values mean
    states: tuple[str, ...] = ()  # a "state" field's value names, value 0 first: the page and MQTT show these
    value: Callable[[R], float | None] | None = None
    label_values: Callable[[R], tuple[str, ...]] | None = None
    samples: Callable[[R], Iterable[tuple[tuple[str, ...], float]]] | None = None
    aged: Callable[[R, float], float | None] | None = None
    when: Callable[[R], bool] | None = None
    ha: HomeAssistant | None = None
    # HA has an "unknown" state where Prometheus has only numbers: a gap that could not be evaluated exports
    # open 0, but must not read "no problem" in HA (nothing reads healthy that was not measured).
    ha_unknown: Callable[[R], bool] | None = None

    def __post_init__(self) -> None:
        readers = [r for r in (self.value, self.samples, self.aged) if r is not None]
        if len(readers) != 1:
            raise ValueError(f"{self.metric}: exactly one of value, samples, aged")
        if self.ha is not None and self.samples is not None:
            raise ValueError(f"{self.metric}: a multi-sample field has no single Home Assistant state")
        if self.unit not in UNITS:
            raise ValueError(f"{self.metric}: unknown unit {self.unit!r}")

    @property
    def clock_dependent(self) -> bool:
        return self.aged is not None

    def read(self, reading: R, now: float | None = None) -> float | None:
        """The single value of this field for one object (None: no sample); `now` is needed by clock fields."""
        if self.when is not None and not self.when(reading):
            return None
        if self.value is not None:
            return self.value(reading)
        if self.aged is not None:
            if now is None:
                raise TypeError(f"{self.metric} depends on the clock: pass now")
            return self.aged(reading, now)
        raise TypeError(f"{self.metric} has several samples per object: use Kind.samples")

    def ha_state(self, reading: R, now: float | None = None) -> str | float | None:
        """The Home Assistant state for one object; None means unknown (publish nothing healthy)."""
        if self.ha is None:
            raise TypeError(f"{self.metric} has no Home Assistant entity")
        try:
            if self.ha_unknown is not None and self.ha_unknown(reading):
                return None
            value = self.read(reading, now)
            return None if value is None else self.ha.state(value)
        except Exception as exc:  # as in Kind.samples: one value's error costs that value, never the cycle
            log.debug("catalog: %s state dropped: %s: %s", self.metric, type(exc).__name__, exc)
            return None


@dataclass(frozen=True)
class Kind(Generic[R]):
    """One kind of object: where its readings are in a View, their order, their key, and their fields.

    `fields` is in exposition order; `sort_key` None keeps the View's order (gaps: the rule order).
    """

    name: str  # MQTT topic segment and status-page section id
    title: str  # status-page section heading
    source: Callable[[View], Iterable[R]]
    key_labels: tuple[str, ...]
    key: Callable[[R], tuple[str, ...]]
    fields: tuple[Field[R], ...]
    sort_key: Callable[[R], Any] | None = None

    def __post_init__(self) -> None:
        for field in self.fields:
            if field.labels[:len(self.key_labels)] != self.key_labels:
                raise ValueError(f"{field.metric}: labels must start with the key labels {self.key_labels}")

    def objects(self, view: View) -> tuple[R, ...]:
        """The kind's readings in this View, in catalog order."""
        readings = tuple(self.source(view))
        return readings if self.sort_key is None else tuple(sorted(readings, key=self.sort_key))

    @cached_property
    def static_fields(self) -> tuple[Field[R], ...]:
        """Fields that depend on the View alone."""
        return tuple(f for f in self.fields if not f.clock_dependent)

    # Cached, like clock_fields: read for every object of every MQTT publish cycle.
    @cached_property
    def ha_fields(self) -> tuple[Field[R], ...]:
        """Fields that become Home Assistant entities."""
        return tuple(f for f in self.fields if f.ha is not None)

    # Cached: read on every scrape, and a kind's fields never change.
    @cached_property
    def clock_fields(self) -> tuple[Field[R], ...]:
        return tuple(f for f in self.fields if f.clock_dependent)

    def samples(self, field: Field[R], reading: R, now: float | None = None) -> tuple[Sample, ...]:
        """Every series `field` has for one object, label values in `field.labels` order.

        An error while reading (a field's own bug, a reading no field expected) costs this object's samples
        of this field only, for every renderer alike: /metrics, MQTT and the page never fail on one value.
        """
        try:
            return self._samples(field, reading, now)
        except Exception as exc:
            log.debug("%s%.200s dropped: %s: %s", field.metric, self._key_text(reading), type(exc).__name__, exc)
            return ()

    def _key_text(self, reading: R) -> str:
        try:
            return repr(self.key(reading))
        except Exception:
            return f" of a {self.name}"

    def _samples(self, field: Field[R], reading: R, now: float | None) -> tuple[Sample, ...]:
        key = self.key(reading)
        if field.samples is not None:
            if field.when is not None and not field.when(reading):
                return ()
            return tuple(Sample((*key, *extra), value) for extra, value in field.samples(reading))
        value = field.read(reading, now)
        if value is None:
            return ()
        extra = field.label_values(reading) if field.label_values is not None else ()
        return (Sample((*key, *extra), value),)


def _flag(value: bool) -> float:
    return 1.0 if value else 0.0


def _optional_flag(value: bool | None) -> float | None:
    return None if value is None else _flag(value)


def _number(value: float | None) -> float | None:
    return None if value is None else float(value)


def _one(_: object) -> float:
    return 1.0


# Home Assistant entities used more than once.
_PROBLEM = HomeAssistant("binary_sensor", device_class="problem")
_CONNECTIVITY = HomeAssistant("binary_sensor", device_class="connectivity")
_PERCENT = HomeAssistant("sensor", unit_of_measurement="%", state_class="measurement", scale=100.0)
_COUNT = HomeAssistant("sensor", state_class="measurement")
_VOLTAGE = HomeAssistant("sensor", device_class="voltage", unit_of_measurement="V", state_class="measurement")
_TEMPERATURE = HomeAssistant("sensor", device_class="temperature", unit_of_measurement="°C",
                             state_class="measurement")
_DATA_RATE = HomeAssistant("sensor", device_class="data_rate", unit_of_measurement="Mbit/s",
                           state_class="measurement", scale=8e-6)
_DATA_RATE_DIAGNOSTIC = HomeAssistant("sensor", device_class="data_rate", unit_of_measurement="Mbit/s",
                                      state_class="measurement", entity_category="diagnostic", scale=8e-6)
_GTS_DIAGNOSTIC = HomeAssistant("sensor", unit_of_measurement="GT/s", state_class="measurement",
                                entity_category="diagnostic")
_LANES_DIAGNOSTIC = HomeAssistant("sensor", state_class="measurement", entity_category="diagnostic")
_FLAG_DIAGNOSTIC = HomeAssistant("binary_sensor", entity_category="diagnostic")
_MBIT_NOTE = "sysfs Mbit/s × 125 000"

BuildField = Field[str]
CollectorField = Field[CollectorStatus]
GapField = Field[Gap]
UpsField = Field[UpsReading]
LinkField = Field[LinkReading]
SlotField = Field[SlotReading]
PcieField = Field[PcieLinkReading]
DriveField = Field[DriveReading]
ArrayField = Field[ArrayReading]

BUILD = Kind[str](
    name="build", title="physgap", source=lambda view: (__version__,), key_labels=(), key=lambda _: (),
    fields=(
        BuildField("physgap_build_info", "physgap version.", "Version", "info", ("version",), "info",
                   value=_one, label_values=lambda version: (version,)),
    ),
)

_COLLECTOR = ("collector",)
COLLECTORS = Kind[CollectorStatus](
    name="collector", title="Collectors", source=lambda view: view.snapshot.collectors.values(),
    key_labels=_COLLECTOR, key=lambda status: (status.name,), sort_key=lambda status: status.name,
    fields=(
        CollectorField("physgap_collector_success",
                       "1 when the collector's last run succeeded, 0 when it failed or has not run yet.",
                       "Last run succeeded", "boolean", _COLLECTOR, value=lambda s: _flag(bool(s.success)),
                       ha=HomeAssistant("binary_sensor", entity_category="diagnostic"),
                       ha_unknown=lambda s: s.success is None),
        CollectorField("physgap_collector_duration_seconds", "Wall time of the collector's last run.",
                       "Run duration", "seconds", _COLLECTOR, value=lambda s: s.duration_seconds,
                       when=lambda s: s.last_run is not None,
                       ha=HomeAssistant("sensor", device_class="duration", unit_of_measurement="s",
                                        state_class="measurement", entity_category="diagnostic")),
        CollectorField("physgap_collector_last_success_timestamp_seconds",
                       "Unix time of the collector's last successful run. Readings are cached between runs: "
                       "each collector polls on its own interval, a scrape never touches hardware.",
                       "Last success", "seconds", _COLLECTOR, scale_note="Unix time",
                       value=lambda s: s.last_success,
                       ha=HomeAssistant("sensor", device_class="timestamp", entity_category="diagnostic")),
    ),
)

_GAP = ("gap",)
GAPS = Kind[Gap](
    name="gap", title="Gaps", source=lambda view: view.gaps, key_labels=_GAP, key=lambda gap: (gap.id,),
    fields=(
        GapField("physgap_gap_open", "1 while the physical-layer gap is open; 0 when resolved or not evaluated.",
                 "Open", "boolean", (*_GAP, "title", "severity"), value=lambda g: _flag(g.open),
                 label_values=lambda g: (g.title, g.severity), ha=_PROBLEM, ha_unknown=lambda g: not g.evaluated),
        GapField("physgap_gap_evaluated",
                 "1 when the gap rule had the data to decide; 0 means its status is unknown.",
                 "Evaluated", "boolean", _GAP, value=lambda g: _flag(g.evaluated)),
        GapField("physgap_gap_applicable",
                 "0 when the check cannot apply on this host (e.g. P5 without physical slots): evaluated, never "
                 "open, and not resolved either.",
                 "Applicable", "boolean", _GAP, value=lambda g: _flag(g.applicable)),
    ),
)


def _ups_current(ups: UpsReading) -> bool:
    # A stale or unreachable UPS's flags and numbers are not the UPS's state now: show none rather than old ones.
    return ups.up


def _ups_status_known(ups: UpsReading) -> bool:
    # A UPS that answers but reports no ups.status token (a driver without it, an SNMP "unknown" output
    # source) has no measured power state: no flag may read 0 ("on line, not critical") for it.
    return ups.up and bool(ups.flags)


_PHASE_NOTE = "phase: NUT's L1-N, L2-L3, ...; L1, L2, ... for SNMP lines and phases"


def _phases(phases: tuple[tuple[str, float], ...]) -> Iterator[tuple[tuple[str, ...], float]]:
    return (((phase,), volts) for phase, volts in phases)


_UPS = ("ups",)
UPS = Kind[UpsReading](
    name="ups", title="UPS", source=lambda view: view.snapshot.readings(UpsReading), key_labels=_UPS,
    key=lambda ups: (ups.ups,), sort_key=lambda ups: ups.ups,
    fields=(
        UpsField("physgap_ups_up", "1 when the UPS's data is current (server answered, driver connected and "
                 "fresh); 0 with the reason in the log and the report.", "Data current", "boolean", _UPS,
                 value=lambda u: _flag(u.up), ha=_CONNECTIVITY),
        UpsField("physgap_ups_info", "UPS identity; always 1.", "Identity", "info",
                 (*_UPS, "manufacturer", "model", "serial", "driver", "source"), "info", value=_one,
                 label_values=lambda u: (u.manufacturer, u.model, u.serial, u.driver, u.source)),
        UpsField("physgap_ups_status", "1 while the ups.status flag is set. Every known flag has a series "
                 "(explicit 0); other tokens such as HE appear while present.", "Status flags", "boolean",
                 (*_UPS, "flag"), scale_note=f"one series per flag: {' '.join(UPS_FLAGS)}, then any other",
                 when=_ups_status_known, samples=lambda u: (((flag,), _flag(on)) for flag, on in u.flag_states)),
        UpsField("physgap_ups_on_battery", "1 while running on battery (OB).", "On battery", "boolean", _UPS,
                 value=lambda u: _flag(u.on_battery), when=_ups_status_known, ha=HomeAssistant("binary_sensor")),
        UpsField("physgap_ups_low_battery", "1 while the battery is low (LB).", "Low battery", "boolean", _UPS,
                 value=lambda u: _flag(u.low_battery), when=_ups_status_known,
                 ha=HomeAssistant("binary_sensor", device_class="battery")),
        UpsField("physgap_ups_replace_battery", "1 while the UPS asks for a new battery (RB).", "Replace battery",
                 "boolean", _UPS, value=lambda u: _flag(u.replace_battery), when=_ups_status_known, ha=_PROBLEM),
        UpsField("physgap_ups_critical", "1 when upsmon would shut down: on battery with low battery, or forced "
                 "shutdown (FSD).", "Critical", "boolean", _UPS, value=lambda u: _flag(u.critical),
                 when=_ups_status_known, ha=_PROBLEM),
        UpsField("physgap_ups_shutdown_clients", "upsmon instances attached to this UPS (NUMLOGINS).",
                 "Shutdown clients", "count", _UPS, value=lambda u: _number(u.shutdown_clients), ha=_COUNT),
        UpsField("physgap_ups_shutdown_protected", "1 when this host's upsmon.conf monitors the UPS with a "
                 "SHUTDOWNCMD (or, when that file is unreadable, a upsmon is attached).", "Shutdown protected",
                 "boolean", _UPS, value=lambda u: _optional_flag(u.shutdown_protected),
                 ha=HomeAssistant("binary_sensor")),
        UpsField("physgap_ups_battery_charge_ratio", "Battery charge.", "Battery charge", "ratio", _UPS,
                 value=lambda u: u.battery_charge_ratio, when=_ups_current,
                 ha=HomeAssistant("sensor", device_class="battery", unit_of_measurement="%",
                                  state_class="measurement", scale=100.0)),
        UpsField("physgap_ups_battery_runtime_seconds", "Estimated runtime on battery.", "Battery runtime",
                 "seconds", _UPS, value=lambda u: u.battery_runtime_seconds, when=_ups_current,
                 ha=HomeAssistant("sensor", device_class="duration", unit_of_measurement="s",
                                  state_class="measurement")),
        UpsField("physgap_ups_load_ratio", "Output load.", "Load", "ratio", _UPS, value=lambda u: u.load_ratio,
                 when=_ups_current, ha=_PERCENT),
        UpsField("physgap_ups_input_voltage_volts", "Input voltage. On a UPS with several phases or lines the "
                 "lowest one, so a sagging phase shows: over NUT the lowest phase-to-neutral voltage, over SNMP "
                 "the lowest line the UPS reports (phase-to-neutral or line-to-line, as its MIB has it).",
                 "Input voltage", "volts", _UPS,
                 value=lambda u: u.input_voltage_volts, when=_ups_current, ha=_VOLTAGE),
        UpsField("physgap_ups_output_voltage_volts", "Output voltage. On a UPS with several phases or lines the "
                 "lowest one: over NUT the lowest phase-to-neutral voltage, over SNMP the lowest line the UPS "
                 "reports (phase-to-neutral or line-to-line, as its MIB has it).",
                 "Output voltage", "volts", _UPS,
                 value=lambda u: u.output_voltage_volts, when=_ups_current, ha=_VOLTAGE),
        UpsField("physgap_ups_input_phase_voltage_volts", "Input voltage per phase or line, for a UPS that "
                 "reports more than one.", "Input voltage per phase", "volts", (*_UPS, "phase"),
                 scale_note=_PHASE_NOTE, when=_ups_current, samples=lambda u: _phases(u.input_phase_volts)),
        UpsField("physgap_ups_output_phase_voltage_volts", "Output voltage per phase or line, for a UPS that "
                 "reports more than one.", "Output voltage per phase", "volts", (*_UPS, "phase"),
                 scale_note=_PHASE_NOTE, when=_ups_current, samples=lambda u: _phases(u.output_phase_volts)),
    ),
)

_INTERFACE = ("interface",)
NICS = Kind[LinkReading](
    name="nic", title="Network interfaces", source=lambda view: view.snapshot.readings(LinkReading),
    key_labels=_INTERFACE, key=lambda link: (link.interface,), sort_key=lambda link: link.interface,
    fields=(
        LinkField("physgap_nic_info", "Network interface identity; always 1.", "Identity", "info",
                  (*_INTERFACE, "kind", "operstate", "pci_address", "bond_master"), "info", value=_one,
                  label_values=lambda n: (n.kind, n.operstate, n.pci_address or "", n.bond_master or "")),
        LinkField("physgap_nic_up", "1 when the interface is operationally up with carrier.", "Link up", "boolean",
                  _INTERFACE, value=lambda n: _flag(n.up), ha=_CONNECTIVITY),
        LinkField("physgap_nic_speed_bytes",
                  "Negotiated link speed in bytes per second; absent while the link is down.", "Link speed",
                  "bytes/s", _INTERFACE, scale_note=_MBIT_NOTE, value=lambda n: n.speed_bytes_per_second,
                  ha=_DATA_RATE),
        LinkField("physgap_nic_max_speed_bytes", "Best link mode the NIC supports, in bytes per second.",
                  "Maximum speed", "bytes/s", _INTERFACE, scale_note="best supported ethtool link mode",
                  value=lambda n: n.max_speed_bytes_per_second, ha=_DATA_RATE_DIAGNOSTIC),
        LinkField("physgap_nic_expected_speed_bytes",
                  "Speed the operator expects ([nics].expected), in bytes per second.", "Expected speed",
                  "bytes/s", _INTERFACE, scale_note="configured", value=lambda n: n.expected_speed_bytes_per_second,
                  ha=_DATA_RATE_DIAGNOSTIC),
        LinkField("physgap_nic_full_duplex", "1 when the link negotiated full duplex.", "Full duplex", "boolean",
                  _INTERFACE, value=lambda n: _optional_flag(n.full_duplex), ha=_FLAG_DIAGNOSTIC),
        LinkField("physgap_nic_carrier_changes_total", "Carrier changes since the interface appeared.",
                  "Carrier changes", "count", _INTERFACE, "counter", value=lambda n: _number(n.carrier_changes),
                  ha=HomeAssistant("sensor", state_class="total_increasing", entity_category="diagnostic")),
    ),
)

SwitchField = Field[SwitchReading]
SwitchPortField = Field[SwitchPortReading]

_SWITCH = ("switch",)
SWITCHES = Kind[SwitchReading](
    name="switch", title="Switches", source=lambda view: view.snapshot.readings(SwitchReading), key_labels=_SWITCH,
    key=lambda switch: (switch.switch,), sort_key=lambda switch: switch.switch,
    fields=(
        SwitchField("physgap_switch_up", "1 when the switch's SNMP agent answered the last poll; 0 while it does "
                    "not (host down, port closed, wrong community or keys), and its ports are then unknown.",
                    "SNMP answering", "boolean", _SWITCH, value=lambda s: _flag(s.up), ha=_CONNECTIVITY),
    ),
)

_SWITCH_PORT = ("switch", "port")
SWITCH_PORTS = Kind[SwitchPortReading](
    name="switch_port", title="Switch ports", source=lambda view: view.snapshot.readings(SwitchPortReading),
    key_labels=_SWITCH_PORT, key=lambda port: (port.switch, port.port),
    sort_key=lambda port: (port.switch, port.if_index),
    fields=(
        SwitchPortField("physgap_switch_port_info", "Switch port identity; always 1. port is the switch's ifName, "
                        "alias its ifAlias, interface this host's NIC cabled to it ([[switch]].ports or LLDP).",
                        "Identity", "info", (*_SWITCH_PORT, "if_index", "alias", "interface", "mapped_by"), "info",
                        value=_one, label_values=lambda p: (str(p.if_index), p.alias, p.interface, p.mapped_by)),
        SwitchPortField("physgap_switch_port_up", "1 when the port is operationally up (IF-MIB ifOperStatus); "
                        "absent while the switch reports its status as unknown or not at all.",
                        "Link up", "boolean", _SWITCH_PORT,
                        value=lambda p: None if p.oper_status == "unknown" else _flag(p.up), ha=_CONNECTIVITY),
        SwitchPortField("physgap_switch_port_speed_bytes", "Negotiated speed of the port in bytes per second; "
                        "absent while the port is down or reports no believable speed.", "Link speed", "bytes/s",
                        _SWITCH_PORT, scale_note="IF-MIB ifHighSpeed Mbit/s × 125 000 (ifSpeed bit/s ÷ 8 without it)",
                        value=lambda p: p.speed_bytes_per_second, ha=_DATA_RATE),
    ),
)

SLOTS = Kind[SlotReading](
    name="slot", title="PCIe slots", source=lambda view: view.snapshot.readings(SlotReading), key_labels=("slot",),
    key=lambda slot: (slot.slot,), sort_key=lambda slot: slot.port,
    fields=(
        SlotField("physgap_pcie_slot_in_use",
                  "1 when something sits in the physical slot, judged from the port's presence detect and link "
                  "(SMBIOS supplies the labels only).", "In use", "boolean",
                  ("slot", "designation", "type", "width", "port"), value=lambda s: _flag(s.occupied),
                  label_values=lambda s: (s.designation, s.slot_type, s.width, s.port),
                  ha=HomeAssistant("binary_sensor", device_class="plug")),
    ),
)

_ADDRESS = ("address", "device")
PCIE_LINKS = Kind[PcieLinkReading](
    name="pcie_link", title="PCIe links", source=lambda view: view.snapshot.readings(PcieLinkReading),
    key_labels=_ADDRESS, key=lambda link: (link.address, link.device), sort_key=lambda link: link.address,
    fields=(
        PcieField("physgap_pcie_link_speed_gts", "Current PCIe link speed in GT/s.", "Link speed", "GT/s", _ADDRESS,
                  value=lambda p: p.current_speed_gts, ha=_GTS_DIAGNOSTIC),
        PcieField("physgap_pcie_link_max_speed_gts", "PCIe link speed capability in GT/s.", "Maximum link speed",
                  "GT/s", _ADDRESS, value=lambda p: p.max_speed_gts, ha=_GTS_DIAGNOSTIC),
        PcieField("physgap_pcie_link_width", "Current PCIe link width in lanes.", "Link width", "lanes", _ADDRESS,
                  value=lambda p: _number(p.current_width), ha=_LANES_DIAGNOSTIC),
        PcieField("physgap_pcie_link_max_width", "PCIe link width capability in lanes.", "Maximum link width",
                  "lanes", _ADDRESS, value=lambda p: _number(p.max_width), ha=_LANES_DIAGNOSTIC),
        PcieField("physgap_pcie_link_downgraded",
                  "1 when the link trained below the speed or width first seen for this device in this address; "
                  "absent where not judged: root and downstream ports (the device end of the link carries it), "
                  "no trained link seen yet, or the current link unreadable.",
                  "Downgraded", "boolean", _ADDRESS, value=lambda p: _optional_flag(p.downgraded), ha=_PROBLEM),
    ),
)


def _smart_supported(drive: DriveReading) -> bool:
    # A disk without SMART (VM disk, RAID volume) has nothing to report and is never a failure.
    return drive.smart_supported


# physgap_drive_health's values, 0 first (collectors.smart.verdict: OK, WARNING, FAILING).
DRIVE_VERDICTS = ("ok", "warning", "failing")


def _state_note(states: tuple[str, ...]) -> str:
    return ", ".join(f"{number} {name}" for number, name in enumerate(states))

_DRIVE = ("drive",)
DRIVES = Kind[DriveReading](
    name="drive", title="Drives", source=lambda view: view.snapshot.readings(DriveReading), key_labels=_DRIVE,
    key=lambda drive: (drive.drive,), sort_key=lambda drive: drive.drive,
    fields=(
        DriveField("physgap_drive_info", "Drive identity; always 1. drive is a stable id (WWN, else model and "
                   "serial); device is the /dev path, which can change across boots.", "Identity", "info",
                   (*_DRIVE, "device", "model", "serial", "protocol", "rotational"), "info", value=_one,
                   label_values=lambda d: (d.device, d.model, d.serial, d.protocol,
                                           "" if d.rotational is None else str(d.rotational).lower())),
        DriveField("physgap_drive_smart_supported",
                   "0 for drives without SMART (VM disks, RAID volumes): never a failure.", "SMART supported",
                   "boolean", _DRIVE, value=lambda d: _flag(d.smart_supported), ha=_FLAG_DIAGNOSTIC),
        DriveField("physgap_drive_smart_passed", "The drive's own overall SMART self-assessment.", "SMART passed",
                   "boolean", _DRIVE, value=lambda d: _optional_flag(d.smart_passed), when=_smart_supported,
                   ha=_FLAG_DIAGNOSTIC),
        DriveField("physgap_drive_health", "physgap's verdict: 0 ok, 1 warning (degrading), 2 failing. Unlike "
                   "smart_passed it counts pending, reallocated and uncorrectable sectors and their growth.",
                   "Health", "state", _DRIVE, scale_note=_state_note(DRIVE_VERDICTS), states=DRIVE_VERDICTS,
                   value=lambda d: _number(d.health), when=_smart_supported, ha=_PROBLEM),
        DriveField("physgap_drive_reachable", "0 when the last query got no usable answer (open failed, timeout, "
                   "garbage); the other values are then the last read's.", "Reachable", "boolean", _DRIVE,
                   value=lambda d: _flag(d.reachable), when=_smart_supported,
                   ha=HomeAssistant("binary_sensor", device_class="connectivity", entity_category="diagnostic")),
        DriveField("physgap_drive_standby", "1 when the disk was asleep at the last check and was not woken; its "
                   "other values are from the last read (see reading_age_seconds).", "Standby", "boolean", _DRIVE,
                   value=lambda d: _flag(d.standby), when=_smart_supported, ha=_FLAG_DIAGNOSTIC),
        DriveField("physgap_drive_temperature_celsius", "Drive temperature.", "Temperature", "celsius", _DRIVE,
                   value=lambda d: _number(d.temperature_celsius), when=_smart_supported, ha=_TEMPERATURE),
        DriveField("physgap_drive_power_on_seconds", "Power-on time.", "Power-on time", "seconds", _DRIVE,
                   value=lambda d: _number(d.power_on_seconds), when=_smart_supported,
                   ha=HomeAssistant("sensor", device_class="duration", unit_of_measurement="s",
                                    state_class="total_increasing")),
        DriveField("physgap_drive_reallocated_sectors", "Reallocated sectors (ATA 5; SAS grown defects).",
                   "Reallocated sectors", "count", _DRIVE, value=lambda d: _number(d.reallocated_sectors),
                   when=_smart_supported, ha=_COUNT),
        DriveField("physgap_drive_pending_sectors", "Sectors pending reallocation (ATA 197).", "Pending sectors",
                   "count", _DRIVE, value=lambda d: _number(d.pending_sectors), when=_smart_supported, ha=_COUNT),
        DriveField("physgap_drive_uncorrectable_sectors", "Uncorrectable sectors (ATA 198/187; SAS: uncorrected "
                   "read/write/verify errors of the error counter log).",
                   "Uncorrectable sectors", "count", _DRIVE, value=lambda d: _number(d.uncorrectable_sectors),
                   when=_smart_supported, ha=_COUNT),
        DriveField("physgap_drive_media_errors", "NVMe media and data integrity errors.", "Media errors", "count",
                   _DRIVE, value=lambda d: _number(d.media_errors), when=_smart_supported,
                   ha=HomeAssistant("sensor", state_class="total_increasing")),
        DriveField("physgap_drive_wear_ratio", "Share of rated endurance used; can exceed 1. NVMe percentage "
                   "used, SATA device statistics or vendor wear attribute, SAS percentage used endurance indicator.",
                   "Wear", "ratio", _DRIVE, scale_note="percentage of rated endurance used / 100",
                   value=lambda d: d.wear_ratio,
                   when=_smart_supported, ha=_PERCENT),
        DriveField("physgap_drive_available_spare_ratio", "NVMe available spare.", "Available spare", "ratio",
                   _DRIVE, value=lambda d: d.available_spare_ratio, when=_smart_supported, ha=_PERCENT),
        DriveField("physgap_drive_crc_errors", "Interface CRC errors (ATA 199): a cable or backplane problem, "
                   "not the disk.", "CRC errors", "count", _DRIVE, value=lambda d: _number(d.crc_errors),
                   when=_smart_supported, ha=HomeAssistant("sensor", state_class="total_increasing")),
        DriveField("physgap_drive_reading_age_seconds", "Age of the SMART data shown. SMART is read on its own "
                   "interval and cached, and a sleeping disk keeps its last reading.", "Reading age", "seconds",
                   _DRIVE, aged=lambda d, now: d.reading_age_seconds(now),
                   ha=HomeAssistant("sensor", device_class="duration", unit_of_measurement="s",
                                    state_class="measurement", entity_category="diagnostic")),
    ),
)

_ARRAY = ("array",)
ARRAYS = Kind[ArrayReading](
    name="array", title="Arrays and pools", source=lambda view: view.snapshot.readings(ArrayReading),
    key_labels=_ARRAY, key=lambda array: (array.array,), sort_key=lambda array: (array.kind, array.array),
    fields=(
        ArrayField("physgap_array_info", "md array, ZFS pool or NAS volume over SNMP; always 1.", "Identity", "info",
                   (*_ARRAY, "kind", "level"), "info", value=_one, label_values=lambda a: (a.kind, a.level)),
        ArrayField("physgap_array_members", "Member drives, failed ones included.", "Members", "count", _ARRAY,
                   value=lambda a: float(len(a.members)), ha=_COUNT),
        ArrayField("physgap_array_failed_members", "Members missing, faulted or removed.", "Failed members",
                   "count", _ARRAY, value=lambda a: float(len(a.failed_members)), ha=_COUNT),
        ArrayField("physgap_array_redundancy",
                   "Further member failures the array survives now; 0 means the next one loses data. Absent "
                   "when unknown (a NAS volume over SNMP whose level is not declared).",
                   "Redundancy", "count", _ARRAY, value=lambda a: _number(a.redundancy), ha=_COUNT),
        ArrayField("physgap_array_degraded", "1 while the array runs degraded.", "Degraded", "boolean", _ARRAY,
                   value=lambda a: _flag(a.degraded), ha=_PROBLEM),
        ArrayField("physgap_array_sync_progress_ratio",
                   "Progress of the running resync, recovery, resilver or scrub; absent when idle.",
                   "Sync progress", "ratio", (*_ARRAY, "action"), value=lambda a: a.sync_progress_ratio,
                   label_values=lambda a: (a.sync_action,), ha=_PERCENT),
    ),
)

ComputeField = Field[ComputeScan]
HostField = Field[HostReading]

COMPUTE = Kind[ComputeScan](
    # One object per host running physgap, and only where P4 applies: no empty table on a NAS.
    name="compute", title="Compute cluster",
    source=lambda view: (s for s in view.snapshot.readings(ComputeScan) if s.applicable), key_labels=(),
    key=lambda _: (),
    fields=(
        ComputeField("physgap_compute_info", "Where the compute-host list comes from (pve: Proxmox VE .members; "
                     "tcp: [hosts] compute, probed); always 1.", "Identity", "info", ("source", "cluster"),
                     "info", value=_one, label_values=lambda s: (s.source, s.cluster)),
        ComputeField("physgap_compute_hosts_online",
                     "Compute hosts online (gap P4 opens below 2); absent while a host's state is undetermined "
                     "or the list could not be read.", "Hosts online", "count", (),
                     value=lambda s: _number(s.hosts_online)),
        ComputeField("physgap_compute_hosts_configured",
                     "Compute hosts the source lists: the Proxmox VE cluster's nodes (1 for a standalone node), "
                     "or the [hosts] compute entries.", "Hosts listed", "count", (),
                     value=lambda s: _number(s.hosts_configured)),
        ComputeField("physgap_compute_cluster_quorate", "1 while the Proxmox VE cluster has quorum; absent when "
                     "not clustered.", "Quorate", "boolean", (), value=lambda s: _optional_flag(s.quorate)),
    ),
)

_HOST = ("host",)
HOSTS = Kind[HostReading](
    name="host", title="Compute hosts", source=lambda view: view.snapshot.readings(HostReading),
    key_labels=_HOST, key=lambda host: (host.host,), sort_key=lambda host: host.host,
    fields=(
        HostField("physgap_host_info", "Compute host; always 1. address: its .members ip, or the address "
                  "probed.", "Identity", "info", (*_HOST, "address", "cluster"), "info", value=_one,
                  label_values=lambda h: (h.address, h.cluster)),
        HostField("physgap_host_up", "1 when the compute host is online: a Proxmox VE node corosync counts as a "
                  "member (source pve), or a configured host with a port that accepts TCP (source tcp); absent "
                  "while undetermined (a name that does not resolve).", "Online", "boolean", (*_HOST, "source"),
                  value=lambda h: _optional_flag(h.online), label_values=lambda h: (h.source,),
                  ha=_CONNECTIVITY),
    ),
)

OobField = Field[OobReading]
OobLocalField = Field[OobLocalReading]


def _oob_provisioning(target: OobReading) -> float | None:
    known = target.provisioning in AMT_PROVISIONING
    return float(AMT_PROVISIONING.index(target.provisioning)) if known else None


_TARGET = ("target",)
OOB = Kind[OobReading](
    name="oob", title="Out-of-band management", source=lambda view: view.snapshot.readings(OobReading),
    key_labels=_TARGET, key=lambda target: (target.target,), sort_key=lambda target: target.target,
    fields=(
        OobField("physgap_oob_up", "1 when the [[oob.targets]] endpoint answered as its kind: AMT with its Server "
                 "banner and a Digest:<hex> realm on /wsman, IPMI/ASF with an RMCP presence pong, tcp with an "
                 "accepted connection.", "Answering", "boolean", (*_TARGET, "kind"), value=lambda t: _flag(t.up),
                 label_values=lambda t: (t.kind,), ha=_CONNECTIVITY),
        OobField("physgap_oob_probe_state", "How the last probe ended.", "Probe state", "state", _TARGET,
                 scale_note=_state_note(OOB_STATES), states=OOB_STATES,
                 value=lambda t: float(OOB_STATES.index(t.state)) if t.state in OOB_STATES else None),
        OobField("physgap_oob_probe_duration_seconds", "Wall time of the last probe of the endpoint.",
                 "Probe duration", "seconds", _TARGET, value=lambda t: t.duration_seconds,
                 ha=HomeAssistant("sensor", device_class="duration", unit_of_measurement="s",
                                  state_class="measurement", entity_category="diagnostic")),
        OobField("physgap_oob_info", "Out-of-band endpoint identity; always 1. product and version as the endpoint "
                 "said (AMT Server header, RMCP pong); empty until it answered.", "Identity", "info",
                 (*_TARGET, "kind", "product", "version", "host", "port"), "info", value=_one,
                 label_values=lambda t: (t.kind, t.product, t.version, t.host, str(t.port))),
        OobField("physgap_oob_amt_provisioning_state", "Intel AMT provisioning state from the RMCP pong (ipmi "
                 "targets that are AMT); absent when the pong does not carry it.", "AMT provisioning", "state",
                 _TARGET, scale_note=_state_note(AMT_PROVISIONING), states=AMT_PROVISIONING,
                 value=_oob_provisioning),
        OobField("physgap_oob_host_powered_on", "1 when AMT reports the managed host on (CIM PowerState 2), 0 "
                 "when asleep or off; needs username and password_file, absent without them.", "Host powered on",
                 "boolean", _TARGET, value=lambda t: _optional_flag(t.powered_on),
                 ha=HomeAssistant("binary_sensor", device_class="power")),
    ),
)

_CAPABILITY = ("capability",)
OOB_LOCAL = Kind[OobLocalReading](
    name="oob_local", title="Out-of-band hardware of this host",
    source=lambda view: view.snapshot.readings(OobLocalReading), key_labels=_CAPABILITY,
    key=lambda local: (local.capability,), sort_key=lambda local: local.capability,
    fields=(
        OobLocalField("physgap_oob_local_present", "1 when this host's hardware has it: mei = Intel ME (HECI), "
                      "amt = Intel AMT (the AMT SOL PCI function or an SMBIOS $AMT record with flags set), ipmi = "
                      "a BMC (/dev/ipmi0, ACPI IPI0001, SMBIOS type 38); absent when it could not be read.",
                      "Present", "boolean", _CAPABILITY, value=lambda c: _optional_flag(c.present),
                      ha=_FLAG_DIAGNOSTIC),
        # No evidence label: it carries error text (dmidecode's), and a label that changes with it would
        # start a new series each time. The evidence is in P6's.
        OobLocalField("physgap_oob_local_info", "The capability's firmware; always 1. version: the ME "
                      "firmware where /sys/class/mei exposes it.", "Identity", "info",
                      (*_CAPABILITY, "version"), "info", value=_one, label_values=lambda c: (c.version,)),
    ),
)

# Exposition order: the order of kinds, then of fields within a kind.
CATALOG: tuple[Kind[Any], ...] = (BUILD, COLLECTORS, GAPS, UPS, NICS, SWITCHES, SWITCH_PORTS, SLOTS, PCIE_LINKS,
                                  DRIVES, ARRAYS, COMPUTE, HOSTS, OOB, OOB_LOCAL)


def fields() -> Iterator[tuple[Kind[Any], Field[Any]]]:
    """Every (kind, field) in exposition order."""
    for kind in CATALOG:
        for field in kind.fields:
            yield kind, field


def find(metric: str) -> tuple[Kind[Any], Field[Any]]:
    """The kind and field exported as `metric`; KeyError when there is none."""
    for kind, field in fields():
        if field.metric == metric:
            return kind, field
    raise KeyError(metric)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _ha_cell(ha: HomeAssistant | None) -> str:
    if ha is None:
        return "—"
    unit = ha.unit_of_measurement
    if unit is not None and ha.scale != 1.0:
        # A small scale reads better as a divisor: "÷ 125000" rather than "× 8e-06".
        unit += f" (× {ha.scale:g})" if ha.scale >= 1 else f" (÷ {1 / ha.scale:g})"
    parts = [part for part in (ha.device_class, unit, ha.state_class, ha.entity_category) if part]
    return " ".join([f"`{ha.component}`", ", ".join(parts)]).strip()


def markdown_table() -> str:
    """The README's metric table (metric | type | labels | unit | meaning | Home Assistant entity)."""
    lines = ["| metric | type | labels | unit | meaning | Home Assistant entity |",
             "|---|---|---|---|---|---|"]
    for _, field in fields():
        metric_type = field.metric_type + (", per scrape" if field.clock_dependent else "")
        labels = ", ".join(f"`{label}`" for label in field.labels) or "—"
        unit = "—" if field.unit == "info" else field.unit + (f" ({field.scale_note})" if field.scale_note else "")
        lines.append(f"| `{field.metric}` | {metric_type} | {labels} | {_cell(unit)} | {_cell(field.help)} "
                     f"| {_ha_cell(field.ha)} |")
    return "\n".join(lines) + "\n"


def with_table(readme: str) -> str:
    """`readme` with the text between the catalog markers replaced by the current table."""
    begin, end = readme.find(README_BEGIN), readme.find(README_END)
    if begin < 0 or end < begin:
        raise ValueError(f"no {README_BEGIN} ... {README_END} block")
    return readme[:begin + len(README_BEGIN)] + "\n" + markdown_table() + readme[end:]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m exporters.catalog",
                                     description="Print the metric table generated from the catalog.")
    parser.add_argument("--update", metavar="README", type=Path,
                        help=f"rewrite the table between {README_BEGIN} and {README_END} in this file instead")
    args = parser.parse_args(argv)
    if args.update is None:
        sys.stdout.write(markdown_table())
        return 0
    args.update.write_text(with_table(args.update.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
