"""Snapshots for gap-rule tests: collectors by name, each with its readings, its error or not yet run."""

from __future__ import annotations

from types import MappingProxyType

from collectors.model.gaps import GapOverride, RuleContext
from collectors.model.readings import AnyReading
from collectors.model.snapshot import CollectorStatus, Gap, Snapshot
from daemon.gaps import RULES
from daemon.gaps.engine import evaluate

CTX = RuleContext(role="compute")


def snapshot(**collectors: tuple[AnyReading, ...] | str | None) -> Snapshot:
    """`name=(readings...)` succeeded with them; `name="error"` failed so; `name=None` has not run yet."""
    statuses = {}
    for name, value in collectors.items():
        if value is None:
            statuses[name] = CollectorStatus(name, None)
        elif isinstance(value, str):
            statuses[name] = CollectorStatus(name, False, error=value)
        else:
            statuses[name] = CollectorStatus(name, True, readings=value)
    return Snapshot("pve1", 0.0, MappingProxyType(statuses))


def gap(snap: Snapshot, gap_id: str, overrides: dict[str, GapOverride] | None = None,
        ctx: RuleContext = CTX) -> Gap:
    return next(g for g in evaluate(snap, RULES, overrides or {}, ctx) if g.id == gap_id)
