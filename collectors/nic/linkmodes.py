"""The kernel's ethtool link-mode table and the small parsers built on it.

The table mirrors `enum ethtool_link_mode_bit_indices` in include/uapi/linux/ethtool.h (Linux 6.17,
bits 0-120) with the names the kernel itself prints (net/ethtool/common.c `link_mode_names`), which are
also what the `ethtool` program shows, e.g. "10000baseSR/Full". Bits that are not link speeds (port
types, pause, FEC) live in the same bitmap, so they are kept here with no speed and never count as a
capability.

Everything in this module is pure: no I/O, no state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

WORD_BITS = 32


@dataclass(frozen=True)
class LinkMode:
    bit: int
    name: str
    speed_mbps: int | None  # None for bits that describe ports, pause or FEC rather than a speed
    duplex: str | None  # "full" / "half"; None for non-speed bits


LINK_MODES: tuple[LinkMode, ...] = (
    LinkMode(0, "10baseT/Half", 10, "half"),
    LinkMode(1, "10baseT/Full", 10, "full"),
    LinkMode(2, "100baseT/Half", 100, "half"),
    LinkMode(3, "100baseT/Full", 100, "full"),
    LinkMode(4, "1000baseT/Half", 1000, "half"),
    LinkMode(5, "1000baseT/Full", 1000, "full"),
    LinkMode(6, "Autoneg", None, None),
    LinkMode(7, "TP", None, None),
    LinkMode(8, "AUI", None, None),
    LinkMode(9, "MII", None, None),
    LinkMode(10, "FIBRE", None, None),
    LinkMode(11, "BNC", None, None),
    LinkMode(12, "10000baseT/Full", 10000, "full"),
    LinkMode(13, "Pause", None, None),
    LinkMode(14, "Asym_Pause", None, None),
    LinkMode(15, "2500baseX/Full", 2500, "full"),
    LinkMode(16, "Backplane", None, None),
    LinkMode(17, "1000baseKX/Full", 1000, "full"),
    LinkMode(18, "10000baseKX4/Full", 10000, "full"),
    LinkMode(19, "10000baseKR/Full", 10000, "full"),
    LinkMode(20, "10000baseR_FEC", None, None),
    LinkMode(21, "20000baseMLD2/Full", 20000, "full"),
    LinkMode(22, "20000baseKR2/Full", 20000, "full"),
    LinkMode(23, "40000baseKR4/Full", 40000, "full"),
    LinkMode(24, "40000baseCR4/Full", 40000, "full"),
    LinkMode(25, "40000baseSR4/Full", 40000, "full"),
    LinkMode(26, "40000baseLR4/Full", 40000, "full"),
    LinkMode(27, "56000baseKR4/Full", 56000, "full"),
    LinkMode(28, "56000baseCR4/Full", 56000, "full"),
    LinkMode(29, "56000baseSR4/Full", 56000, "full"),
    LinkMode(30, "56000baseLR4/Full", 56000, "full"),
    LinkMode(31, "25000baseCR/Full", 25000, "full"),
    LinkMode(32, "25000baseKR/Full", 25000, "full"),
    LinkMode(33, "25000baseSR/Full", 25000, "full"),
    LinkMode(34, "50000baseCR2/Full", 50000, "full"),
    LinkMode(35, "50000baseKR2/Full", 50000, "full"),
    LinkMode(36, "100000baseKR4/Full", 100000, "full"),
    LinkMode(37, "100000baseSR4/Full", 100000, "full"),
    LinkMode(38, "100000baseCR4/Full", 100000, "full"),
    LinkMode(39, "100000baseLR4_ER4/Full", 100000, "full"),
    LinkMode(40, "50000baseSR2/Full", 50000, "full"),
    LinkMode(41, "1000baseX/Full", 1000, "full"),
    LinkMode(42, "10000baseCR/Full", 10000, "full"),
    LinkMode(43, "10000baseSR/Full", 10000, "full"),
    LinkMode(44, "10000baseLR/Full", 10000, "full"),
    LinkMode(45, "10000baseLRM/Full", 10000, "full"),
    LinkMode(46, "10000baseER/Full", 10000, "full"),
    LinkMode(47, "2500baseT/Full", 2500, "full"),
    LinkMode(48, "5000baseT/Full", 5000, "full"),
    LinkMode(49, "None", None, None),
    LinkMode(50, "RS", None, None),
    LinkMode(51, "BASER", None, None),
    LinkMode(52, "50000baseKR/Full", 50000, "full"),
    LinkMode(53, "50000baseSR/Full", 50000, "full"),
    LinkMode(54, "50000baseCR/Full", 50000, "full"),
    LinkMode(55, "50000baseLR_ER_FR/Full", 50000, "full"),
    LinkMode(56, "50000baseDR/Full", 50000, "full"),
    LinkMode(57, "100000baseKR2/Full", 100000, "full"),
    LinkMode(58, "100000baseSR2/Full", 100000, "full"),
    LinkMode(59, "100000baseCR2/Full", 100000, "full"),
    LinkMode(60, "100000baseLR2_ER2_FR2/Full", 100000, "full"),
    LinkMode(61, "100000baseDR2/Full", 100000, "full"),
    LinkMode(62, "200000baseKR4/Full", 200000, "full"),
    LinkMode(63, "200000baseSR4/Full", 200000, "full"),
    LinkMode(64, "200000baseLR4_ER4_FR4/Full", 200000, "full"),
    LinkMode(65, "200000baseDR4/Full", 200000, "full"),
    LinkMode(66, "200000baseCR4/Full", 200000, "full"),
    LinkMode(67, "100baseT1/Full", 100, "full"),
    LinkMode(68, "1000baseT1/Full", 1000, "full"),
    LinkMode(69, "400000baseKR8/Full", 400000, "full"),
    LinkMode(70, "400000baseSR8/Full", 400000, "full"),
    LinkMode(71, "400000baseLR8_ER8_FR8/Full", 400000, "full"),
    LinkMode(72, "400000baseDR8/Full", 400000, "full"),
    LinkMode(73, "400000baseCR8/Full", 400000, "full"),
    LinkMode(74, "LLRS", None, None),
    LinkMode(75, "100000baseKR/Full", 100000, "full"),
    LinkMode(76, "100000baseSR/Full", 100000, "full"),
    LinkMode(77, "100000baseLR_ER_FR/Full", 100000, "full"),
    LinkMode(78, "100000baseCR/Full", 100000, "full"),
    LinkMode(79, "100000baseDR/Full", 100000, "full"),
    LinkMode(80, "200000baseKR2/Full", 200000, "full"),
    LinkMode(81, "200000baseSR2/Full", 200000, "full"),
    LinkMode(82, "200000baseLR2_ER2_FR2/Full", 200000, "full"),
    LinkMode(83, "200000baseDR2/Full", 200000, "full"),
    LinkMode(84, "200000baseCR2/Full", 200000, "full"),
    LinkMode(85, "400000baseKR4/Full", 400000, "full"),
    LinkMode(86, "400000baseSR4/Full", 400000, "full"),
    LinkMode(87, "400000baseLR4_ER4_FR4/Full", 400000, "full"),
    LinkMode(88, "400000baseDR4/Full", 400000, "full"),
    LinkMode(89, "400000baseCR4/Full", 400000, "full"),
    LinkMode(90, "100baseFX/Half", 100, "half"),
    LinkMode(91, "100baseFX/Full", 100, "full"),
    LinkMode(92, "10baseT1L/Full", 10, "full"),
    LinkMode(93, "800000baseCR8/Full", 800000, "full"),
    LinkMode(94, "800000baseKR8/Full", 800000, "full"),
    LinkMode(95, "800000baseDR8/Full", 800000, "full"),
    LinkMode(96, "800000baseDR8_2/Full", 800000, "full"),
    LinkMode(97, "800000baseSR8/Full", 800000, "full"),
    LinkMode(98, "800000baseVR8/Full", 800000, "full"),
    LinkMode(99, "10baseT1S/Full", 10, "full"),
    LinkMode(100, "10baseT1S/Half", 10, "half"),
    LinkMode(101, "10baseT1S_P2MP/Half", 10, "half"),
    LinkMode(102, "10baseT1BRR/Full", 10, "full"),
    LinkMode(103, "200000baseCR/Full", 200000, "full"),
    LinkMode(104, "200000baseKR/Full", 200000, "full"),
    LinkMode(105, "200000baseDR/Full", 200000, "full"),
    LinkMode(106, "200000baseDR_2/Full", 200000, "full"),
    LinkMode(107, "200000baseSR/Full", 200000, "full"),
    LinkMode(108, "200000baseVR/Full", 200000, "full"),
    LinkMode(109, "400000baseCR2/Full", 400000, "full"),
    LinkMode(110, "400000baseKR2/Full", 400000, "full"),
    LinkMode(111, "400000baseDR2/Full", 400000, "full"),
    LinkMode(112, "400000baseDR2_2/Full", 400000, "full"),
    LinkMode(113, "400000baseSR2/Full", 400000, "full"),
    LinkMode(114, "400000baseVR2/Full", 400000, "full"),
    LinkMode(115, "800000baseCR4/Full", 800000, "full"),
    LinkMode(116, "800000baseKR4/Full", 800000, "full"),
    LinkMode(117, "800000baseDR4/Full", 800000, "full"),
    LinkMode(118, "800000baseDR4_2/Full", 800000, "full"),
    LinkMode(119, "800000baseSR4/Full", 800000, "full"),
    LinkMode(120, "800000baseVR4/Full", 800000, "full"),
)

BY_BIT: dict[int, LinkMode] = {mode.bit: mode for mode in LINK_MODES}
BY_NAME: dict[str, LinkMode] = {mode.name: mode for mode in LINK_MODES}
NBITS = len(LINK_MODES)
# What a kernel with this table answers in the GLINKSETTINGS handshake; newer kernels may answer more.
NWORDS = (NBITS + WORD_BITS - 1) // WORD_BITS


def modes_from_bitmap(words: Sequence[int]) -> tuple[str, ...]:
    """Names of the bits set in a link-mode bitmap given as 32-bit words, least significant word first.

    Bits this table does not know (a kernel newer than the table) are left out rather than invented a name.
    """
    names: list[str] = []
    for index, word in enumerate(words):
        value = word & 0xFFFFFFFF
        while value:
            low = value & -value
            mode = BY_BIT.get(index * WORD_BITS + low.bit_length() - 1)
            if mode is not None:
                names.append(mode.name)
            value ^= low
    return tuple(names)


def bitmap_from_modes(names: Iterable[str], nwords: int = NWORDS) -> list[int]:
    """Inverse of modes_from_bitmap: the kernel's word layout for the given mode names."""
    words = [0] * nwords
    for name in names:
        mode = BY_NAME.get(name)
        if mode is None:
            raise ValueError(f"unknown ethtool link mode {name!r}")
        if mode.bit >= nwords * WORD_BITS:
            raise ValueError(f"link mode {name!r} (bit {mode.bit}) does not fit in {nwords} words")
        words[mode.bit // WORD_BITS] |= 1 << (mode.bit % WORD_BITS)
    return words


def best_speed_mbps(modes: Iterable[str]) -> int | None:
    """Fastest speed among the named modes; None when none of them is a speed (e.g. only "TP", or empty)."""
    speeds = [
        mode.speed_mbps
        for mode in (BY_NAME.get(name) for name in modes)
        if mode is not None and mode.speed_mbps is not None
    ]
    return max(speeds, default=None)


# The range a negotiated link speed can have, in Mbit/s. The slowest link the kernel names is 10baseT (and
# a few drivers report 1 for odd PHYs); the fastest Ethernet being standardised is 1.6 Tbit/s (IEEE
# 802.3dj), twice the fastest mode in LINK_MODES. Anything above is no link: it is SPEED_UNKNOWN (-1) read
# as an unsigned 32-bit number (4294967295), or a driver's garbage, and a rule must never judge it.
MIN_LINK_MBPS = 1
MAX_LINK_MBPS = 1_600_000
# 65535 lies inside that range but is no link speed either: the legacy ethtool_cmd keeps the speed in a
# 16-bit field, and a driver that stores SPEED_UNKNOWN there reports 0xFFFF. No standard rate is 65.535G.
SPEED_SENTINELS = frozenset({0xFFFF})


def plausible_speed(mbps: int | None) -> int | None:
    """`mbps` when it can be a real link's speed, else None (unknown): see MIN/MAX_LINK_MBPS."""
    if mbps is None or mbps in SPEED_SENTINELS or not MIN_LINK_MBPS <= mbps <= MAX_LINK_MBPS:
        return None
    return mbps


_SPEED_RE = re.compile(
    r"(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>[mgt]?)(?:b|bit|bps|bit/s|b/s)?", re.IGNORECASE
)
_UNIT_MBPS = {"": Decimal(1), "m": Decimal(1), "g": Decimal(1000), "t": Decimal(1000000)}


def parse_speed(text: str) -> int | None:
    """Mbit/s for a configured link speed such as "10G", "2.5G", "1000M", "100M" or a bare "1000" (Mbit/s).

    An empty value or "auto" means "no expectation" and gives None. Anything else that is not a positive,
    whole number of Mbit/s raises ValueError with a message fit for `check-config`.
    """
    if not isinstance(text, str):
        raise ValueError(f"link speed must be a string like \"10G\", not {text!r}")
    stripped = text.strip()
    if stripped.lower() in ("", "auto"):
        return None
    match = _SPEED_RE.fullmatch(stripped)
    if match is None:
        raise ValueError(f"not a link speed: {text!r} (expected e.g. \"10G\", \"2.5G\", \"1000M\")")
    mbps = Decimal(match["number"]) * _UNIT_MBPS[match["unit"].lower()]
    if mbps <= 0 or mbps != mbps.to_integral_value():
        raise ValueError(f"link speed {text!r} is not a positive whole number of Mbit/s")
    if mbps > MAX_LINK_MBPS:
        # An expectation no link can meet would keep P3 open for ever.
        raise ValueError(f"link speed {text!r} is faster than any Ethernet link (at most 1.6T)")
    return int(mbps)
