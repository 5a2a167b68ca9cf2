"""P3: links running below what the NIC (or the operator's plan) can do."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collectors.model.gaps import Finding, GapRule, RuleContext
from collectors.model.readings import LinkReading
from daemon.gaps.units import speed_text

if TYPE_CHECKING:
    from collectors.model.snapshot import Snapshot


def evaluate(snapshot: Snapshot, ctx: RuleContext) -> Finding:
    del ctx
    # The collector already chose the interfaces (physical ones, or virtual ones too when the operator
    # asked); a bond's speed is the sum of its members, which are judged one by one instead.
    links = [r for r in snapshot.readings(LinkReading) if r.kind != "bond"]
    if not links:
        return Finding.unknown("no network interface found")
    # Up (as physgap_nic_up says), but the driver gave no valid speed (-1, a sentinel, garbage): neither down
    # nor fast. Where there is something to judge it against, it keeps P3 from resolving; the open findings
    # of other links stand.
    unmeasured = [r for r in links if r.up and not r.speed_mbps and (r.max_speed_mbps or r.expected_speed_mbps)]
    if evidence := links_below_capability(links):
        return Finding(True, evidence + tuple(f"{r.interface} up, speed unknown" for r in unmeasured))
    if unmeasured:
        return Finding.unknown("; ".join(
            f"{r.interface} is up but its driver reports no valid speed, so it cannot be judged against "
            f"{_capability_text(r)}" for r in unmeasured))
    judged = [r for r in links if r.carrier and r.speed_mbps and (r.max_speed_mbps or r.expected_speed_mbps)]
    if not judged:
        # A link whose capability is unknown (virtio, or no ethtool link modes) proves nothing either way.
        return Finding.unknown("no link reports both its speed and what it could do (set [nics].expected)")
    return Finding(False, tuple(
        f"{r.interface} {speed_text(r.speed_mbps or 0)} of "
        f"{speed_text(max(r.max_speed_mbps or 0, r.expected_speed_mbps or 0))}" for r in judged))


def links_below_capability(links: list[LinkReading]) -> tuple[str, ...]:
    evidence: list[str] = []
    up = [r for r in links if r.carrier and r.speed_mbps]
    for link in links:
        speed = link.speed_mbps if link.carrier else None
        if speed:
            if link.max_speed_mbps and speed < link.max_speed_mbps:
                evidence.append(f"{link.interface} {speed_text(speed)} of {speed_text(link.max_speed_mbps)}")
            if link.expected_speed_mbps and speed < link.expected_speed_mbps:
                evidence.append(f"{link.interface} {speed_text(speed)}, expected "
                                f"{speed_text(link.expected_speed_mbps)}")
        elif link.expected_speed_mbps and not link.up:
            evidence.append(f"{link.interface} down, expected {speed_text(link.expected_speed_mbps)}")
    fastest_up = max((r.speed_mbps or 0 for r in up), default=0)
    if fastest_up:
        carrier = max(up, key=lambda r: r.speed_mbps or 0)
        for link in links:
            capability = max(link.max_speed_mbps or 0, link.expected_speed_mbps or 0)
            if link.carrier or capability <= fastest_up or link.bond_master:
                continue
            if link.expected_speed_mbps:
                continue  # already reported as "down, expected"
            evidence.append(f"{link.interface} ({speed_text(capability)}) down while {carrier.interface} "
                            f"carries traffic at {speed_text(fastest_up)}")
    return tuple(evidence)


def _capability_text(link: LinkReading) -> str:
    parts = []
    if link.max_speed_mbps:
        parts.append(f"its {speed_text(link.max_speed_mbps)} capability")
    if link.expected_speed_mbps:
        parts.append(f"the expected {speed_text(link.expected_speed_mbps)}")
    return " or ".join(parts)


RULE = GapRule(
    id="P3",
    title="Running at GbE when 10G is available",
    risk="Storage traffic and live migration are bottlenecked by a link slower than the hardware allows.",
    severity="low",
    collectors=("nic",),
    evaluate=evaluate,
)
