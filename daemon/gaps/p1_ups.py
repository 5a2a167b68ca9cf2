"""P1: no UPS this host can reach, no shutdown protection, or a UPS that is about to drop the load."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collectors.model.gaps import Finding, GapRule, RuleContext
from collectors.model.readings import UpsReading

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

    critical = [f"{u.ups} {' '.join(u.flags)}: {_why_critical(u)}" for u in reachable if _why_critical(u)]
    protecting = [u for u in reachable if u.shutdown_protected]
    unprotected = [] if protecting else [f"{u.ups}: {_why_unprotected(u)}" for u in reachable]
    if critical:
        return Finding(True, tuple(critical + unprotected + unreachable), severity="critical")
    if unprotected:
        return Finding(True, tuple(unprotected + unreachable))
    if not any(u.flags for u in protecting):
        # Answering, but no ups.status: whether it is on line or about to drop the load was not measured.
        names = ", ".join(u.ups for u in protecting)
        return Finding.unknown(f"{names}: the UPS reports no status (ups.status empty or unknown)")
    summary = [f"{u.ups} {' '.join(u.flags) or 'no status'}, {u.shutdown_clients or 0} upsmon attached"
               for u in protecting]
    return Finding(False, tuple(summary + unreachable))


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
