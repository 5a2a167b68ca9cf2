"""P1: no UPS this host can reach, no shutdown protection, or a UPS that is about to drop the load.

The evidence for every reachable UPS says what an operator looks at first: its flags, on battery or on line,
battery charge and runtime, and on a UPS with several phases the lowest input and output phase (the one that
sags first), so the report, the status page and the gap log tell the story without the metrics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collectors.model.gaps import Finding, GapRule, RuleContext
from collectors.model.readings import UpsReading
from daemon.gaps.units import duration_text

if TYPE_CHECKING:
    from collectors.model.snapshot import Snapshot

UPS_COLLECTORS = ("ups", "ups_snmp")


def evaluate(snapshot: Snapshot, ctx: RuleContext) -> Finding:
    del ctx
    statuses = [snapshot.status(name) for name in UPS_COLLECTORS]
    ran = [s for s in statuses if s is not None]
    if not ran:
        return Finding.unknown("no UPS collector configured")
    if any(s.success is None for s in ran):
        return Finding.waiting_for("ups")
    upses = snapshot.readings(UpsReading)
    reachable = [u for u in upses if u.up]
    # A collector that failed has no reading to name its UPSes by (a server that never answered): its error
    # is the evidence, also next to other collectors' reachable UPSes, so nothing unreachable goes unsaid.
    errors = [f"{s.name}: {s.error}" for s in ran if s.success is False]
    unreachable = [f"{u.ups} unreachable: {u.reason}" for u in upses if not u.up] + [
        f"{error} (collector failed)" for error in errors]
    if not reachable:
        detail = "; ".join([f"{u.ups}: {u.reason}" for u in upses] + errors) or (
            "no NUT server answered on 127.0.0.1:3493 and none is configured")
        return Finding(True, (f"no reachable UPS ({detail})",))

    critical = [f"{describe(u)}: {_why_critical(u)}" for u in reachable if _why_critical(u)]
    protecting = [u for u in reachable if u.shutdown_protected]
    unprotected = [] if protecting else [f"{describe(u)}: {_why_unprotected(u)}" for u in reachable]
    if critical:
        return Finding(True, tuple(critical + unprotected + unreachable), severity="critical")
    if unprotected:
        return Finding(True, tuple(unprotected + unreachable))
    if not any(u.flags for u in protecting):
        # Answering, but no ups.status: whether it is on line or about to drop the load was not measured.
        names = ", ".join(u.ups for u in protecting)
        return Finding.unknown(f"{names}: the UPS reports no status (ups.status empty or unknown)")
    summary = [f"{describe(u)}, {_protection(u)}" for u in protecting]
    return Finding(False, tuple(summary + unreachable))


def describe(ups: UpsReading) -> str:
    """`name FLAGS (on battery, charge 80 %, runtime 25 min, lowest input phase L2 198 V)`: what was measured."""
    parts = []
    if ups.on_battery:
        parts.append("on battery")
    elif "OL" in ups.flags:
        parts.append("on line")
    if ups.battery_charge_ratio is not None:
        parts.append(f"charge {ups.battery_charge_ratio * 100:.0f} %")
    if ups.battery_runtime_seconds is not None:
        parts.append(f"runtime {duration_text(ups.battery_runtime_seconds)}")
    for side, phase in (("input", ups.lowest_input_phase), ("output", ups.lowest_output_phase)):
        if phase is not None:
            parts.append(f"lowest {side} phase {phase[0]} {phase[1]:g} V")
    text = f"{ups.ups} {' '.join(ups.flags) or 'no status'}"
    return f"{text} ({', '.join(parts)})" if parts else text


def _protection(ups: UpsReading) -> str:
    if ups.local_upsmon:
        return "this host's upsmon.conf monitors it"
    return f"{ups.shutdown_clients or 0} upsmon attached"


def _why_critical(ups: UpsReading) -> str:
    if ups.critical:
        return "forced shutdown" if "FSD" in ups.flags else "on battery, battery low"
    return "asks for battery replacement" if ups.replace_battery else ""


def _why_unprotected(ups: UpsReading) -> str:
    if ups.shutdown_protected is None:
        return "shutdown protection unknown (no upsmon seen through NUT)"
    if ups.local_upsmon is False:
        return "this host's upsmon.conf does not monitor it with a SHUTDOWNCMD"
    return "no upsmon attached"


RULE = GapRule(
    id="P1",
    title="No UPS",
    risk="A power event corrupts NVMe mid-write, kills the NAS mid-IO, or causes an unclean Proxmox/etcd shutdown.",
    severity="high",
    collectors=(),  # judged here: an unreachable UPS server opens the gap instead of hiding it as unknown
    evaluate=evaluate,
)
