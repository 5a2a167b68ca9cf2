"""PCIe links and physical slots, from sysfs, with SMBIOS type 9 designations as labels.

Occupancy and link state come from the kernel (sysfs attributes and config space), never from SMBIOS: real
firmware describes slots that do not exist and omits ones that do (see collectors/dmi.py). SMBIOS only
names a slot whose bus address resolves to a port we found.

Unknown versus empty: slot facts need config space beyond the 64-byte header, which only root may read, or
kernel slot objects (/sys/bus/pci/slots, from pciehp or ACPI _SUN). Without either, the collector returns
link readings and a SlotScan(complete=False) saying why (and logs it once). So an empty set of SlotReadings
means "no physical slot" only next to a complete SlotScan; the P5 rule reads it.

Repeat runs are cheap: what cannot change while a device stays present (identity, class, capability
layout, slot capabilities, bus numbers, topology) is read once per device directory, and each run re-reads
only link status and slot status. A device directory is a kernel object; a device that is hot-added,
removed or replaced gets a new one (a new inode), so it is read afresh on the next run.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from collectors.kit.command import run_program
from collectors.kit.context import Cancelled, CollectorError, RunContext
from collectors.kit.statefile import JsonStateFile
from collectors.kit.sysfs import parse_int, read_attr
from collectors.kit.warnonce import WarnOnce
from collectors.model.readings import AnyReading, PcieLinkReading, SlotReading, SlotScan
from collectors.pcie.config import PcieConfig
from collectors.pcie.dmi import DmiParseError, SmbiosSlot, parse_slots
from collectors.pcie.pciconfig import (
    DOWNSTREAM_PORT_TYPES,
    PcieCapability,
    bridge_buses,
    header_type,
    parse_pcie_capability,
    status_span,
    with_status,
    without_status,
)

log = logging.getLogger("physgap.collector.pcie")

BASELINE_FILE = "pcie-baseline.json"
_BASELINE_VERSION = 1
_BDF = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
_SLOT_ADDRESS = re.compile(r"^([0-9a-fA-F]{4}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})(?:\.[0-7])?$")
_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*GT/s")
_MAX_WIDTH = 32
# The PCI Express capability lives in the conventional 256 bytes; the extended space up to 4 KiB holds
# nothing decoded here, and every dword the kernel reads is a config access (in a VM a trap to the
# hypervisor, measured at 25 us each). Read unbuffered: a buffered read asks the kernel for a whole page.
_CONFIG_READ_BYTES = 256
# dmidecode normally answers in milliseconds; a hung one (broken /dev/mem, SMM stall) may cost at most this
# much, and never more than half of what is left of the run, so link readings are still returned in time.
_DMIDECODE_BUDGET_SECONDS = 10.0
# Firmware reserves a wide bus window behind Thunderbolt/USB4 root ports for hot-added devices (the MS-01
# reserves 42 buses); a card slot gets one. Used only when config space cannot tell us (not root).
_HOTPLUG_BUS_WINDOW = 8

# pciconfig's port types mapped to PcieLinkReading.port_type's vocabulary.
_READING_PORT_TYPES = {
    "endpoint": "endpoint",
    "legacy_endpoint": "endpoint",
    "rc_integrated_endpoint": "endpoint",
    "root_port": "root_port",
    "downstream_port": "downstream_port",
    "upstream_port": "upstream_port",
    "pcie_to_pci_bridge": "bridge",
    "pci_to_pcie_bridge": "bridge",
}


@dataclass(frozen=True)
class _Function:
    """One PCI function as read from sysfs in this run."""

    address: str
    segment: int
    bus: int
    vendor: str  # "8086"
    device_id: str  # "1572"
    class_code: str  # "0x020000", "" when unreadable
    is_bridge: bool
    has_link: bool  # the kernel exposes link attributes: a PCI Express function
    speed_gts: float | None
    max_speed_gts: float | None
    width: int | None
    max_width: int | None
    secondary: int | None
    subordinate: int | None
    sysfs_parent: str | None  # parent bridge from the device's real sysfs path
    cap: PcieCapability | None  # None when config space is not readable that far

    @property
    def ident(self) -> str:
        return f"{self.vendor}:{self.device_id}"


@dataclass(frozen=True)
class _Known:
    """A function as first read, kept while its sysfs directory stays the same kernel object."""

    identity: tuple[int, int, int]  # st_dev, st_ino, st_ctime_ns of the device directory
    function: _Function  # the fixed facts; link and slot status are re-read every run
    speed_path: Path
    width_path: Path
    config_path: Path
    status: tuple[int, int] | None  # (offset, length) of the status registers a port's slot reading uses
    keep: bool  # False when config space was unreadable: read it all again next run


@dataclass(frozen=True)
class _Baseline:
    device: str  # vendor:device the baseline belongs to
    speed_gts: float | None
    width: int


@dataclass(frozen=True)
class _SlotObject:
    name: str
    segment: int
    bus: int


def parse_speed(text: str | None) -> float | None:
    """GT/s from sysfs link speed text: "8.0 GT/s PCIe", "8 GT/s", "2.5 GT/s"; None for "Unknown"/garbage."""
    if text is None:
        return None
    match = _SPEED.match(text)
    if match is None:
        return None
    value = float(match.group(1))
    return value if math.isfinite(value) and value > 0 else None


def parse_width(text: str | None) -> int | None:
    """Lane count from sysfs width text ("4"); None for anything that is not 0..32."""
    if text is None or not text.strip().isdigit():
        return None
    value = int(text.strip())
    return value if value <= _MAX_WIDTH else None


def _read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb", buffering=0) as handle:
            return handle.read(_CONFIG_READ_BYTES)
    except OSError:
        return b""


def _read_span(path: Path, offset: int, length: int) -> bytes:
    """`length` bytes of config space at `offset`: the kernel reads only those, not the whole space."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return b""
    try:
        return os.pread(fd, length, offset)
    except OSError:
        return b""
    finally:
        os.close(fd)


