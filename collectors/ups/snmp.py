"""UPSes behind an SNMP agent: RFC 1628 UPS-MIB, APC PowerNet or CyberPower's CPS-MIB, mapped onto the same
UpsReading as NUT.

Two layers. The pure mapping functions take what the agent said as plain values (`{dotted OID: int | str}`,
absent objects simply missing) and return a range-checked UpsReading with NUT-style status flags; they know
the MIBs' units (UPS-MIB runtime in minutes, PowerNet and CPS-MIB runtime in TimeTicks, high-precision PowerNet
objects and CPS-MIB voltages in tenths) so the rest of physgap never has to. `SnmpUpsCollector` asks the agents
through the kit's SNMP client (collectors.kit.snmp: sessions, timeouts, concurrency, the lazy pysnmp import),
so a daemon without `[[ups.snmp]]` never loads pysnmp (about 25 MB and 0.1 s).

Rules (the README's UPS table lists every object read):

* Vendor MIB first: PowerNet (APC, enterprise 318) and CPS-MIB (CyberPower, enterprise 3808, laid out like
  PowerNet and read the same way) carry the replace-battery indicator that UPS-MIB lacks; cards that speak
  both are read through the vendor MIB. UPS-MIB is found by probing, never by sysObjectID (real agents report
  a generic net-snmp or a bare enterprise sysObjectID).
* Several phases or lines: every phase's voltage is kept (label `phase`); the single input/output voltage is
  the lowest phase, so a sagging phase shows in the series an alert watches (the highest hid it); load is the
  busiest line. UPS-MIB rows beyond upsInputNumLines/upsOutputNumLines are unused lines (they report 0 V).
* UPS-MIB upsOutputSource other(1), or none: upsSecondsOnBattery > 0 or the upsAlarmOnBattery alarm means on
  battery, an output-off alarm means off, upsSecondsOnBattery 0 (RFC 1628: "zero if not on battery") means on
  line; only without any of these does the UPS read "no status".

An agent that does not answer (host down, closed port and wrong community all look the same in SNMP: silence),
an unresolvable host, an unreadable community file or a failure of the SNMP machinery itself gives that UPS a
reading with up=False and the reason, also when every target failed: each is configured by name, so its
physgap_ups_up 0 series stays (an alert on it can fire) and P1 names it, where a failed run would drop them all.
The community string is a secret: it is never logged and never part of a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from collectors.kit.context import Cancelled, RunContext
from collectors.kit.snmp import (
    Agent,
    Engine,
    Session,
    SnmpError,
    Value,
    Values,
    int_value,
    poll_all,
    read_community,
    text_value,
)
from collectors.kit.snmp_target import SnmpTarget
from collectors.kit.units import percent_to_ratio
from collectors.kit.warnonce import WarnOnce
from collectors.model.readings import UPS_FLAGS, UpsReading

log = logging.getLogger(__name__)

UPS_MIB = "ups-mib"  # RFC 1628
POWERNET = "powernet"  # APC PowerNet-MIB, enterprise 318
CPS = "cps"  # CyberPower CPS-MIB, enterprise 3808

# --- RFC 1628 UPS-MIB (1.3.6.1.2.1.33.1) ---
_U = "1.3.6.1.2.1.33.1"
UPS_IDENT_MANUFACTURER = f"{_U}.1.1.0"
UPS_IDENT_MODEL = f"{_U}.1.2.0"
UPS_BATTERY_STATUS = f"{_U}.2.1.0"  # 1 unknown, 2 normal, 3 low, 4 depleted
UPS_SECONDS_ON_BATTERY = f"{_U}.2.2.0"  # 0 when not on battery
UPS_ESTIMATED_MINUTES_REMAINING = f"{_U}.2.3.0"  # minutes, not seconds
UPS_ESTIMATED_CHARGE_REMAINING = f"{_U}.2.4.0"  # percent
UPS_INPUT_NUM_LINES = f"{_U}.3.2.0"
UPS_INPUT_VOLTAGE = f"{_U}.3.3.1.3"  # column of upsInputTable: RMS volts per input line
UPS_OUTPUT_SOURCE = f"{_U}.4.1.0"  # 1 other, 2 none, 3 normal, 4 bypass, 5 battery, 6 booster, 7 reducer
UPS_OUTPUT_NUM_LINES = f"{_U}.4.3.0"
UPS_OUTPUT_VOLTAGE = f"{_U}.4.4.1.2"  # column of upsOutputTable: RMS volts per output line
UPS_OUTPUT_PERCENT_LOAD = f"{_U}.4.4.1.5"  # column of upsOutputTable: percent of capacity per output line
UPS_ALARMS_PRESENT = f"{_U}.6.1.0"
UPS_ALARM_DESCR = f"{_U}.6.2.1.2"  # column of upsAlarmTable: OIDs of well-known alarms (below)
UPS_WELL_KNOWN_ALARMS = f"{_U}.6.3"

UPS_MIB_SCALARS = (UPS_IDENT_MANUFACTURER, UPS_IDENT_MODEL, UPS_BATTERY_STATUS, UPS_SECONDS_ON_BATTERY,
                   UPS_ESTIMATED_MINUTES_REMAINING, UPS_ESTIMATED_CHARGE_REMAINING, UPS_INPUT_NUM_LINES,
                   UPS_OUTPUT_SOURCE, UPS_OUTPUT_NUM_LINES, UPS_ALARMS_PRESENT)
UPS_MIB_COLUMNS = (UPS_INPUT_VOLTAGE, UPS_OUTPUT_VOLTAGE, UPS_OUTPUT_PERCENT_LOAD)

# --- APC PowerNet-MIB, UPS subtree (1.3.6.1.4.1.318.1.1.1) ---
_A = "1.3.6.1.4.1.318.1.1.1"
APC_BASIC_IDENT_MODEL = f"{_A}.1.1.1.0"
APC_ADV_IDENT_SERIAL = f"{_A}.1.2.3.0"
APC_BASIC_BATTERY_STATUS = f"{_A}.2.1.1.0"  # 1 unknown, 2 normal, 3 low, 4 inFaultCondition, 5 noBatteryPresent
APC_ADV_BATTERY_CAPACITY = f"{_A}.2.2.1.0"  # percent
APC_ADV_BATTERY_RUNTIME = f"{_A}.2.2.3.0"  # TimeTicks: hundredths of a second
APC_ADV_BATTERY_REPLACE = f"{_A}.2.2.4.0"  # 1 noBatteryNeedsReplacing, 2 batteryNeedsReplacing
APC_HP_BATTERY_CAPACITY = f"{_A}.2.3.1.0"  # tenths of a percent
APC_ADV_INPUT_VOLTAGE = f"{_A}.3.2.1.0"  # volts
APC_HP_INPUT_VOLTAGE = f"{_A}.3.3.1.0"  # tenths of a volt
APC_BASIC_OUTPUT_STATUS = f"{_A}.4.1.1.0"
APC_ADV_OUTPUT_VOLTAGE = f"{_A}.4.2.1.0"  # volts
APC_ADV_OUTPUT_LOAD = f"{_A}.4.2.3.0"  # percent
APC_HP_OUTPUT_VOLTAGE = f"{_A}.4.3.1.0"  # tenths of a volt
APC_HP_OUTPUT_LOAD = f"{_A}.4.3.3.0"  # tenths of a percent
APC_CALIBRATION_RESULTS = f"{_A}.7.2.6.0"  # 1 ok, 2 invalid, 3 inProgress
# upsPhase (three-phase units: Symmetra PX, Galaxy, Silcon): the number of phases of input 1 (the mains; input
# 2 is the bypass) and of output 1, and the per-phase voltage columns. Phase rows are indexed
# <input or output table index>.<...>.<phase>; volts, -1 where the UPS does not measure it (NUT's apc-mib.c).
APC_PHASE_NUM_INPUT_PHASES = f"{_A}.9.2.2.1.2.1"
APC_PHASE_NUM_OUTPUT_PHASES = f"{_A}.9.3.2.1.2.1"
APC_PHASE_INPUT_VOLTAGE = f"{_A}.9.2.3.1.3"
APC_PHASE_OUTPUT_VOLTAGE = f"{_A}.9.3.3.1.3"

POWERNET_SCALARS = (APC_BASIC_IDENT_MODEL, APC_ADV_IDENT_SERIAL, APC_BASIC_BATTERY_STATUS, APC_ADV_BATTERY_CAPACITY,
                    APC_ADV_BATTERY_RUNTIME, APC_ADV_BATTERY_REPLACE, APC_HP_BATTERY_CAPACITY, APC_ADV_INPUT_VOLTAGE,
                    APC_HP_INPUT_VOLTAGE, APC_BASIC_OUTPUT_STATUS, APC_ADV_OUTPUT_VOLTAGE, APC_ADV_OUTPUT_LOAD,
                    APC_HP_OUTPUT_VOLTAGE, APC_HP_OUTPUT_LOAD, APC_CALIBRATION_RESULTS, APC_PHASE_NUM_INPUT_PHASES,
                    APC_PHASE_NUM_OUTPUT_PHASES)

# --- CyberPower CPS-MIB, UPS subtree (1.3.6.1.4.1.3808.1.1.1; CPS-MIB v2.9 in ../shared/corpus/snmp) ---
_C = "1.3.6.1.4.1.3808.1.1.1"
CPS_BASE_IDENT_MODEL = f"{_C}.1.1.1.0"
CPS_ADV_IDENT_SERIAL = f"{_C}.1.2.3.0"
CPS_BASE_BATTERY_STATUS = f"{_C}.2.1.1.0"  # 1 unknown, 2 normal, 3 low, 4 notPresent
CPS_ADV_BATTERY_CAPACITY = f"{_C}.2.2.1.0"  # percent
CPS_ADV_BATTERY_RUNTIME = f"{_C}.2.2.4.0"  # TimeTicks
CPS_ADV_BATTERY_REPLACE = f"{_C}.2.2.5.0"  # 1 noBatteryNeedsReplacing, 2 batteryNeedsReplacing
CPS_ADV_INPUT_VOLTAGE = f"{_C}.3.2.1.0"  # tenths of a volt
CPS_BASE_OUTPUT_STATUS = f"{_C}.4.1.1.0"
CPS_ADV_OUTPUT_VOLTAGE = f"{_C}.4.2.1.0"  # tenths of a volt
CPS_ADV_OUTPUT_LOAD = f"{_C}.4.2.3.0"  # percent
# upsPhase: phase count and the per-phase voltage column (rows indexed by phase; tenths of a volt).
CPS_PHASE_INPUT_TABLE_SIZE = f"{_C}.9.1.1.0"
CPS_PHASE_INPUT_VOLTAGE = f"{_C}.9.1.2.1.2"
CPS_PHASE_OUTPUT_TABLE_SIZE = f"{_C}.9.2.1.0"
CPS_PHASE_OUTPUT_VOLTAGE = f"{_C}.9.2.2.1.2"

CPS_SCALARS = (CPS_BASE_IDENT_MODEL, CPS_ADV_IDENT_SERIAL, CPS_BASE_BATTERY_STATUS, CPS_ADV_BATTERY_CAPACITY,
               CPS_ADV_BATTERY_RUNTIME, CPS_ADV_BATTERY_REPLACE, CPS_ADV_INPUT_VOLTAGE, CPS_BASE_OUTPUT_STATUS,
               CPS_ADV_OUTPUT_VOLTAGE, CPS_ADV_OUTPUT_LOAD, CPS_PHASE_INPUT_TABLE_SIZE, CPS_PHASE_OUTPUT_TABLE_SIZE)

# One object of each MIB that every implementation has: enough to tell which MIB the agent speaks. The vendor
# MIBs are asked first because their cards may speak UPS-MIB too, and they carry more (replace indicator).
DETECT_OIDS = (APC_BASIC_OUTPUT_STATUS, CPS_BASE_OUTPUT_STATUS, UPS_OUTPUT_SOURCE, UPS_BATTERY_STATUS)

# upsOutputSource -> flags. Bypass, booster and reducer all run the load from utility power, hence OL too.
# other(1) says nothing: see _ups_mib_power_fallback.
_UPS_MIB_SOURCE_FLAGS: dict[int, tuple[str, ...]] = {
    2: ("OFF",), 3: ("OL",), 4: ("OL", "BYPASS"), 5: ("OB",), 6: ("OL", "BOOST"), 7: ("OL", "TRIM"),
}
# upsBasicOutputStatus -> flags, after NUT's apc-mib.c for 1..12 and PowerNet 4.x for the later additions that
# clearly say where the load's power comes from; the other modes (spot modes, rebooting, ...) give no power flag.
_POWERNET_STATUS_FLAGS: dict[int, tuple[str, ...]] = {
    1: (),  # unknown
    2: ("OL",),  # onLine
    3: ("OB",),  # onBattery
    4: ("OL", "BOOST"),  # onSmartBoost
    5: ("OFF",),  # timedSleeping
    6: ("OFF",),  # softwareBypass (NUT reports OFF)
    7: ("OFF",),  # off
    8: (),  # rebooting
    9: ("OL", "BYPASS"),  # switchedBypass
    10: ("OL", "BYPASS"),  # hardwareFailureBypass
    11: ("OFF",),  # sleepingUntilPowerReturn
    12: ("OL", "TRIM"),  # onSmartTrim
    13: ("OL",),  # ecoMode
    14: ("OL",),  # hotStandby
    15: ("OB",),  # onBatteryTest
    16: ("OL", "BYPASS"),  # emergencyStaticBypass
    17: ("OL",),  # staticBypassStandby
    18: ("OL",),  # powerSavingMode
    20: ("OL",),  # eConversion
    26: ("OFF",),  # chargerOnly: output off while charging
}
# upsBaseOutputStatus (CPS-MIB) -> flags, the same reading as PowerNet's: boost and buck (trim) run from utility
# power, ECO mode is on line, overload is on line and overloaded.
_CPS_STATUS_FLAGS: dict[int, tuple[str, ...]] = {
    1: (),  # unknown
    2: ("OL",),  # onLine
    3: ("OB",),  # onBattery
    4: ("OL", "BOOST"),  # onBoost
    5: ("OFF",),  # onSleep
    6: ("OFF",),  # off
    7: (),  # rebooting
    8: ("OL",),  # onECO
    9: ("OL", "BYPASS"),  # onBypass
    10: ("OL", "TRIM"),  # onBuck
    11: ("OL", "OVER"),  # onOverload
}
# RFC 1628 well-known alarms (upsWellKnownAlarms.N): text for `alarm`, and the NUT flag an alarm implies.
_WELL_KNOWN_ALARMS: dict[int, tuple[str, str]] = {
    1: ("battery bad", "RB"), 2: ("on battery", ""), 3: ("low battery", "LB"), 4: ("depleted battery", "LB"),
    5: ("temperature bad", ""), 6: ("input bad", ""), 7: ("output bad", ""), 8: ("output overload", "OVER"),
    9: ("on bypass", "BYPASS"), 10: ("bypass bad", ""), 11: ("output off as requested", ""),
    12: ("UPS off as requested", ""), 13: ("charger failed", ""), 14: ("UPS output off", ""),
    15: ("UPS system off", ""), 16: ("fan failure", ""), 17: ("fuse failure", ""), 18: ("general fault", ""),
    19: ("diagnostic test failed", ""), 20: ("communications lost", ""), 21: ("awaiting power", ""),
    22: ("shutdown pending", ""), 23: ("shutdown imminent", ""), 24: ("test in progress", ""),
}
ALARM_ON_BATTERY = 2
# upsAlarmOutputOffAsRequested, upsAlarmUpsOffAsRequested, upsAlarmUpsOutputOff, upsAlarmUpsSystemOff.
ALARMS_OUTPUT_OFF = frozenset({11, 12, 14, 15})

# Range checks: values outside are agent bugs or "not supported" markers (-1, 65535, 0xFFFFFFFF TimeTicks).
MAX_RUNTIME_SECONDS = 7 * 24 * 3600
MAX_VOLTS = 500.0
# A line at or above this many volts is live (the lowest mains is 100 V; a deep sag still counts).
_LIVE_VOLTS = 50.0
MAX_LOAD_PERCENT = 200.0

Phase = tuple[str, float]


@dataclass(frozen=True)
class Invalid:
    """A value the agent reported that was dropped, and why (logged once per UPS and field)."""

    field: str
    message: str


@dataclass(frozen=True)
class Mapped:
    reading: UpsReading
    invalid: tuple[Invalid, ...] = ()


def minutes_to_seconds(minutes: float) -> float:
    """upsEstimatedMinutesRemaining is in minutes (RFC 1628), unlike NUT's battery.runtime."""
    return minutes * 60.0


