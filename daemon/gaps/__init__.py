"""Gap rules. A new rule is a module with a RULE and one line in RULES; the engine does not change."""

from __future__ import annotations

from collectors.model.gaps import Finding, GapRule, RuleContext
from collectors.model.snapshot import Gap
from daemon.gaps import p1_ups, p2_drives, p3_links, p4_hosts, p5_pcie, p6_oob

RULES: tuple[GapRule, ...] = (p1_ups.RULE, p2_drives.RULE, p3_links.RULE, p4_hosts.RULE, p5_pcie.RULE, p6_oob.RULE)

__all__ = ["RULES", "Finding", "Gap", "GapRule", "RuleContext"]