# --- reading one function ----------------------------------------------------------------------------


def _read_function(path: Path, name: str, identity: tuple[int, int, int]) -> _Known | None:
    """Everything about one function, read at first sight; None when it cannot be identified."""
    match = _BDF.match(name)
    if match is None:
        return None
    vendor = parse_int(read_attr(path / "vendor"), low=0, high=0xFFFF, base=16)
    device_id = parse_int(read_attr(path / "device"), low=0, high=0xFFFF, base=16)
    if vendor is None or device_id is None:
        return None  # vanished between listing and reading, or not a PCI function we can identify
    class_value = parse_int(read_attr(path / "class"), low=0, high=0xFFFFFF, base=16)
    config = _read_bytes(path / "config")
    cap = parse_pcie_capability(config)
    port = cap is not None and cap.port_type in DOWNSTREAM_PORT_TYPES
    if cap is not None and not port:
        cap = without_status(cap)  # kept across runs, so only facts that stay true; ports re-read theirs

    secondary = parse_int(read_attr(path / "secondary_bus_number"), low=0, high=0xFF)
    subordinate = parse_int(read_attr(path / "subordinate_bus_number"), low=0, high=0xFF)
    buses = bridge_buses(config)
    if buses is not None and (secondary is None or subordinate is None):
        # Kernels before 4.19 lack these attributes; the 64-byte header every user can read has them.
        secondary, subordinate = buses.secondary, buses.subordinate
    htype = header_type(config)
    is_bridge = (class_value is not None and class_value >> 8 == 0x0604) or htype == 1

    link_files = [path / f for f in ("current_link_speed", "current_link_width", "max_link_speed")]
    has_link = all(p.exists() for p in link_files) and (path / "max_link_width").exists()

    sysfs_parent: str | None = None
    with contextlib.suppress(OSError):
        parent_name = Path(os.path.realpath(path)).parent.name
        if _BDF.match(parent_name):
            sysfs_parent = parent_name.lower()

    segment, bus = int(match.group(1), 16), int(match.group(2), 16)
    function = _Function(
        address=name.lower(),
        segment=segment,
        bus=bus,
        vendor=f"{vendor:04x}",
        device_id=f"{device_id:04x}",
        class_code=f"0x{class_value:06x}" if class_value is not None else "",
        is_bridge=is_bridge,
        has_link=has_link,
        speed_gts=parse_speed(read_attr(link_files[0])) if has_link else None,
        max_speed_gts=parse_speed(read_attr(link_files[2])) if has_link else None,
        width=parse_width(read_attr(link_files[1])) if has_link else None,
        max_width=parse_width(read_attr(path / "max_link_width")) if has_link else None,
        secondary=secondary if is_bridge else None,
        subordinate=subordinate if is_bridge else None,
        sysfs_parent=sysfs_parent,
        cap=cap,
    )
    return _Known(
        identity=identity,
        function=function,
        speed_path=link_files[0],
        width_path=link_files[1],
        config_path=path / "config",
        status=status_span(cap) if cap is not None and port else None,
        # An unreadable header (EIO, all ones while the device powers down) is no fact to keep.
        keep=htype is not None,
    )