def timeticks_to_seconds(ticks: float) -> float:
    """TimeTicks count hundredths of a second (upsAdvBatteryRunTimeRemaining)."""
    return ticks / 100.0


def detect_mib(values: Values) -> str | None:
    """Which UPS MIB the agent speaks, from the answer to DETECT_OIDS; None when none of them."""
    if isinstance(values.get(APC_BASIC_OUTPUT_STATUS), int):
        return POWERNET
    if isinstance(values.get(CPS_BASE_OUTPUT_STATUS), int):
        return CPS
    if isinstance(values.get(UPS_OUTPUT_SOURCE), int) or isinstance(values.get(UPS_BATTERY_STATUS), int):
        return UPS_MIB
    return None


def _ordered(flags: Sequence[str]) -> tuple[str, ...]:
    """Each flag once, in the order of UPS_FLAGS (the order every source reports in); anything else after them,
    as met."""
    seen = dict.fromkeys(flag for flag in flags if flag)
    known = [flag for flag in UPS_FLAGS if flag in seen]
    return (*known, *(flag for flag in seen if flag not in UPS_FLAGS))


def _ups_mib_power_fallback(seconds_on_battery: int | None, alarm_ids: Sequence[int]) -> tuple[str, ...]:
    """Where the load's power comes from when upsOutputSource does not say (other(1), or absent)."""
    if ALARM_ON_BATTERY in alarm_ids or (seconds_on_battery or 0) > 0:
        return ("OB",)
    if ALARMS_OUTPUT_OFF.intersection(alarm_ids):
        return ("OFF",)
    if seconds_on_battery == 0:  # RFC 1628: "Zero shall be returned if the unit is not on battery power."
        return ("OL",)
    return ()


