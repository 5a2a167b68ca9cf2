"""TOML configuration: schema, validation with `file:line: key: problem` messages, typed result.

Every section is optional; what is left out is auto-detected. The key names are the public contract
(DESIGN.md), so sections that later collectors consume are validated here already: an operator can write
the whole file once and `check-config` tells the truth about it.
"""

from __future__ import annotations

import fnmatch
import re
import socket
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.model.severity import SEVERITIES
from collectors.nic.linkmodes import parse_speed

DEFAULT_CONFIG_PATH = Path("/etc/physgap/physgap.toml")
DEFAULT_LISTEN = "0.0.0.0:9829"


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int | None
    key: str
    problem: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.problem}"


class ConfigError(Exception):
    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# ---------------------------------------------------------------------------------------------------------
# Typed configuration


@dataclass(frozen=True)
class DaemonConfig:
    host: str
    role: str
    interval: float
    state_dir: Path
    sysfs: Path
    procfs: Path


@dataclass(frozen=True)
class PrometheusConfig:
    listen: str
    web_config: Path | None
    textfile: Path | None


@dataclass(frozen=True)
class NicsConfig:
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    expected_mbps: Mapping[str, int]
    include_virtual: bool
    interval: float | None
    timeout: float


@dataclass(frozen=True)
class PcieConfig:
    dmidecode: str
    interval: float | None
    timeout: float


@dataclass(frozen=True)
class SmartConfig:
    smartctl: str
    devices: tuple[Mapping[str, Any], ...]  # empty = smartctl --scan
    interval: float
    timeout: float
    concurrency: int
    force_after: int  # wake a disk after this many skipped checks; 0 = never


@dataclass(frozen=True)
class StorageConfig:
    zpool: str
    interval: float | None
    timeout: float


@dataclass(frozen=True)
class UpsConfig:
    nut: tuple[Mapping[str, Any], ...]  # [[ups.nut]] servers
    snmp: tuple[Mapping[str, Any], ...]  # [[ups.snmp]] agents
    autodetect: bool  # with no [[ups.nut]], try 127.0.0.1:3493
    upsmon_conf: Path | None  # this host's upsmon.conf, for shutdown protection; None = do not read
    interval: float | None
    timeout: float


@dataclass(frozen=True)
class GapOverride:
    severity: str | None = None
    title: str | None = None
    risk: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class Config:
    source: str  # file path, or "<defaults>"
    daemon: DaemonConfig
    prometheus: PrometheusConfig
    nics: NicsConfig
    pcie: PcieConfig
    smart: SmartConfig
    storage: StorageConfig
    ups: UpsConfig
    gaps: Mapping[str, GapOverride]
    # Sections whose collectors are not built yet: validated, kept raw for them.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def interval_for(self, collector_interval: float | None) -> float:
        return collector_interval if collector_interval is not None else self.daemon.interval


# ---------------------------------------------------------------------------------------------------------
# Value checks: each returns the converted value or raises ValueError with the problem in words.

