"""How speeds read in evidence strings: the way an operator says them (1G, 2.5G, 100M)."""

from __future__ import annotations


def speed_text(mbps: int) -> str:
    if mbps >= 1000:
        gbit = mbps / 1000
        return f"{gbit:g}G"
    return f"{mbps}M"


def gts_text(gts: float | None) -> str:
    return "?" if gts is None else f"{gts:g}GT/s"
