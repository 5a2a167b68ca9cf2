"""UPS readings from NUT servers (upsd), plus the pure parsers behind them.

Design points, each from ../shared/notes/ups-nut-snmp.md:

* `ups.status` is an open set of tokens: contradictions ("OL OB"), HE, ALARM and empty statuses occur in real
  dumps, so flags are kept as reported (upper-cased, de-duplicated) and nothing assumes exactly one of OL/OB.
* Numbers lie (runtime 65535, -1 or 3932100 s; charge 255 %): only a fixed table of variables becomes numbers,
  each range-checked; an invalid value is dropped and logged once rather than graphed.
* `ERR DATA-STALE` and `ERR DRIVER-NOT-CONNECTED` are the most common real failure and a UPS state of their
  own: the reading says up=False with that code, and the collector does not fail.
* Shutdown protection is visible from the network: NUMLOGINS counts attached upsmon instances. This collector
  never logs in itself (nut_client never sends LOGIN), so it never inflates that count.
* A UPS that was seen (or is configured by name) never vanishes: while its server is dead, stalled or garbled
  it is reported with up=False and the reason, so `physgap_ups_up == 0` can fire and P1 names it. One dead
  server never hides another's UPSes. The collector fails only when it has nothing to say about any UPS:
  every server failed and none of them has a UPS known by name (never answered, `ups = ""`).
* Each server's poll ends a little before the run's deadline, so that a stalled server still costs only its
  own readings (up=False, "timed out") instead of the whole run being abandoned by the scheduler.
* Three-phase units report per phase (`input.L1-N.voltage`, `output.L2-L3.voltage`, `output.L1.power.percent`)
  and often no `input.voltage` or `ups.load` at all: the phases are kept per phase (label `phase`), the single
  input/output voltage becomes the lowest phase-to-neutral one (a sagging phase shows in the one series an
  alert watches), and a missing ups.load the busiest phase's load. Phase-to-phase values (400 V on a 230 V
  grid) never become the single value.
* A name from `LIST UPS` that is not one valid protocol word (undecodable bytes, control characters) is
  refused: never queried, reported up=False under its escaped name (nut_client.escape_name), so it is
  neither merged into another name by U+FFFD nor hidden.
"""

from __future__ import annotations

import concurrent.futures
import logging
import math
import re
import socket
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from collectors.kit.context import Cancelled, CollectorError, RunContext
from collectors.kit.files import read_regular
from collectors.kit.secrets import SecretError, read_secret, warn_if_others_can_read
from collectors.kit.units import percent_to_ratio
from collectors.kit.warnonce import WarnOnce
from collectors.model.readings import UpsReading
from collectors.ups.config import DEFAULT_UPSMON_CONF, NutServerConfig
from collectors.ups.nut_client import (
    DEFAULT_PORT,
    NutClient,
    NutClientError,
    NutError,
    NutProtocolError,
    split_words,
    valid_name,
)

log = logging.getLogger(__name__)

_MAX_CONF = 1024 * 1024
_WEEK = 7 * 86400.0
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", "::1",
                             "0:0:0:0:0:0:0:1"})
_ROLES = ("primary", "secondary", "master", "slave")
INVALID_NAME = "invalid UPS name from the server (shown escaped); not read"


# -- pure parsers ----------------------------------------------------------------------------------------------

def parse_status(text: str) -> tuple[str, ...]:
    """`ups.status` as tokens: upper-cased, duplicates dropped, order kept, unknown tokens (HE, ...) kept."""
    return tuple(dict.fromkeys(token.upper() for token in text.split()))


class InvalidNumber(NamedTuple):
    var: str
    value: str
    reason: str


@dataclass(frozen=True)
class _NumberSpec:
    var: str
    field: str  # the UpsReading field it fills
    low: float
    high: float
    scale: float  # multiplier into the reading's unit (percent -> ratio)
    unit: str
    sentinels: frozenset[float] = frozenset()