def ups_mib_flags(output_source: int | None, battery_status: int | None, alarms_present: int | None = None,
                  alarm_ids: Sequence[int] = (), seconds_on_battery: int | None = None) -> tuple[str, ...]:
    """NUT-style status flags from UPS-MIB objects (the mapping of NUT's ietf-mib.c, plus well-known alarms,
    plus upsSecondsOnBattery where the output source says nothing)."""
    flags: list[str] = []
    if output_source in _UPS_MIB_SOURCE_FLAGS:
        flags.extend(_UPS_MIB_SOURCE_FLAGS[output_source])
    elif output_source in (None, 1):
        flags.extend(_ups_mib_power_fallback(seconds_on_battery, alarm_ids))
    if battery_status in (3, 4):  # batteryLow, batteryDepleted
        flags.append("LB")
    for alarm in alarm_ids:
        flags.append(_WELL_KNOWN_ALARMS.get(alarm, ("", ""))[1])
    if (alarms_present or 0) > 0 or alarm_ids:
        flags.append("ALARM")
    return _ordered(flags)


def _vendor_flags(table: dict[int, tuple[str, ...]], output_status: int | None, battery_status: int | None,
                  replace_indicator: int | None, fault_statuses: frozenset[int]) -> list[str]:
    flags: list[str] = []
    if output_status is not None:
        flags.extend(table.get(output_status, ()))
    if battery_status == 3:  # batteryLow
        flags.append("LB")
    elif battery_status in fault_statuses:
        flags.append("ALARM")
    if replace_indicator == 2:
        flags.append("RB")
    return flags


