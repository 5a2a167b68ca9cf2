"""Config-space decoding: the facts the slot logic stands on (slot implemented, presence, link, hot-plug)."""

from __future__ import annotations

import random
import struct

import pytest

from collectors.pcie.pciconfig import (
    bridge_buses,
    capability_offsets,
    parse_pcie_capability,
    status_span,
    with_status,
    without_status,
)
from tests.pcie_tree import Function, Slot, encode_config


def _zimaboard_empty_slot_port() -> bytes:
    """ZimaBoard 00:13.0 encoded by hand from its lspci lines, independently of tests/pcie_tree.py.

    Express (v2) Root Port (Slot+) at [40]; LnkCap Speed 5GT/s Width x4; LnkSta 2.5GT/s x0;
    SltCap HotPlug- Surprise-, Slot #2, PowerLimit 25W, NoCompl+; SltSta PresDet-.
    """
    config = bytearray(256)
    config[0:4] = bytes.fromhex("8680d85a")  # 8086:5ad8, little-endian
    config[6] = 0x10  # status: capabilities list
    config[0x0E] = 0x01  # header type 1 (bridge)
    config[0x18:0x1B] = bytes([0x00, 0x01, 0x01])  # primary 00, secondary 01, subordinate 01
    config[0x34] = 0x40
    config[0x40:0x44] = bytes([0x10, 0x80, 0x42, 0x01])  # PCIe cap, next 0x80, v2 | root port<<4 | Slot+
    config[0x4C:0x50] = (0x00000042).to_bytes(4, "little")  # LnkCap: speed 2 (5GT/s), width 4
    config[0x52:0x54] = (0x0001).to_bytes(2, "little")  # LnkSta: speed 1 (2.5GT/s), width 0
    # SltCap: slot 2 << 19 | NoCompl (bit 18) | power 250 (bits 14:7) scale 1 (0.1x, bits 16:15) = 25 W
    config[0x54:0x58] = ((2 << 19) | (1 << 18) | (1 << 15) | (250 << 7)).to_bytes(4, "little")
    config[0x80:0x82] = bytes([0x05, 0x00])  # MSI, end of list
    return bytes(config)


def test_empty_slot_root_port_decodes_as_lspci_shows_it() -> None:
    cap = parse_pcie_capability(_zimaboard_empty_slot_port())
    assert cap is not None
    assert cap.port_type == "root_port"
    assert cap.slot_implemented is True
    assert cap.physical_slot == 2
    assert (cap.hot_plug_capable, cap.hot_plug_surprise) == (False, False)
    assert cap.presence_detect is False
    assert (cap.max_speed_gts, cap.max_width) == (5.0, 4)
    assert (cap.speed_gts, cap.width) == (2.5, 0)
    assert cap.link_active is False


def test_thunderbolt_port_is_hot_plug_with_surprise() -> None:
    port = Function("0000:00:07.0", 0x8086, 0xA76E, 0x060400, "root_port", 2.5, 4, 2.5, 0, secondary=3,
                    subordinate=0x2C, slot=Slot(3, presence=False, hot_plug=True, surprise=True))  # fmt: skip
    cap = parse_pcie_capability(encode_config(port))
    assert cap is not None
    assert (cap.hot_plug_capable, cap.hot_plug_surprise, cap.presence_detect) == (True, True, False)
    assert cap.physical_slot == 3


def test_endpoint_behind_other_capabilities_is_found() -> None:
    # X710: Power Management at [40], MSI, then Express at [a0].
    x710 = Function("0000:02:00.0", 0x8086, 0x1572, 0x020000, "endpoint", 8.0, 4, 8.0, 2, cap_offset=0xA0)
    config = encode_config(x710)
    assert capability_offsets(config)[0x10] == 0xA0
    cap = parse_pcie_capability(config)
    assert cap is not None
    assert cap.port_type == "endpoint"
    assert cap.slot_implemented is False and cap.presence_detect is None and cap.physical_slot is None
    assert (cap.max_speed_gts, cap.max_width, cap.speed_gts, cap.width) == (8.0, 4, 8.0, 2)


@pytest.mark.parametrize(("speed", "code"), [(2.5, 1), (5.0, 2), (8.0, 3), (16.0, 4), (32.0, 5), (64.0, 6)])
def test_every_link_speed_generation(speed: float, code: int) -> None:
    config = bytearray(_zimaboard_empty_slot_port())
    config[0x52:0x54] = (code | (16 << 4)).to_bytes(2, "little")
    cap = parse_pcie_capability(bytes(config))
    assert cap is not None
    assert (cap.speed_gts, cap.width) == (speed, 16)


def test_largest_physical_slot_number() -> None:
    config = bytearray(_zimaboard_empty_slot_port())
    config[0x54:0x58] = (0x1FFF << 19).to_bytes(4, "little")
    cap = parse_pcie_capability(bytes(config))
    assert cap is not None and cap.physical_slot == 8191


def test_unprivileged_64_byte_read_gives_none_but_bus_numbers() -> None:
    config = _zimaboard_empty_slot_port()[:64]
    assert parse_pcie_capability(config) is None
    buses = bridge_buses(config)
    assert buses is not None and (buses.primary, buses.secondary, buses.subordinate) == (0, 1, 1)


def test_slot_registers_cut_off_gives_none_not_a_guess() -> None:
    # Capability header and link registers present, slot status missing: "empty" would be a guess.
    assert parse_pcie_capability(_zimaboard_empty_slot_port()[:0x58]) is None


