"""P2: data without redundancy, and drives degrading ("single-drive degradation") with or without it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collectors.model.gaps import Finding, GapRule, RuleContext
from collectors.model.readings import ArrayReading, DriveReading

if TYPE_CHECKING:
    from collectors.model.snapshot import Snapshot

VERDICT_WORDS = {1: "degrading", 2: "failing"}


def evaluate(snapshot: Snapshot, ctx: RuleContext) -> Finding:
    arrays = snapshot.readings(ArrayReading)
    drives = snapshot.readings(DriveReading)
    critical: list[str] = []
    high: list[str] = []

    for array in arrays:
        if array.redundancy == 0:
            why = f"degraded, failed: {', '.join(array.failed_members)}" if array.failed_members else array.level
            critical.append(f"{array.array} ({array.kind} {why}) survives no further drive failure")

    for drive in drives:
        if not drive.health:
            continue
        holding = [a for a in arrays if drive.kernel_name and drive.kernel_name in a.members]
        protected = [a for a in holding if a.redundancy >= 1]
        label = f"{drive.device} {drive.model}".strip()
        why = "; ".join(drive.evidence) or "no details"
        if protected:
            names = ", ".join(f"{a.array} survives {a.redundancy} more" for a in protected)
            high.append(f"{label} {VERDICT_WORDS.get(drive.health, 'degrading')} inside a redundant array "
                        f"({names}): {why}")
        else:
            where = f"in {holding[0].array} without redundancy" if holding else "with no redundancy behind it"
            critical.append(f"{label} {VERDICT_WORDS.get(drive.health, 'degrading')} {where}: {why}")

    if ctx.role == "nas" and not any(a.redundancy >= 1 for a in arrays):
        critical.append("this NAS has no redundant array or pool: its data sits on single drives")

    if critical or high:
        return Finding(True, tuple(critical + high), severity="critical" if critical else None)

    smart = snapshot.status("smart")
    # Arrays may look fine, but without SMART a degrading drive would be invisible: not resolved.
    if smart is not None and smart.success is False:
        return Finding.unknown(f"smart collector failed: {smart.error}")
    if smart is not None and smart.success is None:
        return Finding.unknown("waiting for the first smart collection")
    silent = [d for d in drives if d.state == "unreachable" and not any(
        d.kernel_name and d.kernel_name in a.members and a.redundancy >= 1 for a in arrays)]
    if silent:
        names = ", ".join(f"{d.device} {d.model}".strip() for d in silent)
        return Finding.unknown(f"drive(s) without redundancy not answering SMART queries: {names}")
    judged = [d for d in drives if d.health is not None and d.state != "unreachable"]
    if not arrays and not judged:
        return Finding.unknown("no array found and no drive reports SMART data")
    summary = [f"{a.array} ({a.kind} {a.level}) survives {a.redundancy} drive failure(s)" for a in arrays]
    if judged:
        summary.append(f"{len(judged)} drive(s) healthy")
    if not arrays:
        summary.append(f'no md array or ZFS pool on this host (role "{ctx.role}"; role "nas" requires one)')
    return Finding(False, tuple(summary))


RULE = GapRule(
    id="P2",
    title="Single NAS drive",
    risk="One drive failure loses all data on it: media, app configs, metrics, logs, secrets, backups.",
    severity="high",  # a failing drive with redundancy behind it; data without redundancy escalates to critical
    collectors=("storage",),
    evaluate=evaluate,
)
