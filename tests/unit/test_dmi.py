"""dmidecode type 9 parsing across output generations and the damage real firmware ships.

The snippets follow the formats dmidecode prints (2.8 split headers, 2.9-3.5 merged "x16 PCI Express 4",
3.6 "PCI Express x1" + "Data Bus Width"); the corpus conformance suite runs the same parser over real dumps.
"""

from __future__ import annotations

import pytest

from collectors.pcie.dmi import DmiParseError, normalise_bus_address, parse_slots

HEADER_34 = "# dmidecode 3.4\nGetting SMBIOS data from sysfs.\nSMBIOS 3.5.0 present.\n\n"


def record(handle: int, length: int, *lines: str) -> str:
    body = "".join(f"\t{line}\n" for line in lines)
    return f"Handle 0x{handle:04X}, DMI type 9, {length} bytes\nSystem Slot Information\n{body}\n"


AMI_TEMPLATE_SLOT = (
    "Designation: Slot 1",
    "Type: 32-bit PCI Express x1",
    "Current Usage: Available",
    "Length: Short",
    "ID: 1",
    "Characteristics:",
    "\t3.3 V is provided",
    "\tPME signal is supported",
    "Bus Address: 0000:00:00.0",
)


def test_ami_template_slot_is_sane_but_has_no_usable_address() -> None:
    (slot,) = parse_slots(HEADER_34 + record(9, 17, *AMI_TEMPLATE_SLOT))
    assert slot.designation == "Slot 1"
    assert slot.slot_type == "PCI Express x1"
    assert slot.width == "x1"
    assert slot.usage == "Available"
    assert slot.bus_address is None  # 0000:00:00.0 is the host bridge: a placeholder
    assert slot.record_length == 17
    assert slot.sane is True


def test_pre_36_type_line_splits_width_from_type() -> None:
    text = HEADER_34 + record(
        0x42, 17, "Designation: PCI-E Slot 1", "Type: x16 PCI Express 3", "Current Usage: In Use",
        "Length: Long", "ID: 1", "Bus Address: 0000:07:00.0",
    )  # fmt: skip
    (slot,) = parse_slots(text)
    assert (slot.slot_type, slot.width, slot.usage, slot.bus_address) == (
        "PCI Express 3", "x16", "In Use", "0000:07:00.0",
    )  # fmt: skip


def test_electrical_width_differs_from_physical() -> None:
    # ASUS B760-PLUS style: an x16 connector wired x4.
    (slot,) = parse_slots(HEADER_34 + record(
        0x2E, 29, "Designation: PCIEX16(G4)", "Type: x4 PCI Express 4 x16", "Current Usage: Unavailable",
        "Length: Long", "Bus Address: 0000:00:1c.4", "Data Bus Width: 0", "Peer Devices: 0",
        "Height: Not applicable",
    ))  # fmt: skip
    assert (slot.slot_type, slot.width, slot.physical_width, slot.usage) == (
        "PCI Express 4 x16", "x4", "x16", "Unavailable",
    )  # fmt: skip
    assert slot.sane is True  # 29 bytes with no peers: padded to the 3.5 layout, legal


def test_dmidecode_36_type_and_data_bus_width_lines() -> None:
    text = "# dmidecode 3.6\nGetting SMBIOS data from sysfs.\nSMBIOS 3.2.1 present.\n\n" + record(
        0xF025, 19, "Designation: J7H1", "Type: PCI Express 2 x4", "Data Bus Width: 4x or x4",
        "Current Usage: In Use", "Length: Short", "ID: 0", "Bus Address: 0000:00:13.0",
        "Data Bus Width (Base): 10", "Peer Devices: 0",
    ) + record(
        0x24, 17, "Designation: J98", "Type: M.2 Socket 1-SD", "Data Bus Width: 1x or x1",
        "Current Usage: Available", "Length: Short", "Bus Address: 0000:ff:1f.7",
    ) + record(
        0x9, 17, "Designation: Slot 1", "Type: PCI Express x1", "Data Bus Width: 32 bit",
        "Current Usage: Available", "Length: Short", "Bus Address: 0000:00:00.0",
    )  # fmt: skip
    j7h1, m2, template = parse_slots(text)
    assert (j7h1.slot_type, j7h1.width, j7h1.bus_address, j7h1.sane) == (
        "PCI Express 2 x4", "x4", "0000:00:13.0", True,
    )  # fmt: skip
    assert (m2.slot_type, m2.width, m2.bus_address) == ("M.2 Socket 1-SD", "x1", None)
    assert (template.slot_type, template.width) == ("PCI Express x1", "x1")  # "32 bit" is not a lane count


def test_numeric_base_width_of_older_dmidecode_is_ignored() -> None:
    (slot,) = parse_slots(HEADER_34 + record(
        0x42, 24, "Designation: PEG SLOT X8", "Type: x8 PCI Express 5 x8", "Current Usage: Available",
        "Length: Other", "Bus Address: 0000:00:01.0", "Data Bus Width: 0", "Peer Devices: 0",
    ))  # fmt: skip
    assert slot.width == "x8" and slot.sane is True


