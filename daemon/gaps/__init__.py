"""Gap rules. A new rule is a module with a RULE and one line in RULES; the engine does not change."""

from __future__ import annotations

from collectors.model.gaps import Finding, GapRule, RuleContext
from collectors.model.snapshot import Gap
from daemon.gaps import p1_ups, p2_drives, p3_links, p5_pcie, pending

RULES: tuple[GapRule, ...] = (p1_ups.RULE, p2_drives.RULE, p3_links.RULE, pending.P4, p5_pcie.RULE, pending.P6)

__all__ = ["RULES", "Finding", "Gap", "GapRule", "RuleContext"]
