"""The configuration vocabulary every section is written in: value checks and section descriptions.

A collector (or exporter) describes its TOML section here as data: which keys, what each must be, which
child arrays of tables it holds, and how the checked values become its typed config. The daemon's loader
(daemon.config) reads the file once, runs every check, reports each problem as `file:line: key: problem`,
and only then calls `build`; nothing validates a section a second time.
"""

from __future__ import annotations

import fnmatch
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


def string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def nonempty_string(value: Any) -> str:
    text = string(value)
    if not text.strip():
        raise ValueError("must not be empty")
    return text


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {type(value).__name__}")
    return value


def int_range(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected an integer, got {type(value).__name__}")
        if not low <= value <= high:
            raise ValueError(f"{value} is outside {low}..{high}")
        return value

    return check


port = int_range(1, 65535)


def duration(value: Any) -> float:
    return parse_duration(value)


def enum(*choices: str) -> Check:
    def check(value: Any) -> str:
        text = string(value)
        if text not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(choices)}")
        return text

    return check


def string_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("expected a list of strings")
    return tuple(value)


def host(value: Any) -> str:
    text = nonempty_string(value)
    if any(c.isspace() for c in text) or "/" in text:
        raise ValueError(f"{text!r} is not a host name or address")
    return text


def address(value: Any) -> str:
    """A host name or address; "[::1]" as written in URLs (and NUT's own "ups@[::1]") is accepted, bare."""
    text = host(value)
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if not bare or "[" in bare or "]" in bare:
        raise ValueError(f"{text!r} is not a host name or address")
    return bare


def path(value: Any) -> Path:
    return Path(nonempty_string(value))


def optional_path(value: Any) -> Path | None:
    """An empty string means "off" (the contract writes `textfile = ""`)."""
    text = string(value)
    return Path(text) if text else None


def globs(value: Any) -> tuple[str, ...]:
    patterns = string_list(value)
    for pattern in patterns:
        try:
            fnmatch.translate(pattern)
        except re.error as exc:  # pragma: no cover - fnmatch escapes nearly everything
            raise ValueError(f"bad pattern {pattern!r}: {exc}") from None
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
