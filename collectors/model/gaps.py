"""What a gap rule is and what it decides, before configuration (overrides) is applied."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from collectors.model.snapshot import Snapshot


@dataclass(frozen=True)
class Finding:
    """A rule's verdict before configuration is applied. `open=None` means it lacked the data to decide."""

    open: bool | None
    evidence: tuple[str, ...] = ()
    # The severity this finding warrants, above or below the rule's default (a UPS on battery is critical, a
    # failing ZFS cache device low); None: the default. An operator's configured severity is a floor under it.
    severity: str | None = None
    reason: str = ""  # why the rule could not decide
    waiting: bool = False  # undecided only because a collector has not run yet (start-up, a reload)
    applicable: bool = True  # False: the check cannot apply on this host (P5 on a VM without slots)

    @staticmethod
    def unknown(reason: str) -> Finding:
        return Finding(open=None, reason=reason)

    @staticmethod
    def not_applicable(reason: str) -> Finding:
        """Decided, not open, and not "resolved" either: there is nothing here the gap could be about.

        Evaluated, so it raises no "cannot be evaluated" alert on every host where it cannot apply; `reason`
        says why (and what would make it apply).
        """
        return Finding(open=False, reason=reason, applicable=False)

    @staticmethod
    def waiting_for(collector: str) -> Finding:
        return Finding(open=None, reason=f"waiting for the first {collector} collection", waiting=True)


@dataclass(frozen=True)
class GapOverride:
    """What the operator's [gaps.<id>] changes about a rule."""

    severity: str | None = None
    title: str | None = None
    risk: str | None = None
    enabled: bool = True


@dataclass(frozen=True)
class RuleContext:
    role: str  # compute | nas | other


@dataclass(frozen=True)
class GapRule:
    id: str
    title: str
    risk: str
    severity: str  # default severity while open
    collectors: tuple[str, ...]  # collectors whose readings the rule needs
    evaluate: Callable[[Snapshot, RuleContext], Finding]
