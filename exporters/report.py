"""`physgap report` and `physgap once --format json`: the gap table in the assessment's own columns."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from collectors.model.severity import DISPLAY, at_least
from collectors.model.snapshot import Gap, View


def severity_cell(gap: Gap) -> str:
    """The gap's severity (what it would cost while open), whatever its status: the Status column says that."""
    return DISPLAY.get(gap.severity, gap.severity)


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def evidence_text(gap: Gap) -> str:
    """What was found, or why the rule could not decide: the Evidence column, and MQTT's gap attribute."""
    return "; ".join(gap.explanation)


def markdown(view: View) -> str:
    lines = [
        f"Physical-layer gaps on {view.snapshot.host}",
        "",
        "| # | Gap | Risk | Severity | Status | Evidence |",
        "|---|---|---|---|---|---|",
    ]
    for gap in view.gaps:
        evidence = evidence_text(gap)
        lines.append("| " + " | ".join(_cell(c) for c in (
            gap.id, gap.title, gap.risk, severity_cell(gap), gap.status, evidence)) + " |")
    return "\n".join(lines) + "\n"


def gap_dict(gap: Gap) -> dict[str, Any]:
    return {
        "id": gap.id, "title": gap.title, "risk": gap.risk, "status": gap.status, "open": gap.open,
        "severity": gap.severity, "severity_display": severity_cell(gap), "evaluated": gap.evaluated,
        "applicable": gap.applicable,
        "evidence": list(gap.evidence), "reason": gap.reason,
    }


def gaps_json(view: View) -> str:
    return json.dumps({"host": view.snapshot.host, "gaps": [gap_dict(g) for g in view.gaps]}, indent=2) + "\n"


def snapshot_json(view: View) -> str:
    collectors = {}
    for name, status in sorted(view.snapshot.collectors.items()):
        collectors[name] = {
            "success": status.success,
            "error": status.error,
            "duration_seconds": round(status.duration_seconds, 6),
            "last_success": status.last_success,
            "readings": [{"type": type(r).__name__, **dataclasses.asdict(r)} for r in status.readings],
        }
    document = {"host": view.snapshot.host, "taken_at": view.snapshot.taken_at, "collectors": collectors,
                "gaps": [gap_dict(g) for g in view.gaps]}
    return json.dumps(document, indent=2) + "\n"


def failing(view: View, threshold: str) -> list[Gap]:
    return [g for g in view.gaps if g.open and at_least(g.severity, threshold)]
