"""Applies the registered rules to a snapshot. Knows nothing about any particular gap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from collectors.model.gaps import Finding, GapOverride, GapRule, RuleContext
from collectors.model.severity import rank
from collectors.model.snapshot import Gap

if TYPE_CHECKING:
    from collectors.model.snapshot import Snapshot


def evaluate(snapshot: Snapshot, rules: Sequence[GapRule], overrides: Mapping[str, GapOverride],
             ctx: RuleContext) -> tuple[Gap, ...]:
    gaps: list[Gap] = []
    for rule in rules:
        override = overrides.get(rule.id, GapOverride())
        if not override.enabled:
            continue
        finding = _inputs_missing(snapshot, rule) or _run(rule, snapshot, ctx)
        severity = _severity(rule, override, finding)
        gaps.append(Gap(
            id=rule.id,
            title=override.title or rule.title,
            risk=override.risk or rule.risk,
            open=bool(finding.open),
            severity=severity,
            evidence=finding.evidence,
            evaluated=finding.open is not None,
            reason=finding.reason,
            waiting=finding.waiting,
            applicable=finding.applicable,
        ))
    return tuple(gaps)


def _severity(rule: GapRule, override: GapOverride, finding: Finding) -> str:
    """Without an override a finding's own severity stands, below the rule's default too (a failing ZFS
    cache device is low while P2's default is high); the default labels a gap whose finding names none
    (resolved, unknown). An operator's severity is a floor: it lowers nothing below what they chose, and
    an escalation above it (a UPS on battery with low battery) still shows."""
    if override.severity is None:
        return finding.severity or rule.severity
    if finding.severity is not None and rank(finding.severity) > rank(override.severity):
        return finding.severity
    return override.severity


def _inputs_missing(snapshot: Snapshot, rule: GapRule) -> Finding | None:
    for name in rule.collectors:
        status = snapshot.status(name)
        if status is None:
            return Finding.unknown(f"collector {name} is not configured")
        if status.success is None:
            return Finding.waiting_for(name)
        if not status.success:
            return Finding.unknown(f"{name} collector failed: {status.error}")
    return None


def _run(rule: GapRule, snapshot: Snapshot, ctx: RuleContext) -> Finding:
    # A bug in one rule must cost that gap only, never the scrape or the other gaps.
    try:
        return rule.evaluate(snapshot, ctx)
    except Exception as exc:
        return Finding.unknown(f"rule error: {type(exc).__name__}: {exc}")
