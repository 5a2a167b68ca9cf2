"""Pure parser of a PCI function's configuration space (the bytes of sysfs `config`).

Only what the PCIe collector needs: the type-1 header's bus numbers and the PCI Express capability
(device/port type, slot and link registers). Register layouts follow the PCI Express Base Specification,
"PCI Express Capability Structure" (also pciutils lib/header.h, which names the same bits).

sysfs returns the first 64 bytes of config space to unprivileged readers and 256 (conventional) or 4096
(extended) bytes to root. The capability list starts at offset 0x40 or later, so a 64-byte read never
reaches it: callers get None and must treat slot facts as unknown, not as "no slot".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

STANDARD_HEADER_BYTES = 64

_CAP_ID_PCIE = 0x10
_STATUS_CAP_LIST = 0x0010  # Status register bit 4: the capability list is valid
_HEADER_TYPE_MASK = 0x7F
_HEADER_TYPE_BRIDGE = 1
_HEADER_TYPE_CARDBUS = 2
# A conventional config space has room for at most (256 - 64) / 4 = 48 capabilities; more hops than that
# means the list loops or the bytes are garbage.
_MAX_CAPS = 48

# Device/Port Type field (PCIe capabilities register bits 7:4).
PORT_TYPES: dict[int, str] = {
    0x0: "endpoint",
    0x1: "legacy_endpoint",
    0x4: "root_port",
    0x5: "upstream_port",
    0x6: "downstream_port",
    0x7: "pcie_to_pci_bridge",
    0x8: "pci_to_pcie_bridge",
    0x9: "rc_integrated_endpoint",
    0xA: "rc_event_collector",
}
# Ports facing downstream: the only ones whose Slot Implemented bit and slot registers mean anything.
DOWNSTREAM_PORT_TYPES = frozenset({"root_port", "downstream_port"})

# Link speed encodings shared by Link Capabilities (Max Link Speed) and Link Status (Current Link Speed),
# in GT/s.
LINK_SPEEDS_GTS: dict[int, float] = {1: 2.5, 2: 5.0, 3: 8.0, 4: 16.0, 5: 32.0, 6: 64.0}

# Offsets inside the PCI Express capability.
_PCIE_FLAGS = 0x02
_LNKCAP = 0x0C
_LNKSTA = 0x12
_SLTCAP = 0x14
_SLTSTA = 0x1A
_PCIE_CAP_V1_LINK_END = 0x14  # end of Link Status
_PCIE_CAP_V1_SLOT_END = 0x1C  # end of Slot Status

_SLOT_IMPLEMENTED = 0x0100
_SLTCAP_HP_SURPRISE = 0x00000020
_SLTCAP_HP_CAPABLE = 0x00000040
_SLTSTA_PRESENCE = 0x0040
_LNKSTA_DL_ACTIVE = 0x2000


@dataclass(frozen=True)
class PcieCapability:
    """The decoded PCI Express capability of one function."""

    offset: int  # where the capability starts in config space
    version: int  # capability structure version (1 or 2)
    port_type: str  # a PORT_TYPES value, or "other"
    slot_implemented: bool  # only ever True for root/downstream ports
    physical_slot: int | None  # Slot Capabilities bits 31:19, when a slot is implemented
    hot_plug_capable: bool
    hot_plug_surprise: bool  # device may be removed without notice (Thunderbolt/USB4, some U.2 bays)
    presence_detect: bool | None  # Slot Status presence detect state; None without a slot
    max_speed_gts: float | None  # Link Capabilities; None when the function has no link registers
    max_width: int | None
    speed_gts: float | None  # Link Status
    width: int | None
    link_active: bool | None  # Data Link Layer Link Active (only meaningful on ports that report it)


@dataclass(frozen=True)
class BridgeBuses:
    """Bus numbers from a type-1 (PCI-to-PCI bridge) header, readable even from a 64-byte config read."""

    primary: int
    secondary: int
    subordinate: int


def _u16(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<H", data, offset)[0]
    return value


def _u32(data: bytes, offset: int) -> int:
    value: int = struct.unpack_from("<I", data, offset)[0]
    return value


def _has_link_registers(port_type: str) -> bool:
    # The kernel's pcie_cap_has_lnkctl: integrated endpoints and event collectors have no link.
    return port_type not in ("rc_integrated_endpoint", "rc_event_collector", "other")


def _link_status(lnksta: int) -> tuple[float | None, int, bool]:
    """(current speed GT/s, width, Data Link Layer Link Active) from the Link Status register."""
    return LINK_SPEEDS_GTS.get(lnksta & 0x0F), (lnksta >> 4) & 0x3F, bool(lnksta & _LNKSTA_DL_ACTIVE)


def _presence(sltsta: int) -> bool:
    return bool(sltsta & _SLTSTA_PRESENCE)


def _present(config: bytes) -> bool:
    # A function that vanished (or a config read of a powered-off device) reads as all ones.
    return len(config) >= STANDARD_HEADER_BYTES and _u16(config, 0) not in (0xFFFF, 0x0000)


def header_type(config: bytes) -> int | None:
    """Header layout (0 endpoint, 1 PCI-to-PCI bridge, 2 CardBus bridge), or None if unreadable."""
    if not _present(config):
        return None
    return config[0x0E] & _HEADER_TYPE_MASK


def bridge_buses(config: bytes) -> BridgeBuses | None:
    """Primary/secondary/subordinate bus numbers of a bridge; None for non-bridges or unreadable bytes."""
    if header_type(config) != _HEADER_TYPE_BRIDGE:
        return None
    return BridgeBuses(primary=config[0x18], secondary=config[0x19], subordinate=config[0x1A])


def capability_offsets(config: bytes) -> dict[int, int]:
    """Capability ID -> offset of its first occurrence, walking the list defensively.

    The walk stops at a pointer into the header (< 0x40), past the end of the bytes we have, at a pointer
    already visited (a loop), or after _MAX_CAPS hops; garbage never raises.
    """
    found: dict[int, int] = {}
    htype = header_type(config)
    if htype is None or not _u16(config, 0x06) & _STATUS_CAP_LIST:
        return found
    pointer = config[0x14 if htype == _HEADER_TYPE_CARDBUS else 0x34] & 0xFC
    visited: set[int] = set()
    while pointer >= STANDARD_HEADER_BYTES and pointer + 2 <= len(config) and len(visited) < _MAX_CAPS:
        if pointer in visited:
            break
        visited.add(pointer)
        cap_id, next_pointer = config[pointer], config[pointer + 1]
        if cap_id == 0xFF:  # all-ones: the device went away mid-read
            break
        found.setdefault(cap_id, pointer)
        pointer = next_pointer & 0xFC
    return found


def parse_pcie_capability(config: bytes) -> PcieCapability | None:
    """Decode the PCI Express capability, or None when it is not reachable in these bytes.

    None covers: unprivileged 64-byte reads, conventional PCI functions, truncated or garbage config
    space. Link fields are None for root-complex integrated endpoints and event collectors, which have no
    link registers (the same rule the kernel's pcie_cap_has_lnkctl applies).
    """
    offset = capability_offsets(config).get(_CAP_ID_PCIE)
    if offset is None or offset + _PCIE_CAP_V1_LINK_END > len(config):
        return None
    flags = _u16(config, offset + _PCIE_FLAGS)
    version = flags & 0x000F
    port_type = PORT_TYPES.get((flags >> 4) & 0x0F, "other")

    max_speed = max_width = speed = width = None
    link_active: bool | None = None
    if _has_link_registers(port_type):
        lnkcap = _u32(config, offset + _LNKCAP)
        max_speed = LINK_SPEEDS_GTS.get(lnkcap & 0x0F)
        max_width = (lnkcap >> 4) & 0x3F
        speed, width, link_active = _link_status(_u16(config, offset + _LNKSTA))

    # Slot Implemented is only defined for downstream-facing ports; elsewhere the bit is reserved and
    # firmware has been seen leaving it set.
    slot_implemented = bool(flags & _SLOT_IMPLEMENTED) and port_type in DOWNSTREAM_PORT_TYPES
    physical_slot: int | None = None
    hp_capable = hp_surprise = False
    presence: bool | None = None
    if slot_implemented:
        if offset + _PCIE_CAP_V1_SLOT_END > len(config):
            return None  # the slot registers were cut off: better unknown than a guessed "empty"
        sltcap = _u32(config, offset + _SLTCAP)
        sltsta = _u16(config, offset + _SLTSTA)
        physical_slot = sltcap >> 19
        hp_capable = bool(sltcap & _SLTCAP_HP_CAPABLE)
        hp_surprise = bool(sltcap & _SLTCAP_HP_SURPRISE)
        presence = _presence(sltsta)

    return PcieCapability(
        offset=offset,
        version=version,
        port_type=port_type,
        slot_implemented=slot_implemented,
        physical_slot=physical_slot,
        hot_plug_capable=hp_capable,
        hot_plug_surprise=hp_surprise,
        presence_detect=presence,
        max_speed_gts=max_speed,
        max_width=max_width,
        speed_gts=speed,
        width=width,
        link_active=link_active,
    )


# --- run-time status ----------------------------------------------------------------------------------
# Within the capability only Link Status and Slot Status change while a device stays present (link
# retraining, a card in a slot); the rest is fixed by hardware and firmware at enumeration. Re-reading just
# these bytes costs a few config accesses instead of the hundreds a full read does.


def status_span(cap: PcieCapability) -> tuple[int, int] | None:
    """(offset, length) in config space of the registers that change at run time: Link Status, and Slot
    Status when a slot is implemented. None when the capability has no link registers."""
    if not _has_link_registers(cap.port_type):
        return None
    end = _PCIE_CAP_V1_SLOT_END if cap.slot_implemented else _PCIE_CAP_V1_LINK_END
    return cap.offset + _LNKSTA, end - _LNKSTA


def with_status(cap: PcieCapability, data: bytes) -> PcieCapability:
    """`cap` with Link Status (and Slot Status) decoded from `data`, the bytes read at `status_span(cap)`.

    Bytes cut short or all ones (the device went away or was powered off mid-read) give unknown status,
    never a guess.
    """
    span = status_span(cap)
    if span is None or len(data) < span[1] or data == b"\xff" * len(data):
        return without_status(cap)
    speed, width, link_active = _link_status(_u16(data, 0))
    presence = _presence(_u16(data, _SLTSTA - _LNKSTA)) if cap.slot_implemented else None
    return replace(cap, speed_gts=speed, width=width, link_active=link_active, presence_detect=presence)


def without_status(cap: PcieCapability) -> PcieCapability:
    """`cap` with its run-time registers unknown: the fixed facts alone, safe to keep across runs."""
    return replace(cap, speed_gts=None, width=None, link_active=None, presence_detect=None)