def powernet_flags(output_status: int | None, battery_status: int | None, replace_indicator: int | None = None,
                   calibration: int | None = None) -> tuple[str, ...]:
    """NUT-style status flags from APC PowerNet objects (NUT's apc-mib.c, battery faults as ALARM)."""
    # batteryInFaultCondition, noBatteryPresent
    flags = _vendor_flags(_POWERNET_STATUS_FLAGS, output_status, battery_status, replace_indicator,
                          frozenset({4, 5}))
    if calibration == 3:
        flags.append("CAL")
    return _ordered(flags)


def cps_flags(output_status: int | None, battery_status: int | None,
              replace_indicator: int | None = None) -> tuple[str, ...]:
    """NUT-style status flags from CyberPower CPS-MIB objects, read as PowerNet's are."""
    return _ordered(_vendor_flags(_CPS_STATUS_FLAGS, output_status, battery_status, replace_indicator,
                                  frozenset({4})))  # batteryNotPresent


def _powernet_alarm(battery_status: int | None) -> str:
    return {4: "battery in fault condition", 5: "no battery present"}.get(battery_status or 0, "")


def _cps_alarm(battery_status: int | None) -> str:
    return "no battery present" if battery_status == 4 else ""


class _Checker:
    """Converts and range-checks numbers, collecting what it dropped instead of raising."""

    def __init__(self) -> None:
        self.invalid: list[Invalid] = []

    def drop(self, name: str, message: str) -> None:
        self.invalid.append(Invalid(name, message))

    def number(self, name: str, raw: Value | None, scale: float, high: float, unit: str) -> float | None:
        if raw is None:
            return None
        if not isinstance(raw, int):
            self.drop(name, f"{name}: not a number ({raw!r})")
            return None
        value = round(raw * scale, 6)  # 2301 * 0.1 must read 230.1, not 230.10000000000002
        if not 0 <= value <= high:
            self.drop(name, f"{name}: {value:g} {unit} is outside 0..{high:g} {unit}")
            return None
        return value

    def preferred(self, name: str, candidates: Sequence[tuple[Value | None, float]], high: float,
                  unit: str) -> float | None:
        """The first candidate the agent gave as a non-negative integer (PowerNet: high precision first;
        APC reports -1 there when unsupported), range-checked."""
        for raw, scale in candidates:
            if isinstance(raw, int) and raw >= 0:
                return self.number(name, raw, scale, high, unit)
        others = [raw for raw, _ in candidates if raw is not None]
        return self.number(name, others[0], 1.0, high, unit) if others else None

    def phases(self, name: str, values: Values, column: str, phase_of: Callable[[list[str]], str | None],
               scale: float, high: float, unit: str) -> tuple[Phase, ...]:
        """The valid rows of a per-phase (or per-line) column as (phase, value), sorted by phase number.

        `phase_of` names a row's phase from its index arcs, or None for a row that is not a phase of this
        UPS's own input or output (bypass rows, unused lines). -1 is "not measured" in every MIB read here and
        is skipped without a complaint."""
        prefix = column + "."
        found: dict[str, float] = {}
        for oid, raw in values.items():
            if not oid.startswith(prefix):
                continue
            arcs = oid[len(prefix):].split(".")
            phase = phase_of(arcs) if all(arc.isdigit() for arc in arcs) else None
            if phase is None or raw == -1 or phase in found:
                continue
            value = self.number(f"{name} {phase}", raw, scale, high, unit)
            if value is not None:
                found[phase] = value
        return tuple(sorted(found.items(), key=lambda item: (len(item[0]), item[0])))

    def runtime(self, seconds: float | None, flags: Sequence[str]) -> float | None:
        # Many agents report 0 while on mains to mean "not estimated"; 0 is only believable on battery.
        if seconds == 0 and "OB" not in flags and "LB" not in flags:
            self.drop("battery runtime", "battery runtime: 0 s while not on battery (not estimated)")
            return None
        return seconds


