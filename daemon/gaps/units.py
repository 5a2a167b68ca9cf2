"""How speeds and durations read in evidence strings and on the status page: the way an operator says them
(1G, 2.5G, 100M; 95 s, 43 min, 3 h 20 min)."""

from __future__ import annotations


def speed_text(mbps: int) -> str:
    if mbps >= 1000:
        gbit = mbps / 1000
        return f"{gbit:g}G"
    return f"{mbps}M"


def gts_text(gts: float | None) -> str:
    return "?" if gts is None else f"{gts:g}GT/s"


def duration_text(seconds: float) -> str:
    """A duration in the largest unit that keeps a small number; hours keep their minutes (a UPS runtime of
    3 h 20 min is not 3 h). A negative duration (a clock step) reads as none."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if seconds < 2 * 3600:
        return f"{minutes} min"
    if seconds < 2 * 86400:
        hours, rest = divmod(minutes, 60)
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{seconds / 86400:,.0f} d"
