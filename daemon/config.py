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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.kit import config as c
from collectors.kit.command import program_problem
from collectors.kit.config import parse_duration
from collectors.kit.files import NotRegularFile, TooLarge, read_regular
from collectors.model.gaps import GapOverride
from collectors.model.severity import SEVERITIES
from collectors.registry import Environment, sources
from daemon.gaps import RULES
from exporters.sections import SECTIONS as EXPORTER_SECTIONS
from exporters.sections import MqttConfig, PrometheusConfig, parse_listen_address

__all__ = ["DEFAULT_CONFIG_PATH", "Config", "ConfigError", "ConfigProblem", "DaemonConfig", "GapOverride",
           "load_config", "parse_duration", "parse_listen_address", "resolve_config_path"]

DEFAULT_CONFIG_PATH = Path("/etc/physgap/physgap.toml")
# The shipped example with every key is 6 KB; a file a thousand times larger is not a configuration, and
# reading it (or /dev/zero) must not cost the daemon its memory.
MAX_CONFIG_BYTES = 1024 * 1024
# physgap's deepest setting is three levels (a table inside smart.devices, gaps.P5.severity). TOML
# parsers recurse per level, and tomllib spends quadratic time on long dotted keys (80 KB of "k.k.k..."
# took 24 s): both are refused before parsing, far above anything a physgap file needs.
MAX_NESTING = 32
MAX_KEY_PARTS = 32


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
    def __init__(self, problems: list[ConfigProblem], warnings: tuple[ConfigProblem, ...] = ()) -> None:
        self.problems = problems
        self.warnings = warnings  # found in the same pass; said alongside the problems
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
    # What is valid but will not work on this host as it is now (a configured program that is missing).
    warnings: tuple[ConfigProblem, ...] = ()


