"""Frozen dataclasses for everything a collector can report.

Units are the ones the source speaks (Mbit/s for links, GT/s for PCIe); the metric view converts to base
units, so a parser never has to know how a value will be exported.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinkReading:
    """One network interface as sysfs and the ethtool ioctl saw it."""

    interface: str
    physical: bool  # has a `device` link in sysfs (a PCI/USB/virtio NIC), or a bond of such
    kind: str  # "ethernet", "bond", "virtual"
    operstate: str  # RFC 2863 string from sysfs, "unknown" when unreadable
    admin_up: bool
    carrier: bool | None  # None when unreadable (admin-down gives EINVAL)
    speed_mbps: int | None  # negotiated speed; None unless carrier is up and the driver reports one
    full_duplex: bool | None
    max_speed_mbps: int | None  # best link mode the NIC supports (ethtool supported bitmap)
    supported_modes: tuple[str, ...]  # ethtool link-mode names, e.g. "10000baseSR/Full"
    expected_speed_mbps: int | None  # from [nics].expected
    carrier_changes: int | None
    bond_master: str | None = None
    bond_members: tuple[str, ...] = ()
    pci_address: str | None = None


@dataclass(frozen=True)
class PcieLinkReading:
    """A PCIe function's link: what it trained at, what it can do, and what it did before."""

    address: str  # dddd:bb:dd.f
    device: str  # vendor:device ids, e.g. "8086:1572"
    class_code: str  # e.g. "0x020000"
    port_type: str  # "endpoint", "root_port", "downstream_port", "upstream_port", "bridge", "other"
    current_speed_gts: float | None
    max_speed_gts: float | None
    current_width: int | None
    max_width: int | None
    baseline_speed_gts: float | None  # first healthy observation, persisted in the state directory
    baseline_width: int | None
    downgraded: bool  # trained below its own baseline (not below its capability: some are narrow by design)
    parent: str | None = None  # the port this function hangs off, when known


@dataclass(frozen=True)
class SlotReading:
    """A physical slot (or M.2 socket) implemented by a PCIe port, with what sits in it."""

    slot: str  # stable name: SMBIOS designation when matched, else "port <address>" / physical slot number
    port: str  # address of the root/downstream port implementing the slot
    designation: str  # SMBIOS designation or "" when firmware gave none usable
    slot_type: str  # SMBIOS type string or "" (labels only: firmware lies about usage)
    width: str  # e.g. "x16"; from SMBIOS when sane, else the port's link capability
    occupied: bool
    device: str | None  # address of the function behind the slot, when occupied
    evidence: str  # how occupancy was decided, e.g. "presence detect off, link width 0"


Reading = LinkReading | PcieLinkReading | SlotReading


@dataclass(frozen=True)
class SlotScan:
    """Whether slot occupancy could be decided at all on this host, and if not, why.

    Without it an empty list of SlotReadings would be ambiguous: no slots, or no way to see them.
    """

    complete: bool
    reason: str  # what was read, or why slots could not be determined


AnyReading = Reading | SlotScan