def test_conventional_pci_function_has_no_pcie_capability() -> None:
    host_bridge = Function("0000:00:00.0", 0x8086, 0xA706, 0x060000, pcie=None)
    assert parse_pcie_capability(encode_config(host_bridge)) is None


def test_integrated_endpoint_has_no_link_fields() -> None:
    igpu = Function("0000:00:02.0", 0x8086, 0xA7A0, 0x030000, "rc_integrated_endpoint", cap_offset=0x70)
    cap = parse_pcie_capability(encode_config(igpu))
    assert cap is not None
    assert cap.port_type == "rc_integrated_endpoint"
    assert (cap.max_speed_gts, cap.max_width, cap.speed_gts, cap.width) == (None, None, None, None)


def test_slot_implemented_bit_on_an_endpoint_is_ignored() -> None:
    config = bytearray(encode_config(Function("0000:02:00.0", 0x8086, 0x1572, 0x020000, "endpoint", 8.0, 4, 8.0, 4)))
    flags = struct.unpack_from("<H", config, 0x42)[0]
    struct.pack_into("<H", config, 0x42, flags | 0x0100)
    cap = parse_pcie_capability(bytes(config))
    assert cap is not None and cap.slot_implemented is False


def test_capability_list_loops_terminate() -> None:
    config = bytearray(_zimaboard_empty_slot_port())
    config[0x34] = 0x80
    config[0x80:0x82] = bytes([0x05, 0x90])
    config[0x90:0x92] = bytes([0x01, 0x80])  # points back to 0x80
    assert parse_pcie_capability(bytes(config)) is None
    config[0x80:0x82] = bytes([0x05, 0x80])  # points to itself
    assert parse_pcie_capability(bytes(config)) is None


@pytest.mark.parametrize("pointer", [0x00, 0x10, 0x3C])
def test_pointers_into_the_header_stop_the_walk(pointer: int) -> None:
    config = bytearray(_zimaboard_empty_slot_port())
    config[0x34] = pointer
    assert parse_pcie_capability(bytes(config)) is None


def test_pointer_past_the_end_of_the_read_stops_the_walk() -> None:
    config = bytearray(_zimaboard_empty_slot_port())
    config[0x34] = 0xF0
    assert parse_pcie_capability(bytes(config[:0xF0])) is None


def test_vanished_device_reads_all_ones() -> None:
    assert parse_pcie_capability(b"\xff" * 4096) is None
    assert bridge_buses(b"\xff" * 64) is None


def test_status_without_capability_list_is_respected() -> None:
    config = bytearray(_zimaboard_empty_slot_port())
    config[6] = 0x00
    assert parse_pcie_capability(bytes(config)) is None


def test_random_garbage_never_raises() -> None:
    rng = random.Random(20240601)
    for size in (0, 1, 63, 64, 65, 255, 256, 4096) * 40:
        config = bytearray(rng.randbytes(size))
        if size > 0x34:
            config[6] |= 0x10  # make the walker actually walk
        cap = parse_pcie_capability(bytes(config))
        if cap is not None:
            assert cap.width is None or 0 <= cap.width <= 63


# --- status re-read on its own -------------------------------------------------------------------------


def test_status_registers_alone_decode_as_a_full_read_does() -> None:
    config = bytearray(_zimaboard_empty_slot_port())
    cap = parse_pcie_capability(bytes(config))
    assert cap is not None
    span = status_span(cap)
    assert span == (0x52, 10)  # Link Status through Slot Status: three config accesses
    # A card goes in and trains at 5GT/s x2: Link Status and Slot Status change, nothing else does.
    config[0x52:0x54] = (0x0002 | (2 << 4) | 0x2000).to_bytes(2, "little")
    config[0x5A:0x5C] = (0x0040).to_bytes(2, "little")
    offset, length = span
    refreshed = with_status(cap, bytes(config[offset : offset + length]))
    assert refreshed == parse_pcie_capability(bytes(config))
    assert (refreshed.speed_gts, refreshed.width, refreshed.link_active, refreshed.presence_detect) == (
        5.0, 2, True, True,
    )  # fmt: skip


@pytest.mark.parametrize("data", [b"", b"\x01\x00", b"\xff" * 10], ids=["unreadable", "cut-short", "all-ones"])
def test_status_that_cannot_be_read_is_unknown_not_guessed(data: bytes) -> None:
    cap = parse_pcie_capability(_zimaboard_empty_slot_port())
    assert cap is not None
    refreshed = with_status(cap, data)
    assert (refreshed.speed_gts, refreshed.width, refreshed.link_active, refreshed.presence_detect) == (
        None, None, None, None,
    )  # fmt: skip
    assert (refreshed.max_width, refreshed.slot_implemented, refreshed.physical_slot) == (4, True, 2)


def test_endpoint_status_span_covers_link_status_only() -> None:
    x710 = Function("0000:02:00.0", 0x8086, 0x1572, 0x020000, "endpoint", 8.0, 4, 8.0, 4, cap_offset=0xA0)
    cap = parse_pcie_capability(encode_config(x710))
    assert cap is not None and status_span(cap) == (0xB2, 2)
    igpu = Function("0000:00:02.0", 0x8086, 0xA7A0, 0x030000, "rc_integrated_endpoint", cap_offset=0x70)
    integrated = parse_pcie_capability(encode_config(igpu))
    assert integrated is not None and status_span(integrated) is None  # no link registers at all
    assert without_status(cap).width is None and without_status(cap).max_width == 4