DAEMON = c.Section(
    name="daemon",
    # interval is every collector's default: the shared collector bounds (1 s .. 1 d, see c.interval).
    table=c.Table({"host": c.host, "role": c.enum("compute", "nas", "other"), "interval": c.interval,
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
# Line lookup: tomllib reports no positions, so find `key =` under its header in the source text. The text
# is indexed once: a file with thousands of mistakes must not cost thousands of passes over it.

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\" ]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(r"\s*\"?([A-Za-z0-9_\-]+)\"?\s*=")


class _Lines:
    """Where each header and each `key =` line is: by header name and occurrence ([[ups.nut]] #1)."""

    def __init__(self, text: str) -> None:
        self.headers: dict[str, list[int]] = {}
        # (header name, occurrence) -> key -> first line; the top level (before any header) is ("", 0).
        self.keys: dict[tuple[str, int], dict[str, int]] = {}
        current = ("", 0)
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                name = header.group(2).replace('"', "").replace(" ", "")
                lines = self.headers.setdefault(name, [])
                current = (name, len(lines))
                lines.append(number)
                continue
            match = _KEY.match(line)
            if match:
                self.keys.setdefault(current, {}).setdefault(match.group(1), number)

    def section_of(self, line: int) -> str:
        """The header a line sits under ("" at the top level)."""
        found, start = "", 0
        for name, lines in self.headers.items():
            for number in lines:
                if start < number <= line:
                    found, start = name, number
        return found

    def locate(self, section: str | None, index: int | None, key: str | None) -> int | None:
        if section is None:
            return self.keys.get(("", 0), {}).get(key) if key is not None else None
        headers = self.headers.get(section, [])
        occurrences = range(len(headers)) if index is None else [index] if index < len(headers) else []
        if key is not None:
            for occurrence in occurrences:
                line = self.keys.get((section, occurrence), {}).get(key)
                if line is not None:
                    return line
        for occurrence in occurrences:
            return headers[occurrence]
        return None


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
    source = str(path)
    text = _read_text(path)
    deep = _too_deep(text)
    if deep is not None:
        raise ConfigError([ConfigProblem(source, None, "-", deep)])
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([_syntax_problem(source, text, exc)]) from None
    except ValueError:
        # int() refuses more than 4300 digits (CVE-2020-10735) and tomllib lets that through.
        long_number = re.search(r"\d{4300,}", text)
        line = text.count("\n", 0, long_number.start()) + 1 if long_number else None
        raise ConfigError([ConfigProblem(source, line, "-", "not valid TOML: a number too long to read (more "
                                                            "than 4300 digits)")]) from None
    except RecursionError:  # _too_deep should have said so; never a traceback either way
        raise ConfigError([ConfigProblem(source, None, "-", "nested too deeply to read")]) from None
    try:
        return _Loader(source, text).load(document)
    except RecursionError:
        raise ConfigError([ConfigProblem(source, None, "-", "nested too deeply to check")]) from None


def _read_text(path: Path) -> str:
    source = str(path)

    def fail(problem: str) -> ConfigError:
        return ConfigError([ConfigProblem(source, None, "-", problem)])

    try:
        # A FIFO in the config's place must not hang check-config or a SIGHUP reload.
        data = read_regular(path, MAX_CONFIG_BYTES)
    except NotRegularFile as exc:
        if exc.is_directory:
            raise fail("cannot read: is a directory") from None
        raise fail("not a regular file (a FIFO, device or socket cannot hold a configuration)") from None
    except TooLarge:
        raise fail(f"larger than {MAX_CONFIG_BYTES // 1024} KiB: not a physgap configuration") from None
    except (OSError, ValueError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise fail(f"cannot read: {detail}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"not UTF-8 text ({exc.reason})") from None


def _too_deep(text: str) -> str | None:
    """A problem when arrays and inline tables nest deeper, or a dotted key has more parts, than
    MAX_NESTING / MAX_KEY_PARTS; None otherwise. A linear scan that knows just enough TOML (strings,
    comments, headers, key versus value position) to count; anything else is tomllib's to judge."""
    stack: list[str] = []  # "[" array, "{" inline table
    key_position = True  # a key is being read: at a line's start (top level), after "{" or "," in a table
    header = False
    parts = 1
    line = 1
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            if not stack:
                key_position, header, parts = True, False, 1
        elif ch == "#":
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch in "\"'":
            i, line = _skip_string(text, i, line)
            continue
        elif ch == "=" and key_position and not header:
            key_position, parts = False, 1
        elif ch == "." and key_position:
            parts += 1
            if parts > MAX_KEY_PARTS:
                return (f"a dotted key with more than {MAX_KEY_PARTS} parts (line {line}); no physgap key "
                        "has more than 3")
        elif ch == "[":
            if key_position and not stack:
                header = True  # [table] or [[array of tables]]: its name is a dotted key
            else:
                stack.append("[")
                key_position = False
        elif ch == "]":
            if header:
                key_position = False
            elif stack and stack[-1] == "[":
                stack.pop()
        elif ch == "{":
            stack.append("{")
            key_position, parts = True, 1
        elif ch == "}":
            if stack and stack[-1] == "{":
                stack.pop()
            key_position = False
        elif ch == "," and stack:
            key_position, parts = stack[-1] == "{", 1
        if len(stack) > MAX_NESTING:
            return (f"arrays or inline tables nested more than {MAX_NESTING} deep (line {line}); no physgap "
                    "setting nests more than 3")
        i += 1
    return None


def _skip_string(text: str, i: int, line: int) -> tuple[int, int]:
    """From the opening quote at `i`: the index after the string and the line it ends on. An unclosed
    string ends at the line's end (tomllib reports it)."""
    quote = text[i]
    escapes = quote == '"'
    if text.startswith(quote * 3, i):
        end = i + 3
        while end < len(text):
            if escapes and text[end] == "\\":
                end += 2
                continue
            if text.startswith(quote * 3, end):
                # Up to two more quotes may belong to the string ("""a"""" is 'a"').
                end += 3
                while end < len(text) and text[end] == quote:
                    end += 1
                return end, line + text.count("\n", i, end)
            end += 1
        return len(text), line + text.count("\n", i)
    end = i + 1
    while end < len(text) and text[end] != "\n":
        if escapes and text[end] == "\\":
            end += 2
            continue
        if text[end] == quote:
            return end + 1, line
        end += 1
    return end, line


_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")
_UNQUOTED_HINT = ("the usual cause is a string value without quotes: write {key} = \"...\" (only true, false, "
                  "numbers, [lists] and {{ tables }} go without)")
_HINTS = (
    ("Invalid value", _UNQUOTED_HINT),
    ("Expected newline or end of document after a statement", _UNQUOTED_HINT),
    ("Illegal character '\\n'", "a string is not closed on this line (its closing quote is missing)"),
    ("Cannot overwrite a value", "this key is already set above"),
    ("Cannot declare", "this table is already declared above (a list of tables is written [[name]])"),
    ("Expected '=' after a key", "a key with spaces or dots must be quoted, or the = is missing"),
)


def _syntax_problem(source: str, text: str, exc: tomllib.TOMLDecodeError) -> ConfigProblem:
    """A TOML syntax error as `file:line: key: problem`, with a hint at the usual cause. The offending
    line itself is never quoted: it may hold a secret (an SNMP community) and this ends up in the log."""
    message = str(exc)
    at = _TOML_AT.search(message)
    line: int | None = None
    where = ""
    if at:
        message = message[: at.start()]
        line, where = int(at.group(1)), f" at column {at.group(2)}"
    elif message.endswith("(at end of document)"):
        message, where = message.removesuffix("(at end of document)").rstrip(), " at the end of the file"
    key = "-"
    hint = ""
    lines = text.splitlines()
    if line is not None and 0 < line <= len(lines):
        match = _KEY.match(lines[line - 1])
        if match:
            section = _Lines(text).section_of(line)
            key = f"{section}.{match.group(1)}" if section else match.group(1)
        for start, advice in _HINTS:
            if message.startswith(start):
                hint = "; " + advice.format(key=match.group(1) if match else "key")
                break
    return ConfigProblem(source, line, key, f"not valid TOML: {message}{where}{hint}")


class _Loader:
    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = _Lines(text)
        self.problems: list[ConfigProblem] = []
        self.refused: set[tuple[str, str]] = set()  # (section, key) whose value failed its check

    def problem(self, section: str | None, index: int | None, key: str, message: str) -> None:
        self.problems.append(self._at(section, index, key, message))

    def _at(self, section: str | None, index: int | None, key: str, message: str) -> ConfigProblem:
        dotted = ".".join(p for p in (section, key) if p) if key != "-" else (section or "-")
        shown = f"{section}[{index}].{key}" if index is not None else dotted
        line = self.lines.locate(section, index, None if key == "-" else key)
        return ConfigProblem(self.source, line, shown, message)

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
        warnings = tuple(sorted(self._program_warnings(sections.values(), values), key=lambda p: p.line or 0))
        if self.problems:
            # In file order, whichever check found them: the operator fixes the file top to bottom.
            ordered = sorted(self.problems, key=lambda p: p.line or 0)
            raise ConfigError(ordered, warnings)

        def build(section: c.Section[Any]) -> Any:
            return section.build(values.get(section.name, c.Values()))

        return Config(
            source=self.source,
            daemon=build(DAEMON),
            prometheus=build(EXPORTER_SECTIONS[0]),
            mqtt=build(EXPORTER_SECTIONS[1]),
            gaps=gaps,
            sources={s.section.name: build(s.section) for s in registered},
            warnings=warnings,
        )

    def _program_warnings(self, sections: Iterable[c.Section[Any]],
                          values: Mapping[str, c.Values]) -> Iterable[ConfigProblem]:
        """A configured program that cannot be run is a warning, not an error: the file stays valid for a
        host that installs it later, and the collector then says the same as its failure reason."""
        for section in sections:
            checked = values.get(section.name, c.Values())
            for program in section.programs:
                written = program.key in checked.keys
                if (section.name, program.key) in self.refused or (program.optional and not written):
                    continue
                problem = program_problem(checked.get(program.key, program.default))
                if problem is not None:
                    yield self._at(section.name, None, program.key, f"warning: {problem}; {program.without}")

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
                self.refused.add((section, key))
        for key in schema.required:
            if key not in table:
                self.problem(section, index, key, "missing (required)")
        return result