def test_asus_b360m_corrupt_records_are_not_sane() -> None:
    text = HEADER_34 + record(
        0x21, 147, "Designation: <BAD INDEX>", "Type: x16 PCI Express", "Current Usage: In Use",
        "Length: Long", "ID: 0", "Bus Address: 0000:01:01.0", "Data Bus Width: 0", "Peer Devices: 128",
    ) + record(
        0x22, 59, "Designation: PCIEX1_1", "Type: x1 PCI Express", "Current Usage: Available",
        "Length: Short", "ID: 1", "Bus Address: 0000:03:1d.2", "Data Bus Width: 0", "Peer Devices: 8",
        "Peer Device 1: 0000:00:00.0 (Width 0)", "Peer Device 2: 0000:80:00.0 (Width 0)",
        "Peer Device 3: 0000:00:00.0 (Width 0)", "Peer Device 4: 0000:00:00.0 (Width 0)",
        "Peer Device 5: b780:22:11.2 (Width 0)", "Peer Device 6: 0000:00:08.6 (Width 198)",
        "Peer Device 7: 7d9c:00:00.0 (Width 0)", "Peer Device 8: 9800:b7:04.2 (Width 138)",
    ) + record(
        0x23, 66, "Designation: }", "Type: x1 PCI Express", "Current Usage: In Use", "Length: Short",
        "ID: 2", "Bus Address: 0000:04:1d.3", "Data Bus Width: 134", "Peer Devices: 163",
    )  # fmt: skip
    bad_index, garbage_peers, bad_length = parse_slots(text)
    assert [s.record_length for s in (bad_index, garbage_peers, bad_length)] == [147, 59, 66]
    assert not bad_index.sane and bad_index.designation == ""
    assert not garbage_peers.sane and "peer group widths out of range" in garbage_peers.problems
    assert not bad_length.sane
    assert [s.usage for s in (bad_index, garbage_peers, bad_length)] == ["In Use", "Available", "In Use"]


def test_out_of_spec_usage_keeps_the_record_out_of_spec_type_does_not() -> None:
    text = HEADER_34 + record(
        0x19, 19, "Designation: PCI-Express 0", "Type: x1 PCI Express x1", "Current Usage: <OUT OF SPEC>",
        "Length: Other", "ID: 1", "Bus Address: 0000:00:1c.0", "Data Bus Width: 8", "Peer Devices: 0",
    ) + record(
        0x3B, 28, "Designation:           ..ptal....P", "Type: <OUT OF SPEC> <OUT OF SPEC>",
        "Current Usage: <OUT OF SPEC>", "Length: <OUT OF SPEC>", "Characteristics: None",
        "Bus Address: 0000:00:00.0",
    ) + record(
        0x0E, 17, "Designation: PCI SLOT 02", "Type: <OUT OF SPEC>", "Data Bus Width: <OUT OF SPEC>",
        "Current Usage: Other", "Length: <OUT OF SPEC>", "Bus Address: 0000:01:00.0",
    )  # fmt: skip
    neousys, garbage, fujitsu = parse_slots(text)
    assert (neousys.usage, neousys.sane, neousys.bus_address) == ("", True, "0000:00:1c.0")
    assert (garbage.usage, garbage.slot_type, garbage.sane) == ("", "", False)
    assert (fujitsu.usage, fujitsu.slot_type, fujitsu.width, fujitsu.sane) == ("Other", "", "", False)


def test_smbios_23_record_without_bus_address() -> None:
    text = "# dmidecode 2.12\nSMBIOS 2.3 present.\n87 structures occupying 3232 bytes.\n\n" + record(
        0x900, 13, "Designation: PCI1", "Type: 64-bit PCI-X", "Current Usage: In Use", "Length: Long", "ID: 1",
    ) + record(
        0x907, 13, "Designation: RAC_CONN", "Type: Proprietary", "Current Usage: Available", "Length: Other",
    )  # fmt: skip
    pcix, rac = parse_slots(text)
    assert (pcix.slot_type, pcix.width, pcix.bus_address, pcix.sane) == ("PCI-X", "", None, True)
    assert (rac.slot_type, rac.usage) == ("Proprietary", "Available")


def test_dmidecode_28_split_header() -> None:
    text = (
        "# dmidecode 2.8\nSMBIOS 2.3 present.\n\nHandle 0x0900\n\tDMI type 9, 13 bytes.\n"
        "\tSystem Slot Information\n\t\tDesignation: PCI1\n\t\tType: 64-bit PCI-X\n"
        "\t\tCurrent Usage: Available\n\t\tLength: Long\n\n"
        "Handle 0x0A00\n\tDMI type 10, 6 bytes.\n\tOn Board Device Information\n\t\tType: Video\n"
    )
    (slot,) = parse_slots(text)
    assert (slot.designation, slot.usage, slot.record_length, slot.handle) == ("PCI1", "Available", 13, "0x0900")


