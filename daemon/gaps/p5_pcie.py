"""P5: a physical PCIe slot with nothing in it; links trained below their own baseline are listed too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collectors.model.gaps import Finding, GapRule, RuleContext
from collectors.model.readings import PcieLinkReading, SlotReading, SlotScan
from daemon.gaps.units import gts_text

if TYPE_CHECKING:
    from collectors.model.snapshot import Snapshot


def evaluate(snapshot: Snapshot, ctx: RuleContext) -> Finding:
    del ctx
    scans = snapshot.readings(SlotScan)
    if not scans or not all(scan.complete for scan in scans):
        reason = "; ".join(scan.reason for scan in scans if not scan.complete) or "slot occupancy not reported"
        return Finding.unknown(reason)
    slots = snapshot.readings(SlotReading)
    evidence = [f"{slot.slot} ({slot.width or '?'}, port {slot.port}) empty" for slot in slots if not slot.occupied]
    is_open = bool(evidence)
    for link in snapshot.readings(PcieLinkReading):
        if link.downgraded:
            evidence.append(
                f"{link.address} {link.device} trained {gts_text(link.current_speed_gts)} x{link.current_width}, "
                f"below its baseline {gts_text(link.baseline_speed_gts)} x{link.baseline_width}")
    if not slots:
        # A VM, or firmware without SMBIOS slot records: there is no slot this gap could be about.
        return Finding.not_applicable("; ".join(["no physical PCIe slot on this host (SMBIOS lists none)",
                                                 *evidence]))
    return Finding(open=is_open, evidence=tuple(evidence))


RULE = GapRule(
    id="P5",
    title="Unused PCIe slot",
    risk="Expansion capacity (GPU, HBA, faster NIC) is available but unused.",
    severity="info",
    collectors=("pcie",),
    evaluate=evaluate,
)
