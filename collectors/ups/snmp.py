"""UPSes behind an SNMP agent: RFC 1628 UPS-MIB or APC PowerNet, mapped onto the same UpsReading as NUT.

Two layers. The pure mapping functions take what the agent said as plain values (`{dotted OID: int | str}`,
absent objects simply missing) and return a range-checked UpsReading with NUT-style status flags; they know
the MIBs' units (UPS-MIB runtime in minutes, PowerNet runtime in TimeTicks, high-precision PowerNet objects in
tenths) so the rest of physgap never has to. `SnmpUpsCollector` does the talking: pysnmp's asyncio hlapi in one
short-lived event loop per run, all targets polled concurrently and bounded by the run's deadline. pysnmp is
imported only there, so a daemon without `[[ups.snmp]]` never loads it (about 25 MB and 0.1 s).

An agent that does not answer (host down, closed port and wrong community all look the same in SNMP: silence),
an unresolvable host or an unreadable community file gives that UPS a reading with up=False and the reason;
only when every target failed does the run fail. The community string is a secret: it is never logged and
never part of a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import stat
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.kit.context import Cancelled, CollectorError, RunContext
from collectors.model.readings import UpsReading

log = logging.getLogger(__name__)

Value = int | str  # INTEGER/Gauge32/TimeTicks/Counter as int, OCTET STRING decoded, OBJECT IDENTIFIER dotted
Values = Mapping[str, Value]  # dotted OID without a leading dot -> value; objects the agent lacks are absent

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
_FLAG_ORDER = ("OL", "OB", "OFF", "BYPASS", "BOOST", "TRIM", "LB", "RB", "CAL", "OVER", "ALARM")

# Range checks: values outside are agent bugs or "not supported" markers (-1, 65535, 0xFFFFFFFF TimeTicks).
MAX_RUNTIME_SECONDS = 7 * 24 * 3600
MAX_VOLTS = 500.0
MAX_LOAD_PERCENT = 200.0

# pysnmp's defaults (1 s x 5 retries) would spend 6 s on every silent agent; one retry covers a lost datagram.
DEFAULT_TIMEOUT = 1.0
RETRIES = 1
# Rows read from one table column at most: a UPS has 1..3 lines; a runaway agent must not walk forever.
_MAX_ROWS = 64
_CANCEL_POLL = 0.1


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


def clean_text(raw: bytes) -> str:
    """An OCTET STRING as text: agents pad identity strings with spaces or NULs, and some are not UTF-8."""
    return raw.decode("utf-8", "replace").strip(" \t\r\n\x00")


def detect_mib(values: Values) -> str | None:
    """Which UPS MIB the agent speaks, from the answer to DETECT_OIDS; None when neither."""
    if isinstance(values.get(APC_BASIC_OUTPUT_STATUS), int):
        return POWERNET
    if isinstance(values.get(UPS_OUTPUT_SOURCE), int) or isinstance(values.get(UPS_BATTERY_STATUS), int):
        return UPS_MIB
    return None


def _ordered(flags: Sequence[str]) -> tuple[str, ...]:
    """Known flags in NUT's usual order, each once; anything else after them, as met."""
    seen = dict.fromkeys(flag for flag in flags if flag)
    known = [flag for flag in _FLAG_ORDER if flag in seen]
    return (*known, *(flag for flag in seen if flag not in _FLAG_ORDER))


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