def _lowest(phases: Sequence[Phase]) -> float | None:
    return min((value for _, value in phases), default=None)


def _several(phases: tuple[Phase, ...]) -> tuple[Phase, ...]:
    """Per-phase values are exported for a UPS with more than one phase only: one line is the single value."""
    return phases if len(phases) >= 2 else ()


def _line_of(num_lines: int | None) -> Callable[[list[str]], str | None]:
    """UPS-MIB rows are indexed by line (some agents append ".0"); rows past upsXxxNumLines are unused lines."""
    def phase_of(arcs: list[str]) -> str | None:
        line = int(arcs[0])
        if line < 1 or (num_lines is not None and 0 < num_lines < line):
            return None
        return f"L{line}"
    return phase_of


def _unused_lines_dropped(phases: tuple[Phase, ...], num_lines: int | None) -> tuple[Phase, ...]:
    """Without upsXxxNumLines (or with 0) nothing says which rows are wired, and some agents list the unused lines of a
    single-phase unit at 0 V: 0 V would then be the lowest line, a blackout on one phase. A 0 V line is dropped
    while another line reads live; all lines at 0 V is a real outage and stays. (A real lost phase on a unit
    that does not report its line count is missed: the price of not raising a false one on every such unit.)"""
    if (num_lines or 0) > 0 or not any(volts >= _LIVE_VOLTS for _, volts in phases):  # 0 lines: not said
        return phases
    return tuple((phase, volts) for phase, volts in phases if volts != 0)


