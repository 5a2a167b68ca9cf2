"""Unit conversions that sources share, so that a percentage means the same ratio everywhere."""

from __future__ import annotations


def percent_to_ratio(percent: float | None, *, clamp: bool = False) -> float | None:
    """A percentage as a ratio (NUT's battery.charge 80 -> 0.8). With `clamp`, kept within 0..1 (a progress
    value may overshoot); without it, values above 100 stay (NVMe percentage_used can exceed 100)."""
    if percent is None:
        return None
    ratio = percent / 100
    return max(0.0, min(1.0, ratio)) if clamp else ratio
