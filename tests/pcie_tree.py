"""Builds sysfs PCI trees shaped after real machines, for the PCIe collector tests.

Layout follows the kernel: functions are real directories nested under `devices/pci<dddd>:<bb>/` the way
bridges nest them, and `bus/pci/devices/<bdf>` are relative symlinks to those directories. Each function
gets `vendor`, `device`, `class`, a binary `config` whose PCI Express capability is encoded from the
register layout in the PCIe Base Specification, the link attributes the kernel exposes for PCIe functions,
and bus numbers for bridges.

The machines (`ms01`, `microserver_gen10_plus`, `zimaboard_832`) reproduce the LnkCap/LnkSta/SltCap/SltSta
lines of the real `lspci -vvnn` captures in ../shared/corpus/lspci (see the comments on each).
"""

from __future__ import annotations

import os
import shutil
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path

SPEED_CODES = {2.5: 1, 5.0: 2, 8.0: 3, 16.0: 4, 32.0: 5, 64.0: 6}
PORT_TYPE_CODES = {
    "endpoint": 0x0,
    "legacy_endpoint": 0x1,
    "root_port": 0x4,
    "upstream_port": 0x5,
    "downstream_port": 0x6,
    "rc_integrated_endpoint": 0x9,
}


@dataclass(frozen=True)
class Slot:
    """Slot Capabilities/Status of a root or downstream port."""

    number: int
    presence: bool
    hot_plug: bool = False
    surprise: bool = False


@dataclass(frozen=True)
class Function:
    """One PCI function. `pcie=None` makes a conventional PCI function (no capability, no link files)."""

    address: str
    vendor: int
    device: int
    class_code: int
    pcie: str | None = "endpoint"  # a PORT_TYPE_CODES key
    cap_speed: float | None = None  # LnkCap max link speed, GT/s
    cap_width: int = 0
    speed: float | None = None  # LnkSta current link speed
    width: int = 0
    secondary: int | None = None  # bridges only
    subordinate: int | None = None
    slot: Slot | None = None
    cap_offset: int = 0x40  # where the PCIe capability sits (lspci "Capabilities: [a0] Express")
    multifunction: bool = False

    @property
    def is_bridge(self) -> bool:
        return self.secondary is not None


def sysfs_speed(speed: float | None, old_kernel: bool = False) -> str:
    """The kernel's text: "8.0 GT/s PCIe" (5.x+), "8 GT/s" / "Unknown speed" (older kernels)."""
    if speed is None:
        return "Unknown speed" if old_kernel else "Unknown"
    if old_kernel:
        return f"{speed:g} GT/s"
    return f"{speed:.1f} GT/s PCIe"


def encode_config(fn: Function, size: int = 4096) -> bytes:
    """Config space bytes as root reads them from sysfs `config`."""
    data = bytearray(size)
    struct.pack_into("<HHHH", data, 0x00, fn.vendor, fn.device, 0x0406, 0x0010)  # status: cap list
    data[0x08] = 0x01  # revision
    data[0x09] = fn.class_code & 0xFF
    data[0x0A] = (fn.class_code >> 8) & 0xFF
    data[0x0B] = (fn.class_code >> 16) & 0xFF
    data[0x0E] = (1 if fn.is_bridge else 0) | (0x80 if fn.multifunction else 0)
    if fn.is_bridge:
        bus = int(fn.address.split(":")[1], 16)
        data[0x18] = bus
        data[0x19] = fn.secondary or 0
        data[0x1A] = fn.subordinate if fn.subordinate is not None else (fn.secondary or 0)
    data[0x34] = 0x40
    if fn.pcie is None:
        data[0x40:0x42] = bytes([0x01, 0x00])  # Power Management only
        return bytes(data)
    pcie = fn.cap_offset
    if pcie > 0x40:
        data[0x40:0x42] = bytes([0x01, pcie])  # Power Management first, as on most real devices
    # MSI after the PCIe capability (whose v2 structure is 0x3C bytes long), ending the list.
    msi = 0xE0 if pcie + 0x3C <= 0xE0 else 0x48
    data[msi : msi + 2] = bytes([0x05, 0x00])

    flags = 0x2 | (PORT_TYPE_CODES[fn.pcie] << 4) | (0x0100 if fn.slot is not None else 0)
    data[pcie] = 0x10
    data[pcie + 1] = msi
    struct.pack_into("<H", data, pcie + 0x02, flags)
    if fn.pcie != "rc_integrated_endpoint":
        lnkcap = SPEED_CODES.get(fn.cap_speed or 0.0, 0) | (fn.cap_width << 4)
        lnksta = SPEED_CODES.get(fn.speed or 0.0, 0) | (fn.width << 4)
        if fn.width > 0 and fn.pcie in ("root_port", "downstream_port"):
            lnkcap |= 1 << 20  # Data Link Layer Link Active Reporting Capable
            lnksta |= 1 << 13  # DLActive+
        struct.pack_into("<I", data, pcie + 0x0C, lnkcap)
        struct.pack_into("<H", data, pcie + 0x12, lnksta)
    if fn.slot is not None:
        sltcap = (fn.slot.number << 19) | (1 << 18)  # NoCompl+
        sltcap |= (0x20 if fn.slot.surprise else 0) | (0x40 if fn.slot.hot_plug else 0)
        struct.pack_into("<I", data, pcie + 0x14, sltcap)
        struct.pack_into("<H", data, pcie + 0x1A, 0x0040 if fn.slot.presence else 0)
    return bytes(data)


