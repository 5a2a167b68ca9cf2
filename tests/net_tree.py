"""Build `/sys/class/net` trees shaped after real machines, for speeds and NICs a test VM cannot show.

Layout follows the kernel's: each interface directory lives under `devices/` (below its PCI function, or
under `devices/virtual/net/` when it has no device), `class/net/<name>` is a relative symlink to it, and
a physical interface has a `device` symlink to its PCI function, so that code resolving links behaves as
on a real host.

How "the kernel refuses to read this" is represented: net-sysfs answers EINVAL for `carrier`, `speed` and
`duplex` of an admin-down interface. A plain file cannot make read() fail, `chmod 000` is ignored by root
(the test runner here), and a FIFO would block the reader. So a refused attribute is a *directory* in
place of the file: open() succeeds on no path to a readable value and read() fails with an OSError
(IsADirectoryError), which the collector treats exactly like EINVAL: "unreadable". Admin-down interfaces
get this automatically, as on a real kernel.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

REFUSED = None  # an attribute the kernel refuses to read (EINVAL): written as a directory, see above


@dataclass(frozen=True)
class Iface:
    name: str
    ifindex: int
    pci: str | None = None  # PCI function (dddd:bb:dd.f); None for a virtual interface
    root_port: str = "0000:00:1c.0"  # the PCIe port above `pci`, only shapes the devices/ path
    usb: bool = False  # device link to a USB interface instead of a PCI function
    virtio: bool = False  # device link to virtioN below `pci` (a VM's NIC)
    admin_up: bool = True
    operstate: str = "up"
    carrier: str | None = "1"  # raw file text; REFUSED forces the EINVAL stand-in
    speed: str | None = "1000"
    duplex: str | None = "full"
    carrier_changes: str | None = "1"  # None: the attribute is absent (older kernels)
    flags: str | None = None  # raw override, e.g. garbage; default derives from admin_up
    bond_slaves: tuple[str, ...] = ()  # non-empty makes this a bond (`bonding/slaves`)
    master: str | None = None  # the bond this interface is enslaved to
    extra: dict[str, str] = field(default_factory=dict)


def _write_attr(directory: Path, attr: str, value: str | None) -> None:
    path = directory / attr
    if value is REFUSED:
        path.mkdir()
    else:
        path.write_text(value + "\n")


def _device_dir(root: Path, iface: Iface) -> Path:
    if iface.pci is None:
        return root / "devices" / "virtual" / "net" / iface.name
    function = root / "devices" / "pci0000:00" / iface.root_port / iface.pci
    if iface.usb:
        function = function / "usb2" / "2-1" / "2-1:1.0"
    elif iface.virtio:
        function = function / "virtio0"
    return function / "net" / iface.name


def build_net_tree(root: Path, ifaces: Iterable[Iface], with_loopback: bool = True) -> Path:
    """Create the tree below `root` and return `root` (the value for the collector's sysfs_root)."""
    all_ifaces = list(ifaces)
    if with_loopback:
        loopback = Iface(
            "lo", 1, operstate="unknown", speed=REFUSED, duplex=REFUSED, flags="0x9", carrier_changes="0"
        )
        all_ifaces.insert(0, loopback)
    class_net = root / "class" / "net"
    class_net.mkdir(parents=True, exist_ok=True)
    directories = {iface.name: _device_dir(root, iface) for iface in all_ifaces}
    for iface in all_ifaces:
        directory = directories[iface.name]
        directory.mkdir(parents=True)
        (class_net / iface.name).symlink_to(os.path.relpath(directory, class_net))
        if iface.pci is not None:
            (directory / "device").symlink_to(os.path.relpath(directory.parent.parent, directory))
        _write_attr(directory, "ifindex", str(iface.ifindex))
        _write_attr(directory, "operstate", iface.operstate)
        flags = iface.flags if iface.flags is not None else ("0x1003" if iface.admin_up else "0x1002")
        _write_attr(directory, "flags", flags)
        # An admin-down interface refuses these on a real kernel, whatever the driver would say.
        _write_attr(directory, "carrier", iface.carrier if iface.admin_up else REFUSED)
        _write_attr(directory, "speed", iface.speed if iface.admin_up else REFUSED)
        _write_attr(directory, "duplex", iface.duplex if iface.admin_up else REFUSED)
        if iface.carrier_changes is not None:
            _write_attr(directory, "carrier_changes", iface.carrier_changes)
        for attr, value in iface.extra.items():
            _write_attr(directory, attr, value)
        if iface.bond_slaves:
            (directory / "bonding").mkdir()
            _write_attr(directory / "bonding", "slaves", " ".join(iface.bond_slaves))
    for iface in all_ifaces:
        if iface.master is not None:
            directory = directories[iface.name]
            (directory / "master").symlink_to(os.path.relpath(directories[iface.master], directory))
            (directory / "bonding_slave").mkdir()
            _write_attr(directory / "bonding_slave", "state", "active")
    return root


# Minisforum MS-01 (board AHWSA) as its lspci capture in the corpus shows it: X710 SFP+ ports on
# 02:00.0/.1 behind root port 00:06.2, I226-V on 57:00.0 (00:1c.0), I226-LM on 59:00.0 (00:1d.2).
X710_PORT0 = "enp2s0f0np0"
X710_PORT1 = "enp2s0f1np1"
I226_V = "enp87s0"
I226_LM = "enp89s0"
MS01_PCI = {
    X710_PORT0: "0000:02:00.0",
    X710_PORT1: "0000:02:00.1",
    I226_V: "0000:57:00.0",
    I226_LM: "0000:59:00.0",
}


def ms01_ifaces(sfp0_speed: str | None = None) -> list[Iface]:
    """The MS-01 as the assessment found it (gap P3): SFP+ cages empty, traffic on the I226-V at 1G.

    With `sfp0_speed`, port 0 has a module and links at that speed (the X710 capture shows "1000").
    The I226-LM carries Intel AMT and is admin-down in the host OS; Proxmox adds vmbr0 and a tap.
    """
    if sfp0_speed is None:
        # i40e with an empty cage: admin-up, no carrier, SPEED_UNKNOWN.
        sfp0 = Iface(
            X710_PORT0, 2, pci=MS01_PCI[X710_PORT0], root_port="0000:00:06.2", operstate="down",
            carrier="0", speed="-1", duplex="unknown", carrier_changes="1",
        )
    else:
        sfp0 = Iface(
            X710_PORT0, 2, pci=MS01_PCI[X710_PORT0], root_port="0000:00:06.2", speed=sfp0_speed,
            carrier_changes="2",
        )
    return [
        sfp0,
        Iface(
            X710_PORT1, 3, pci=MS01_PCI[X710_PORT1], root_port="0000:00:06.2", operstate="down",
            carrier="0", speed="-1", duplex="unknown", carrier_changes="1",
        ),
        Iface(I226_V, 4, pci=MS01_PCI[I226_V], root_port="0000:00:1c.0", speed="1000", carrier_changes="3"),
        Iface(I226_LM, 5, pci=MS01_PCI[I226_LM], root_port="0000:00:1d.2", admin_up=False, operstate="down"),
        Iface("vmbr0", 6, speed="-1", duplex="unknown", carrier_changes="2"),
        Iface("tap100i0", 7, speed="10000", carrier_changes="1"),
    ]


def ms01_tree(root: Path, sfp0_speed: str | None = None) -> Path:
    return build_net_tree(root, ms01_ifaces(sfp0_speed))
