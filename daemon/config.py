"""TOML configuration: load the file once, check every section, say each problem as `file:line: key:
problem`, and hand out typed configs.

Every section is optional; what is left out is auto-detected. The key names are the public contract
(DESIGN.md). This module owns [daemon] and [gaps]; the exporters describe [prometheus] and [mqtt]
(exporters.sections) and every source package describes its own section (collectors.registry). Nothing
validates a section a second time.
"""

from __future__ import annotations

import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.kit import config as c
from collectors.kit.config import parse_duration
from collectors.model.gaps import GapOverride
from collectors.model.severity import SEVERITIES
from collectors.registry import Environment, Source, sources
from daemon.gaps import RULES
from exporters.sections import SECTIONS as EXPORTER_SECTIONS
from exporters.sections import MqttConfig, PrometheusConfig, parse_listen_address

__all__ = ["DEFAULT_CONFIG_PATH", "Config", "ConfigError", "ConfigProblem", "DaemonConfig", "GapOverride",
           "load_config", "parse_duration", "parse_listen_address", "resolve_config_path"]

DEFAULT_CONFIG_PATH = Path("/etc/physgap/physgap.toml")


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
    role: str = "other"
    interval: float = 30.0
    state_dir: Path = Path("/var/lib/physgap")
    sysfs: Path = Path("/sys")
    procfs: Path = Path("/proc")

    @property
    def environment(self) -> Environment:
        return Environment(sysfs=self.sysfs, procfs=self.procfs)


@dataclass(frozen=True)
class Config:
    source: str  # file path, or "<defaults>"
    daemon: DaemonConfig
    prometheus: PrometheusConfig
    mqtt: MqttConfig
    gaps: Mapping[str, GapOverride]
    # Every registered source's typed config, by section name ("smart", "ups", "oob", ...).
    sources: Mapping[str, Any] = field(default_factory=dict)
    # Sections written in the file whose source is registered but not built yet (the "pending" warning).
    pending: tuple[str, ...] = ()


DAEMON = c.Section(
    name="daemon",
    table=c.Table({"host": c.host, "role": c.enum("compute", "nas", "other"), "interval": c.duration,
                   "state_dir": c.path, "sysfs": c.path, "procfs": c.path}),
    build=lambda v: DaemonConfig(host=v.get("host", "") or socket.gethostname(), role=v.get("role", "other"),
                                 interval=v.get("interval", 30.0),
                                 state_dir=v.get("state_dir", Path("/var/lib/physgap")),
                                 sysfs=v.get("sysfs", Path("/sys")), procfs=v.get("procfs", Path("/proc"))),
)
GAP = c.Table({"severity": c.enum(*SEVERITIES), "title": c.nonempty_string, "risk": c.nonempty_string,
               "enabled": c.boolean})
_GAP_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,31}")


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
    """Read and check `path`; None means built-in defaults (every source auto-detected)."""
    if path is None:
        return _Loader("<defaults>", "").load({})
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
    return _Loader(str(path), text).load(document)