@dataclass
class PcieTree:
    """A sysfs root (pass `tree.root` as PcieCollector's sysfs_root)."""

    root: Path
    symlinks: bool = True  # False: plain directories under bus/pci/devices, as some containers show
    old_kernel: bool = False
    functions: dict[str, Function] = field(default_factory=dict)
    _dirs: dict[str, Path] = field(default_factory=dict)

    def __post_init__(self) -> None:
        (self.root / "bus" / "pci" / "devices").mkdir(parents=True, exist_ok=True)

    @property
    def devices(self) -> Path:
        return self.root / "bus" / "pci" / "devices"

    def add(self, fn: Function, parent: str | None = None) -> PcieTree:
        if not self.symlinks:
            directory = self.devices / fn.address
        elif parent is None:
            domain, bus = fn.address.split(":")[:2]
            directory = self.root / "devices" / f"pci{domain}:{bus}" / fn.address
        else:
            directory = self._dirs[parent] / fn.address
        directory.mkdir(parents=True)
        self._dirs[fn.address] = directory
        self.functions[fn.address] = fn
        if self.symlinks:
            os.symlink(os.path.relpath(directory, self.devices), self.devices / fn.address)
        self._write_all(fn)
        return self

    def _write_all(self, fn: Function) -> None:
        self.write(fn.address, "vendor", f"0x{fn.vendor:04x}")
        self.write(fn.address, "device", f"0x{fn.device:04x}")
        self.write(fn.address, "class", f"0x{fn.class_code:06x}")
        (self._dirs[fn.address] / "config").write_bytes(encode_config(fn))
        if fn.pcie is not None:
            self.write(fn.address, "current_link_speed", sysfs_speed(fn.speed, self.old_kernel))
            self.write(fn.address, "max_link_speed", sysfs_speed(fn.cap_speed, self.old_kernel))
            self.write(fn.address, "current_link_width", str(fn.width))
            self.write(fn.address, "max_link_width", str(fn.cap_width))
        if fn.is_bridge:
            self.write(fn.address, "secondary_bus_number", str(fn.secondary))
            subordinate = fn.subordinate if fn.subordinate is not None else fn.secondary
            self.write(fn.address, "subordinate_bus_number", str(subordinate))

    def write(self, address: str, attribute: str, text: str) -> None:
        (self._dirs[address] / attribute).write_text(text + "\n")

    def remove_attribute(self, address: str, attribute: str) -> None:
        (self._dirs[address] / attribute).unlink()

    def set_link(self, address: str, speed: float | None, width: int) -> None:
        """The link retrained (or a card was reseated): sysfs and config space both change."""
        self.update(address, speed=speed, width=width)

    def update(self, address: str, **changes: object) -> None:
        fn = replace(self.functions[address], **changes)  # type: ignore[arg-type]
        self.functions[address] = fn
        self._write_all(fn)

    def vanish(self, address: str) -> None:
        """Hot-removed between listing and reading: the directory goes, a dangling link may remain."""
        shutil.rmtree(self._dirs[address])

    def unprivileged(self) -> None:
        """What a non-root reader gets: the first 64 bytes of every config file."""
        for directory in self._dirs.values():
            config = directory / "config"
            if config.exists():
                config.write_bytes(config.read_bytes()[:64])

    def add_slot_object(self, name: str, address: str) -> None:
        """A kernel slot object (pciehp / ACPI _SUN): `address` is dddd:bb:dd of the device side."""
        slot = self.root / "bus" / "pci" / "slots" / name
        slot.mkdir(parents=True)
        (slot / "address").write_text(address + "\n")


