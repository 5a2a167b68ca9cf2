"""P4: fewer than two compute hosts online, so one hardware failure takes every VM down.

Open (high) while fewer than 2 compute hosts are online; resolved with 2 or more. Hosts whose state could
not be determined (a name that does not resolve, a garbled online flag) count neither way: they leave P4
unknown only when they could tip it. On a host that is not part of a compute cluster and has no compute
list configured, P4 is not applicable and says what would make it apply.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collectors.model.gaps import Finding, GapRule, RuleContext
from collectors.model.readings import ComputeScan, HostReading

if TYPE_CHECKING:
    from collectors.model.snapshot import Snapshot

# The fewest online compute hosts where losing one still leaves somewhere to run the VMs.
ENOUGH = 2


def evaluate(snapshot: Snapshot, ctx: RuleContext) -> Finding:
    del ctx
    scans = snapshot.readings(ComputeScan)
    if not scans:
        return Finding.unknown("the hosts collector reported nothing")
    scan = scans[0]
    if not scan.applicable:
        return Finding.not_applicable(
            f"not applicable here: {scan.reason}; set [hosts] compute = [...] to the compute hosts to probe, "
            "or [hosts] members to the Proxmox VE .members file")
    if not scan.complete:
        return Finding.unknown(scan.reason)
    hosts = snapshot.readings(HostReading)
    online = [h for h in hosts if h.online]
    undetermined = [h for h in hosts if h.online is None]
    summary = _summary(scan, hosts, online) + ((scan.note,) if scan.note else ())
    if len(online) >= ENOUGH:
        return Finding(False, summary)
    if len(online) + len(undetermined) >= ENOUGH:
        # Those hosts could be the second one online: undecided, not open.
        return Finding.unknown("; ".join(summary))
    return Finding(True, summary)


def _summary(scan: ComputeScan, hosts: tuple[HostReading, ...], online: list[HostReading]) -> tuple[str, ...]:
    others = [f"{h.host} {_state(h)}" for h in hosts if not h.online]
    details = f" ({', '.join(others)})" if others else ""
    if scan.source == "pve" and scan.cluster:
        quorum = {True: "", False: "; cluster not quorate", None: ""}[scan.quorate]
        return (f"pve cluster {scan.cluster!r}: {len(online)} of {len(hosts)} nodes online{details}{quorum}",)
    if scan.source == "pve" and len(hosts) == 1:
        return (f"pve node {hosts[0].host!r} is standalone (not clustered): the only compute host",)
    return (f"{len(online)} of {len(hosts)} compute hosts online{details}",)


def _state(host: HostReading) -> str:
    if host.online is None:
        return f"unknown: {host.detail}"
    if host.source == "pve":
        return "offline"
    return f"offline: {host.detail}"


RULE = GapRule(
    id="P4",
    title="Single compute host",
    risk="All VMs on one machine. Hardware failure means total cluster loss.",
    severity="high",
    collectors=("hosts",),
    evaluate=evaluate,
)