def _powernet_phase(arcs: list[str]) -> str | None:
    # <table index>.<...>.<phase>: table 1 is the UPS's own input (or output); input table 2 is the bypass.
    return f"L{int(arcs[-1])}" if len(arcs) >= 2 and arcs[0] == "1" and int(arcs[-1]) >= 1 else None


def _cps_phase(arcs: list[str]) -> str | None:
    return f"L{int(arcs[0])}" if int(arcs[0]) >= 1 else None


def well_known_alarm_ids(values: Values) -> list[int]:
    """The well-known alarm numbers listed in the upsAlarmTable rows of `values` (other OIDs are skipped)."""
    ids: list[int] = []
    prefix = UPS_WELL_KNOWN_ALARMS + "."
    for oid, raw in sorted(values.items()):
        if oid.startswith(UPS_ALARM_DESCR + ".") and isinstance(raw, str) and raw.startswith(prefix):
            number = raw[len(prefix):]
            if number.isdigit():
                ids.append(int(number))
    return ids


def _alarm_descriptions(values: Values) -> list[str]:
    texts = []
    for oid, raw in sorted(values.items()):
        if oid.startswith(UPS_ALARM_DESCR + "."):
            number = str(raw).removeprefix(UPS_WELL_KNOWN_ALARMS + ".")
            known = _WELL_KNOWN_ALARMS.get(int(number)) if number.isdigit() else None
            texts.append(known[0] if known else str(raw))  # a vendor alarm: its OID is all there is
    return texts


def map_ups_mib(values: Values, ups: str) -> Mapped:
    """An RFC 1628 UPS-MIB answer (scalars plus the input/output/alarm table rows) as a reading."""
    check = _Checker()
    alarms_present = int_value(values, UPS_ALARMS_PRESENT)
    flags = ups_mib_flags(int_value(values, UPS_OUTPUT_SOURCE), int_value(values, UPS_BATTERY_STATUS), alarms_present,
                          well_known_alarm_ids(values), int_value(values, UPS_SECONDS_ON_BATTERY))
    descriptions = _alarm_descriptions(values)
    if not descriptions and (alarms_present or 0) > 0:
        descriptions = [f"{alarms_present} alarm(s) present"]
    minutes = check.number("battery runtime", values.get(UPS_ESTIMATED_MINUTES_REMAINING), 1.0,
                           MAX_RUNTIME_SECONDS / 60, "min")
    charge = check.number("battery charge", values.get(UPS_ESTIMATED_CHARGE_REMAINING), 1.0, 100, "%")
    input_lines, output_lines = int_value(values, UPS_INPUT_NUM_LINES), int_value(values, UPS_OUTPUT_NUM_LINES)
    input_line, output_line = _line_of(input_lines), _line_of(output_lines)
    inputs = _unused_lines_dropped(
        check.phases("input voltage", values, UPS_INPUT_VOLTAGE, input_line, 1.0, MAX_VOLTS, "V"), input_lines)
    outputs = _unused_lines_dropped(
        check.phases("output voltage", values, UPS_OUTPUT_VOLTAGE, output_line, 1.0, MAX_VOLTS, "V"),
        output_lines)
    loads = check.phases("output load", values, UPS_OUTPUT_PERCENT_LOAD, output_line, 1.0, MAX_LOAD_PERCENT, "%")
    reading = UpsReading(
        ups=ups, source="snmp", up=True, reason="", flags=flags,
        manufacturer=text_value(values, UPS_IDENT_MANUFACTURER), model=text_value(values, UPS_IDENT_MODEL),
        driver="UPS-MIB",
        battery_charge_ratio=percent_to_ratio(charge),
        battery_runtime_seconds=check.runtime(None if minutes is None else minutes_to_seconds(minutes), flags),
        # The busiest line decides how close the UPS is to overload; the lowest voltage shows a sagging phase.
        load_ratio=percent_to_ratio(max((value for _, value in loads), default=None)),
        input_voltage_volts=_lowest(inputs), output_voltage_volts=_lowest(outputs),
        alarm=", ".join(descriptions),
        shutdown_clients=None, local_upsmon=None,  # SNMP cannot tell who would shut down on this UPS
        input_phase_volts=_several(inputs), output_phase_volts=_several(outputs),
    )
    return Mapped(reading, tuple(check.invalid))