def _refresh(entry: _Known) -> _Function:
    """The function's fixed facts with what can change while it stays present read afresh: link speed and
    width, and a port's Link Status and Slot Status (presence detect)."""
    function = entry.function
    speed = width = None
    if function.has_link:
        speed = parse_speed(read_attr(entry.speed_path))
        width = parse_width(read_attr(entry.width_path))
    cap = function.cap
    if cap is not None and entry.status is not None:
        cap = with_status(cap, _read_span(entry.config_path, *entry.status))
    return replace(function, speed_gts=speed, width=width, cap=cap)


class PcieCollector:
    """Collector "pcie": PcieLinkReadings for every PCIe function, SlotReadings for physical slots.

    Every run also yields one SlotScan saying whether slot occupancy could be determined at all (see the
    module docstring). dmidecode runs once per collector instance; SIGHUP builds a new instance.
    """

    name = "pcie"

    def __init__(self, config: PcieConfig, sysfs: Path) -> None:
        self._config = config
        self._devices_dir = sysfs / "bus" / "pci" / "devices"
        self._slots_dir = sysfs / "bus" / "pci" / "slots"
        self._warn = WarnOnce(log, "pcie: ")
        self._state = JsonStateFile(BASELINE_FILE, _decode_baselines, _encode_baselines, dict, self._warn,
                                    "PCIe baseline")
        self._known: dict[str, _Known] = {}  # by sysfs entry name, as of the last completed listing
        self._smbios: tuple[SmbiosSlot, ...] | None = None  # None = not fetched yet by this instance
        self._baselines: dict[str, _Baseline] | None = None  # None = not loaded yet
        self._baselines_dirty = False

    # --- the run -------------------------------------------------------------------------------------

    def collect(self, ctx: RunContext) -> Sequence[AnyReading]:
        functions = self._functions(ctx)
        parents = _resolve_parents(functions)
        port_types = _port_types(functions, parents)
        self._load_baselines(ctx)

        readings: list[AnyReading] = []
        for address, function in functions.items():
            if function.has_link:
                readings.append(self._link_reading(function, port_types[address], parents.get(address)))

        slot_objects = self._slot_objects()
        slots, scan = self._slots(ctx, functions, port_types, slot_objects)
        readings.extend(slots)
        readings.append(scan)
        self._save_baselines(ctx)
        return readings

    def _functions(self, ctx: RunContext) -> dict[str, _Function]:
        try:
            names = sorted(os.listdir(self._devices_dir))
        except OSError as exc:
            raise CollectorError(f"cannot list {self._devices_dir}: {exc.strerror or exc}") from exc
        functions: dict[str, _Function] = {}
        known: dict[str, _Known] = {}
        for name in names:
            ctx.check()
            found = self._observe(name)
            if found is None:
                continue
            entry, function = found
            functions[function.address] = function
            if entry.keep:
                known[name] = entry
        # Only what is listed now is kept: a removed device's facts go with it.
        self._known = known
        return functions

    def _observe(self, name: str) -> tuple[_Known, _Function] | None:
        """This run's view of one function: its fixed facts from the last run when its directory is the same
        kernel object, with status re-read; everything read afresh otherwise."""
        path = os.path.join(self._devices_dir, name)
        try:
            stat = os.stat(path)  # follows the bus/pci/devices link to the device's own directory
        except OSError:
            return None  # hot-removed: a dangling link, or gone between listing and reading
        identity = (stat.st_dev, stat.st_ino, stat.st_ctime_ns)
        entry = self._known.get(name)
        if entry is not None and entry.identity == identity:
            return entry, _refresh(entry)
        entry = _read_function(Path(path), name, identity)
        return None if entry is None else (entry, entry.function)

    # --- links and baselines -------------------------------------------------------------------------

    def _link_reading(self, function: _Function, port_type: str, parent: str | None) -> PcieLinkReading:
        baseline: _Baseline | None = None
        downgraded: bool | None = None
        if port_type in DOWNSTREAM_PORT_TYPES:
            # Root and downstream ports share their link with the device behind them; the verdict belongs to
            # that device (keyed to the card, so a swap resets it), as in lspci >= 3.8, which never marks a
            # root/downstream port downgraded. Judged here, a Gen2 HBA in a Gen3 slot would flag the port
            # forever, and a healthy port would say nothing the device's own reading does not.
            not_judged = "judged at the device end of the link"
        elif function.cap is not None and function.cap.port_type == "rc_integrated_endpoint":
            not_judged = "integrated in the root complex: no link"
        else:
            baseline = self._baseline_for(function)
            downgraded, not_judged = _judge(function, baseline)
        return PcieLinkReading(
            address=function.address,
            device=function.ident,
            class_code=function.class_code,
            port_type=port_type,
            current_speed_gts=function.speed_gts,
            max_speed_gts=function.max_speed_gts,
            current_width=function.width,
            max_width=function.max_width,
            baseline_speed_gts=baseline.speed_gts if baseline else None,
            baseline_width=baseline.width if baseline else None,
            downgraded=downgraded,
            parent=parent,
            not_judged=not_judged,
        )

    def _baseline_for(self, function: _Function) -> _Baseline | None:
        baselines = self._baselines if self._baselines is not None else {}
        known = baselines.get(function.address)
        if known is not None and known.device == function.ident:
            return known
        # First sighting of this card at this address (or a different card than before): only a trained
        # link is a baseline, so a device found with its link down does not learn "x0".
        if function.width is None or function.width == 0:
            return None
        fresh = _Baseline(function.ident, function.speed_gts, function.width)
        baselines[function.address] = fresh
        self._baselines = baselines
        self._baselines_dirty = True
        return fresh

    def _load_baselines(self, ctx: RunContext) -> None:
        if self._baselines is None:
            # A corrupt file is set aside and marked dirty, so the rebuilt one is written this run.
            self._baselines, self._baselines_dirty = self._state.load(ctx.state_dir)

    def _save_baselines(self, ctx: RunContext) -> None:
        if not self._baselines_dirty or self._baselines is None:
            return
        # When the write fails it stays dirty: retried next run, in case the directory becomes writable.
        if self._state.save(ctx.state_dir, self._baselines):
            self._baselines_dirty = False

    # --- slots ---------------------------------------------------------------------------------------

    def _slot_objects(self) -> dict[tuple[int, int], _SlotObject]:
        found: dict[tuple[int, int], _SlotObject] = {}
        try:
            names = sorted(os.listdir(self._slots_dir))
        except OSError:
            return found  # no pciehp/acpiphp/pci_slot: the directory may not even exist
        for name in names:
            match = _SLOT_ADDRESS.match(read_attr(self._slots_dir / name / "address") or "")
            if match is not None:
                key = (int(match.group(1), 16), int(match.group(2), 16))
                found.setdefault(key, _SlotObject(name, *key))
        return found

    def _slots(
        self,
        ctx: RunContext,
        functions: dict[str, _Function],
        port_types: dict[str, str],
        slot_objects: dict[tuple[int, int], _SlotObject],
    ) -> tuple[list[SlotReading], SlotScan]:
        ports = [f for a, f in functions.items() if port_types[a] in DOWNSTREAM_PORT_TYPES and f.has_link]
        if ports and not slot_objects and all(p.cap is None for p in ports):
            reason = ("PCIe slot occupancy unknown: config space is readable only to 64 bytes (not root) and the "
                      "kernel exposes no slot objects")
            self._warn.warn("slots-unknown", "%s; reporting PCIe links only", reason)
            return [], SlotScan(complete=False, reason=reason)
        source = "config space" if any(p.cap is not None for p in ports) else "kernel slot objects"
        scan = SlotScan(complete=True, reason=f"{len(ports)} PCIe port(s) read from {source}")

        candidates: list[tuple[_Function, _SlotObject | None]] = []
        for port in ports:
            slot_object = None
            if port.secondary is not None:
                slot_object = slot_objects.get((port.segment, port.secondary))
            cap = port.cap
            if cap is not None:
                if cap.hot_plug_capable and cap.hot_plug_surprise:
                    continue  # Thunderbolt/USB4 (and similar) ports: hot-plug targets, not card slots
                if not cap.slot_implemented and slot_object is None:
                    continue
            elif slot_object is None:
                continue
            elif not _children(port, functions) and _bus_window(port) >= _HOTPLUG_BUS_WINDOW:
                continue  # unprivileged: a wide reserved bus window marks a Thunderbolt-style port
            candidates.append((port, slot_object))
        if not candidates:
            return [], scan

        smbios = self._smbios_slots(ctx)
        return [self._slot_reading(port, obj, functions, smbios) for port, obj in candidates], scan

    def _slot_reading(
        self,
        port: _Function,
        slot_object: _SlotObject | None,
        functions: dict[str, _Function],
        smbios: tuple[SmbiosSlot, ...],
    ) -> SlotReading:
        children = _children(port, functions)
        cap = port.cap
        presence = cap.presence_detect if cap is not None else None
        width = port.width if port.width is not None else (cap.width if cap is not None else None)
        occupied = bool(presence) or bool(width) or bool(children)

        evidence: list[str] = []
        if presence is not None:
            evidence.append(f"presence detect {'on' if presence else 'off'}")
        evidence.append("link width unknown" if width is None else f"link width {width}")
        if children:
            evidence.append(f"{children[0].address} behind it")
        elif port.secondary is not None:
            evidence.append(f"nothing on bus {port.secondary:02x}")
        if slot_object is not None:
            evidence.append(f"kernel slot {slot_object.name}")

        label = _match_label(port, smbios)
        max_width = port.max_width if port.max_width else (cap.max_width if cap is not None else None)
        port_width = f"x{max_width}" if max_width else ""
        slot_width = label.width if label is not None and label.width else port_width
        if label is not None:
            name = label.designation
        elif slot_object is not None:
            name = f"slot {slot_object.name}"
        else:
            name = f"port {port.address}"
        return SlotReading(
            slot=name,
            port=port.address,
            designation=label.designation if label is not None else "",
            slot_type=label.slot_type if label is not None else "",
            width=slot_width,
            occupied=occupied,
            device=children[0].address if children else None,
            evidence=", ".join(evidence),
        )

    # --- SMBIOS --------------------------------------------------------------------------------------

    def _smbios_slots(self, ctx: RunContext) -> tuple[SmbiosSlot, ...]:
        cached = self._smbios
        if cached is None:
            cached = self._run_dmidecode(ctx)
            self._smbios = cached
        return cached

    def _run_dmidecode(self, ctx: RunContext) -> tuple[SmbiosSlot, ...]:
        """SMBIOS slot records, or () with a warning: labels are optional, the collector never fails here.

        Every outcome is cached for this instance's life (SIGHUP makes a new one), a timeout included: a
        dmidecode that hangs once will likely hang again, and must not eat half of every run.
        """
        dmidecode = self._config.dmidecode
        budget = max(0.0, min(_DMIDECODE_BUDGET_SECONDS, ctx.remaining() / 2))
        suffix = "SMBIOS slot labels unavailable until reload (SIGHUP)"
        try:
            result = run_program([dmidecode, "-t", "slot"], ctx.sub(budget))
        except Cancelled:
            ctx.check()  # the whole run is over (deadline or shutdown): that is the scheduler's business
            self._warn.warn("dmidecode", "%s did not finish within %.1fs; %s", dmidecode, budget, suffix)
            return ()
        except CollectorError as exc:
            self._warn.warn("dmidecode", "%s; %s", exc, suffix)
            return ()
        if result.returncode != 0:
            stderr = result.stderr.decode("utf-8", errors="replace").strip().splitlines()
            reason = stderr[-1].strip() if stderr else f"exit status {result.returncode}"
            self._warn.warn("dmidecode", "%s failed (%s); %s", dmidecode, reason, suffix)
            return ()
        try:
            return parse_slots(result.stdout.decode("utf-8", errors="replace"))
        except DmiParseError as exc:
            self._warn.warn("dmidecode", "%s output unusable (%s); %s", dmidecode, exc, suffix)
            return ()