def test_quiet_output_without_handles() -> None:
    text = (
        "System Slot Information\n\tDesignation: J6C1\n\tType: x4 PCI Express 2 x4\n\tCurrent Usage: In Use\n"
        "\tBus Address: 0000:00:14.0\n\nSystem Slot Information\n\tDesignation: J7C1\n"
        "\tType: x2 PCI Express 2 x2\n\tCurrent Usage: In Use\n\tBus Address: 0000:00:14.0\n\n"
    )
    slots = parse_slots(text)
    assert [s.designation for s in slots] == ["J6C1", "J7C1"]
    assert all(s.record_length is None and s.sane for s in slots)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0000:00:00.0", None),
        ("0000:ff:1f.7", None),
        ("ffff:00:1f.7", None),
        ("0000:ff:03.0", None),
        ("0000:00:1f.7", None),
        ("0000:00:1C.4", "0000:00:1c.4"),
        ("0200:00:01.1", "0200:00:01.1"),
        ("0000:a6:00.0", "0000:a6:00.0"),
        ("00:1c.4", None),
        ("garbage", None),
    ],
)
def test_bus_address_normalisation(raw: str, expected: str | None) -> None:
    assert normalise_bus_address(raw) == expected


def test_output_cut_mid_line_marks_only_the_last_record() -> None:
    text = HEADER_34 + record(
        0x42, 17, "Designation: PCI-E Slot 1", "Type: x16 PCI Express 3", "Current Usage: In Use",
        "Bus Address: 0000:07:00.0",
    ) + "Handle 0x0043, DMI type 9, 17 bytes\nSystem Slot Information\n\tDesignation: PCI-E Sl"  # fmt: skip
    first, cut = parse_slots(text)
    assert first.sane and first.designation == "PCI-E Slot 1"
    assert not cut.sane
    assert cut.designation == ""  # never the half-written "PCI-E Sl"

    cut_address = text.rsplit("Handle 0x0043", 1)[0] + (
        "Handle 0x0043, DMI type 9, 17 bytes\nSystem Slot Information\n\tDesignation: PCI-E Slot 2\n"
        "\tType: x8 PCI Express 3\n\tCurrent Usage: Available\n\tBus Address: 0000:0"
    )
    assert parse_slots(cut_address)[1].bus_address is None
    assert not parse_slots(cut_address)[1].sane


def test_stderr_lines_spliced_into_stdout_are_skipped() -> None:
    text = (
        "# dmidecode 3.4\n/sys/firmware/dmi/tables/smbios_entry_point: Permission denied\n"
        "Scanning /dev/mem for entry point.\nSMBIOS 3.5.0 present.\n\n"
        "Handle 0x0042, DMI type 9, 17 bytes\nSystem Slot Information\n\tDesignation: PCI-E Slot 1\n"
        "pcilib: sysfs_read_vpd: read failed: No such device\n"
        "\tType: x16 PCI Express 3\n\tCurrent Usage: In Use\n\tBus Address: 0000:07:00.0\n\n"
    )
    (slot,) = parse_slots(text)
    assert (slot.designation, slot.usage, slot.bus_address, slot.sane) == (
        "PCI-E Slot 1", "In Use", "0000:07:00.0", True,
    )  # fmt: skip


def test_other_record_types_do_not_leak_into_slots() -> None:
    text = HEADER_34 + record(
        0x3E, 17, "Designation: J6C1", "Type: x4 PCI Express 2 x4", "Current Usage: In Use",
    ) + (
        "Handle 0x0050, DMI type 41, 11 bytes\nOnboard Device\n\tReference Designation: Onboard IGD\n"
        "\tType: Video\n\tStatus: Enabled\n\tType Instance: 1\n\tBus Address: 0000:00:02.0\n\n"
        "Handle 0x0051, DMI type 8, 9 bytes\nPort Connector Information\n\tInternal Reference Designator: J1\n"
        "\tType: None\n\n"
    )  # fmt: skip
    (slot,) = parse_slots(text)
    assert slot.bus_address is None and slot.slot_type == "PCI Express 2 x4"


def test_crlf_line_endings() -> None:
    text = (HEADER_34 + record(9, 17, *AMI_TEMPLATE_SLOT)).replace("\n", "\r\n")
    (slot,) = parse_slots(text)
    assert slot.designation == "Slot 1" and slot.sane


@pytest.mark.parametrize(
    "text",
    [
        HEADER_34,
        "# dmidecode 3.4\nScanning /dev/mem for entry point.\n# No SMBIOS nor DMI entry point found, sorry.\n",
        HEADER_34 + "Handle 0x0000, DMI type 0, 26 bytes\nBIOS Information\n\tVendor: AMI\n\n",
    ],
)
def test_dmidecode_output_without_slots_is_empty(text: str) -> None:
    assert parse_slots(text) == ()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "hello world\n",
        '{"slots": []}\n',
        "00:1c.0 PCI bridge [0604]: Intel Corporation Device [8086:51bb]\n\tLnkSta:\tSpeed 5GT/s, Width x1\n",
        "\x00\x01\x02garbage\xff\n",
    ],
)
def test_text_that_is_not_dmidecode_output_raises(text: str) -> None:
    with pytest.raises(DmiParseError):
        parse_slots(text)
