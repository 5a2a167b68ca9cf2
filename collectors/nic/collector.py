"""Network links: what each NIC negotiated (sysfs) against what it could do (ethtool supported modes).

sysfs semantics this collector is built on (kernel net-sysfs.c, measured on veth/tap/bridge):
- `carrier`, `speed` and `duplex` refuse to be read (EINVAL) while the interface is admin-down, and also
  while a device is being unregistered; a read never distinguishes the two, so every interface is read
  between two reads of `ifindex` and dropped when the second one fails or differs.
- Virtual drivers report a constant speed even without a link (veth says 10000 with its peer down), so a
  speed is trusted only while carrier is 1 and operstate is "up".
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from collectors.kit.context import CollectorError, RunContext
from collectors.kit.sysfs import DeviceGone, parse_int, read_attr
from collectors.model.readings import LinkReading
from collectors.nic.config import NicsConfig
from collectors.nic.ethtool import LinkSettings, get_link_settings
from collectors.nic.linkmodes import best_speed_mbps, plausible_speed

log = logging.getLogger(__name__)

IFF_UP = 0x1
_BDF = re.compile(r"[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")
_OPERSTATES = frozenset({"up", "down", "lowerlayerdown", "dormant", "testing", "notpresent", "unknown"})
# The kernel's own widths for the integers read here: `speed` is printed signed (SPEED_UNKNOWN as -1) by
# today's kernels and as u32 by some drivers; `flags` is an unsigned int; `carrier_changes` is the sum of two
# atomic_t counters, so anything past 32 bits (or below 0) is not a count the kernel could have kept.
_U32 = 0xFFFFFFFF
_S32_MIN = -0x80000000


class _Vanished(Exception):
    """The interface disappeared while it was being read."""


@dataclass(frozen=True)
class _Topology:
    physical: frozenset[str]  # names with a `device` link
    bond_members: Mapping[str, tuple[str, ...]]  # bond name -> member names, as `bonding/slaves` lists them
    bond_of: Mapping[str, str]  # member name -> bond name


def _read_attr(path: Path) -> str | None:
    """sysfs read_attr, except that ENODEV ends the whole interface (it went away under us)."""
    try:
        return read_attr(path, device_gone=True)
    except DeviceGone as exc:
        raise _Vanished(path.parent.name) from exc


def parse_operstate(text: str | None) -> str:
    if text in _OPERSTATES:
        return text
    return "unknown"


def parse_carrier(text: str | None) -> bool | None:
    if text == "1":
        return True
    if text == "0":
        return False
    return None


def parse_speed_attr(text: str | None) -> int | None:
    """Mbit/s from the sysfs `speed` file; None for anything that is not a plausible link speed.

    -1 (SPEED_UNKNOWN), its unsigned twin 4294967295, the 16-bit 65535, 0 and garbage are all "unknown":
    see linkmodes.plausible_speed for the range and why.
    """
    return plausible_speed(parse_int(text, low=_S32_MIN, high=_U32))


def parse_flags(text: str | None) -> int | None:
    return parse_int(text, low=0, high=_U32, base=16)


def parse_carrier_changes(text: str | None) -> int | None:
    return parse_int(text, low=0, high=_U32)


def parse_duplex(text: str | None) -> bool | None:
    if text == "full":
        return True
    if text == "half":
        return False
    return None


def _link_target(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def pci_address(device_link: Path) -> str | None:
    """The PCI function behind a `device` link: the link's own target for PCI NICs, its parent for virtio.

    USB NICs are left without one: the PCI function above them is the USB host controller, not the NIC.
    """
    try:
        target = device_link.resolve(strict=True)
    except (OSError, RuntimeError):
        target_text = _link_target(device_link)
        if target_text is None:
            return None
        target = Path(target_text)
    if _BDF.fullmatch(target.name):
        return target.name
    if target.name.startswith("virtio") and _BDF.fullmatch(target.parent.name):
        return target.parent.name
    return None


class NicCollector:
    """One LinkReading per selected interface in `<sysfs>/class/net`.

    `link_settings` asks the kernel for an interface's supported modes (the ethtool ioctl by default); the
    plan passes a stand-in that knows nothing when sysfs is not the live one.
    """

    def __init__(
        self,
        config: NicsConfig,
        sysfs: Path,
        link_settings: Callable[[str], LinkSettings | None] | None = None,
    ) -> None:
        self._config = config
        self._net = sysfs / "class" / "net"
        self._link_settings = link_settings if link_settings is not None else get_link_settings

    @property
    def name(self) -> str:
        return "nic"

    def _selected(self, name: str) -> bool:
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in self._config.exclude):
            return False
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self._config.include)

    def _list(self) -> list[str]:
        try:
            return sorted(entry.name for entry in os.scandir(self._net))
        except OSError as exc:
            raise CollectorError(f"{self._net}: cannot list network interfaces: {exc.strerror}") from exc

    def _topology(self, names: Sequence[str]) -> _Topology:
        physical = frozenset(name for name in names if os.path.lexists(self._net / name / "device"))
        members: dict[str, tuple[str, ...]] = {}
        bond_of: dict[str, str] = {}
        for name in names:
            slaves = _safe_read(self._net / name / "bonding" / "slaves")
            if slaves is None:
                continue
            members[name] = tuple(slaves.split())
            for member in members[name]:
                bond_of[member] = name
        # A member whose bond lists it late (or a kernel whose `slaves` file lagged) still knows its master.
        for name in names:
            if name in bond_of or not (self._net / name / "bonding_slave").is_dir():
                continue
            master = _link_target(self._net / name / "master")
            if master is not None:
                bond_of[name] = Path(master).name
        return _Topology(physical, members, bond_of)

    def collect(self, ctx: RunContext) -> Sequence[LinkReading]:
        names = [name for name in self._list() if name != "lo"]
        topology = self._topology(names)
        readings: list[LinkReading] = []
        for name in names:
            ctx.check()
            members = topology.bond_members.get(name)
            if members is not None:
                physical = any(member in topology.physical for member in members)
                kind = "bond"
            else:
                physical = name in topology.physical
                kind = "ethernet" if physical else "virtual"
            if not physical and not self._config.include_virtual:
                continue
            if not self._selected(name):
                continue
            try:
                reading = self._read(name, physical, kind, topology)
            except _Vanished:
                log.debug("nic: %s vanished while being read; left out of this run", name)
                continue
            except OSError as exc:  # anything else the filesystem throws costs this interface only
                log.debug("nic: %s unreadable (%s); left out of this run", name, exc)
                continue
            readings.append(reading)
        return readings + self._missing_expected(set(names))

    def _missing_expected(self, present: set[str]) -> list[LinkReading]:
        """An interface the operator expects a speed of ([nics].expected) that is not there (driver not
        loaded, card dead, renamed) is a link down, not a link nobody asked about: without this, P3 would
        resolve on the links that remain."""
        return [LinkReading(interface=name, physical=True, kind="ethernet", operstate="absent", admin_up=False,
                            carrier=None, speed_mbps=None, full_duplex=None, max_speed_mbps=None,
                            supported_modes=(), expected_speed_mbps=mbps, carrier_changes=None)
                for name, mbps in sorted(self._config.expected_mbps.items()) if name not in present]

    def _read(self, name: str, physical: bool, kind: str, topology: _Topology) -> LinkReading:
        base = self._net / name
        ifindex = _read_attr(base / "ifindex")
        if ifindex is None and (base / "ifindex").exists():
            # Present but refused: net-sysfs answers EINVAL for every attribute of a device that is
            # being unregistered, which would otherwise read exactly like an admin-down interface.
            raise _Vanished(name)

        operstate_text = _read_attr(base / "operstate")
        flags_text = _read_attr(base / "flags")
        carrier_text = _read_attr(base / "carrier")
        speed_text = _read_attr(base / "speed")
        duplex_text = _read_attr(base / "duplex")
        changes_text = _read_attr(base / "carrier_changes")

        # Same device from start to end, or the reads above may mix a dying (or a new) interface's answers;
        # the kernel does not reuse an ifindex soon, so a re-created namesake also fails this.
        if _read_attr(base / "ifindex") != ifindex or not base.exists():
            raise _Vanished(name)

        operstate = parse_operstate(operstate_text)
        carrier = parse_carrier(carrier_text)
        flags = parse_flags(flags_text)
        # Without flags, a readable carrier is the next best witness of the admin state: the kernel
        # serves `carrier` exactly while the interface is up (netif_running).
        admin_up = carrier is not None if flags is None else bool(flags & IFF_UP)
        trusted = carrier is True and operstate == "up"
        speed = parse_speed_attr(speed_text) if trusted else None
        full_duplex = parse_duplex(duplex_text) if trusted else None
        carrier_changes = parse_carrier_changes(changes_text)
        for attr, text, understood in (
            ("operstate", operstate_text, operstate_text in _OPERSTATES),
            ("flags", flags_text, flags is not None),
            ("carrier", carrier_text, carrier is not None),
            # While the link is up the speed must be a plausible one; down, -1 is the normal answer.
            ("speed", speed_text, speed is not None or not trusted or speed_text in ("-1", "0")),
            ("duplex", duplex_text, duplex_text in ("full", "half", "unknown")),
            ("carrier_changes", changes_text, carrier_changes is not None),
        ):
            if text is not None and not understood:
                log.debug("nic: %s: unexpected %s value %r, reported as unknown", name, attr, text)

        supported: tuple[str, ...] = ()
        try:
            settings = self._link_settings(name)
        except OSError as exc:
            log.debug("nic: %s: ethtool link settings failed: %s", name, exc)
            settings = None
        if settings is not None:
            supported = settings.supported

        members = topology.bond_members.get(name, ())
        return LinkReading(
            interface=name,
            physical=physical,
            kind=kind,
            operstate=operstate,
            admin_up=admin_up,
            carrier=carrier,
            speed_mbps=speed,
            full_duplex=full_duplex,
            max_speed_mbps=best_speed_mbps(supported),
            supported_modes=supported,
            expected_speed_mbps=self._config.expected_mbps.get(name),
            carrier_changes=carrier_changes,
            bond_master=topology.bond_of.get(name),
            bond_members=members,
            pci_address=pci_address(base / "device") if name in topology.physical else None,
        )


def _safe_read(path: Path) -> str | None:
    try:
        return _read_attr(path)
    except _Vanished:
        return None