# --- pure helpers ------------------------------------------------------------------------------------


def _judge(function: _Function, baseline: _Baseline | None) -> tuple[bool | None, str]:
    """(downgraded, why not judged): True when a measured speed or width is below the baseline, False only
    when every part of the baseline was measured again and none is below, None otherwise (never "fine" for
    a link that could not be read)."""
    if baseline is None:
        return None, "no baseline yet: the link has not trained since it was first seen"
    slower = (function.speed_gts is not None and baseline.speed_gts is not None
              and function.speed_gts < baseline.speed_gts)
    narrower = function.width is not None and function.width < baseline.width
    if slower or narrower:
        return True, ""
    # A baseline learned while the kernel printed "Unknown" speed has only a width: judged on that alone.
    unread = [name for name, value, wanted in (("speed", function.speed_gts, baseline.speed_gts),
                                               ("width", function.width, baseline.width))
              if value is None and wanted is not None]
    if unread:
        return None, f"current link {' and '.join(unread)} unreadable"
    return False, ""


def _decode_baselines(document: Any) -> dict[str, _Baseline]:
    """The persisted baseline document (parsed JSON); ValueError when it is not one."""
    if not isinstance(document, dict) or not isinstance(document.get("devices"), dict):
        raise ValueError("no 'devices' object")
    baselines: dict[str, _Baseline] = {}
    for address, entry in document["devices"].items():
        if not isinstance(address, str) or not _BDF.match(address) or not isinstance(entry, dict):
            raise ValueError(f"bad entry {address!r}")
        device, speed, width = entry.get("device"), entry.get("speed_gts"), entry.get("width")
        if not isinstance(device, str) or not isinstance(width, int) or isinstance(width, bool):
            raise ValueError(f"bad entry {address!r}")
        if speed is not None and (not isinstance(speed, int | float) or isinstance(speed, bool)):
            raise ValueError(f"bad speed for {address!r}")
        baselines[address] = _Baseline(device, float(speed) if speed is not None else None, width)
    return baselines


