"""P6: no out-of-band management that answers, for the endpoints configured here or for this host's own
OOB hardware.

- A configured endpoint ([[oob.targets]]) that does not answer as its kind opens the gap (high); every
  endpoint answering resolves it. Evidence names each target and its probe state.
- Nothing configured: this host's hardware decides. Intel AMT or a BMC present opens the gap (high): the
  hardware could make a hung host recoverable, but nobody watches whether it answers ("supports Intel vPro
  AMT but it is not configured"). A board with no OOB hardware at all is the gap itself (a hung host needs
  physical access), so it reads open, but informational: nothing on this host can be configured to close
  it, so a default install raises no standing alert for it (the alert rules page on high and critical
  only), while the report, the dashboard and physgap_gap_open still say it. An operator who wants it paged
  sets `[gaps.P6] severity = "high"`, or adds an external KVM/BMC as a target.
- Nothing configured and the hardware could not be read: unknown, saying what would decide it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from collectors.model.gaps import Finding, GapRule, RuleContext
from collectors.model.readings import OobLocalReading, OobReading

if TYPE_CHECKING:
    from collectors.model.snapshot import Snapshot

PROBE_COLLECTOR = "oob"
LOCAL_COLLECTOR = "oob_local"
# Where the board has nothing OOB: a fact worth a row, not a page (see the module docstring).
NO_HARDWARE_SEVERITY = "info"


def _target_text(reading: OobReading) -> str:
    where = f"{reading.host}:{reading.port}"
    if reading.up:
        return f"{reading.target} ({reading.kind} {where}) answering: {reading.detail}"
    return f"{reading.target} ({reading.kind} {where}) {reading.state.replace('_', ' ')}: {reading.detail}"


def evaluate(snapshot: Snapshot, ctx: RuleContext) -> Finding:
    del ctx
    probes = snapshot.status(PROBE_COLLECTOR)
    local = snapshot.status(LOCAL_COLLECTOR)
    if probes is not None:
        if probes.success is None:
            return Finding.waiting_for(PROBE_COLLECTOR)
        if probes.success is False:
            # Probe readings are made for every target whatever the network does: a failed round is a bug
            # or a kill at the deadline, and says nothing about the endpoints.
            return Finding.unknown(f"{PROBE_COLLECTOR} collector failed: {probes.error}")
        targets = list(snapshot.readings(OobReading))
        if targets:
            return _configured(targets, _capabilities(snapshot))
    if local is None:
        return Finding.unknown("no [[oob.targets]] configured and [oob] local = false: nothing to judge by; "
                               "add the host's AMT/BMC address as an [[oob.targets]] entry on another host")
    if local.success is None:
        return Finding.waiting_for(LOCAL_COLLECTOR)
    if local.success is False:
        return Finding.unknown(f"no [[oob.targets]] configured and {LOCAL_COLLECTOR} failed: {local.error}")
    return _unconfigured(_capabilities(snapshot))


def _capabilities(snapshot: Snapshot) -> dict[str, OobLocalReading]:
    return {r.capability: r for r in snapshot.readings(OobLocalReading)}


def _configured(targets: list[OobReading], local: dict[str, OobLocalReading]) -> Finding:
    down = [_target_text(t) for t in targets if not t.up]
    up = [_target_text(t) for t in targets if t.up]
    if down:
        return Finding(True, tuple(down + up))
    note = [f"this host: {_local_summary(local)}"] if local else []
    return Finding(False, tuple(up + note))


def _local_summary(local: dict[str, OobLocalReading]) -> str:
    parts = []
    for name, label in (("amt", "Intel AMT"), ("ipmi", "BMC")):
        reading = local.get(name)
        if reading is not None and reading.present is not None:
            parts.append(f"{label} {'present' if reading.present else 'absent'}")
    return ", ".join(parts) or "OOB hardware not determined"


def _unconfigured(local: dict[str, OobLocalReading]) -> Finding:
    amt, ipmi, mei = local.get("amt"), local.get("ipmi"), local.get("mei")
    capable: list[str] = []
    if amt is not None and amt.present:
        firmware = f", ME firmware {mei.version}" if mei is not None and mei.version else ""
        capable.append(f"this host supports Intel vPro AMT but it is not configured: no [[oob.targets]] endpoint "
                       f"answers for it ({amt.evidence}{firmware}); probe its AMT from another host")
    if ipmi is not None and ipmi.present:
        capable.append(f"this host has a BMC (IPMI) but it is not configured: no [[oob.targets]] endpoint answers "
                       f"for it ({ipmi.evidence})")
    if capable:
        return Finding(True, tuple(capable))
    if amt is not None and amt.present is False and ipmi is not None and ipmi.present is False:
        me = "Intel ME without AMT" if mei is not None and mei.present else "no Intel AMT"
        return Finding(True, (f"board has no OOB hardware ({me}; no BMC): a hung host needs physical access",
                              f"AMT: {amt.evidence}", f"IPMI: {ipmi.evidence}"), severity=NO_HARDWARE_SEVERITY)
    unknown = [f"{name}: {r.evidence}" for name, r in (("AMT", amt), ("IPMI", ipmi))
               if r is not None and r.present is None]
    return Finding.unknown("no [[oob.targets]] configured and this host's OOB hardware could not be read ("
                           + ("; ".join(unknown) or "no capability reading") + "); run dmidecode as root "
                           "([oob] dmidecode) or configure an [[oob.targets]] endpoint")


RULE = GapRule(
    id="P6",
    title="No IPMI/remote management",
    risk="A hung host requires physical access.",
    severity="high",
    collectors=(),  # judged here: it reads two collectors, and either may be absent by configuration
    evaluate=evaluate,
)
