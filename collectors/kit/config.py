"""The configuration vocabulary every section is written in: value checks and section descriptions.

A collector (or exporter) describes its TOML section here as data: which keys, what each must be, which
child arrays of tables it holds, and how the checked values become its typed config. The daemon's loader
(daemon.config) reads the file once, runs every check, reports each problem as `file:line: key: problem`,
and only then calls `build`; nothing validates a section a second time.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

C = TypeVar("C")

Check = Callable[[Any], Any]
"""Returns the converted value or raises ValueError whose text is the problem in words."""

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def quoted(text: str, limit: int = 60) -> str:
    """A value as problems show it: repr'd, and cut short so one huge value cannot flood the output."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def _kind(value: Any) -> str:
    # Never repr a list or table: one nested thousands deep would overflow repr itself.
    return type(value).__name__


def _shown(value: Any) -> str:
    """A wrong value as a problem shows it: scalars as written (cut short), containers by their type."""
    if isinstance(value, str):
        return quoted(value)
    if isinstance(value, (bool, int, float)):
        text = repr(value)
        return text if len(text) <= 40 else text[:40] + "..."
    return _kind(value)


def parse_duration(text: str) -> float:
    """'500ms', '30s', '5m', '1h', '1m30s' -> seconds. Bare numbers are refused: units are not guessable."""
    if not isinstance(text, str):
        raise ValueError(f"expected a duration such as \"30s\", got {_shown(text)}")
    if not text:
        raise ValueError("expected a duration such as \"30s\", got ''")
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text):
        raise ValueError(f"bad duration {quoted(text)}: use a number with ms, s, m, h or d, such as \"30s\"")
    if total <= 0:
        raise ValueError(f"duration {quoted(text)} must be greater than zero")
    if not math.isfinite(total):
        raise ValueError(f"duration {quoted(text)} is too long")
    return total


def format_duration(seconds: float) -> str:
    """Seconds as the config writes them: 0.25 -> "250ms", 600 -> "10m", 86400 -> "1d"."""
    for unit in ("d", "h", "m", "s"):
        size = _UNIT_SECONDS[unit]
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    milliseconds = seconds * 1000
    return f"{milliseconds:g}ms"


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {_kind(value)}")
    return value


def nonempty_string(value: Any) -> str:
    text = string(value)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {_kind(value)}")
    return value