def _encode_baselines(baselines: dict[str, _Baseline]) -> dict[str, Any]:
    return {
        "version": _BASELINE_VERSION,
        "devices": {
            address: {"device": b.device, "speed_gts": b.speed_gts, "width": b.width}
            for address, b in sorted(baselines.items())
        },
    }


def _resolve_parents(functions: dict[str, _Function]) -> dict[str, str]:
    """Function address -> address of the bridge/port above it, where one is known."""
    bridges = [f for f in functions.values() if f.is_bridge and f.secondary is not None]
    parents: dict[str, str] = {}
    for address, function in functions.items():
        if function.sysfs_parent is not None and function.sysfs_parent != address:
            parents[address] = function.sysfs_parent
            continue
        # Plain directories (containers, test trees) carry no topology: use the bridges' bus windows,
        # preferring the bridge whose secondary bus is this function's bus (its direct parent).
        covering = [
            b
            for b in bridges
            if b.address != address
            and b.segment == function.segment
            and b.secondary is not None
            and b.secondary <= function.bus <= (b.subordinate if b.subordinate is not None else b.secondary)
        ]
        if covering:
            best = max(covering, key=lambda b: (b.secondary == function.bus, b.secondary or 0))
            parents[address] = best.address
    return parents


def _port_types(functions: dict[str, _Function], parents: dict[str, str]) -> dict[str, str]:
    """PcieLinkReading.port_type for every function: from config space, else guessed from topology."""
    types: dict[str, str] = {}

    def guess(address: str, depth: int) -> str:
        if address in types:
            return types[address]
        function = functions.get(address)
        if function is None:
            return "other"
        if function.cap is not None:
            return _READING_PORT_TYPES.get(function.cap.port_type, "other")
        if not function.is_bridge:
            return "endpoint" if function.has_link else "other"
        if not function.has_link:
            return "bridge"
        parent = parents.get(address)
        if parent is None or parent not in functions or depth > 16:
            return "root_port"  # a PCIe bridge on a root bus
        # Below a root or downstream port sits a switch's upstream port; below that, its downstream ports.
        return "downstream_port" if guess(parent, depth + 1) == "upstream_port" else "upstream_port"

    for address in functions:
        types[address] = guess(address, 0)
    return types