class _Loader:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.text = text
        self.problems: list[ConfigProblem] = []

    def problem(self, section: str | None, index: int | None, key: str, message: str) -> None:
        dotted = ".".join(p for p in (section, key) if p) if key != "-" else (section or "-")
        shown = f"{section}[{index}].{key}" if index is not None else dotted
        line = _locate(self.text, section, index, None if key == "-" else key)
        self.problems.append(ConfigProblem(self.source, line, shown, message))

    def load(self, document: dict[str, Any]) -> Config:
        registered = sources()
        sections: dict[str, c.Section[Any]] = {s.name: s for s in (DAEMON, *EXPORTER_SECTIONS)}
        sections.update({s.section.name: s.section for s in registered})
        values: dict[str, c.Values] = {}
        gaps: dict[str, GapOverride] = {}
        for name, body in document.items():
            if name == "gaps":
                gaps = self._gaps(body)
            elif name in sections:
                values[name] = self._section(sections[name], body)
            else:
                known = ", ".join(sorted([*sections, "gaps"]))
                self.problem(name, None, "-", f"unknown section (known sections: {known})")
        for name, section in sections.items():
            checked = values.get(name, c.Values())
            for issue in section.cross(checked):
                where = f"{name}.{issue.child}" if issue.child else name
                self.problem(where, issue.index, issue.key, issue.problem)
        if self.problems:
            raise ConfigError(self.problems)

        def build(section: c.Section[Any]) -> Any:
            return section.build(values.get(section.name, c.Values()))

        return Config(
            source=self.source,
            daemon=build(DAEMON),
            prometheus=build(EXPORTER_SECTIONS[0]),
            mqtt=build(EXPORTER_SECTIONS[1]),
            gaps=gaps,
            sources={s.section.name: build(s.section) for s in registered},
            pending=tuple(_pending(s, values) for s in registered if s.pending and _written(s, values)),
        )

    def _gaps(self, body: Any) -> dict[str, GapOverride]:
        if not isinstance(body, dict):
            self.problem(None, None, "gaps", "expected a table of gap ids")
            return {}
        gaps: dict[str, GapOverride] = {}
        known = sorted(rule.id for rule in RULES)
        for gap_id, table in body.items():
            if not _GAP_ID.fullmatch(gap_id):
                self.problem("gaps", None, gap_id, "gap ids are letters, digits, _ or -")
                continue
            if gap_id not in known:
                self.problem(f"gaps.{gap_id}", None, "-", f"no such gap (known: {', '.join(known)})")
                continue
            gaps[gap_id] = GapOverride(**self._table(f"gaps.{gap_id}", table, GAP, None))
        return gaps

    def _section(self, section: c.Section[Any], body: Any) -> c.Values:
        name = section.name
        if section.array:
            if not isinstance(body, list):
                self.problem(None, None, name, f"expected [[{name}]] entries")
                return c.Values(written=True)
            entries = tuple(self._table(name, entry, section.table, i) for i, entry in enumerate(body))
            return c.Values(children={name: entries}, written=True)
        if not isinstance(body, dict):
            self.problem(name, None, "-", "expected a table")
            return c.Values(written=True)
        own = {k: v for k, v in body.items() if k not in section.children}
        keys = self._table(name, own, section.table, None)
        children: dict[str, tuple[dict[str, Any], ...]] = {}
        for child, table in section.children.items():
            if child not in body:
                continue
            full = f"{name}.{child}"
            entries = body[child]
            if not isinstance(entries, list):
                self.problem(name, None, child, f"expected [[{full}]] entries")
                continue
            children[child] = tuple(self._table(full, e, table, i) for i, e in enumerate(entries))
        return c.Values(keys=keys, children=children, written=True)

    def _table(self, section: str, table: Any, schema: c.Table, index: int | None) -> dict[str, Any]:
        if not isinstance(table, dict):
            self.problem(section, index, "-", "expected a table")
            return {}
        result: dict[str, Any] = {}
        for key, value in table.items():
            check = schema.keys.get(key)
            if check is None:
                known = ", ".join(sorted(schema.keys))
                self.problem(section, index, key, f"unknown key (known keys: {known})")
                continue
            try:
                result[key] = check(value)
            except ValueError as exc:
                self.problem(section, index, key, str(exc))
        for key in schema.required:
            if key not in table:
                self.problem(section, index, key, "missing (required)")
        return result


def _written(source: Source[Any], values: Mapping[str, c.Values]) -> bool:
    checked = values.get(source.section.name)
    return checked is not None and checked.written


def _pending(source: Source[Any], values: Mapping[str, c.Values]) -> str:
    del values
    name = source.section.name
    shown = f"[[{name}]]" if source.section.array else f"[{name}]"
    return f"{shown} is configured but {source.pending} is not implemented yet; the section is ignored"
