"""The journal tells the story: every gap that opens, closes, changes severity or becomes (un)decidable is
logged at warning level with its evidence or the reason it cannot be decided.

An exporter like the others: the store wakes it when a new View exists, and it compares the gaps with the
last ones it logged. It never renders metrics and never waits on anything but the store.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from collectors.model.snapshot import Gap, View
from exporters.base import ViewSource
from exporters.report import evidence_text

log = logging.getLogger("physgap.gaps")

_MAX_EVIDENCE = 600  # characters of evidence per line: the journal is no place for a 128-drive list


def _state(gap: Gap) -> tuple[str, str]:
    # Waiting for a first collection is its own state: the unknown that may follow it is news.
    status = "waiting" if gap.waiting else gap.status
    return status, gap.severity if status == "open" else ""


def transitions(before: dict[str, tuple[str, str]], gaps: tuple[Gap, ...]) -> list[str]:
    """One line per gap whose status or (while open) severity differs from `before`; pure, for tests."""
    lines = []
    for gap in gaps:
        state = _state(gap)
        if before.get(gap.id) == state:
            continue
        if gap.status == "open":
            change = "opened" if before.get(gap.id, ("",))[0] != "open" else "changed severity"
            what = f"{change} ({gap.severity})"
        elif gap.status == "not applicable":
            what = "does not apply here"
        elif gap.status == "resolved":
            what = "resolved"
        elif gap.waiting:  # start-up, not news
            continue
        else:
            what = "cannot be evaluated"
        lines.append(f"gap {gap.id} {what}: {gap.title}: {evidence_text(gap)}"[:_MAX_EVIDENCE])
    return lines


class GapLogExporter:
    name = "gap-log"

    def __init__(self, settings: None = None) -> None:
        del settings
        self._lock = threading.Lock()
        self._logged: dict[str, tuple[str, str]] = {}
        self._unsubscribe: Callable[[], None] | None = None

    def start(self, views: ViewSource) -> None:
        self._unsubscribe = views.subscribe(self._on_view)

    def _on_view(self, view: View) -> None:
        # Called on a collector's thread after each new View; comparing a handful of gaps is cheap enough
        # to do there, and the lock keeps two collectors' reports from logging one transition twice.
        with self._lock:
            if not any(status.success is not None for status in view.snapshot.collectors.values()):
                return  # nothing collected yet: every gap is "waiting", which is no news
            for line in transitions(self._logged, view.gaps):
                log.warning("%s", line)
            self._logged = {gap.id: _state(gap) for gap in view.gaps}

    def reconfigure(self, settings: None) -> None:
        del settings

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