# The fixed numeric table: nothing outside it becomes a number (strings such as ups.firmware flap between
# "02" and "02.08.0010" on real units). Ranges are generous physical limits, not device nominals.
NUMBER_TABLE: tuple[_NumberSpec, ...] = (
    _NumberSpec("battery.charge", "battery_charge_ratio", 0.0, 100.0, 0.01, "%"),
    # 65535 is a 16-bit "unknown" (nut#731, #1740), -1 "not available" (nut#983), 3932100 Riello garbage.
    _NumberSpec("battery.runtime", "battery_runtime_seconds", 0.0, _WEEK, 1.0, "s",
                frozenset({65535.0, -1.0, 3932100.0})),
    _NumberSpec("ups.load", "load_ratio", 0.0, 200.0, 0.01, "%"),
    # 0 V is valid on both: input drops to 0 during an outage (OB), output is 0 while the UPS is OFF.
    _NumberSpec("input.voltage", "input_voltage_volts", 0.0, 500.0, 1.0, "V"),
    _NumberSpec("output.voltage", "output_voltage_volts", 0.0, 500.0, 1.0, "V"),
)


def numbers(variables: Mapping[str, str]) -> tuple[dict[str, float], list[InvalidNumber]]:
    """The fixed numeric table, range-checked: ({UpsReading field: value}, [(var, value, reason), ...]).

    Values are converted to the reading's unit (percentages to ratios). Absent variables are simply absent;
    invalid ones are omitted from the dict and listed with a reason so the caller can log each once.
    """
    values: dict[str, float] = {}
    invalid: list[InvalidNumber] = []
    for spec in NUMBER_TABLE:
        raw = variables.get(spec.var)
        if raw is None:
            continue
        text = raw.strip()
        try:
            number = float(text)
        except ValueError:
            invalid.append(InvalidNumber(spec.var, raw, "not a number"))
            continue
        if not math.isfinite(number):
            invalid.append(InvalidNumber(spec.var, raw, "not a finite number"))
        elif number in spec.sentinels:
            invalid.append(InvalidNumber(spec.var, raw, f"{text} is a known 'unknown' sentinel"))
        elif not spec.low <= number <= spec.high:
            invalid.append(InvalidNumber(spec.var, raw, f"outside {spec.low:g}..{spec.high:g} {spec.unit}"))
        else:
            values[spec.field] = number * spec.scale
    return values, invalid


# Per-phase voltages: NUT's names for three-phase (L1-N .. L3-N, L1-L2 .. L3-L1) and split-phase (L1-N, L2-N,
# L1-L2) units; input.bypass.* is the bypass source, not what feeds the UPS, and is not read.
_PHASE_VOLTAGE = re.compile(r"(input|output)\.(L[1-3]-(?:N|L[1-3]))\.voltage")
_PHASE_LOAD = re.compile(r"output\.(L[1-3])\.power\.percent")
# Phase-to-phase voltages reach 600 V on Canadian 347/600 V supplies; input.voltage's 500 V stays the single bound.
MAX_PHASE_VOLTS = 700.0


@dataclass(frozen=True)
class Phases:
    """What a three-phase (or split-phase) dump says per phase, range-checked."""

    input_volts: tuple[tuple[str, float], ...] = ()  # (phase, volts) sorted by phase; () with fewer than two
    output_volts: tuple[tuple[str, float], ...] = ()
    lowest_input_neutral: float | None = None  # lowest phase-to-neutral voltage, even of a single L1-N
    lowest_output_neutral: float | None = None
    busiest_load_ratio: float | None = None  # the largest output.Ln.power.percent, as a ratio


def _number_in(raw: str, high: float) -> tuple[float | None, str]:
    """`raw` as a number within 0..high, else (None, why)."""
    try:
        number = float(raw.strip())
    except ValueError:
        return None, "not a number"
    if not math.isfinite(number):
        return None, "not a finite number"
    if not 0.0 <= number <= high:
        return None, f"outside 0..{high:g}"
    return number, ""