def _root_port(address: str, device: int, cap: tuple[float, int], sta: tuple[float | None, int],
               secondary: int, slot: Slot | None, subordinate: int | None = None) -> Function:
    return Function(
        address, 0x8086, device, 0x060400, "root_port", cap[0], cap[1], sta[0], sta[1],
        secondary=secondary, subordinate=subordinate, slot=slot,
    )  # fmt: skip


def ms01(root: Path, symlinks: bool = True) -> PcieTree:
    """Minisforum MS-01 (AHWSA), from ms01__Minisforum-MS-01-AHWSA_96AD33E35247 (lspci 3.9, kernel 6.8).

    X710 behind 00:06.2 (LnkCap 16GT/s x4, LnkSta 8GT/s x4), Kingston NVMe 58:00.0 at 8GT/s x2 of
    16GT/s x4 behind 00:1d.0 (8GT/s x2), two Thunderbolt 4 root ports HotPlug+ Surprise+ PresDet- x0.
    """
    tree = PcieTree(root, symlinks=symlinks)
    tree.add(Function("0000:00:00.0", 0x8086, 0xA706, 0x060000, pcie=None))
    tree.add(Function("0000:00:02.0", 0x8086, 0xA7A0, 0x030000, "rc_integrated_endpoint", cap_offset=0x70))
    tree.add(_root_port("0000:00:06.0", 0xA74D, (16.0, 4), (16.0, 4), 0x01, Slot(0, presence=True)))
    tree.add(Function("0000:01:00.0", 0x15B7, 0x5030, 0x010802, "endpoint", 16.0, 4, 16.0, 4, cap_offset=0xC0),
             parent="0000:00:06.0")  # fmt: skip
    tree.add(_root_port("0000:00:06.2", 0xA73D, (16.0, 4), (8.0, 4), 0x02, Slot(2, presence=True)))
    for function in ("0", "1"):
        tree.add(
            Function(f"0000:02:00.{function}", 0x8086, 0x1572, 0x020000, "endpoint", 8.0, 4, 8.0, 4,
                     cap_offset=0xA0, multifunction=True),
            parent="0000:00:06.2",
        )  # fmt: skip
    tb = Slot(3, presence=False, hot_plug=True, surprise=True)
    tree.add(_root_port("0000:00:07.0", 0xA76E, (2.5, 4), (2.5, 0), 0x03, tb, subordinate=0x2C))
    tb = Slot(5, presence=False, hot_plug=True, surprise=True)
    tree.add(_root_port("0000:00:07.2", 0xA72F, (2.5, 4), (2.5, 0), 0x2D, tb, subordinate=0x56))
    tree.add(Function("0000:00:0d.0", 0x8086, 0xA71E, 0x0C0330, pcie=None))
    tree.add(_root_port("0000:00:1c.0", 0x51BB, (8.0, 1), (5.0, 1), 0x57, Slot(7, presence=True)))
    tree.add(Function("0000:57:00.0", 0x8086, 0x125C, 0x020000, "endpoint", 5.0, 1, 5.0, 1, cap_offset=0xA0),
             parent="0000:00:1c.0")  # fmt: skip
    tree.add(_root_port("0000:00:1d.0", 0x51B0, (8.0, 2), (8.0, 2), 0x58, Slot(12, presence=True)))
    tree.add(Function("0000:58:00.0", 0x2646, 0x501B, 0x010802, "endpoint", 16.0, 4, 8.0, 2, cap_offset=0x80),
             parent="0000:00:1d.0")  # fmt: skip
    tree.add(_root_port("0000:00:1d.2", 0x51B2, (8.0, 1), (5.0, 1), 0x59, Slot(14, presence=True)))
    tree.add(Function("0000:59:00.0", 0x8086, 0x125B, 0x020000, "endpoint", 5.0, 1, 5.0, 1, cap_offset=0xA0),
             parent="0000:00:1d.2")  # fmt: skip
    tree.add(_root_port("0000:00:1d.3", 0x51B3, (8.0, 1), (5.0, 1), 0x5A, Slot(15, presence=True)))
    tree.add(Function("0000:5a:00.0", 0x8086, 0x2725, 0x028000, "endpoint", 5.0, 1, 5.0, 1),
             parent="0000:00:1d.3")  # fmt: skip
    return tree


MS01_SLOT_PORTS = ("0000:00:06.0", "0000:00:06.2", "0000:00:1c.0", "0000:00:1d.0", "0000:00:1d.2", "0000:00:1d.3")
MS01_THUNDERBOLT_PORTS = ("0000:00:07.0", "0000:00:07.2")


