"""P3: links running below what the NIC (or the operator's plan) can do.

Where a NIC is mapped to a switch port ([[switch]].ports or LLDP), its evidence names both ends:
`enp2s0f0np0 1G of 10G; switch usw-16 port te1 at 1G`. The switch side only ever adds to what the NIC side
decided: a silent switch makes its side "unknown" in the evidence, and never opens or resolves the gap.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from collectors.model.gaps import Finding, GapRule, RuleContext
from collectors.model.readings import LinkReading, SwitchPortReading, SwitchReading
from daemon.gaps.units import speed_text

if TYPE_CHECKING:
    from collectors.model.snapshot import Snapshot

# One evidence line and the local interface it is about (where the switch's end of that link is added).
Line = tuple[str, str]


def evaluate(snapshot: Snapshot, ctx: RuleContext) -> Finding:
    del ctx
    finding, lines = _evaluate_links(snapshot)
    ends = switch_ends(snapshot.readings(SwitchReading), snapshot.readings(SwitchPortReading))
    if not ends or not lines:
        return finding
    return replace(finding, evidence=tuple(_both_ends(interface, text, ends) for interface, text in lines))


def switch_ends(switches: tuple[SwitchReading, ...], ports: tuple[SwitchPortReading, ...]) -> dict[str, str]:
    """Local interface -> what its switch end says, for every NIC mapped to a configured switch."""
    ends: dict[str, str] = {}
    for switch in switches:
        for interface, wanted in switch.links:
            if not switch.up:
                ends[interface] = f"switch {switch.switch} side unknown (no SNMP answer)"
            elif interface in switch.unmatched:
                ends[interface] = f"switch {switch.switch} has no port {wanted}"
    for port in ports:
        if port.interface:
            where = f"switch {port.switch} port {port.port}"
            if not port.up:
                ends[port.interface] = f"{where} {port.oper_status}"
            elif port.speed_mbps is None:
                ends[port.interface] = f"{where} up, speed unknown"
            else:
                ends[port.interface] = f"{where} at {speed_text(port.speed_mbps)}"
    return ends


def _both_ends(interface: str, evidence: str, ends: dict[str, str]) -> str:
    end = ends.get(interface)
    return f"{evidence}; {end}" if end else evidence


def _evaluate_links(snapshot: Snapshot) -> tuple[Finding, tuple[Line, ...]]:
    """The NIC side's finding, and its evidence lines with the interface each is about."""
    # The collector already chose the interfaces (physical ones, or virtual ones too when the operator
    # asked); a bond's speed is the sum of its members, which are judged one by one instead.
    links = [r for r in snapshot.readings(LinkReading) if r.kind != "bond"]
    if not links:
        return Finding.unknown("no network interface found"), ()
    # Up (as physgap_nic_up says), but the driver gave no valid speed (-1, a sentinel, garbage): neither down
    # nor fast. Where there is something to judge it against, it keeps P3 from resolving; the open findings
    # of other links stand.
    unmeasured = [r for r in links if r.up and not r.speed_mbps and (r.max_speed_mbps or r.expected_speed_mbps)]
    if below := links_below_capability(links):
        return _found(True, below + tuple((r.interface, f"{r.interface} up, speed unknown") for r in unmeasured))
    if unmeasured:
        return Finding.unknown("; ".join(
            f"{r.interface} is up but its driver reports no valid speed, so it cannot be judged against "
            f"{_capability_text(r)}" for r in unmeasured)), ()
    judged = [r for r in links if r.carrier and r.speed_mbps and (r.max_speed_mbps or r.expected_speed_mbps)]
    if not judged:
        # A link whose capability is unknown (virtio, or no ethtool link modes) proves nothing either way.
        return Finding.unknown("no link reports both its speed and what it could do (set [nics].expected)"), ()
    return _found(False, tuple(
        (r.interface, f"{r.interface} {speed_text(r.speed_mbps or 0)} of "
                      f"{speed_text(max(r.max_speed_mbps or 0, r.expected_speed_mbps or 0))}") for r in judged))


def _found(open_: bool, lines: tuple[Line, ...]) -> tuple[Finding, tuple[Line, ...]]:
    return Finding(open_, tuple(text for _, text in lines)), lines


def links_below_capability(links: list[LinkReading]) -> tuple[Line, ...]:
    """(interface, evidence) for every link slower than it can or should be, or down while it should carry."""
    evidence: list[Line] = []
    up = [r for r in links if r.carrier and r.speed_mbps]
    for link in links:
        speed = link.speed_mbps if link.carrier else None
        if speed:
            if link.max_speed_mbps and speed < link.max_speed_mbps:
                evidence.append((link.interface,
                                 f"{link.interface} {speed_text(speed)} of {speed_text(link.max_speed_mbps)}"))
            if link.expected_speed_mbps and speed < link.expected_speed_mbps:
                evidence.append((link.interface, f"{link.interface} {speed_text(speed)}, expected "
                                                  f"{speed_text(link.expected_speed_mbps)}"))
        elif link.expected_speed_mbps and not link.up:
            evidence.append((link.interface,
                             f"{link.interface} down, expected {speed_text(link.expected_speed_mbps)}"))
    fastest_up = max((r.speed_mbps or 0 for r in up), default=0)
    if fastest_up:
        carrier = max(up, key=lambda r: r.speed_mbps or 0)
        for link in links:
            capability = max(link.max_speed_mbps or 0, link.expected_speed_mbps or 0)
            if link.carrier or capability <= fastest_up or link.bond_master:
                continue
            if link.expected_speed_mbps:
                continue  # already reported as "down, expected"
            evidence.append((link.interface, f"{link.interface} ({speed_text(capability)}) down while "
                                              f"{carrier.interface} carries traffic at {speed_text(fastest_up)}"))
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