Check = Callable[[Any], Any]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """'500ms', '30s', '5m', '1h', '1m30s' -> seconds. Bare numbers are refused: units are not guessable."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"expected a duration such as \"30s\", got {text!r}")
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"bad duration {text!r}: use a number with ms, s, m, h or d, such as \"30s\"")
    if total <= 0:
        raise ValueError(f"duration {text!r} must be greater than zero")
    return total


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def _nonempty_str(value: Any) -> str:
    text = _str(value)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {type(value).__name__}")
    return value


def _int_range(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {type(value).__name__}")
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")
        return value

    return check


def _duration(value: Any) -> float:
    return parse_duration(value)


def _enum(*choices: str) -> Check:
    def check(value: Any) -> str:
        text = _str(value)
        if text not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return text

    return check


def _str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return tuple(value)


def _host(value: Any) -> str:
    text = _nonempty_str(value)
    if any(c.isspace() for c in text) or "/" in text:
        raise ValueError(f"{text!r} is not a host name or address")
    return text


def parse_listen_address(text: str, *, allow_zero: bool = False) -> tuple[str, int]:
    """'host:port', '[::1]:9829' or ':9829' (all IPv4 interfaces) -> (host, port).

    Port 0 ("any free port") is only for tests: a daemon on a random port is unreachable to Prometheus.
    """
    match = re.fullmatch(r"(?:\[([0-9A-Fa-f:.]+(?:%[\w.-]+)?)\]|([^\s:\[\]%]*)):(\d{1,5})", text)
    if not match:
        raise ValueError(f"bad listen address {text!r}: expected host:port, [ipv6]:port or :port")
    host = match.group(1) or match.group(2) or "0.0.0.0"  # noqa: S104 - ":port" means every interface
    port = int(match.group(3))
    low = 0 if allow_zero else 1
    if not low <= port <= 65535:
        raise ValueError(f"bad listen address {text!r}: port {port} is outside {low}..65535")
    return host, port


def _listen(value: Any) -> str:
    text = _str(value)
    parse_listen_address(text)
    return text


def _path(value: Any) -> Path:
    return Path(_nonempty_str(value))


def _optional_path(value: Any) -> Path | None:
    text = _str(value)
    return Path(text) if text else None


def _speed_table(value: Any) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ValueError('expected a table such as { enp2s0f0np0 = "10G" }')
    table: dict[str, int] = {}
    for name, speed in value.items():
        if not isinstance(speed, str):
            raise ValueError(f"{name}: expected a speed string such as \"10G\"")
        try:
            mbps = parse_speed(speed)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
        if mbps is None:
            raise ValueError(f"{name}: {speed!r} is not a speed")
        table[name] = mbps
    return table


def _globs(value: Any) -> tuple[str, ...]:
    patterns = _str_list(value)
    for pattern in patterns:
        try:
            fnmatch.translate(pattern)
        except re.error as exc:  # pragma: no cover - fnmatch escapes nearly everything
            raise ValueError(f"bad pattern {pattern!r}: {exc}") from None
    return patterns


_severity = _enum(*SEVERITIES)


def _smart_devices(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ValueError('expected a list such as [{ device = "/dev/sda", type = "sat" }]')
    devices: list[dict[str, Any]] = []
    for entry in value:
        if isinstance(entry, str):
            devices.append({"device": entry})
        elif isinstance(entry, dict):
            unknown = set(entry) - {"device", "type", "ignore"}
            if unknown or "device" not in entry:
                raise ValueError("each entry needs device and may have type and ignore")
            if not isinstance(entry["device"], str) or not entry["device"]:
                raise ValueError("device must be a path such as \"/dev/sda\"")
            if "type" in entry and (not isinstance(entry["type"], str) or not entry["type"]):
                raise ValueError(f"{entry['device']}: type must be a smartctl -d type such as \"sat\"")
            if "ignore" in entry and not isinstance(entry["ignore"], bool):
                raise ValueError(f"{entry['device']}: ignore must be true or false")
            devices.append(dict(entry))
        else:
            raise ValueError("each entry must be a device path or a { device, type } table")
    return devices


# ---------------------------------------------------------------------------------------------------------
# Schema: section -> key -> check. A section named with a trailing "[]" is an array of tables.

SCHEMA: dict[str, dict[str, Check]] = {
    "daemon": {
        "host": _host,
        "role": _enum("compute", "nas", "other"),
        "interval": _duration,
        "state_dir": _path,
        "sysfs": _path,
        "procfs": _path,
    },
    "prometheus": {"listen": _listen, "web_config": _optional_path, "textfile": _optional_path},
    "mqtt": {
        "host": _str,
        "port": _int_range(1, 65535),
        "tls": _bool,
        "ca_file": _optional_path,
        "username": _str,
        "password_file": _optional_path,
        "base_topic": _nonempty_str,
        "discovery_prefix": _nonempty_str,
        "client_id": _nonempty_str,
        "interval": _duration,
    },
    "ups.nut[]": {
        "host": _host,
        "port": _int_range(1, 65535),
        "ups": _str,
        "username": _str,
        "password_file": _optional_path,
        "starttls": _bool,
        "ca_file": _optional_path,
        "timeout": _duration,
    },
    "ups.snmp[]": {
        "host": _host,
        "port": _int_range(1, 65535),
        "community": _str,
        "community_file": _optional_path,
        "version": _enum("1", "2c"),
        "name": _nonempty_str,
        "timeout": _duration,
    },
    "ups": {"interval": _duration, "timeout": _duration, "upsmon_conf": _optional_path, "autodetect": _bool},
    "smart": {
        "smartctl": _nonempty_str,
        "devices": _smart_devices,
        "interval": _duration,
        "timeout": _duration,
        "concurrency": _int_range(1, 64),
        "force_after": _int_range(0, 10_000),
    },
    "storage": {"zpool": _nonempty_str, "interval": _duration, "timeout": _duration},
    "nics": {
        "include": _globs,
        "exclude": _globs,
        "expected": _speed_table,
        "include_virtual": _bool,
        "interval": _duration,
        "timeout": _duration,
    },
    "pcie": {"dmidecode": _nonempty_str, "interval": _duration, "timeout": _duration},
    "oob.targets[]": {
        "name": _nonempty_str,
        "host": _host,
        "kind": _enum("amt", "ipmi", "tcp"),
        "port": _int_range(1, 65535),
        "timeout": _duration,
    },
    "oob": {"interval": _duration},
    "hosts": {"members": _optional_path, "compute": _str_list, "interval": _duration},
    "switch[]": {
        "host": _host,
        "port": _int_range(1, 65535),
        "community": _str,
        "community_file": _optional_path,
        "name": _nonempty_str,
    },
}
GAP_KEYS: dict[str, Check] = {"severity": _severity, "title": _nonempty_str, "risk": _nonempty_str,
                              "enabled": _bool}
_GAP_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")

# Sub-tables that only exist as parents of an array of tables (e.g. [ups] holds [[ups.nut]]).
_PARENTS = {"ups": ("nut", "snmp"), "oob": ("targets",)}


# ---------------------------------------------------------------------------------------------------------
# Line lookup: tomllib reports no positions, so find `key =` under its header in the source text.

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(?:#.*)?$")


def _locate(text: str, section: str | None, index: int | None, key: str | None) -> int | None:
    current: str | None = None
    seen: dict[str, int] = {}
    section_line: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            name = header.group(2).replace('"', "").replace(" ", "")
            occurrence = seen.get(name, -1) + 1
            seen[name] = occurrence
            current = name if (index is None or occurrence == index) else f"{name}#{occurrence}"
            if current == section and section_line is None:
                section_line = number
                if key is None:
                    return number
            continue
        if current == section and key is not None:
            match = re.match(r"\s*\"?([A-Za-z0-9_\-]+)\"?\s*=", line)
            if match and match.group(1) == key:
                return number
    if section is None and key is not None:
        for number, line in enumerate(text.splitlines(), start=1):
            if _HEADER.match(line):
                break
            if re.match(rf"\s*{re.escape(key)}\s*=", line):
                return number
    return section_line


# ---------------------------------------------------------------------------------------------------------
# Loading


def resolve_config_path(arg: Path | None) -> Path | None:
    """The file to read: the one asked for, else the default when it exists (checked on every (re)load, so
    a config written after the daemon started is picked up by SIGHUP), else None for auto-detection."""
    if arg is not None:
        return arg
    return DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None


def load_config(path: Path | None) -> Config:
    """Read and validate `path`; None means built-in defaults (every source auto-detected)."""
    if path is None:
        return _build("<defaults>", {}, "")
    try:
        raw_text = path.read_bytes()
    except OSError as exc:
        raise ConfigError([ConfigProblem(str(path), None, "-", f"cannot read: {exc.strerror or exc}")]) from None
    try:
        text = raw_text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([ConfigProblem(str(path), None, "-", f"not UTF-8 text ({exc.reason})")]) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line_match = re.search(r"line (\d+)", str(exc))
        line = int(line_match.group(1)) if line_match else None
        raise ConfigError([ConfigProblem(str(path), line, "-", f"not valid TOML: {exc}")]) from None
    return _build(str(path), document, text)


def _build(source: str, document: dict[str, Any], text: str) -> Config:
    problems: list[ConfigProblem] = []
    values: dict[str, Any] = {}

    def problem(section: str | None, index: int | None, key: str, message: str) -> None:
        dotted = ".".join(p for p in (section, key) if p) if key != "-" else (section or "-")
        shown = f"{section}[{index}].{key}" if index is not None else dotted
        problems.append(ConfigProblem(source, _locate(text, section, index, None if key == "-" else key),
                                      shown, message))

    def check_table(section: str, table: Any, schema: dict[str, Check], index: int | None,
                    skip: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(table, dict):
            problem(section, index, "-", "expected a table")
            return {}
        result: dict[str, Any] = {}
        for key, value in table.items():
            if key in skip:
                continue
            check = schema.get(key)
            if check is None:
                known = ", ".join(sorted(schema))
                problem(section, index, key, f"unknown key (known keys: {known})")
                continue
            try:
                result[key] = check(value)
            except ValueError as exc:
                problem(section, index, key, str(exc))
        return result

    for name, body in document.items():
        if name == "gaps":
            if not isinstance(body, dict):
                problem(None, None, "gaps", "expected a table of gap ids")
                continue
            gaps: dict[str, dict[str, Any]] = {}
            for gap_id, gap_table in body.items():
                if not _GAP_ID.fullmatch(gap_id):
                    problem("gaps", None, gap_id, "gap ids are letters, digits, _ or -")
                    continue
                gaps[gap_id] = check_table(f"gaps.{gap_id}", gap_table, GAP_KEYS, None)
            values["gaps"] = gaps
            continue
        if f"{name}[]" in SCHEMA and name not in SCHEMA:
            if not isinstance(body, list):
                problem(None, None, name, f"expected [[{name}]] entries")
                continue
            values[name] = [check_table(name, entry, SCHEMA[f"{name}[]"], i) for i, entry in enumerate(body)]
            continue
        if name not in SCHEMA:
            known = ", ".join(sorted({s.removesuffix("[]").split(".")[0] for s in SCHEMA} | {"gaps"}))
            problem(name, None, "-", f"unknown section (known sections: {known})")
            continue
        children = _PARENTS.get(name, ())
        values[name] = check_table(name, body, SCHEMA[name], None, skip=children)
        if isinstance(body, dict):
            for child in children:
                if child not in body:
                    continue
                entries = body[child]
                full = f"{name}.{child}"
                if not isinstance(entries, list):
                    problem(name, None, child, f"expected [[{full}]] entries")
                    continue
                values[full] = [check_table(full, e, SCHEMA[f"{full}[]"], i) for i, e in enumerate(entries)]

    _check_cross(values, problem)
    if problems:
        raise ConfigError(problems)
    return _typed(source, values)


def _check_cross(values: dict[str, Any], problem: Callable[[str | None, int | None, str, str], None]) -> None:
    for i, target in enumerate(values.get("oob.targets", [])):
        for required in ("name", "host"):
            if required not in target:
                problem("oob.targets", i, required, "missing (each target needs a name and a host)")
    for section in ("ups.nut", "ups.snmp", "switch"):
        for i, entry in enumerate(values.get(section, [])):
            if section != "ups.nut" and "host" not in entry:
                problem(section, i, "host", "missing")
    mqtt = values.get("mqtt", {})
    if mqtt.get("ca_file") and not mqtt.get("tls", False):
        problem("mqtt", None, "ca_file", "set, but tls = false: the CA would be ignored")


def _typed(source: str, values: dict[str, Any]) -> Config:
    daemon = values.get("daemon", {})
    prometheus = values.get("prometheus", {})
    nics = values.get("nics", {})
    pcie = values.get("pcie", {})
    smart = values.get("smart", {})
    storage = values.get("storage", {})
    gaps = values.get("gaps", {})
    ups = values.get("ups", {})
    typed = {"daemon", "prometheus", "nics", "pcie", "smart", "storage", "gaps", "ups", "ups.nut", "ups.snmp"}
    extra = {k: v for k, v in values.items() if k not in typed}
    return Config(
        source=source,
        daemon=DaemonConfig(
            host=daemon.get("host") or socket.gethostname(),
            role=daemon.get("role", "other"),
            interval=daemon.get("interval", 30.0),
            state_dir=daemon.get("state_dir", Path("/var/lib/physgap")),
            sysfs=daemon.get("sysfs", Path("/sys")),
            procfs=daemon.get("procfs", Path("/proc")),
        ),
        prometheus=PrometheusConfig(
            listen=prometheus.get("listen", DEFAULT_LISTEN),
            web_config=prometheus.get("web_config"),
            textfile=prometheus.get("textfile"),
        ),
        nics=NicsConfig(
            include=nics.get("include", ("*",)),
            exclude=nics.get("exclude", ()),
            expected_mbps=nics.get("expected", {}),
            include_virtual=nics.get("include_virtual", False),
            interval=nics.get("interval"),
            timeout=nics.get("timeout", 10.0),
        ),
        pcie=PcieConfig(
            dmidecode=pcie.get("dmidecode", "dmidecode"),
            interval=pcie.get("interval"),
            timeout=pcie.get("timeout", 20.0),
        ),
        smart=SmartConfig(
            smartctl=smart.get("smartctl", "smartctl"),
            devices=tuple(smart.get("devices", ())),
            # SMART is cached on purpose: a scrape must never wake a disk (see README, Metrics).
            interval=smart.get("interval", 600.0),
            timeout=smart.get("timeout", 60.0),
            concurrency=smart.get("concurrency", 4),
            force_after=smart.get("force_after", 0),
        ),
        storage=StorageConfig(
            zpool=storage.get("zpool", "zpool"),
            interval=storage.get("interval"),
            timeout=storage.get("timeout", 30.0),
        ),
        ups=UpsConfig(
            nut=tuple(values.get("ups.nut", ())),
            snmp=tuple(values.get("ups.snmp", ())),
            autodetect=ups.get("autodetect", True),
            upsmon_conf=ups.get("upsmon_conf", Path("/etc/nut/upsmon.conf")),
            interval=ups.get("interval"),
            timeout=ups.get("timeout", 10.0),
        ),
        gaps={gap_id: GapOverride(**table) for gap_id, table in gaps.items()},
        extra=extra,
    )
