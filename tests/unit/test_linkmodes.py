"""The link-mode table decides "what could this NIC do" (physgap_nic_max_speed_bytes and gap P3)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from collectors.nic.linkmodes import (
    LINK_MODES,
    NWORDS,
    best_speed_mbps,
    bitmap_from_modes,
    modes_from_bitmap,
    parse_speed,
    plausible_speed,
)

# ../shared/corpus next to the repository, as DESIGN.md places it.
CORPUS_CAPTURE = (
    Path(__file__).resolve().parents[3]
    / "shared" / "corpus" / "ethtool" / "ethtool_x710_sfp_at_1g_example.txt"
)
# The project's own copy of the two supported modes from that capture (Intel X710 SFP+ port), so the
# round trip is checked on a fresh clone without the corpus.
X710_SUPPORTED = ("1000baseX/Full", "10000baseSR/Full")


def supported_modes_from_ethtool_text(text: str) -> list[str]:
    """The "Supported link modes:" block of `ethtool <if>` output (continuation lines are indented)."""
    modes: list[str] = []
    in_block = False
    for line in text.splitlines():
        if line.strip().startswith("Supported link modes:"):
            in_block = True
            modes.extend(line.split(":", 1)[1].split())
        elif in_block and (":" in line or not line.strip()):
            break
        elif in_block:
            modes.extend(line.split())
    return modes


def test_x710_capture_round_trips_and_says_10g() -> None:
    if not CORPUS_CAPTURE.is_file():
        pytest.skip(f"corpus capture not present at {CORPUS_CAPTURE}")
    modes = supported_modes_from_ethtool_text(CORPUS_CAPTURE.read_text())
    assert modes == list(X710_SUPPORTED)
    words = bitmap_from_modes(modes)
    assert modes_from_bitmap(words) == tuple(modes)
    assert best_speed_mbps(modes_from_bitmap(words)) == 10000


def test_inline_x710_modes_round_trip() -> None:
    words = bitmap_from_modes(X710_SUPPORTED)
    # Both bits live above 31, i.e. only the GLINKSETTINGS bitmap (not legacy GSET) can carry them.
    assert words[0] == 0
    assert words[1] == (1 << (41 - 32)) | (1 << (43 - 32))
    assert modes_from_bitmap(words) == X710_SUPPORTED
    assert best_speed_mbps(modes_from_bitmap(words)) == 10000


def test_table_matches_kernel_enum_positions() -> None:
    assert [mode.bit for mode in LINK_MODES] == list(range(121))
    assert len({mode.name for mode in LINK_MODES}) == len(LINK_MODES)
    by_bit = {mode.bit: mode.name for mode in LINK_MODES}
    # Spot checks against include/uapi/linux/ethtool.h, one per generation of the enum.
    assert by_bit[5] == "1000baseT/Full"
    assert by_bit[12] == "10000baseT/Full"
    assert by_bit[31] == "25000baseCR/Full"
    assert by_bit[41] == "1000baseX/Full"
    assert by_bit[43] == "10000baseSR/Full"
    assert by_bit[47] == "2500baseT/Full"
    assert by_bit[48] == "5000baseT/Full"
    assert by_bit[92] == "10baseT1L/Full"
    assert by_bit[93] == "800000baseCR8/Full"
    assert by_bit[101] == "10baseT1S_P2MP/Half"
    assert by_bit[120] == "800000baseVR4/Full"


def test_every_speed_matches_its_name_and_non_speed_bits_have_none() -> None:
    non_speed = {"Autoneg", "TP", "AUI", "MII", "FIBRE", "BNC", "Pause", "Asym_Pause", "Backplane",
                 "10000baseR_FEC", "None", "RS", "BASER", "LLRS"}
    for mode in LINK_MODES:
        if mode.name in non_speed:
            assert mode.speed_mbps is None and mode.duplex is None, mode
            continue
        match = re.fullmatch(r"(\d+)base\w+/(Full|Half)", mode.name)
        assert match is not None, mode
        assert mode.speed_mbps == int(match[1])
        assert mode.duplex == match[2].lower()


def test_port_pause_and_fec_bits_are_not_a_capability() -> None:
    # An SFP cage with no module: the driver reports only the port type and pause support.
    modes = modes_from_bitmap(bitmap_from_modes(["FIBRE", "Pause", "Asym_Pause", "Autoneg", "RS"]))
    assert set(modes) == {"FIBRE", "Pause", "Asym_Pause", "Autoneg", "RS"}
    assert best_speed_mbps(modes) is None
    assert best_speed_mbps(()) is None


def test_i226_copper_modes_best_is_2500() -> None:
    i226 = ["10baseT/Half", "10baseT/Full", "100baseT/Half", "100baseT/Full", "1000baseT/Full",
            "2500baseT/Full", "Autoneg", "TP", "Pause", "Asym_Pause"]
    assert best_speed_mbps(modes_from_bitmap(bitmap_from_modes(i226))) == 2500


def test_word_boundaries_and_highest_bit() -> None:
    words = bitmap_from_modes(["25000baseCR/Full", "25000baseKR/Full", "800000baseVR4/Full"])
    assert len(words) == NWORDS == 4
    assert words == [1 << 31, 1 << 0, 0, 1 << (120 - 96)]
    assert modes_from_bitmap(words) == ("25000baseCR/Full", "25000baseKR/Full", "800000baseVR4/Full")
    assert best_speed_mbps(modes_from_bitmap(words)) == 800000


def test_bits_from_a_newer_kernel_are_ignored_not_invented() -> None:
    # A kernel newer than the table may answer with more words and bits this table has no name for.
    words = [1 << 5, 0, 0, (1 << 31) | (1 << 24), 0xFFFFFFFF]
    assert modes_from_bitmap(words) == ("1000baseT/Full", "800000baseVR4/Full")


def test_unknown_mode_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown ethtool link mode"):
        bitmap_from_modes(["10000baseXX/Full"])
    with pytest.raises(ValueError, match="does not fit"):
        bitmap_from_modes(["10000baseSR/Full"], nwords=1)


@pytest.mark.parametrize(
    ("text", "mbps"),
    [
        ("10G", 10000),
        ("2.5G", 2500),
        ("1000M", 1000),
        ("100M", 100),
        ("10g", 10000),
        (" 25G ", 25000),
        ("10Gbit", 10000),
        ("1Gbps", 1000),
        ("1000", 1000),  # bare numbers are Mbit/s, like sysfs `speed` and ethtool
        ("0.1G", 100),
        ("1.6T", 1_600_000),  # the fastest Ethernet being standardised is still a speed one may expect
        ("", None),
        ("auto", None),
    ],
)
def test_parse_speed(text: str, mbps: int | None) -> None:
    assert parse_speed(text) == mbps


@pytest.mark.parametrize("text", ["fast", "10X", "G", "-1G", "0", "0M", "0.5M", "1e4", "10 G G", "ten gig", "2T",
                                  "4294967295"])
def test_parse_speed_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse_speed(text)


@pytest.mark.parametrize("mbps", [10, 100, 1000, 2500, 10_000, 800_000, 1_600_000, 1, 1234])
def test_plausible_speeds_are_kept(mbps: int) -> None:
    assert plausible_speed(mbps) == mbps


@pytest.mark.parametrize("mbps", [None, 0, -1, 65535, 4294967295, 1_600_001, 2**63])
def test_sentinels_and_absurd_speeds_are_unknown(mbps: int | None) -> None:
    """-1 and its u32 twin (SPEED_UNKNOWN), the legacy 16-bit 65535, and anything past 1.6 Tbit/s."""
    assert plausible_speed(mbps) is None


def test_every_link_mode_speed_is_plausible() -> None:
    assert all(plausible_speed(mode.speed_mbps) == mode.speed_mbps for mode in LINK_MODES if mode.speed_mbps)