def int_range(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {_kind(value)}")
        if not low <= value <= high:
            raise ValueError(f"{_shown(value)} is outside {low}..{high}")
        return value

    return check


port = int_range(1, 65535)


# The widest any duration may be: above a day no collector is monitoring anything, and every deadline and
# wait stays far inside what the clock and the thread library can represent ("200000d" overflowed them and
# killed the collector threads). Below a millisecond nothing physgap waits for can happen.
DURATION_FLOOR = 0.001
DURATION_CEILING = 86400.0


def duration_within(low: float, high: float) -> Check:
    """A duration check bounded to low..high seconds; each key states (in a comment) why its bounds are
    what they are."""
    if not DURATION_FLOOR <= low < high <= DURATION_CEILING:
        raise ValueError(f"bounds {low}..{high} are outside {DURATION_FLOOR}..{DURATION_CEILING}")
    shown = f"{format_duration(low)}..{format_duration(high)}"

    def check(value: Any) -> float:
        seconds = parse_duration(value)
        if seconds < low:
            raise ValueError(f"{quoted(value)} is shorter than {format_duration(low)}, the least this key "
                             f"allows ({shown})")
        if seconds > high:
            raise ValueError(f"{quoted(value)} is longer than {format_duration(high)}, the most this key "
                             f"allows ({shown})")
        return seconds

    return check


# For a key that has not stated bounds of its own: the widest sane range.
duration = duration_within(DURATION_FLOOR, DURATION_CEILING)

# The bounds most collector keys share; a key with other needs states its own next to it.
# interval: at least 1 s, because the default interval also drives collectors that fork a program per run
# (zpool) or poll a server (upsd refreshes its data every 2 s); "1ms" cost 125 % CPU. At most a day.
interval = duration_within(1.0, DURATION_CEILING)
# timeout of a whole collector run: at least 100 ms, below which even reading sysfs or forking a program
# fails on a loaded host, so a smaller value is a typo ("60ms" for "60s"); at most 10 minutes, after which a
# hung source is hung, and each run's thread, deadline and the watchdog's patience stay bounded.
run_timeout = duration_within(0.1, 600.0)
# timeout of one network request inside a run (a NUT command, an HTTP probe): 100 ms .. 1 minute; a
# server slower than a minute per request is down, and the run's own timeout bounds the total anyway.
request_timeout = duration_within(0.1, 60.0)


def enum(*choices: str) -> Check:
    def check(value: Any) -> str:
        text = string(value)
        if text not in choices:
            raise ValueError(f"{quoted(text)} is not one of {', '.join(choices)}")
        return text

    return check


def string_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return tuple(value)


def host(value: Any) -> str:
    text = nonempty_string(value)
    if any(c.isspace() for c in text) or "/" in text:
        raise ValueError(f"{quoted(text)} is not a host name or address")
    return text


def address(value: Any) -> str:
    """A host name or address; "[::1]" as written in URLs (and NUT's own "ups@[::1]") is accepted, bare."""
    text = host(value)
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if not bare or "[" in bare or "]" in bare:
        raise ValueError(f"{quoted(text)} is not a host name or address")
    return bare


def path(value: Any) -> Path:
    text = nonempty_string(value)
    if "\0" in text:
        raise ValueError("a path cannot contain a NUL character")
    return Path(text)


def program(value: Any) -> str:
    """An external program: a path, or a name looked up on PATH, /usr/sbin and /sbin (see
    collectors.kit.command.find_program). Whether it exists is said as a warning, not here: the file is
    valid on a host that installs the program later."""
    text = nonempty_string(value)
    if "\0" in text:
        raise ValueError("a program name cannot contain a NUL character")
    if text != text.strip():
        raise ValueError(f"{quoted(text)} has leading or trailing spaces")
    return text


def optional_path(value: Any) -> Path | None:
    """An empty string means "off" (the contract writes `textfile = ""`)."""
    text = string(value)
    return path(text) if text else None


def globs(value: Any) -> tuple[str, ...]:
    patterns = string_list(value)
    for pattern in patterns:
        try:
            fnmatch.translate(pattern)
        except re.error as exc:  # pragma: no cover - fnmatch escapes nearly everything
            raise ValueError(f"bad pattern {quoted(pattern)}: {exc}") from None
    return patterns


# ---------------------------------------------------------------------------------------------------------
# Section descriptions


@dataclass(frozen=True)
class Table:
    """One TOML table's keys: name -> check. `required` keys must be present."""

    keys: Mapping[str, Check]
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class Issue:
    """A problem a section's cross-check found: `key` inside the section, or inside child[index]."""

    key: str
    problem: str
    child: str | None = None
    index: int | None = None


@dataclass(frozen=True)
class Values:
    """A section's checked values: its own keys, and per child array (or for [[name]] sections, under the
    section's own name) the checked entries. Only keys written in the file are present."""

    keys: Mapping[str, Any] = field(default_factory=dict)
    children: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    written: bool = False  # the section (or any of its children) appears in the file

    def get(self, key: str, default: Any) -> Any:
        return self.keys.get(key, default)

    def entries(self, child: str) -> tuple[Mapping[str, Any], ...]:
        return self.children.get(child, ())


def by_field_names(config: Callable[..., C]) -> Callable[[Values], C]:
    """`build` for a section whose keys are its typed config's field names: a key not written takes the
    dataclass default, so each default is stated once, on the dataclass."""

    def build(values: Values) -> C:
        return config(**values.keys)

    return build


def _no_issues(values: Values) -> Iterable[Issue]:
    del values
    return ()


@dataclass(frozen=True)
class ProgramKey:
    """A key that names an external program. The loader says, as a warning, when the program cannot be
    run; `optional` means a missing program is normal when the key is not written (no ZFS on this host:
    no zpool), so only a written value is checked. `without` says what is lost when it is missing."""

    key: str
    default: str
    without: str
    optional: bool = False


@dataclass(frozen=True)
class Section(Generic[C]):
    """A TOML section and how it becomes a typed config.

    `name` is the top-level key ("smart", "ups"); with `array` the section is written `[[name]]` and its
    entries are checked against `table` and handed to `build` as `values.entries(name)`. `children` are
    arrays of tables below the section (`[[ups.nut]]` is child "nut" of "ups"). `build` receives only
    values that passed every check; `cross` finds what single checks cannot (a key missing from an entry,
    two keys that contradict each other).
    """

    name: str
    table: Table
    build: Callable[[Values], C]
    children: Mapping[str, Table] = field(default_factory=dict)
    array: bool = False
    cross: Callable[[Values], Iterable[Issue]] = _no_issues
    programs: tuple[ProgramKey, ...] = ()