def phases(variables: Mapping[str, str]) -> tuple[Phases, list[InvalidNumber]]:
    """Per-phase voltages and loads from NUT variables; invalid ones are listed, not used."""
    volts: dict[str, dict[str, float]] = {"input": {}, "output": {}}
    loads: list[float] = []
    invalid: list[InvalidNumber] = []
    for var, raw in variables.items():
        if match := _PHASE_VOLTAGE.fullmatch(var):
            number, why = _number_in(raw, MAX_PHASE_VOLTS)
            if number is None:
                invalid.append(InvalidNumber(var, raw, f"{why} V" if why.startswith("outside") else why))
            else:
                volts[match[1]][match[2]] = number
        elif _PHASE_LOAD.fullmatch(var):
            number, why = _number_in(raw, 200.0)
            if number is None:
                invalid.append(InvalidNumber(var, raw, f"{why} %" if why.startswith("outside") else why))
            else:
                loads.append(number)

    def table(direction: str) -> tuple[tuple[str, float], ...]:
        found = tuple(sorted(volts[direction].items()))
        return found if len(found) >= 2 else ()

    def neutral(direction: str) -> float | None:
        return min((v for phase, v in volts[direction].items() if phase.endswith("-N")), default=None)

    return Phases(table("input"), table("output"), neutral("input"), neutral("output"),
                  percent_to_ratio(max(loads, default=None))), invalid


class Monitor(NamedTuple):
    system: str  # "ups@host[:port]" as written
    power_value: int
    role: str  # primary | secondary | master | slave (lower-cased)


@dataclass(frozen=True)
class UpsmonConf:
    """What matters in upsmon.conf for "is this host protected": its MONITOR lines and its SHUTDOWNCMD.

    The MONITOR password is deliberately not kept.
    """

    monitors: tuple[Monitor, ...] = ()
    shutdown_cmd: str = ""


def parse_upsmon_conf(text: str) -> UpsmonConf:
    """MONITOR and SHUTDOWNCMD from upsmon.conf text; malformed lines are skipped, as upsmon would refuse them.

    Keywords are matched case-sensitively, as upsmon does, so a line upsmon would ignore does not count.
    """
    monitors: list[Monitor] = []
    shutdown_cmd = ""
    for line in text.splitlines():
        words = split_words(line, comments=True, strict=False)
        if not words:
            continue
        if words[0] == "MONITOR" and len(words) >= 6:
            system, power, role = words[1], words[2], words[5].lower()
            try:
                power_value = int(power)
            except ValueError:
                continue
            if system and "@" in system and power_value >= 0 and role in _ROLES:
                monitors.append(Monitor(system, power_value, role))
        elif words[0] == "SHUTDOWNCMD" and len(words) >= 2:
            shutdown_cmd = words[1].strip()
    return UpsmonConf(tuple(monitors), shutdown_cmd)


def split_system(system: str) -> tuple[str, str, int] | None:
    """"ups@host[:port]" -> (ups, host, port); IPv6 as "ups@[::1]:3493". None when malformed."""
    name, _, rest = system.partition("@")
    if not name or not rest:
        return None
    port = DEFAULT_PORT
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port_text = tail[1:]
        elif tail:
            return None
        else:
            port_text = ""
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
    else:
        host, port_text = rest, ""
    if port_text:
        try:
            port = int(port_text)
        except ValueError:
            return None
    return (name, host, port) if host else None