def _ratio(percent: float | None) -> float | None:
    return None if percent is None else percent / 100.0


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
    reading = UpsReading(
        ups=ups, source="snmp", up=True, reason="", flags=flags,
        manufacturer=_text(values, UPS_IDENT_MANUFACTURER), model=_text(values, UPS_IDENT_MODEL),
        driver="UPS-MIB",
        battery_charge_ratio=_ratio(check.number("battery charge", values.get(UPS_ESTIMATED_CHARGE_REMAINING), 1.0,
                                                 100, "%")),
        battery_runtime_seconds=check.runtime(None if minutes is None else minutes_to_seconds(minutes), flags),
        load_ratio=_ratio(check.lines("output load", values, UPS_OUTPUT_PERCENT_LOAD, MAX_LOAD_PERCENT, "%")),
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
        battery_charge_ratio=_ratio(check.preferred(
            "battery charge", [(values.get(APC_HP_BATTERY_CAPACITY), 0.1), (values.get(APC_ADV_BATTERY_CAPACITY), 1)],
            100, "%")),
        battery_runtime_seconds=check.runtime(None if ticks is None else timeticks_to_seconds(ticks), flags),
        load_ratio=_ratio(check.preferred(
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
# Configuration and the collector


@dataclass(frozen=True)
class SnmpTarget:
    host: str
    port: int = 161
    community: str = field(default="public", repr=False)  # a secret: kept out of reprs and logs
    community_file: Path | None = None
    version: str = "2c"
    name: str = ""
    timeout: float = DEFAULT_TIMEOUT

    @property
    def label(self) -> str:
        return self.name or self.host

    @classmethod
    def from_mapping(cls, entry: Mapping[str, object]) -> SnmpTarget:
        host = entry.get("host")
        if not isinstance(host, str) or not host:
            raise ValueError("ups.snmp: host must be a non-empty string")
        port = entry.get("port", 161)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError(f"ups.snmp {host}: port must be 1..65535")
        version = str(entry.get("version", "2c")).lower().removeprefix("v")
        if version not in ("1", "2c"):
            raise ValueError(f"ups.snmp {host}: version must be \"2c\" or \"1\"")
        timeout = entry.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
            raise ValueError(f"ups.snmp {host}: timeout must be a positive number of seconds")
        community = entry.get("community", "public")
        community_file = entry.get("community_file") or None
        name = entry.get("name") or ""
        if not isinstance(community, str) or not isinstance(name, str):
            raise ValueError(f"ups.snmp {host}: community and name must be strings")
        if community_file is not None and not isinstance(community_file, str | Path):
            raise ValueError(f"ups.snmp {host}: community_file must be a path")
        return cls(host=host, port=port, community=community,
                   community_file=Path(community_file) if community_file is not None else None,
                   version=version, name=name, timeout=float(timeout))


class _AgentError(Exception):
    """The agent did not give a usable answer; the message is the operator-facing reason."""


def _resolve(host: str, port: int) -> asyncio.Future[tuple[int, tuple[str, int]]]:
    """Resolve in a daemon thread of our own: pysnmp would use the loop's default executor, and asyncio.run
    waits for that executor at exit, so a hung resolver would hold the run past its deadline."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[tuple[int, tuple[str, int]]] = loop.create_future()

    def settle(result: tuple[int, tuple[str, int]] | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        elif result is not None:
            future.set_result(result)

    def work() -> None:
        result: tuple[int, tuple[str, int]] | None = None
        error: BaseException | None = None
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM, proto=socket.IPPROTO_UDP)
            # IPv4 first: it is what UPS management cards speak, and what UdpTransportTarget expects.
            infos.sort(key=lambda info: info[0] != socket.AF_INET)
            family, address = infos[0][0], infos[0][4]
            result = (int(family), (str(address[0]), int(address[1])))
        except OSError as exc:
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is gone: the run ended without us
            loop.call_soon_threadsafe(settle, result, error)

    threading.Thread(target=work, name=f"physgap-resolve-{host}", daemon=True).start()
    return future


def _hlapi() -> Any:
    """pysnmp's asyncio hlapi, imported on first use only: a daemon without [[ups.snmp]] never pays for it.
    pysnmp ships no type information, hence Any."""
    from pysnmp.hlapi.v3arch import asyncio as hlapi  # type: ignore[import-untyped]

    return hlapi


def _plain(value: Any) -> Value | None:
    """A pysnmp value as an int or str; None for noSuchObject/noSuchInstance/endOfMibView."""
    from pyasn1.type import univ  # type: ignore[import-untyped]  # pysnmp's own dependency

    if isinstance(value, univ.Null):  # the three exceptions subclass Null (and Null subclasses OctetString)
        return None
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    if isinstance(value, univ.OctetString):
        return clean_text(bytes(value))
    if isinstance(value, univ.Integer):  # Integer32, Gauge32, Unsigned32, TimeTicks, Counter32/64
        return int(value)
    return None


def _indication(error_indication: Any) -> str:
    text = str(error_indication)
    if type(error_indication).__name__ == "RequestTimedOut":
        # SNMP agents drop requests with a wrong community silently, and ICMP "port unreachable" is not
        # surfaced: all three look alike, so the reason names them all.
        return "no SNMP answer (request timed out: host down, port closed or wrong community)"
    return f"SNMP error: {text}"


class _Session:
    """One agent, one community, one transport: GET with SNMPv1 tolerance and bounded column walks."""

    def __init__(self, engine: Any, auth: Any, transport: Any) -> None:
        self.engine = engine
        self.auth = auth
        self.transport = transport

    async def get(self, oids: Sequence[str]) -> dict[str, Value]:
        hlapi = _hlapi()
        wanted = list(oids)
        values: dict[str, Value] = {}
        while wanted:
            error_indication, error_status, error_index, var_binds = await hlapi.get_cmd(
                self.engine, self.auth, self.transport, hlapi.ContextData(),
                *(hlapi.ObjectType(hlapi.ObjectIdentity(oid)) for oid in wanted), lookupMib=False)
            if error_indication:
                raise _AgentError(_indication(error_indication))
            if error_status:
                index = int(error_index)
                # SNMPv1 fails the whole GET with noSuchName when one object is absent: drop it and ask again.
                if int(error_status) == 2 and 1 <= index <= len(wanted):
                    del wanted[index - 1]
                    continue
                raise _AgentError(f"SNMP error: {error_status.prettyPrint()}")
            for name, value in var_binds:
                plain = _plain(value)
                if plain is not None:
                    values[str(name)] = plain
            break
        return values

    async def walk(self, column: str) -> dict[str, Value]:
        hlapi = _hlapi()
        values: dict[str, Value] = {}
        rows = hlapi.walk_cmd(self.engine, self.auth, self.transport, hlapi.ContextData(),
                              hlapi.ObjectType(hlapi.ObjectIdentity(column)),
                              lexicographicMode=False, lookupMib=False, maxRows=_MAX_ROWS)
        async with contextlib.aclosing(rows):
            async for error_indication, error_status, _index, var_binds in rows:
                if error_indication:
                    raise _AgentError(_indication(error_indication))
                if error_status:
                    break  # an agent error inside one table costs that table only
                for name, value in var_binds:
                    plain = _plain(value)
                    if plain is not None:
                        values[str(name)] = plain
        return values


class SnmpUpsCollector:
    """Polls `[[ups.snmp]]` targets; one UpsReading per target, up=False with the reason when it failed."""

    name = "ups_snmp"

    def __init__(self, targets: Sequence[Mapping[str, object]]) -> None:
        self.targets = tuple(SnmpTarget.from_mapping(entry) for entry in targets)
        self._warned: set[tuple[str, str]] = set()  # (ups, field) already logged as invalid
        self._warned_files: set[Path] = set()
        self._last_reason: dict[str, str] = {}

    def collect(self, ctx: RunContext) -> Sequence[UpsReading]:
        ctx.check()
        if not self.targets:
            return []
        readings = asyncio.run(self._run(ctx))
        self._log_outcome(readings)
        if all(not reading.up for reading in readings):
            raise CollectorError("; ".join(f"{reading.ups}: {reading.reason}" for reading in readings))
        return readings

    async def _run(self, ctx: RunContext) -> list[UpsReading]:
        engine = _hlapi().SnmpEngine()
        try:
            polls = asyncio.gather(*(self._bounded(engine, target, ctx) for target in self.targets))
            watcher = asyncio.create_task(self._watch_cancel(ctx))
            both: list[asyncio.Future[Any]] = [polls, watcher]
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
            watcher.cancel()
            if not polls.done():
                polls.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await polls
                raise Cancelled("daemon is stopping")
            return list(polls.result())
        finally:
            # Closes the sockets and timer of this run's engine; the next run makes a fresh one in a fresh loop.
            engine.close_dispatcher()

    @staticmethod
    async def _watch_cancel(ctx: RunContext) -> None:
        while not ctx.cancel.is_set():
            await asyncio.sleep(_CANCEL_POLL)

    async def _bounded(self, engine: Any, target: SnmpTarget, ctx: RunContext) -> UpsReading:
        try:
            return await asyncio.wait_for(self._poll(engine, target, ctx), timeout=max(ctx.remaining(), 0.0))
        except TimeoutError:
            return down(target.label, "no complete SNMP answer within the collector's deadline")
        except _AgentError as exc:
            return down(target.label, str(exc))
        except Exception as exc:  # a pysnmp surprise must cost this UPS only, never the run
            log.debug("SNMP UPS %s: unexpected error", target.label, exc_info=True)
            return down(target.label, f"SNMP error: {type(exc).__name__}: {exc}")

    def _community(self, target: SnmpTarget) -> str:
        if target.community_file is None:
            return target.community
        path = target.community_file
        try:
            info = path.stat()
            text = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise _AgentError(f"community file {path} unreadable: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise _AgentError(f"community file {path} is not UTF-8 text") from None
        if info.st_mode & stat.S_IROTH and path not in self._warned_files:
            self._warned_files.add(path)
            log.warning("community file %s is world-readable; chmod o-r it", path)
        if not text:
            raise _AgentError(f"community file {path} is empty")
        return text

    async def _poll(self, engine: Any, target: SnmpTarget, ctx: RunContext) -> UpsReading:
        hlapi = _hlapi()
        community = self._community(target)
        try:
            family, address = await _resolve(target.host, target.port)
        except OSError as exc:
            raise _AgentError(f"cannot resolve {target.host}: {exc.strerror or exc}") from None
        # One request's worst case, (retries + 1) x timeout, must fit in what is left of the run.
        timeout = max(0.05, min(target.timeout, ctx.remaining() / (RETRIES + 1)))
        transport_class = hlapi.Udp6TransportTarget if family == socket.AF_INET6 else hlapi.UdpTransportTarget
        transport = await transport_class.create(address, timeout=timeout, retries=RETRIES)
        session = _Session(engine, hlapi.CommunityData(community, mpModel=0 if target.version == "1" else 1), transport)

        mib = detect_mib(await session.get(DETECT_OIDS))
        if mib is None:
            raise _AgentError("the agent answers but speaks neither UPS-MIB (RFC 1628) nor APC PowerNet")
        if mib == POWERNET:
            values = await session.get(POWERNET_SCALARS)
        else:
            values = await session.get(UPS_MIB_SCALARS)
            for column in UPS_MIB_COLUMNS:
                values.update(await session.walk(column))
            alarms = values.get(UPS_ALARMS_PRESENT)
            if isinstance(alarms, int) and alarms > 0:
                values.update(await session.walk(UPS_ALARM_DESCR))
        mapped = map_values(mib, values, target.label)
        for invalid in mapped.invalid:
            if (target.label, invalid.field) not in self._warned:
                self._warned.add((target.label, invalid.field))
                log.warning("SNMP UPS %s: %s; value omitted", target.label, invalid.message)
        return mapped.reading

    def _log_outcome(self, readings: Sequence[UpsReading]) -> None:
        """Log a UPS's failure when its reason changes, and its recovery, not every run."""
        for reading in readings:
            previous = self._last_reason.get(reading.ups)
            if reading.reason != (previous or "") and (previous is not None or not reading.up):
                if reading.up:
                    log.info("SNMP UPS %s answers again", reading.ups)
                else:
                    log.warning("SNMP UPS %s: %s", reading.ups, reading.reason)
            self._last_reason[reading.ups] = reading.reason


__all__ = [
    "DETECT_OIDS",
    "POWERNET",
    "POWERNET_SCALARS",
    "UPS_MIB",
    "UPS_MIB_COLUMNS",
    "UPS_MIB_SCALARS",
    "Invalid",
    "Mapped",
    "SnmpTarget",
    "SnmpUpsCollector",
    "Value",
    "Values",
    "clean_text",
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
