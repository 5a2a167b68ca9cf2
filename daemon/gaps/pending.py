"""P4 and P6 as rows that exist but are not measured yet, so every gap of the assessment has a series
(physgap_gap_open / physgap_gap_evaluated 0) and a report row that says "unknown" with the reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from collectors.model.gaps import Finding, GapRule, RuleContext

if TYPE_CHECKING:
    from collectors.model.snapshot import Snapshot


def _not_measured(what: str) -> Callable[[Snapshot, RuleContext], Finding]:
    def evaluate(snapshot: Snapshot, ctx: RuleContext) -> Finding:
        del snapshot, ctx
        return Finding.unknown(f"not measured yet: physgap does not {what} in this release")

    return evaluate


P4 = GapRule(
    id="P4",
    title="Single compute host",
    risk="All VMs on one machine. Hardware failure means total cluster loss.",
    severity="high",
    collectors=(),
    evaluate=_not_measured("probe compute hosts"),
)

P6 = GapRule(
    id="P6",
    title="No IPMI/remote management",
    risk="A hung host requires physical access.",
    severity="high",
    collectors=(),
    evaluate=_not_measured("probe AMT/IPMI endpoints"),
)
