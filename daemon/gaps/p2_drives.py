"""P2: data without redundancy, and drives degrading ("single-drive degradation") with or without it.

Severity follows what is at risk, so every open finding names its own and the gap takes the worst:
- critical: data that survives no further drive failure (a single drive, a stripe, a degraded mirror), a
  degrading drive with no redundancy behind it, a `role = "nas"` host without a redundant array;
- high: a degrading drive inside an array that still survives a failure;
- medium: a failing hot spare (nothing is lost now, but the array's plan for its next failure is a bad
  disk: md and ZFS would rebuild onto it at the most fragile moment), or a failing SLOG device without a
  mirror (it holds synchronous writes acknowledged in the last seconds; they are lost if it dies together
  with a crash or power cut, before ZFS falls back to the pool's own log);
- low (the rule's default, the floor): a merely degrading spare or log device, a failing device of a
  mirrored SLOG, and any failing L2ARC cache device (every cached block is also in the pool: only read
  speed is at risk).
Nothing reads resolved that was not measured: while a drive with SMART has no verdict (never read: its
smartctl hung, the open failed, the -d type was refused, smartctl is missing, it slept since the start) or
a drive without redundancy stopped answering, P2 is unknown, unless other evidence already opens it.

NAS boxes read over SNMP ([[nas.snmp]]: their drives and arrays carry `nas`) are judged with the same words,
named by their NAS. Their RAID tables list no members, so a degrading NAS drive is "high" only when every
array of its NAS is known to survive a failure, else critical; a NAS volume whose level is not declared
leaves P2 unknown (a Basic volume reads Normal too), and a NAS that did not answer leaves it unknown.
The role "nas" check is about this host's own arrays only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collectors.model.gaps import Finding, GapRule, RuleContext
from collectors.model.readings import ArrayReading, DriveReading, StorageScan
from collectors.model.severity import rank

if TYPE_CHECKING:
    from collectors.model.snapshot import Snapshot

VERDICT_WORDS = {1: "degrading", 2: "failing"}
FAILING = 2
# How many drives an unknown reason names before "and N more": the report's cell stays readable.
_NAMED = 4


def evaluate(snapshot: Snapshot, ctx: RuleContext) -> Finding:
    arrays = snapshot.readings(ArrayReading)
    drives = snapshot.readings(DriveReading)
    found: list[tuple[str, str]] = []  # (severity, evidence), in the order found

    for array in arrays:
        if array.redundancy == 0:
            why = (f"degraded, failed: {', '.join(array.failed_members)}" if array.failed_members
                   else array.level if not array.nas else f"status {array.state}")
            found.append(("critical", f"{_array_label(array)} ({array.kind} {why}) survives no further drive "
                          "failure"))

    for drive in drives:
        if not drive.health:
            continue
        found.append(_judge_drive(drive, arrays))

    if ctx.role == "nas" and not any(_survives(a) for a in arrays if not a.nas):
        found.append(("critical", "this NAS has no redundant array or pool: its data sits on single drives"))

    if found:
        worst = max((severity for severity, _ in found), key=rank)
        ordered = sorted(found, key=lambda item: -rank(item[0]))  # stable: same severity keeps its order
        return Finding(True, tuple(text for _, text in ordered), severity=worst)

    smart = snapshot.status("smart")
    # Arrays may look fine, but without SMART a degrading drive would be invisible: not resolved.
    if smart is not None and smart.success is False:
        return Finding.unknown(f"smart collector failed: {smart.error}")
    if smart is not None and smart.success is None:
        return Finding.waiting_for("smart")
    nas = snapshot.status("nas")  # present only when [[nas.snmp]] is configured
    if nas is not None and nas.success is False:
        return Finding.unknown(f"nas collector failed: {nas.error}")
    if nas is not None and nas.success is None:
        return Finding.waiting_for("nas")
    unknown = [f"arrays not fully read: {scan.reason}" for scan in snapshot.readings(StorageScan)
               if not scan.complete]
    unjudged = [d for d in drives if d.smart_supported and d.health is None]
    if unjudged:
        unknown.append(f"no verdict for {len(unjudged)} drive(s): "
                       + _named([d.reason or f"{d.device}: never read" for d in unjudged]))
    silent = [d for d in drives if d.state == "unreachable" and d.health is not None and not any(
        d.kernel_name and d.kernel_name in a.members and _survives(a) for a in arrays)]
    if silent:
        unknown.append("drive(s) without redundancy not answering SMART queries: "
                       + _named([d.reason or f"{d.device} {d.model}".strip() for d in silent]))
    unsure = [a for a in arrays if a.redundancy is None]
    if unsure:
        unknown.append("redundancy not readable for " + _named([
            f"{_array_label(a)} (status {a.state}; SNMP gives no RAID level: declare it in [[nas.snmp]] levels)"
            if a.nas else f"{a.array} ({a.kind} {a.level})" for a in unsure]))
    if unknown:
        return Finding.unknown("; ".join(unknown))
    judged = [d for d in drives if d.health is not None and d.state != "unreachable"]
    if not arrays and not judged:
        return Finding.unknown("no array found and no drive reports SMART data")
    summary = [f"{_array_label(a)} ({a.kind} {a.level}) survives {a.redundancy} drive failure(s)" for a in arrays]
    if judged:
        summary.append(f"{len(judged)} drive(s) healthy")
    if not any(not a.nas for a in arrays):
        summary.append(f'no md array or ZFS pool on this host (role "{ctx.role}"; role "nas" requires one)')
    return Finding(False, tuple(summary))


def _judge_drive(drive: DriveReading, arrays: tuple[ArrayReading, ...]) -> tuple[str, str]:
    """(severity, evidence) for a drive whose own verdict is warning or failing."""
    health = drive.health or 0
    verdict = VERDICT_WORDS.get(health, "degrading")
    label = f"{drive.device} {drive.model}".strip()
    why = "; ".join(drive.evidence) or "no details"
    if drive.nas:
        return _judge_nas_drive(drive, arrays, f"{label} on NAS {drive.nas}", verdict, why)
    name = drive.kernel_name
    # Holding data comes first: a disk that is a member somewhere is judged as a member, even when another
    # partition of it is a log or cache device, or it is an INUSE spare standing in for a failed member.
    holding = [a for a in arrays if name and name in a.members]
    if holding:
        protected = [a for a in holding if _survives(a)]
        if protected:
            names = ", ".join(f"{a.array} survives {a.redundancy} more" for a in protected)
            return "high", f"{label} {verdict} inside a redundant array ({names}): {why}"
        return "critical", f"{label} {verdict} in {holding[0].array} without redundancy: {why}"
    if name:
        for array in arrays:
            if name in array.spares:
                severity = "medium" if health >= FAILING else "low"
                return severity, (f"{label} {verdict} as a hot spare of {array.array} (holds no data; the next "
                                  f"member failure would rebuild onto it): {why}")
        for array in arrays:
            if name in array.logs:
                mirrored = array.log_redundancy >= 1
                severity = "medium" if health >= FAILING and not mirrored else "low"
                guard = "mirrored" if mirrored else "not mirrored: the last seconds of synchronous writes"
                return severity, f"{label} {verdict} as a log device of {array.array} ({guard}): {why}"
        for array in arrays:
            if name in array.caches:
                return "low", (f"{label} {verdict} as a cache device of {array.array} (every block is also in "
                               f"the pool: read speed at risk, not data): {why}")
    return "critical", f"{label} {verdict} with no redundancy behind it: {why}"


def _judge_nas_drive(drive: DriveReading, arrays: tuple[ArrayReading, ...], label: str, verdict: str,
                     why: str) -> tuple[str, str]:
    """A NAS's RAID table names no members: its drive is covered only when every array of that NAS is known to
    survive a failure (a drive in none of them holds no data)."""
    own = [a for a in arrays if a.nas == drive.nas]
    if own and all(_survives(a) for a in own):
        names = ", ".join(f"{_array_label(a)} survives {a.redundancy} more" for a in own)
        return "high", f"{label} {verdict}; every array of the NAS is redundant ({names}): {why}"
    return "critical", (f"{label} {verdict}, and no array of the NAS is known to cover it (SNMP lists no "
                        f"members, and not every array's redundancy is known): {why}")


def _survives(array: ArrayReading) -> bool:
    """The array is known to survive one more member failure (unknown redundancy is not)."""
    return array.redundancy is not None and array.redundancy >= 1


def _array_label(array: ArrayReading) -> str:
    if not array.nas:
        return array.array
    return f"{array.array.removeprefix(array.nas + ':')} on NAS {array.nas}"


def _named(items: list[str]) -> str:
    shown = "; ".join(items[:_NAMED])
    return shown + (f"; and {len(items) - _NAMED} more" if len(items) > _NAMED else "")


RULE = GapRule(
    id="P2",
    title="Single NAS drive",
    risk="One drive failure loses all data on it: media, app configs, metrics, logs, secrets, backups.",
    # Labels a resolved or unknown P2. An open finding names its own severity (see above: from low for a
    # degrading cache device to critical for data without redundancy), and the engine lets it stand.
    severity="high",
    collectors=("storage",),
    evaluate=evaluate,
)