def microserver_gen10_plus(root: Path, symlinks: bool = True) -> PcieTree:
    """HPE MicroServer Gen10 Plus, from nas__HPE-MicroServer-Gen10-Plus_15C93F84E520 (lspci 3.7).

    "PCIe Slot 1" root port 00:01.0 LnkCap 8GT/s x16, LnkSta 5GT/s x8 with the LSI SAS2008 (5GT/s x8) at
    07:00.0 ("Physical Slot: 1", so the kernel has slot object "1"); I350 LOM 5GT/s x4-capable wired x2
    behind 00:1c.0; the PCH root ports are Slot- (onboard devices, not slots).
    """
    tree = PcieTree(root, symlinks=symlinks)
    tree.add(Function("0000:00:00.0", 0x8086, 0x3E33, 0x060000, pcie=None))
    tree.add(_root_port("0000:00:01.0", 0x1901, (8.0, 16), (5.0, 8), 0x07, Slot(1, presence=True)))
    tree.add(Function("0000:07:00.0", 0x1000, 0x0072, 0x010700, "endpoint", 5.0, 8, 5.0, 8, cap_offset=0x68),
             parent="0000:00:01.0")  # fmt: skip
    tree.add(_root_port("0000:00:1b.0", 0xA32C, (8.0, 4), (2.5, 0), 0x06, None))
    tree.add(_root_port("0000:00:1c.0", 0xA338, (8.0, 2), (5.0, 2), 0x02, None))
    for function in range(4):
        tree.add(
            Function(f"0000:02:00.{function}", 0x8086, 0x1521, 0x020000, "endpoint", 5.0, 4, 5.0, 2,
                     cap_offset=0xA0, multifunction=True),
            parent="0000:00:1c.0",
        )  # fmt: skip
    tree.add(_root_port("0000:00:1d.0", 0xA330, (8.0, 1), (5.0, 1), 0x01, None))
    tree.add(Function("0000:01:00.0", 0x103C, 0x3306, 0x088000, "legacy_endpoint", 5.0, 1, 5.0, 1,
                      cap_offset=0xC0, multifunction=True), parent="0000:00:1d.0")  # fmt: skip
    tree.add(Function("0000:01:00.1", 0x102B, 0x0538, 0x030000, "legacy_endpoint", 5.0, 1, 5.0, 1,
                      cap_offset=0xC0, multifunction=True), parent="0000:00:1d.0")  # fmt: skip
    for address, device, secondary in (("0000:00:1d.1", 0xA331, 3), ("0000:00:1d.2", 0xA332, 4)):
        tree.add(_root_port(address, device, (8.0, 1), (2.5, 0), secondary, None))
    tree.add_slot_object("1", "0000:07:00")
    return tree


def zimaboard_832(root: Path, symlinks: bool = True, old_kernel: bool = False) -> PcieTree:
    """IceWhale ZimaBoard 832, from nas__ZimaBoard-832_4E36E9DBF61E (older lspci, "(ok)" annotations).

    Empty x4 slot: root port 00:13.0 Slot #2, LnkCap 5GT/s x4, LnkSta 2.5GT/s x0, PresDet-. The two
    Realtek NICs sit behind Slot+ ports 00:14.0 and 00:14.1 (PresDet+, 2.5GT/s x1).
    """
    tree = PcieTree(root, symlinks=symlinks, old_kernel=old_kernel)
    tree.add(Function("0000:00:00.0", 0x8086, 0x5AF0, 0x060000, pcie=None))
    tree.add(Function("0000:00:02.0", 0x8086, 0x5A85, 0x030000, "rc_integrated_endpoint", cap_offset=0x70))
    tree.add(_root_port("0000:00:13.0", 0x5AD8, (5.0, 4), (2.5, 0), 0x01, Slot(2, presence=False)))
    tree.add(_root_port("0000:00:14.0", 0x5AD6, (5.0, 1), (2.5, 1), 0x02, Slot(0, presence=True)))
    tree.add(Function("0000:02:00.0", 0x10EC, 0x8168, 0x020000, "endpoint", 2.5, 1, 2.5, 1, cap_offset=0x70),
             parent="0000:00:14.0")  # fmt: skip
    tree.add(_root_port("0000:00:14.1", 0x5AD7, (5.0, 1), (2.5, 1), 0x03, Slot(1, presence=True)))
    tree.add(Function("0000:03:00.0", 0x10EC, 0x8168, 0x020000, "endpoint", 2.5, 1, 2.5, 1, cap_offset=0x70),
             parent="0000:00:14.1")  # fmt: skip
    return tree
