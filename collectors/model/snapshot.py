"""The immutable snapshot of everything collected, the gaps evaluated on it, and the View exporters render.

Exporters only ever render a View: a scrape or an MQTT publish never waits on hardware. The store that
swaps Views atomically is the runtime's (daemon.store); these are the values it hands out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from collectors.model.readings import AnyReading

T = TypeVar("T")


@dataclass(frozen=True)
class CollectorStatus:
    name: str
    success: bool | None  # None until the first run finished
    error: str = ""
    duration_seconds: float = 0.0
    last_run: float | None = None  # wall-clock time of the last finished run
    last_success: float | None = None
    readings: tuple[AnyReading, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    host: str
    taken_at: float
    collectors: Mapping[str, CollectorStatus] = field(default_factory=lambda: MappingProxyType({}))

    def readings(self, kind: type[T]) -> tuple[T, ...]:
        """Every reading of one type, from whichever collectors produced it."""
        return tuple(r for status in self.collectors.values() for r in status.readings if isinstance(r, kind))

    def status(self, name: str) -> CollectorStatus | None:
        return self.collectors.get(name)


@dataclass(frozen=True)
class Gap:
    id: str
    title: str
    risk: str
    open: bool
    severity: str
    evidence: tuple[str, ...]
    evaluated: bool
    reason: str = ""
    waiting: bool = False  # unknown only until a collector has run once: no news for the journal
    applicable: bool = True  # False: evaluated, and the check cannot apply on this host (`reason` says why)

    @property
    def explanation(self) -> tuple[str, ...]:
        """What a person is told about the gap: the evidence of a decided, applicable gap, else why it could
        not be decided or does not apply. The report, the page, MQTT and the journal all say this."""
        if self.evaluated and self.applicable:
            return self.evidence
        return (self.reason,) if self.reason else ()

    @property
    def status(self) -> str:
        if not self.evaluated:
            return "unknown"
        if not self.applicable:
            return "not applicable"
        return "open" if self.open else "resolved"


@dataclass(frozen=True)
class View:
    """A snapshot together with the gaps evaluated on it: what every exporter renders."""

    snapshot: Snapshot
    gaps: tuple[Gap, ...]
    version: int = 0
