"""Tolerant reading of numbers in smartctl's JSON: a value of the wrong type is absent, never a guess."""

from __future__ import annotations


def as_int(value: object) -> int | None:
    """An integer, or a float with no fraction (smartctl prints some counters as 1.0); None otherwise."""
    if isinstance(value, bool):  # bool is an int subclass; true/false is never a count
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