def map_powernet(values: Values, ups: str) -> Mapped:
    """An APC PowerNet answer (POWERNET_SCALARS, plus the upsPhase voltage rows of a three-phase unit)."""
    check = _Checker()
    battery_status = int_value(values, APC_BASIC_BATTERY_STATUS)
    flags = powernet_flags(int_value(values, APC_BASIC_OUTPUT_STATUS), battery_status,
                           int_value(values, APC_ADV_BATTERY_REPLACE), int_value(values, APC_CALIBRATION_RESULTS))
    ticks = check.number("battery runtime", values.get(APC_ADV_BATTERY_RUNTIME), 1.0,
                         MAX_RUNTIME_SECONDS * 100, "ticks")
    inputs = _several(check.phases("input voltage", values, APC_PHASE_INPUT_VOLTAGE, _powernet_phase, 1.0,
                                   MAX_VOLTS, "V"))
    outputs = _several(check.phases("output voltage", values, APC_PHASE_OUTPUT_VOLTAGE, _powernet_phase, 1.0,
                                    MAX_VOLTS, "V"))
    single_input = [(values.get(APC_HP_INPUT_VOLTAGE), 0.1), (values.get(APC_ADV_INPUT_VOLTAGE), 1)]
    single_output = [(values.get(APC_HP_OUTPUT_VOLTAGE), 0.1), (values.get(APC_ADV_OUTPUT_VOLTAGE), 1)]
    reading = UpsReading(
        ups=ups, source="snmp", up=True, reason="", flags=flags,
        manufacturer="APC",  # PowerNet is APC's enterprise MIB; the model string omits the brand
        model=text_value(values, APC_BASIC_IDENT_MODEL), serial=text_value(values, APC_ADV_IDENT_SERIAL),
        driver="PowerNet-MIB",
        battery_charge_ratio=percent_to_ratio(check.preferred(
            "battery charge", [(values.get(APC_HP_BATTERY_CAPACITY), 0.1), (values.get(APC_ADV_BATTERY_CAPACITY), 1)],
            100, "%")),
        battery_runtime_seconds=check.runtime(None if ticks is None else timeticks_to_seconds(ticks), flags),
        load_ratio=percent_to_ratio(check.preferred(
            "output load", [(values.get(APC_HP_OUTPUT_LOAD), 0.1), (values.get(APC_ADV_OUTPUT_LOAD), 1)],
            MAX_LOAD_PERCENT, "%")),
        # A three-phase unit's lowest phase; the single-phase objects otherwise.
        input_voltage_volts=_lowest(inputs) if inputs else check.preferred("input voltage", single_input,
                                                                           MAX_VOLTS, "V"),
        output_voltage_volts=_lowest(outputs) if outputs else check.preferred("output voltage", single_output,
                                                                              MAX_VOLTS, "V"),
        alarm=_powernet_alarm(battery_status),
        shutdown_clients=None, local_upsmon=None,
        input_phase_volts=inputs, output_phase_volts=outputs,
    )
    return Mapped(reading, tuple(check.invalid))


def map_cps(values: Values, ups: str) -> Mapped:
    """A CyberPower CPS-MIB answer (CPS_SCALARS, plus the upsPhase voltage rows of a three-phase unit), read
    as PowerNet is: the same layout under enterprise 3808, voltages in tenths, runtime in TimeTicks."""
    check = _Checker()
    battery_status = int_value(values, CPS_BASE_BATTERY_STATUS)
    flags = cps_flags(int_value(values, CPS_BASE_OUTPUT_STATUS), battery_status,
                      int_value(values, CPS_ADV_BATTERY_REPLACE))
    ticks = check.number("battery runtime", values.get(CPS_ADV_BATTERY_RUNTIME), 1.0,
                         MAX_RUNTIME_SECONDS * 100, "ticks")
    inputs = _several(check.phases("input voltage", values, CPS_PHASE_INPUT_VOLTAGE, _cps_phase, 0.1,
                                   MAX_VOLTS, "V"))
    outputs = _several(check.phases("output voltage", values, CPS_PHASE_OUTPUT_VOLTAGE, _cps_phase, 0.1,
                                    MAX_VOLTS, "V"))
    charge = check.number("battery charge", values.get(CPS_ADV_BATTERY_CAPACITY), 1.0, 100, "%")
    load = check.number("output load", values.get(CPS_ADV_OUTPUT_LOAD), 1.0, MAX_LOAD_PERCENT, "%")
    reading = UpsReading(
        ups=ups, source="snmp", up=True, reason="", flags=flags,
        manufacturer="CyberPower",  # CPS-MIB is CyberPower's enterprise MIB; the model string omits the brand
        model=text_value(values, CPS_BASE_IDENT_MODEL), serial=text_value(values, CPS_ADV_IDENT_SERIAL),
        driver="CPS-MIB",
        battery_charge_ratio=percent_to_ratio(charge),
        battery_runtime_seconds=check.runtime(None if ticks is None else timeticks_to_seconds(ticks), flags),
        load_ratio=percent_to_ratio(load),
        input_voltage_volts=_lowest(inputs) if inputs else check.number(
            "input voltage", values.get(CPS_ADV_INPUT_VOLTAGE), 0.1, MAX_VOLTS, "V"),
        output_voltage_volts=_lowest(outputs) if outputs else check.number(
            "output voltage", values.get(CPS_ADV_OUTPUT_VOLTAGE), 0.1, MAX_VOLTS, "V"),
        alarm=_cps_alarm(battery_status),
        shutdown_clients=None, local_upsmon=None,
        input_phase_volts=inputs, output_phase_volts=outputs,
    )
    return Mapped(reading, tuple(check.invalid))


def map_values(mib: str, values: Values, ups: str) -> Mapped:
    mapper = {POWERNET: map_powernet, CPS: map_cps}.get(mib, map_ups_mib)
    return mapper(values, ups)


