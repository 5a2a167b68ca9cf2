"""UPSes behind an SNMP agent: RFC 1628 UPS-MIB or APC PowerNet, mapped onto the same UpsReading as NUT.

Two layers. The pure mapping functions take what the agent said as plain values (`{dotted OID: int | str}`,
absent objects simply missing) and return a range-checked UpsReading with NUT-style status flags; they know
the MIBs' units (UPS-MIB runtime in minutes, PowerNet runtime in TimeTicks, high-precision PowerNet objects in
tenths) so the rest of physgap never has to. `SnmpUpsCollector` asks the agents through the kit's SNMP client
(collectors.kit.snmp: sessions, timeouts, concurrency, the lazy pysnmp import), so a daemon without
`[[ups.snmp]]` never loads pysnmp (about 25 MB and 0.1 s).

An agent that does not answer (host down, closed port and wrong community all look the same in SNMP: silence),
an unresolvable host or an unreadable community file gives that UPS a reading with up=False and the reason,
also when every target failed: each is configured by name, so its physgap_ups_up 0 series stays (an alert on
it can fire) and P1 names it, where a failed run would drop them all. The community string is a secret: it is
never logged and never part of a reason.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from collectors.kit.context import RunContext
from collectors.kit.snmp import Agent, Engine, Session, SnmpError, Value, Values, poll_all, read_community
from collectors.kit.snmp_target import SnmpTarget
from collectors.kit.units import percent_to_ratio
from collectors.kit.warnonce import WarnOnce
from collectors.model.readings import UPS_FLAGS, UpsReading

log = logging.getLogger(__name__)

UPS_MIB = "ups-mib"  # RFC 1628
POWERNET = "powernet"  # APC PowerNet-MIB, enterprise 318

# --- RFC 1628 UPS-MIB (1.3.6.1.2.1.33.1) ---
_U = "1.3.6.1.2.1.33.1"
UPS_IDENT_MANUFACTURER = f"{_U}.1.1.0"
UPS_IDENT_MODEL = f"{_U}.1.2.0"
UPS_BATTERY_STATUS = f"{_U}.2.1.0"  # 1 unknown, 2 normal, 3 low, 4 depleted
UPS_SECONDS_ON_BATTERY = f"{_U}.2.2.0"
UPS_ESTIMATED_MINUTES_REMAINING = f"{_U}.2.3.0"  # minutes, not seconds
UPS_ESTIMATED_CHARGE_REMAINING = f"{_U}.2.4.0"  # percent
UPS_INPUT_VOLTAGE = f"{_U}.3.3.1.3"  # column of upsInputTable: RMS volts per input line
UPS_OUTPUT_SOURCE = f"{_U}.4.1.0"  # 1 other, 2 none, 3 normal, 4 bypass, 5 battery, 6 booster, 7 reducer
UPS_OUTPUT_VOLTAGE = f"{_U}.4.4.1.2"  # column of upsOutputTable: RMS volts per output line
UPS_OUTPUT_PERCENT_LOAD = f"{_U}.4.4.1.5"  # column of upsOutputTable: percent of capacity per output line
UPS_ALARMS_PRESENT = f"{_U}.6.1.0"
UPS_ALARM_DESCR = f"{_U}.6.2.1.2"  # column of upsAlarmTable: OIDs of well-known alarms (below)
UPS_WELL_KNOWN_ALARMS = f"{_U}.6.3"

UPS_MIB_SCALARS = (UPS_IDENT_MANUFACTURER, UPS_IDENT_MODEL, UPS_BATTERY_STATUS, UPS_SECONDS_ON_BATTERY,
                   UPS_ESTIMATED_MINUTES_REMAINING, UPS_ESTIMATED_CHARGE_REMAINING, UPS_OUTPUT_SOURCE,
                   UPS_ALARMS_PRESENT)
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

POWERNET_SCALARS = (APC_BASIC_IDENT_MODEL, APC_ADV_IDENT_SERIAL, APC_BASIC_BATTERY_STATUS, APC_ADV_BATTERY_CAPACITY,
                    APC_ADV_BATTERY_RUNTIME, APC_ADV_BATTERY_REPLACE, APC_HP_BATTERY_CAPACITY, APC_ADV_INPUT_VOLTAGE,
                    APC_HP_INPUT_VOLTAGE, APC_BASIC_OUTPUT_STATUS, APC_ADV_OUTPUT_VOLTAGE, APC_ADV_OUTPUT_LOAD,
                    APC_HP_OUTPUT_VOLTAGE, APC_HP_OUTPUT_LOAD, APC_CALIBRATION_RESULTS)

# One object of each MIB that every implementation has: enough to tell which MIB the agent speaks. PowerNet is
# asked first because APC cards may speak both, and PowerNet carries more (replace indicator, high precision).
DETECT_OIDS = (APC_BASIC_OUTPUT_STATUS, UPS_OUTPUT_SOURCE, UPS_BATTERY_STATUS)

# upsOutputSource -> flags. Bypass, booster and reducer all run the load from utility power, hence OL too.
_UPS_MIB_SOURCE_FLAGS: dict[int, tuple[str, ...]] = {
    1: (), 2: ("OFF",), 3: ("OL",), 4: ("OL", "BYPASS"), 5: ("OB",), 6: ("OL", "BOOST"), 7: ("OL", "TRIM"),
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

# Range checks: values outside are agent bugs or "not supported" markers (-1, 65535, 0xFFFFFFFF TimeTicks).
MAX_RUNTIME_SECONDS = 7 * 24 * 3600
MAX_VOLTS = 500.0
MAX_LOAD_PERCENT = 200.0


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
    """Which UPS MIB the agent speaks, from the answer to DETECT_OIDS; None when neither."""
    if isinstance(values.get(APC_BASIC_OUTPUT_STATUS), int):
        return POWERNET
    if isinstance(values.get(UPS_OUTPUT_SOURCE), int) or isinstance(values.get(UPS_BATTERY_STATUS), int):
        return UPS_MIB
    return None


def _ordered(flags: Sequence[str]) -> tuple[str, ...]:
    """Each flag once, in the order of UPS_FLAGS (the order every source reports in); anything else after them,
    as met."""
    seen = dict.fromkeys(flag for flag in flags if flag)
    known = [flag for flag in UPS_FLAGS if flag in seen]
    return (*known, *(flag for flag in seen if flag not in UPS_FLAGS))


def ups_mib_flags(output_source: int | None, battery_status: int | None, alarms_present: int | None = None,
                  alarm_ids: Sequence[int] = ()) -> tuple[str, ...]:
    """NUT-style status flags from UPS-MIB objects (the mapping of NUT's ietf-mib.c, plus well-known alarms)."""
    flags: list[str] = []
    if output_source is not None:
        flags.extend(_UPS_MIB_SOURCE_FLAGS.get(output_source, ()))
    if battery_status in (3, 4):  # batteryLow, batteryDepleted
        flags.append("LB")
    for alarm in alarm_ids:
        flags.append(_WELL_KNOWN_ALARMS.get(alarm, ("", ""))[1])
    if (alarms_present or 0) > 0 or alarm_ids:
        flags.append("ALARM")
    return _ordered(flags)


def powernet_flags(output_status: int | None, battery_status: int | None, replace_indicator: int | None = None,
                   calibration: int | None = None) -> tuple[str, ...]:
    """NUT-style status flags from APC PowerNet objects (NUT's apc-mib.c, battery faults as ALARM)."""
    flags: list[str] = []
    if output_status is not None:
        flags.extend(_POWERNET_STATUS_FLAGS.get(output_status, ()))
    if battery_status == 3:  # batteryLow
        flags.append("LB")
    elif battery_status in (4, 5):  # batteryInFaultCondition, noBatteryPresent
        flags.append("ALARM")
    if replace_indicator == 2:
        flags.append("RB")
    if calibration == 3:
        flags.append("CAL")
    return _ordered(flags)


def _powernet_alarm(battery_status: int | None) -> str:
    return {4: "battery in fault condition", 5: "no battery present"}.get(battery_status or 0, "")


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

    def lines(self, name: str, values: Values, column: str, high: float, unit: str) -> float | None:
        """The largest valid value of a per-line table column (unused lines report 0; one hot phase counts)."""
        prefix = column + "."
        valid = [value for oid, raw in sorted(values.items()) if oid.startswith(prefix)
                 if (value := self.number(f"{name} line {oid[len(prefix):]}", raw, 1.0, high, unit)) is not None]
        return max(valid) if valid else None

    def runtime(self, seconds: float | None, flags: Sequence[str]) -> float | None:
        # Many agents report 0 while on mains to mean "not estimated"; 0 is only believable on battery.
        if seconds == 0 and "OB" not in flags and "LB" not in flags:
            self.drop("battery runtime", "battery runtime: 0 s while not on battery (not estimated)")
            return None
        return seconds


def _int(values: Values, oid: str) -> int | None:
    raw = values.get(oid)
    return raw if isinstance(raw, int) else None


def _text(values: Values, oid: str) -> str:
    raw = values.get(oid)
    return raw.strip() if isinstance(raw, str) else ""


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
    alarms_present = _int(values, UPS_ALARMS_PRESENT)
    flags = ups_mib_flags(_int(values, UPS_OUTPUT_SOURCE), _int(values, UPS_BATTERY_STATUS), alarms_present,
                          well_known_alarm_ids(values))
    descriptions = _alarm_descriptions(values)
    if not descriptions and (alarms_present or 0) > 0:
        descriptions = [f"{alarms_present} alarm(s) present"]
    minutes = check.number("battery runtime", values.get(UPS_ESTIMATED_MINUTES_REMAINING), 1.0,
                           MAX_RUNTIME_SECONDS / 60, "min")
    charge = check.number("battery charge", values.get(UPS_ESTIMATED_CHARGE_REMAINING), 1.0, 100, "%")
    load = check.lines("output load", values, UPS_OUTPUT_PERCENT_LOAD, MAX_LOAD_PERCENT, "%")
    reading = UpsReading(
        ups=ups, source="snmp", up=True, reason="", flags=flags,
        manufacturer=_text(values, UPS_IDENT_MANUFACTURER), model=_text(values, UPS_IDENT_MODEL),
        driver="UPS-MIB",
        battery_charge_ratio=percent_to_ratio(charge),
        battery_runtime_seconds=check.runtime(None if minutes is None else minutes_to_seconds(minutes), flags),
        load_ratio=percent_to_ratio(load),
        input_voltage_volts=check.lines("input voltage", values, UPS_INPUT_VOLTAGE, MAX_VOLTS, "V"),
        output_voltage_volts=check.lines("output voltage", values, UPS_OUTPUT_VOLTAGE, MAX_VOLTS, "V"),
        alarm=", ".join(descriptions),
        shutdown_clients=None, local_upsmon=None,  # SNMP cannot tell who would shut down on this UPS
    )
    return Mapped(reading, tuple(check.invalid))


def map_powernet(values: Values, ups: str) -> Mapped:
    """An APC PowerNet answer (POWERNET_SCALARS) as a reading."""
    check = _Checker()
    battery_status = _int(values, APC_BASIC_BATTERY_STATUS)
    flags = powernet_flags(_int(values, APC_BASIC_OUTPUT_STATUS), battery_status,
                           _int(values, APC_ADV_BATTERY_REPLACE), _int(values, APC_CALIBRATION_RESULTS))
    ticks = check.number("battery runtime", values.get(APC_ADV_BATTERY_RUNTIME), 1.0,
                         MAX_RUNTIME_SECONDS * 100, "ticks")
    reading = UpsReading(
        ups=ups, source="snmp", up=True, reason="", flags=flags,
        manufacturer="APC",  # PowerNet is APC's enterprise MIB; the model string omits the brand
        model=_text(values, APC_BASIC_IDENT_MODEL), serial=_text(values, APC_ADV_IDENT_SERIAL),
        driver="PowerNet-MIB",
        battery_charge_ratio=percent_to_ratio(check.preferred(
            "battery charge", [(values.get(APC_HP_BATTERY_CAPACITY), 0.1), (values.get(APC_ADV_BATTERY_CAPACITY), 1)],
            100, "%")),
        battery_runtime_seconds=check.runtime(None if ticks is None else timeticks_to_seconds(ticks), flags),
        load_ratio=percent_to_ratio(check.preferred(
            "output load", [(values.get(APC_HP_OUTPUT_LOAD), 0.1), (values.get(APC_ADV_OUTPUT_LOAD), 1)],
            MAX_LOAD_PERCENT, "%")),
        input_voltage_volts=check.preferred(
            "input voltage", [(values.get(APC_HP_INPUT_VOLTAGE), 0.1), (values.get(APC_ADV_INPUT_VOLTAGE), 1)],
            MAX_VOLTS, "V"),
        output_voltage_volts=check.preferred(
            "output voltage", [(values.get(APC_HP_OUTPUT_VOLTAGE), 0.1), (values.get(APC_ADV_OUTPUT_VOLTAGE), 1)],
            MAX_VOLTS, "V"),
        alarm=_powernet_alarm(battery_status),
        shutdown_clients=None, local_upsmon=None,
    )
    return Mapped(reading, tuple(check.invalid))


def map_values(mib: str, values: Values, ups: str) -> Mapped:
    return map_powernet(values, ups) if mib == POWERNET else map_ups_mib(values, ups)


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
        readings = poll_all(ctx.keeping_back(), self.targets, self._poll,
                            lambda target, reason: down(target.label, reason))
        self._log_outcome(readings)
        return readings

    async def _poll(self, engine: Engine, target: SnmpTarget) -> UpsReading:
        community = read_community(target.community, target.community_file, self._warn)
        session = await engine.session(Agent(target.host, target.port, community, target.version, target.timeout))
        mib = detect_mib(await session.get(DETECT_OIDS))
        if mib is None:
            raise SnmpError("the agent answers but speaks neither UPS-MIB (RFC 1628) nor APC PowerNet")
        mapped = map_values(mib, await _read(session, mib), target.label)
        for invalid in mapped.invalid:
            self._warn.warn(f"invalid:{target.label!r}:{invalid.field}", "SNMP UPS %s: %s; value omitted",
                            target.label, invalid.message)
        return mapped.reading

    def _log_outcome(self, readings: Sequence[UpsReading]) -> None:
        """Log a UPS's failure when its reason changes, and its recovery, not every run."""
        for reading in readings:
            key = f"down:{reading.ups!r}:"  # repr: one UPS's key is never a prefix of another's
            if reading.up:
                if self._warn.forget(key):
                    log.info("SNMP UPS %s answers again", reading.ups)
                continue
            if not self._warn.seen(key + reading.reason):
                self._warn.forget(key)  # a new reason: the old one no longer holds
            self._warn.warn(key + reading.reason, "SNMP UPS %s: %s", reading.ups, reading.reason)


async def _read(session: Session, mib: str) -> dict[str, Value]:
    """Every object the mapping of `mib` uses; the alarm table only when the agent says alarms are present."""
    if mib == POWERNET:
        return await session.get(POWERNET_SCALARS)
    values = await session.get(UPS_MIB_SCALARS)
    for column in UPS_MIB_COLUMNS:
        values.update(await session.walk(column))
    alarms = values.get(UPS_ALARMS_PRESENT)
    if isinstance(alarms, int) and alarms > 0:
        values.update(await session.walk(UPS_ALARM_DESCR))
    return values


__all__ = [
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
    "detect_mib",
    "down",
    "map_powernet",
    "map_ups_mib",
    "map_values",
    "minutes_to_seconds",
    "powernet_flags",
    "timeticks_to_seconds",
    "ups_mib_flags",
    "well_known_alarm_ids",
]