def _is_local(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES or host.startswith("127."):
        return True
    try:
        return host == socket.gethostname().lower()
    except OSError:
        return False


def same_server(host_a: str, port_a: int, host_b: str, port_b: int) -> bool:
    """Loose match: equal names (case-insensitive) or both this host (localhost, 127.x, ::1, own name)."""
    if port_a != port_b:
        return False
    a, b = host_a.strip("[]").lower(), host_b.strip("[]").lower()
    return a == b or (_is_local(a) and _is_local(b))


def upsmon_protects(conf: UpsmonConf | None, ups: str, host: str, port: int) -> bool | None:
    """True when the local upsmon.conf MONITORs this UPS (power value >= 1) and has a SHUTDOWNCMD."""
    if conf is None:
        return None
    if not conf.shutdown_cmd:
        return False
    for monitor in conf.monitors:
        parts = split_system(monitor.system)
        if parts is None or monitor.power_value < 1:
            continue
        name, mhost, mport = parts
        if name == ups and same_server(mhost, mport, host, port):
            return True
    return False


# -- collector ---------------------------------------------------------------------------------------------

@dataclass
class _ServerState:
    """What the collector remembers about one server between polls (mutable, owned by the collector)."""

    config: NutServerConfig
    client: NutClient | None = None
    password: str | None = field(default=None, repr=False)
    password_loaded: bool = False
    known: list[str] = field(default_factory=list)  # UPS names from the last successful LIST UPS
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class _ServerResult:
    readings: tuple[UpsReading, ...]
    failed: bool  # the server answered nothing in this poll
    reason: str = ""


class NutUpsCollector:
    """UpsReadings for every UPS on every configured upsd (or on 127.0.0.1:3493 when auto-detecting)."""

    name = "ups"

    def __init__(self, servers: Sequence[NutServerConfig],
                 upsmon_conf: Path | None = DEFAULT_UPSMON_CONF, autodetect: bool = False) -> None:
        configs = list(servers)
        if not configs and autodetect:
            configs = [NutServerConfig(autodetected=True)]
        self._servers = [_ServerState(config) for config in configs]
        self._upsmon_conf = upsmon_conf
        # Problems are logged at warning level once and forgotten when the cause goes away, so a recurrence is
        # reported again while a persistent fault is not repeated every interval.
        self._warn = WarnOnce(log)
        for server in self._servers:
            self._load_password(server)

    # -- secrets -------------------------------------------------------------------------------------------

    def _load_password(self, server: _ServerState) -> None:
        """Read the password file once it is readable; its content is never logged, only its path."""
        path = server.config.password_file
        if path is None or server.password_loaded:
            return
        try:
            secret = read_secret(path)
        except SecretError as exc:
            self._warn.warn(f"secret:{path}", "ups: NUT password: %s; polling without it", exc)
            return
        warn_if_others_can_read(secret, self._warn, "ups: password file %s is world-readable; chmod o-r it")
        server.password = secret.value
        server.password_loaded = True

    # -- upsmon.conf ---------------------------------------------------------------------------------------

    def _read_upsmon(self) -> UpsmonConf | None:
        path = self._upsmon_conf
        if path is None:
            return None
        try:
            # Never a blocking open of a FIFO in its place, never an endless read of a device.
            raw = read_regular(path, _MAX_CONF)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            # Debian ships it 0640 root:nut: physgap sees it only when its user is in group nut.
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            self._warn.warn(f"upsmon:{path}", "ups: cannot read %s (%s); local shutdown protection unknown",
                            path, reason)
            return None
        self._warn.forget(f"upsmon:{path}")
        return parse_upsmon_conf(raw.decode("utf-8", "replace"))

    # -- polling -------------------------------------------------------------------------------------------

    def collect(self, ctx: RunContext) -> Sequence[UpsReading]:
        ctx.check()
        if not self._servers:
            return []
        upsmon = self._read_upsmon()
        if len(self._servers) == 1:
            results = [self._poll(self._servers[0], ctx, upsmon)]
        else:
            # Concurrently, so that one stalled server costs its own timeout only, not the others' turn.
            with concurrent.futures.ThreadPoolExecutor(max_workers=min(len(self._servers), 8),
                                                       thread_name_prefix="physgap-nut") as pool:
                results = list(pool.map(lambda s: self._poll(s, ctx, upsmon), self._servers))
        if ctx.cancel.is_set():
            raise Cancelled("cancelled")
        readings = [reading for result in results for reading in result.readings]
        failed = [(server, result) for server, result in zip(self._servers, results, strict=True) if result.failed]
        if failed and len(failed) == len(results) and not readings:
            # Nothing to name: a failure is the only honest answer (P1 shows it). With a name known, the up=0
            # readings are the answer instead, and they carry each server's reason.
            reasons = "; ".join(f"{server.config.label}: {result.reason}" for server, result in failed)
            raise CollectorError(f"no UPS server answered ({reasons})")
        return readings

    def _client(self, server: _ServerState) -> NutClient:
        if server.client is None:
            self._load_password(server)
            config = server.config
            server.client = NutClient(config.host, config.port, timeout=config.timeout,
                                      username=config.username or None, password=server.password,
                                      starttls=config.starttls, ca_file=config.ca_file)
        return server.client

    def _poll(self, server: _ServerState, ctx: RunContext, upsmon: UpsmonConf | None) -> _ServerResult:
        with server.lock:
            return self._poll_locked(server, ctx, upsmon)

    def _poll_locked(self, server: _ServerState, ctx: RunContext, upsmon: UpsmonConf | None) -> _ServerResult:
        config = server.config
        label = config.label
        if not server.password_loaded and config.password_file is not None:
            self._load_password(server)
            if server.password_loaded and server.client is not None:
                server.client.close()
                server.client = None  # reconnect so the password is sent
        client = self._client(server)
        # A server's poll ends early enough that its readings (up=0 "timed out" included) are handed back.
        client.bound(ctx.keeping_back().deadline, ctx.cancel)
        answered = False
        if config.ups:
            names = [config.ups]
        else:
            try:
                names = list(client.list_ups())
            except NutClientError as exc:
                return self._server_down(server, exc, upsmon)
            answered = True
            server.known = names
        readings: list[UpsReading] = []
        refused = [name for name in names if not valid_name(name)]
        for name in refused:
            self._warn.warn(f"name:{label}:{name}", "ups: NUT server %s lists a UPS named %s: %s", label, name,
                            INVALID_NAME)
            readings.append(self._down(config, name, INVALID_NAME, upsmon))
        names = [name for name in names if valid_name(name)]
        for index, name in enumerate(names):
            try:
                readings.append(self._read_ups(client, config, name, upsmon))
                answered = True
            except NutClientError as exc:
                # The server went away mid-poll: what was read stands, the rest is reported down.
                if not answered:
                    return self._server_down(server, exc, upsmon)
                reason = _reason(exc)
                self._warn.warn(f"server:{label}", "ups: NUT server %s failed mid-poll: %s", label, reason)
                readings.extend(self._down(config, rest, reason, upsmon) for rest in names[index:])
                return _ServerResult(tuple(readings), failed=False, reason=reason)
        self._warn.forget(f"server:{label}")
        return _ServerResult(tuple(readings), failed=False)

    def _server_down(self, server: _ServerState, exc: NutClientError, upsmon: UpsmonConf | None) -> _ServerResult:
        config = server.config
        reason = _reason(exc)
        if config.autodetected and not server.known and "refused" in reason:
            # Auto-detection found nothing on 127.0.0.1:3493: that is "no NUT here", not a failure.
            log.debug("ups: no NUT server on %s (%s)", config.label, reason)
            return _ServerResult((), failed=False)
        names = [config.ups] if config.ups else list(server.known)
        if not names:
            self._warn.warn(f"server:{config.label}", "ups: NUT server %s did not answer (%s) and no UPS on it "
                            "is known yet; nothing reported for it", config.label, reason)
        else:
            self._warn.warn(f"server:{config.label}", "ups: NUT server %s did not answer: %s", config.label, reason)
        readings = tuple(self._down(config, name, reason, upsmon) for name in names)
        failed = not (config.autodetected and "refused" in reason)
        return _ServerResult(readings, failed=failed, reason=reason)

    def _down(self, config: NutServerConfig, name: str, reason: str, upsmon: UpsmonConf | None) -> UpsReading:
        return UpsReading(ups=f"{name}@{config.label}", source="nut", up=False, reason=reason, flags=(),
                          local_upsmon=upsmon_protects(upsmon, name, config.host, config.port))

    def _read_ups(self, client: NutClient, config: NutServerConfig, name: str,
                  upsmon: UpsmonConf | None) -> UpsReading:
        ups_id = f"{name}@{config.label}"
        variables: dict[str, str] = {}
        reason = ""
        try:
            variables = client.list_var(name)
        except NutError as exc:
            # An ERR about one UPS (DATA-STALE, DRIVER-NOT-CONNECTED, UNKNOWN-UPS, ACCESS-DENIED) is that UPS's
            # state, carried as the reading's reason; the server itself answered.
            reason = exc.code
        logins: int | None = None
        try:
            logins = client.num_logins(name)
        except NutError as exc:
            log.debug("ups: GET NUMLOGINS %s: %s", ups_id, exc.code)
        except NutProtocolError as exc:
            # A count that is no count (garbage, 400 digits) costs the count only: the variables were read, and
            # the client reconnects for the next request.
            self._warn.warn(f"numlogins:{ups_id}", "ups: %s: GET NUMLOGINS: %s; shutdown clients unknown", ups_id,
                            exc)
        if log.isEnabledFor(logging.DEBUG):
            try:
                log.debug("ups: %s clients: %s", ups_id, ", ".join(client.list_client(name)) or "none")
            except NutError as exc:
                log.debug("ups: LIST CLIENT %s: %s", ups_id, exc.code)
        local = upsmon_protects(upsmon, name, config.host, config.port)
        ident = _Identity.of(variables)
        if reason:
            self._warn.warn(f"ups:{ups_id}:{reason}", "ups: %s: %s", ups_id, reason)
            return UpsReading(ups=ups_id, source="nut", up=False, reason=reason, flags=(),
                              shutdown_clients=logins, local_upsmon=local)
        self._warn.forget(f"ups:{ups_id}:")
        flags = parse_status(variables.get("ups.status", ""))
        if flags == ("WAIT",):
            # upsd's placeholder while a freshly connected driver has not delivered data yet.
            return UpsReading(ups=ups_id, source="nut", up=False, reason="WAIT", flags=(), manufacturer=ident.mfr,
                              model=ident.model, serial=ident.serial, driver=ident.driver,
                              shutdown_clients=logins, local_upsmon=local)
        values, invalid = numbers(variables)
        per_phase, invalid_phases = phases(variables)
        for bad in (*invalid, *invalid_phases):
            self._warn.warn(f"number:{ups_id}:{bad.var}:{bad.value}", "ups: %s: ignoring %s = %r: %s",
                            ups_id, bad.var, bad.value, bad.reason)
        return UpsReading(
            ups=ups_id, source="nut", up=True, reason="", flags=flags,
            manufacturer=ident.mfr, model=ident.model, serial=ident.serial, driver=ident.driver,
            battery_charge_ratio=values.get("battery_charge_ratio"),
            battery_runtime_seconds=values.get("battery_runtime_seconds"),
            load_ratio=_first(values.get("load_ratio"), per_phase.busiest_load_ratio),
            input_voltage_volts=_first(per_phase.lowest_input_neutral, values.get("input_voltage_volts")),
            output_voltage_volts=_first(per_phase.lowest_output_neutral, values.get("output_voltage_volts")),
            alarm=variables.get("ups.alarm", "").strip(), shutdown_clients=logins, local_upsmon=local,
            input_phase_volts=per_phase.input_volts, output_phase_volts=per_phase.output_volts)


@dataclass(frozen=True)
class _Identity:
    mfr: str
    model: str
    serial: str
    driver: str

    @classmethod
    def of(cls, variables: Mapping[str, str]) -> _Identity:
        # ups.* is what the driver reports for the UPS itself; device.* is the newer generic namespace.
        def first(*keys: str) -> str:
            return next((value.strip() for key in keys if (value := variables.get(key, "")).strip()), "")

        return cls(first("ups.mfr", "device.mfr"), first("ups.model", "device.model"),
                   first("ups.serial", "device.serial"), first("driver.name"))


def _first(*values: float | None) -> float | None:
    return next((value for value in values if value is not None), None)


def _reason(exc: NutClientError) -> str:
    if isinstance(exc, NutError):
        return exc.code
    text = str(exc)
    # "127.0.0.1:3493: connection refused" -> "connection refused": the reading already names the server.
    head, sep, tail = text.partition(": ")
    return tail if sep and head.count(":") >= 1 and head.rsplit(":", 1)[-1].isdigit() else text
