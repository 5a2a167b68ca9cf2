"""What a drive can plausibly report: one range per number a DriveReading carries.

smartctl passes on what the drive (or a USB bridge, a RAID firmware, a half-dead controller) put in its
answer. Fillers such as 0xFF, 0xFFFF_FFFF or a 48-bit all-ones raw word, sign-extended bytes (a temperature
byte 0xE5 read as -27 °C) and vendor-packed words are not measurements; a value outside its range is
dropped (absent), never exported or judged. The parser applies these ranges in the source's units, so the
verdict never judges a filler either; the collector applies `READING_RANGES` once more to the finished
reading, in the reading's units, so that every numeric field has exactly one range and no code path can
bypass it.

Fields not listed are physgap's own (health, exit_status masked to 8 bits, skipped_checks, read_at).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

Number = TypeVar("Number", int, float)

_YEAR_SECONDS = 365.25 * 24 * 3600


@dataclass(frozen=True)
class Range:
    """Inclusive bounds of a plausible value."""

    low: float
    high: float

    def admits(self, value: float) -> bool:
        return self.low <= value <= self.high


# Temperature in °C. Low bound 1: 0 is what RAID volumes and virtual disks report when they have no sensor,
# and nothing below freezing is a reading of a drive in service: HDDs and consumer SSDs are specified to
# operate from 0-5 °C and warm themselves above the room, while a negative number is almost always a
# sign-extended byte (0xE5 -> -27) or a Kelvin conversion of 0 (-273). High bound 125: the maximum
# junction temperature of the silicon itself; drives shut down long before (NVMe CCTEMP 80-95 °C), so
# anything above, such as the SCSI "not available" 255 or 128 (0x80 read unsigned), is a filler.
TEMPERATURE_CELSIUS = Range(1, 125)

# Power-on time in seconds. 0 is a new drive. High bound 40 years: SMART itself dates from the mid-1990s,
# so no drive can have run longer; larger values are vendor-packed raw words (hours plus milliseconds).
POWER_ON_SECONDS = Range(0, 40 * _YEAR_SECONDS)

# Capacity in bytes. Low bound 1 byte: 0 is "unknown". High bound 2**53 bytes (8 PiB): beyond any single
# drive or RAID volume (the largest drives sold are ~0.25 PiB), and the largest byte count a float (what
# every exporter turns numbers into) still represents exactly.
CAPACITY_BYTES = Range(1, 2**53)

# Sector and error counts (reallocated, pending, uncorrectable, CRC, NVMe media errors). Low bound 0: they
# count events. High bound 2**32 - 2: a 32-bit all-ones raw (corpus ST3160815AS: 197/198 = 4294967295) is a
# saturated or "not available" word, anything wider a vendor-packed one, and no drive remaps or loses
# billions of sectors before it is dead (spare areas hold thousands; the corpus' worst is 5592 pending).
COUNT = Range(0, 0xFFFF_FFFE)

# Percentage of rated endurance used: NVMe Percentage Used, the ATA device-statistics and SCSI "percentage
# used endurance indicator" alike: a one-byte field that may exceed 100 and is capped at 255 by the specs.
PERCENTAGE_USED = Range(0, 255)

# Percent of rated life used as Micron/Crucial attribute 202 counts it in its raw value: it goes on past 100
# where the one-byte fields stop (corpus: a worn-out Crucial m4 at 355). High bound 1000 %: ten times the
# vendor's rated endurance, which no NAND flash survives; beyond that it is a packed or garbage word.
RAW_PERCENTAGE_USED = Range(0, 1000)

# Life remaining in percent, as SATA vendor wear attributes give it (normalized 100 new -> 0, or the raw
# value of Silicon Motion's 169): above 100 is another scale (some normalized values start at 200 or 253).
LIFE_PERCENT = Range(0, 100)

# NVMe Available Spare and its threshold, in percent: "normalized percentage (0% to 100%)" by the spec.
SPARE_PERCENT = Range(0, 100)

# The same ranges in a DriveReading's own units, keyed by field name.
READING_RANGES: Mapping[str, Range] = MappingProxyType({
    "temperature_celsius": TEMPERATURE_CELSIUS,
    "power_on_seconds": POWER_ON_SECONDS,
    "capacity_bytes": CAPACITY_BYTES,
    "reallocated_sectors": COUNT,
    "pending_sectors": COUNT,
    "uncorrectable_sectors": COUNT,
    "media_errors": COUNT,
    "crc_errors": COUNT,
    "wear_ratio": Range(RAW_PERCENTAGE_USED.low / 100, RAW_PERCENTAGE_USED.high / 100),
    "available_spare_ratio": Range(SPARE_PERCENT.low / 100, SPARE_PERCENT.high / 100),
    "available_spare_threshold_ratio": Range(SPARE_PERCENT.low / 100, SPARE_PERCENT.high / 100),
})


def plausible(name: str, value: Number | None, bounds: Range, dropped: list[str]) -> Number | None:
    """`value` (an int stays an int) when it lies within `bounds`; None otherwise, with a note in `dropped`
    (logged at debug)."""
    if value is None:
        return None
    if bounds.admits(value):
        return value
    dropped.append(f"{name} {_show(value)} outside {bounds.low:g}..{bounds.high:g}")
    return None


def _show(value: float) -> str:
    # Never through float(): an integer of hundreds of digits (valid JSON) would raise OverflowError.
    text = str(value) if isinstance(value, int) else f"{value:g}"
    return text if len(text) <= 24 else text[:20] + "..."


__all__ = ["CAPACITY_BYTES", "COUNT", "LIFE_PERCENT", "PERCENTAGE_USED", "POWER_ON_SECONDS", "RAW_PERCENTAGE_USED",
           "READING_RANGES", "SPARE_PERCENT", "TEMPERATURE_CELSIUS", "Range", "plausible"]
