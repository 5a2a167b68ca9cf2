"""Gap severities, lowest first, with the words the assessment document prints for them."""

from __future__ import annotations

SEVERITIES: tuple[str, ...] = ("info", "low", "medium", "high", "critical")

DISPLAY = {
    "info": "Informational",
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "critical": "Critical",
}


def rank(severity: str) -> int:
    """Position in SEVERITIES; unknown names sort below everything so they never trigger --fail-on."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return -1


def at_least(severity: str, threshold: str) -> bool:
    return rank(severity) >= rank(threshold) >= 0