def _children(port: _Function, functions: dict[str, _Function]) -> list[_Function]:
    if port.secondary is None:
        return []
    return sorted(
        (f for f in functions.values() if f.segment == port.segment and f.bus == port.secondary),
        key=lambda f: f.address,
    )


def _bus_window(port: _Function) -> int:
    if port.secondary is None or port.subordinate is None:
        return 0
    return port.subordinate - port.secondary


def _match_label(port: _Function, smbios: tuple[SmbiosSlot, ...]) -> SmbiosSlot | None:
    """The one sane SMBIOS record naming this port or the bus behind it; None if none or ambiguous.

    Client boards (AMI) give the root port's address, servers (HPE, Dell) the device's; both are tried.
    Two different designations claiming one port (ZimaBoard: J6C1 and J7C1 both at 00:14.0) prove the
    addresses are not trustworthy, so neither is used.
    """
    matches: list[SmbiosSlot] = []
    for record in smbios:
        if not record.sane or record.bus_address is None or not record.designation:
            continue
        match = _BDF.match(record.bus_address)
        if match is None:
            continue
        segment, bus = int(match.group(1), 16), int(match.group(2), 16)
        names_port = record.bus_address == port.address
        names_device = port.secondary is not None and (segment, bus) == (port.segment, port.secondary)
        if names_port or names_device:
            matches.append(record)
    if len({m.designation for m in matches}) != 1:
        return None
    return matches[0]


__all__ = ["BASELINE_FILE", "PcieCollector", "parse_speed", "parse_width"]
