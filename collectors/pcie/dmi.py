"""Pure parser of dmidecode text output: SMBIOS type 9 "System Slots" records.

Accepts what dmidecode 2.x-3.6 prints, a full dump or `dmidecode -t slot` (also `-q`), including the
damage real firmware and real captures carry: `<BAD INDEX>` strings, `<OUT OF SPEC>` enums, record
lengths no spec allows, garbage peer groups, missing `Bus Address` (SMBIOS < 2.6), placeholder addresses,
stderr lines spliced into stdout and output cut off mid-line.

Two generations of the `Type:` line exist. dmidecode <= 3.5 prints the data bus width glued to the slot
type (`x16 PCI Express 4`, `32-bit PCI Express x1`, `64-bit PCI-X`); 3.6 prints the bare type
(`PCI Express x1`) and the width on its own `Data Bus Width:` line (`16x or x16`, `32 bit`). Older
versions reuse that label for the numeric SMBIOS 3.2 "base width" byte (`Data Bus Width: 0`), which is
ignored because it is garbage on many boards.

Firmware lies about slots (the Minisforum MS-01 describes five placeholder x1 slots at 0000:00:00.0 and
not its x16 slot), so these records are labels only: `sane` says whether a record's bytes look intact
enough to trust its designation and address; occupancy must come from sysfs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OUT_OF_SPEC = "<OUT OF SPEC>"
BAD_INDEX = "<BAD INDEX>"

USAGES = ("In Use", "Available", "Unavailable", "Other", "Unknown")

_HEADER = re.compile(r"^Handle 0x([0-9A-Fa-f]{4}), DMI type (\d+), (\d+) bytes\.?\s*$")
# dmidecode <= 2.8 split the header over two lines: "Handle 0x0900" then "\tDMI type 9, 13 bytes."
_OLD_HANDLE = re.compile(r"^Handle 0x([0-9A-Fa-f]{4})\s*$")
_OLD_TYPE = re.compile(r"^\s+DMI type (\d+), (\d+) bytes\.?\s*$")
_SLOT_TITLE = "System Slot Information"
# Lines that only dmidecode prints; text with none of them (and no record header) is not dmidecode output.
_MARKERS = (
    re.compile(r"^# dmidecode \d"),
    re.compile(r"^SMBIOS \d+\.\d+(\.\d+)? present"),
    re.compile(r"^# No SMBIOS nor DMI entry point found"),
    re.compile(r"^Table at 0x[0-9A-Fa-f]+\.?$"),
    re.compile(r"^\d+ structures occupying \d+ bytes\.?$"),
)
_FIELDS = (
    "Designation",
    "Type",
    "Current Usage",
    "Bus Address",
    "Data Bus Width",
    "Slot Physical Width",
    "Peer Devices",
)
_PEER = re.compile(r"^Peer Device \d+: (\S+) \(Width (\d+)\)")
_ADDRESS = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
# Width prefix of the pre-3.6 Type line: "x16 ", "32-bit ", or "<OUT OF SPEC>" (printed with or without a
# following space depending on the version). "Other"/"Unknown" widths were printed as an empty prefix.
_TYPE_PREFIX = re.compile(r"^(?:(?P<oos><OUT OF SPEC>)\s*|(?P<width>x\d+|\d+-bit)\s+)(?=\S)")
_LANES = re.compile(r"\bx(\d+)\b")
_TRAILING_LANES = re.compile(r"\bx(\d+)$")
# Peer group widths are lane counts (or, on some firmware, the width enum); neither exceeds 32.
_MAX_LANES = 32


class DmiParseError(ValueError):
    """The text is not dmidecode output at all (empty, another program's output, binary junk)."""


@dataclass(frozen=True)
class SmbiosSlot:
    """One SMBIOS type 9 record as dmidecode printed it, normalised."""

    designation: str  # "" when absent or a bad string index
    slot_type: str  # e.g. "PCI Express 4", "PCI Express x1", "M.2 Socket 3"; "" when out of spec
    width: str  # electrical width, e.g. "x16"; "" when the record gives no lane count
    usage: str  # one of USAGES, or "" for <OUT OF SPEC> / missing
    bus_address: str | None  # "dddd:bb:dd.f"; None when absent or a placeholder
    record_length: int | None  # bytes, from the record header; None in `dmidecode -q` output
    sane: bool  # record looks intact: trust designation and address as labels
    handle: str = ""  # e.g. "0x0009"
    physical_width: str = ""  # mechanical width when given ("Slot Physical Width" or the type's xN)
    problems: tuple[str, ...] = ()  # why the record is not sane


@dataclass
class _RawRecord:
    handle: str
    dmi_type: int | None
    length: int | None
    fields: dict[str, str]
    peers: list[tuple[str, int]]
    truncated: bool = False
    titled: bool = False


def normalise_bus_address(value: str) -> str | None:
    """Lower-case "dddd:bb:dd.f", or None for text that is not an address or a known placeholder.

    Placeholders firmware uses for "no address": 0000:00:00.0 (the host bridge, never a slot), bus 0xff,
    segment 0xffff, and device/function 0xff (dd.f = 1f.7). dmidecode itself omits the line when all of
    segment, bus and devfn are 0xff.
    """
    match = _ADDRESS.match(value.strip())
    if match is None:
        return None
    segment, bus, device, function = (int(g, 16) for g in match.groups())
    if segment == 0xFFFF or bus == 0xFF or (device == 0x1F and function == 7):
        return None
    if segment == bus == device == function == 0:
        return None
    return f"{segment:04x}:{bus:02x}:{device:02x}.{function:x}"


def _is_dmidecode(lines: list[str]) -> bool:
    for line in lines:
        if _HEADER.match(line) or _OLD_HANDLE.match(line) or line.strip() == _SLOT_TITLE:
            return True
        if any(marker.match(line) for marker in _MARKERS):
            return True
    return False


def _split_records(lines: list[str], last_line_cut: bool) -> list[_RawRecord]:
    records: list[_RawRecord] = []
    current: _RawRecord | None = None
    pending_handle: str | None = None  # dmidecode <= 2.8: handle line seen, type line expected next
    for index, line in enumerate(lines):
        header = _HEADER.match(line)
        if header:
            current = _RawRecord(header.group(1), int(header.group(2)), int(header.group(3)), {}, [])
            records.append(current)
            pending_handle = None
            continue
        old_handle = _OLD_HANDLE.match(line)
        if old_handle:
            pending_handle = old_handle.group(1)
            current = None
            continue
        if pending_handle is not None:
            old_type = _OLD_TYPE.match(line)
            if old_type:
                current = _RawRecord(pending_handle, int(old_type.group(1)), int(old_type.group(2)), {}, [])
                records.append(current)
            pending_handle = None
            continue
        stripped = line.strip()
        if stripped == _SLOT_TITLE:
            # `dmidecode -q` prints no handle lines: a title at column 0 outside a fresh record starts one.
            if current is None or current.titled or current.fields:
                current = _RawRecord("", None, None, {}, [])
                records.append(current)
            current.titled = True
            continue
        if current is None or not line[:1].isspace():
            # Not inside a record, or an unindented line (stderr spliced into stdout): not a field.
            continue
        if index == len(lines) - 1 and last_line_cut:
            current.truncated = True  # the value on a line cut mid-way cannot be trusted
            continue
        peer = _PEER.match(stripped)
        if peer:
            current.peers.append((peer.group(1), int(peer.group(2))))
            continue
        for key in _FIELDS:
            if stripped.startswith(key + ":") and key not in current.fields:
                current.fields[key] = stripped[len(key) + 1 :].strip()
                break
    return records


def _valid_length(length: int) -> bool:
    # 0x0C (2.0), 0x0D (2.1-2.5), 0x11 (2.6+), 0x13+5n (3.2), 0x17+5n (3.4), 0x18+5n (3.5). Vendors pad
    # records to a later layout (Lenovo ST650 V2: 34 bytes, no peers), so any of these forms is accepted;
    # the ASUS B360M-A's 147 and 66 bytes fit none.
    return length in (0x0C, 0x0D, 0x11) or (0x13 <= length <= 0xFF and (length - 0x13) % 5 in (0, 4))


def _type_and_widths(type_value: str, dbw: str, physical: str) -> tuple[str, str, str]:
    """(slot_type, electrical width, physical width) from the Type/Data Bus Width/Physical Width lines."""
    width = ""
    slot_type = type_value
    prefix = _TYPE_PREFIX.match(type_value)
    if prefix:
        slot_type = type_value[prefix.end() :]
        if (prefix.group("width") or "").startswith("x"):
            width = prefix.group("width")
    if slot_type == OUT_OF_SPEC:
        slot_type = ""
    trailing = _TRAILING_LANES.search(slot_type)
    type_lanes = f"x{trailing.group(1)}" if trailing else ""
    if not width:
        # dmidecode 3.6: "16x or x16"; a bare number is the SMBIOS 3.2 base-width byte, ignored.
        lanes = _LANES.search(dbw)
        width = f"x{lanes.group(1)}" if lanes else type_lanes
    physical_lanes = _LANES.search(physical)
    physical_width = f"x{physical_lanes.group(1)}" if physical_lanes else (type_lanes or width)
    return slot_type, width, physical_width


def _slot(raw: _RawRecord) -> SmbiosSlot:
    problems: list[str] = []
    fields = raw.fields
    if raw.truncated or not {"Designation", "Type", "Current Usage"} <= fields.keys():
        problems.append("record incomplete (output cut off)")
    if raw.length is not None and not _valid_length(raw.length):
        problems.append(f"record length {raw.length} is not a System Slots length")

    designation = fields.get("Designation", "")
    if BAD_INDEX in designation:
        problems.append("designation is a bad string index")
        designation = ""
    elif designation == "Not Specified":
        designation = ""

    type_value = fields.get("Type", "")
    slot_type, width, physical_width = _type_and_widths(
        type_value, fields.get("Data Bus Width", ""), fields.get("Slot Physical Width", "")
    )
    if OUT_OF_SPEC in slot_type or (not slot_type and "Type" in fields):
        problems.append("slot type out of spec")
        slot_type = ""

    usage_value = fields.get("Current Usage", "")
    usage = usage_value if usage_value in USAGES else ""

    bus_address: str | None = None
    if "Bus Address" in fields:
        raw_address = fields["Bus Address"]
        if _ADDRESS.match(raw_address) is None:
            problems.append(f"bus address {raw_address!r} is not an address")
        else:
            bus_address = normalise_bus_address(raw_address)

    if any(width_value > _MAX_LANES for _, width_value in raw.peers):
        problems.append("peer group widths out of range")
    if raw.length is not None and raw.peers and raw.length < 0x13 + 5 * len(raw.peers):
        problems.append("peer groups overrun the record")

    return SmbiosSlot(
        designation=designation,
        slot_type=slot_type,
        width=width,
        usage=usage,
        bus_address=bus_address,
        record_length=raw.length,
        sane=not problems,
        handle=f"0x{raw.handle}" if raw.handle else "",
        physical_width=physical_width,
        problems=tuple(problems),
    )


def parse_slots(text: str) -> tuple[SmbiosSlot, ...]:
    """All type 9 records in dmidecode output, in output order; () when there are none.

    Raises DmiParseError only when `text` is not dmidecode output at all.
    """
    lines = text.splitlines()
    if not _is_dmidecode(lines):
        raise DmiParseError("not dmidecode output" if text.strip() else "empty output")
    last_line_cut = bool(text) and not text.endswith(("\n", "\r"))
    records = _split_records(lines, last_line_cut)
    return tuple(_slot(raw) for raw in records if raw.dmi_type == 9 or (raw.dmi_type is None and raw.titled))
