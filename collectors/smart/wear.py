"""How much of an SSD's rated endurance is used, from whichever field the drive and smartctl provide.

One number for every protocol, 0 (new) to 100 (rated endurance reached; it may go beyond), so that
`physgap_drive_wear_ratio` and the wear rule mean the same for NVMe, SATA and SAS. Sources:

- NVMe: `percentage_used` of the SMART/Health log (the collector's NvmeHealth).
- SAS/SCSI: `scsi_percentage_used_endurance_indicator` (the Solid State Media log page, SBC-4).
- SATA, the standard figure: ACS-3 device statistics page 7 "Percentage Used Endurance Indicator"
  (`ata_device_statistics`, present with `-l ssd`/`-l devstat`/`-x`; smartctl 7.5 also summarises it as
  the top-level `endurance_used.current_percent`). The same definition as NVMe's: a vendor estimate of life
  used, 0-255.
- SATA, the vendor attribute, each in its own convention (smartctl drive database names; the corpus
  ../shared/corpus/smart-wear shows one capture per convention):
  169 Remaining_Lifetime_Perc (Silicon Motion): the RAW value is the life remaining, the normalized value
      never moves (Transcend MTS400: normalized 100, raw 96 -> 4 % used);
  202 Percent_Lifetime_Remain / Perc_Rated_Life_Used (Micron, Crucial): the RAW value is the percent USED,
      despite the "Remain" name (Micron 5300: normalized 99, raw 1 -> 1 % used; raw 1 is never "1 %
      remaining"), and it counts on past 100 where the normalized value stops at 1 (a worn-out m4: 355);
  233 Media_Wearout_Indicator (Intel): normalized = life remaining, raw 0 (S3500: 22 -> 78 % used);
  231 SSD_Life_Left (SandForce, Phison/Kingston): normalized = life remaining;
  177 Wear_Leveling_Count (Samsung): normalized = life remaining, raw = average P/E cycles, a count and
      not a percentage (SM843T: normalized 90, raw 1773 -> 10 % used).

The attribute ID alone says nothing: 233 is `SandForce_Internal` on SandForce drives (normalized 0 on a
new OCZ Vertex 2, which an ID-only rule reads as worn out), 202 is `Exception_Mode_Status` on Samsung and
`Data_Address_Mark_Errs` in smartctl's default table, 177 is `Wear_Range_Delta` on SandForce. So an
attribute counts only under its wear name, only when smartctl found the drive in its database (otherwise
the names are smartctl's generic defaults, not the vendor's), only on a drive that does not spin, and 177
not on Silicon Motion controllers (whose normalized values stay at 100).

When a drive has more than one of these, the highest reading wins (ties: the order above, the standard
figure first). They estimate the same thing, and a health monitor must not pick the milder one: the corpus'
worn-out Crucial m4 (FAILED, 173 and 202 failing now) still reports 3 % in its device statistics, while its
attribute 202 says 355 %. On the healthy m4 the two differ by a point (3 and 2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from collectors.smart.ranges import LIFE_PERCENT, PERCENTAGE_USED, RAW_PERCENTAGE_USED, plausible
from collectors.smart.values import as_int

if TYPE_CHECKING:
    from collectors.smart.parse import AtaAttribute

DEVICE_STATISTICS = "ATA device statistics (percentage used endurance indicator)"
ENDURANCE_USED = "smartctl endurance_used"
SCSI_INDICATOR = "SCSI percentage used endurance indicator"
NVME_PERCENTAGE_USED = "NVMe percentage used"

# ACS-3 Device Statistics: page 7 (Solid State Device Statistics), offset 8.
_DEVSTAT_PAGE, _DEVSTAT_OFFSET = 7, 8
_DEVSTAT_NAME = "percentage used endurance indicator"


@dataclass(frozen=True)
class Wear:
    percent_used: int  # of rated endurance; 0 new, 100 reached, may exceed 100
    source: str  # which field said so, for the evidence: "233 Media_Wearout_Indicator", "NVMe percentage used"


NORMALIZED_REMAINING, RAW_REMAINING, RAW_USED = "normalized = % remaining", "raw = % remaining", "raw = % used"


@dataclass(frozen=True)
class VendorWear:
    """One vendor wear attribute: its ID, the names it carries in smartctl's drive database, and which of its
    values says what."""

    id: int
    names: tuple[str, ...]
    convention: str = NORMALIZED_REMAINING
    not_in_families: re.Pattern[str] | None = None  # drive families whose values for it never move


# In order of preference when two say the same.
VENDOR_WEAR: tuple[VendorWear, ...] = (
    VendorWear(169, ("Remaining_Lifetime_Perc",), RAW_REMAINING),
    VendorWear(202, ("Percent_Lifetime_Remain", "Perc_Rated_Life_Used"), RAW_USED),
    VendorWear(233, ("Media_Wearout_Indicator",)),
    VendorWear(231, ("SSD_Life_Left",)),
    VendorWear(177, ("Wear_Leveling_Count",), not_in_families=re.compile(r"Silicon Motion", re.IGNORECASE)),
)


def scsi_wear(document: Mapping[str, Any], dropped: list[str]) -> Wear | None:
    value = plausible("SCSI percentage used endurance indicator",
                      as_int(document.get("scsi_percentage_used_endurance_indicator")), PERCENTAGE_USED, dropped)
    return _worst(Wear(value, SCSI_INDICATOR) if value is not None else None, _endurance_used(document, dropped))


def ata_wear(document: Mapping[str, Any], attributes: Mapping[int, AtaAttribute], rotational: bool | None,
             dropped: list[str]) -> Wear | None:  # fmt: skip
    found = [_device_statistics(document, dropped), _endurance_used(document, dropped)]
    if rotational is not True and _names_are_the_vendors(document):
        family = document.get("model_family")
        family_text = family if isinstance(family, str) else ""
        for known in VENDOR_WEAR:
            attribute = attributes.get(known.id)
            if attribute is None or attribute.name not in known.names:
                continue
            if known.not_in_families is None or not known.not_in_families.search(family_text):
                found.append(_vendor(known, attribute, dropped))
    return _worst(*found)


def _vendor(known: VendorWear, attribute: AtaAttribute, dropped: list[str]) -> Wear | None:
    label = f"{attribute.id} {attribute.name}"
    if known.convention == RAW_USED:
        used = plausible(f"{label} percent used", attribute.raw_value, RAW_PERCENTAGE_USED, dropped)
        return Wear(used, f"{label} raw {used}") if used is not None else None
    raw = known.convention == RAW_REMAINING
    remaining = plausible(f"{label} life remaining", attribute.raw_value if raw else attribute.value, LIFE_PERCENT,
                          dropped)
    if remaining is None:
        return None
    return Wear(100 - remaining, f"{label} {'raw' if raw else 'normalized'} {remaining}")


def _worst(*candidates: Wear | None) -> Wear | None:
    """The highest reading; the first of equals (the standard figure before vendor attributes)."""
    best: Wear | None = None
    for candidate in candidates:
        if candidate is not None and (best is None or candidate.percent_used > best.percent_used):
            best = candidate
    return best


def _names_are_the_vendors(document: Mapping[str, Any]) -> bool:
    """Attribute names come from smartctl's drive database only when it knows the drive; otherwise they are
    its generic defaults (the corpus P3-2TB: not in the database, 177 named Wear_Leveling_Count anyway)."""
    known = document.get("in_smartctl_database")
    if isinstance(known, bool):
        return known
    family = document.get("model_family")
    return isinstance(family, str) and bool(family.strip())  # smartctl < 7.0 JSON: family shown only when known


def _device_statistics(document: Mapping[str, Any], dropped: list[str]) -> Wear | None:
    statistics = document.get("ata_device_statistics")
    pages = statistics.get("pages") if isinstance(statistics, dict) else None
    if not isinstance(pages, list):
        return None
    for page in pages:
        if not isinstance(page, dict) or not isinstance(page.get("table"), list):
            continue
        for entry in page["table"]:
            if not isinstance(entry, dict):
                continue
            name = entry.get("name")
            named = isinstance(name, str) and name.strip().lower() == _DEVSTAT_NAME
            placed = as_int(page.get("number")) == _DEVSTAT_PAGE and as_int(entry.get("offset")) == _DEVSTAT_OFFSET
            if not (named or placed):
                continue
            flags = entry.get("flags")
            if isinstance(flags, dict) and flags.get("valid") is False:
                return None  # the drive says the value is not valid
            value = plausible("device statistics percentage used", as_int(entry.get("value")), PERCENTAGE_USED,
                              dropped)
            return Wear(value, DEVICE_STATISTICS) if value is not None else None
    return None


def _endurance_used(document: Mapping[str, Any], dropped: list[str]) -> Wear | None:
    """smartctl 7.5's summary (`endurance_used: {current_percent}`), for drives it knows how to read."""
    summary = document.get("endurance_used")
    if not isinstance(summary, dict):
        return None
    value = plausible("endurance_used", as_int(summary.get("current_percent")), PERCENTAGE_USED, dropped)
    return Wear(value, ENDURANCE_USED) if value is not None else None


__all__ = ["DEVICE_STATISTICS", "ENDURANCE_USED", "NVME_PERCENTAGE_USED", "SCSI_INDICATOR", "VENDOR_WEAR",
           "VendorWear", "Wear", "ata_wear", "scsi_wear"]