def down(ups: str, reason: str) -> UpsReading:
    return UpsReading(ups=ups, source="snmp", up=False, reason=reason, flags=(), shutdown_clients=None,
                      local_upsmon=None)


# --------------------------------------------------------------------------------------------------------------
# The collector


class SnmpUpsCollector:
    """Polls `[[ups.snmp]]` targets; one UpsReading per target, up=False with the reason when it failed."""

    name = "ups_snmp"

    def __init__(self, targets: Sequence[SnmpTarget]) -> None:
        self.targets = tuple(targets)
        # Invalid values, world-readable community files and each UPS's failure reason: logged at warning
        # level once, not every interval; a UPS's failure is reported again when its reason changes.
        self._warn = WarnOnce(log)

    def collect(self, ctx: RunContext) -> Sequence[UpsReading]:
        ctx.check()
        if not self.targets:
            return []
        # The polls end a little before the run does, so a silent agent's down reading is handed back before the
        # scheduler abandons the run at its deadline (and with it every reading of this run).
        try:
            readings = poll_all(ctx.keeping_back(), self.targets, self._poll,
                                lambda target, reason: down(target.label, reason))
        except Cancelled:
            raise
        except Exception as exc:  # the SNMP machinery itself failed (pysnmp broken, no event loop, ...)
            # Each configured UPS still reads down with the reason, rather than the run failing and every
            # physgap_ups_up series vanishing with it (an alert on physgap_ups_up == 0 must be able to fire).
            log.debug("SNMP UPS run failed", exc_info=True)
            reason = f"SNMP client failed: {type(exc).__name__}: {exc}"
            readings = [down(target.label, reason) for target in self.targets]
        self._log_outcome(readings)
        return readings

    async def _poll(self, engine: Engine, target: SnmpTarget) -> UpsReading:
        community = read_community(target.community, target.community_file, self._warn)
        session = await engine.session(Agent(target.host, target.port, community, target.version, target.timeout))
        mib = detect_mib(await session.get(DETECT_OIDS))
        if mib is None:
            raise SnmpError("the agent answers but speaks none of UPS-MIB (RFC 1628), APC PowerNet or CyberPower "
                            "CPS-MIB")
        mapped = map_values(mib, await _read(session, mib), target.label)
        for invalid in mapped.invalid:
            self._warn.warn(f"invalid:{target.label!r}:{invalid.field}", "SNMP UPS %s: %s; value omitted",
                            target.label, invalid.message)
        return mapped.reading

    def _log_outcome(self, readings: Sequence[UpsReading]) -> None:
        """Log a UPS's failure when its reason changes, and its recovery, not every run."""
        for reading in readings:
            self._warn.transition(f"down:{reading.ups}", None if reading.up else reading.reason, "SNMP UPS %s",
                                  reading.ups)


async def _phase_rows(session: Session, values: dict[str, Value], walks: Sequence[tuple[str, str]]) -> None:
    """Walk each per-phase column whose phase count (a scalar already in `values`) says several phases: a
    single-phase unit costs no extra request."""
    for count, column in walks:
        phases = values.get(count)
        if isinstance(phases, int) and phases > 1:
            values.update(await session.walk(column))


async def _read(session: Session, mib: str) -> dict[str, Value]:
    """Every object the mapping of `mib` uses; the alarm table only when the agent says alarms are present."""
    if mib == POWERNET:
        values = await session.get(POWERNET_SCALARS)
        await _phase_rows(session, values, ((APC_PHASE_NUM_INPUT_PHASES, APC_PHASE_INPUT_VOLTAGE),
                                            (APC_PHASE_NUM_OUTPUT_PHASES, APC_PHASE_OUTPUT_VOLTAGE)))
        return values
    if mib == CPS:
        values = await session.get(CPS_SCALARS)
        await _phase_rows(session, values, ((CPS_PHASE_INPUT_TABLE_SIZE, CPS_PHASE_INPUT_VOLTAGE),
                                            (CPS_PHASE_OUTPUT_TABLE_SIZE, CPS_PHASE_OUTPUT_VOLTAGE)))
        return values
    values = await session.get(UPS_MIB_SCALARS)
    for column in UPS_MIB_COLUMNS:
        values.update(await session.walk(column))
    alarms = values.get(UPS_ALARMS_PRESENT)
    if isinstance(alarms, int) and alarms > 0:
        values.update(await session.walk(UPS_ALARM_DESCR))
    return values


__all__ = [
    "CPS",
    "CPS_SCALARS",
    "DETECT_OIDS",
    "POWERNET",
    "POWERNET_SCALARS",
    "UPS_MIB",
    "UPS_MIB_COLUMNS",
    "UPS_MIB_SCALARS",
    "Invalid",
    "Mapped",
    "SnmpUpsCollector",
    "Value",
    "Values",
    "cps_flags",
    "detect_mib",
    "down",
    "map_cps",
    "map_powernet",
    "map_ups_mib",
    "map_values",
    "minutes_to_seconds",
    "powernet_flags",
    "timeticks_to_seconds",
    "ups_mib_flags",
    "well_known_alarm_ids",
]
