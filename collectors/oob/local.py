"""This host's own out-of-band hardware, read without the network: Intel ME / AMT and a BMC (IPMI).

Sources, each replaceable for tests and containers (sysfs root, /dev root, the dmidecode program):
- Intel ME: the HECI PCI function (Intel, class 0780 in device 16) or a /sys/class/mei device; its
  firmware version from /sys/class/mei/mei0/fw_ver ("<platform>:<major>.<minor>.<hotfix>.<build>").
- Intel AMT: the AMT SOL ("KT") serial function at device 16 function 3 (Intel, class 0700), exposed on
  AMT SKUs only, and the SMBIOS type 130 `$AMT` record with its flag bytes set. Observed on real boards
  (shared/corpus/mei/SOURCES.md): consumer boards carry the `$AMT` record too, with flags all zero, so the
  record's presence alone is not AMT.
- BMC: /dev/ipmi0 (ipmi_devintf), /sys/class/ipmi, the ACPI IPMI device IPI0001, or an SMBIOS type 38
  "IPMI Device Information" record.
Whatever could not be read leaves that capability unknown (present None) with the reason, never "absent".
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from collectors.kit.command import ProgramNotFound, run_program
from collectors.kit.context import Cancelled, CollectorError, RunContext
from collectors.kit.sysfs import parse_int, read_attr
from collectors.kit.warnonce import WarnOnce
from collectors.model.readings import AnyReading, OobLocalReading

log = logging.getLogger("physgap.collector.oob_local")

INTEL = 0x8086
_ME_SLOT = 0x16
_SOL_FUNCTION = 3
_CLASS_COMMUNICATION_OTHER = 0x0780  # HECI / MEI
_CLASS_SERIAL = 0x0700  # 16550-compatible serial: the AMT SOL function
_BDF = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:([0-9a-f]{2})\.([0-7])$")
_MAX_PCI_FUNCTIONS = 4096
# `dmidecode -t 38,130` prints a few records; a full dump (what a stand-in may print) is under 100 KB.
_MAX_DMIDECODE_BYTES = 1024 * 1024
_DMIDECODE_BUDGET_SECONDS = 10.0
_IPMI_DEVICES = ("ipmi0", "ipmi/0", "ipmidev/0")
_ACPI_IPMI = "IPI0001"

_HEADER = re.compile(r"^Handle 0x([0-9A-Fa-f]{4}), DMI type (\d+), (\d+) bytes\.?\s*$")
_HEX_LINE = re.compile(r"^\s+((?:[0-9A-Fa-f]{2}\s*)+)$")
_MARKERS = (re.compile(r"^# dmidecode \d"), re.compile(r"^SMBIOS \d+\.\d+(\.\d+)? present"),
            re.compile(r"^# No SMBIOS nor DMI entry point found"))
_AMT_SIGNATURE = b"$AMT"


class SmbiosParseError(ValueError):
    """The text is not dmidecode output."""


@dataclass(frozen=True)
class SmbiosOob:
    """What dmidecode's records say about OOB hardware."""

    ipmi_interfaces: tuple[str, ...]  # one per type 38 record: "KCS (Keyboard Control Style)", "SSIF", ...
    amt_flags: tuple[bytes, ...]  # flag bytes (offsets 8..12) of each type 130 record signed `$AMT`

    @property
    def amt_enabled(self) -> bool:
        return any(any(flags) for flags in self.amt_flags)


def parse_smbios_oob(text: str) -> SmbiosOob:
    """Type 38 and type 130 records from dmidecode text (a full dump or `-t 38,130`)."""
    lines = text.splitlines()
    if not any(m.match(line) for line in lines for m in _MARKERS) and not any(_HEADER.match(ln) for ln in lines):
        raise SmbiosParseError("not dmidecode output")
    interfaces: list[str] = []
    amt: list[bytes] = []
    index = 0
    while index < len(lines):
        header = _HEADER.match(lines[index])
        index += 1
        if header is None:
            continue
        record_type = int(header.group(2))
        body: list[str] = []
        while index < len(lines) and not _HEADER.match(lines[index]):
            body.append(lines[index])
            index += 1
        if record_type == 38:
            interfaces.append(_field(body, "Interface Type") or "unknown interface")
        elif record_type == 130:
            data = _header_and_data(body)
            if len(data) >= 13 and data[4:8] == _AMT_SIGNATURE:
                amt.append(bytes(data[8:13]))
    return SmbiosOob(tuple(interfaces), tuple(amt))


def _field(body: list[str], name: str) -> str:
    prefix = f"{name}:"
    for line in body:
        stripped = line.strip()
        if stripped.startswith(prefix):
            return stripped[len(prefix):].strip()
    return ""


def _header_and_data(body: list[str]) -> bytes:
    """The raw bytes dmidecode prints for a record it does not decode (OEM types 128..255)."""
    out = bytearray()
    inside = False
    for line in body:
        if line.strip() == "Header and Data:":
            inside = True
            continue
        if not inside:
            continue
        match = _HEX_LINE.match(line)
        if match is None:
            break
        out += bytes(int(byte, 16) for byte in match.group(1).split())
    return bytes(out)


@dataclass(frozen=True)
class PciFunction:
    address: str
    vendor: int
    device: int
    class_code: int  # 24-bit


@dataclass(frozen=True)
class PciScan:
    readable: bool
    heci: tuple[PciFunction, ...]
    sol: tuple[PciFunction, ...]
    reason: str = ""


def scan_pci(sysfs: Path) -> PciScan:
    """Intel ME functions in device 16 of any bus 0: HECI (class 0780xx) and the AMT SOL port (0700xx, fn 3)."""
    devices = sysfs / "bus" / "pci" / "devices"
    try:
        names = sorted(os.listdir(devices))[:_MAX_PCI_FUNCTIONS]
    except OSError as exc:
        return PciScan(False, (), (), f"{devices} unreadable ({exc.strerror or exc})")
    heci: list[PciFunction] = []
    sol: list[PciFunction] = []
    for name in names:
        match = _BDF.match(name)
        if match is None or int(match.group(1), 16) != _ME_SLOT:
            continue
        function = _function(devices / name, name)
        if function is None or function.vendor != INTEL:
            continue
        base = function.class_code >> 8
        if base == _CLASS_COMMUNICATION_OTHER:
            heci.append(function)
        elif base == _CLASS_SERIAL and int(match.group(2)) == _SOL_FUNCTION:
            sol.append(function)
    return PciScan(True, tuple(heci), tuple(sol))


def _function(path: Path, address: str) -> PciFunction | None:
    vendor = parse_int(read_attr(path / "vendor"), low=0, high=0xFFFF, base=16)
    device = parse_int(read_attr(path / "device"), low=0, high=0xFFFF, base=16)
    class_code = parse_int(read_attr(path / "class"), low=0, high=0xFFFFFF, base=16)
    if vendor is None or device is None or class_code is None:
        return None
    return PciFunction(address, vendor, device, class_code)


@dataclass(frozen=True)
class MeiDevice:
    name: str  # "mei0"
    firmware: str  # "11.6.12.3202", "" when not exposed
    state: str  # dev_state: "ENABLED", "DISABLED", ... "" when not exposed


def read_mei(sysfs: Path) -> tuple[MeiDevice, ...] | None:
    """The MEI devices the kernel registered (mei_me loaded); None when /sys/class/mei is not there at all."""
    root = sysfs / "class" / "mei"
    try:
        names = sorted(n for n in os.listdir(root) if n.startswith("mei"))[:16]
    except OSError:
        return None
    return tuple(MeiDevice(name, firmware_version(read_attr(root / name / "fw_ver")),
                           (read_attr(root / name / "dev_state") or "")[:32]) for name in names)


_FW_VER = re.compile(r"^\d+:(\d+\.\d+\.\d+\.\d+)$")


def firmware_version(text: str | None) -> str:
    """The first block of fw_ver ("0:11.6.12.3202" -> "11.6.12.3202"); "" when absent or not that shape."""
    if not text:
        return ""
    match = _FW_VER.match(text.splitlines()[0].strip())
    return match.group(1) if match else ""


@dataclass(frozen=True)
class IpmiSignals:
    device: str  # "/dev/ipmi0" when present, else ""
    sysfs_class: bool  # /sys/class/ipmi has an interface
    acpi: bool | None  # the ACPI IPI0001 device exists; None when /sys/bus/acpi/devices is unreadable


def ipmi_signals(sysfs: Path, dev: Path) -> IpmiSignals:
    device = next((str(dev / name) for name in _IPMI_DEVICES if (dev / name).exists()), "")
    try:
        sysfs_class = any(n.startswith("ipmi") for n in os.listdir(sysfs / "class" / "ipmi"))
    except OSError:
        sysfs_class = False
    try:
        acpi: bool | None = any(n.startswith(_ACPI_IPMI + ":") for n in os.listdir(sysfs / "bus" / "acpi" / "devices"))
    except OSError:
        acpi = None
    return IpmiSignals(device, sysfs_class, acpi)


def decide(pci: PciScan, mei: tuple[MeiDevice, ...] | None, smbios: SmbiosOob | None, smbios_problem: str,
           ipmi: IpmiSignals) -> tuple[OobLocalReading, ...]:
    """The three capability readings from what could be read. Pure."""
    return (_mei(pci, mei), _amt(pci, smbios, smbios_problem), _ipmi(smbios, smbios_problem, ipmi))


def _mei(pci: PciScan, mei: tuple[MeiDevice, ...] | None) -> OobLocalReading:
    version = next((m.firmware for m in mei or () if m.firmware), "")
    if pci.heci:
        first = pci.heci[0]
        driver = f", {mei[0].name} registered" if mei else ", no mei device (mei_me not loaded?)"
        return OobLocalReading("mei", True, f"PCI {first.address} {_ids(first)} (Intel ME HECI){driver}", version)
    if mei:
        return OobLocalReading("mei", True, f"/sys/class/mei/{mei[0].name}", version)
    if pci.readable:
        return OobLocalReading("mei", False, "no Intel ME (HECI) PCI function and no /sys/class/mei device")
    return OobLocalReading("mei", None, f"PCI functions not readable: {pci.reason}")


def _amt(pci: PciScan, smbios: SmbiosOob | None, smbios_problem: str) -> OobLocalReading:
    record = ""
    if smbios is not None:
        if smbios.amt_flags:
            flags = " ".join(f"{b:02X}" for b in smbios.amt_flags[0])
            record = f"SMBIOS $AMT record flags {flags}" + ("" if smbios.amt_enabled else " (all zero: no AMT)")
        else:
            record = "no SMBIOS $AMT record"
    else:
        record = f"SMBIOS not read ({smbios_problem})"
    if pci.sol:
        sol = pci.sol[0]
        return OobLocalReading("amt", True, f"PCI {sol.address} {_ids(sol)} (AMT SOL); {record}")
    if smbios is not None and smbios.amt_enabled:
        return OobLocalReading("amt", True, f"{record}; no AMT SOL PCI function (SOL may be disabled in the "
                                            "firmware setup)" if pci.readable else record)
    if pci.readable and pci.heci and smbios is None:
        # SOL can be switched off in the firmware setup, hiding its PCI function on an AMT board: with the
        # $AMT record unread, an ME without SOL does not show that AMT is absent.
        return OobLocalReading("amt", None, "Intel ME without the AMT SOL PCI function (SOL may be disabled in "
                                            f"the firmware setup); {record}")
    if pci.readable:
        what = "Intel ME without the AMT SOL PCI function" if pci.heci else "no Intel ME"
        return OobLocalReading("amt", False, f"{what}; {record}")
    if smbios is not None:
        return OobLocalReading("amt", False, f"{record}; PCI functions not readable ({pci.reason})")
    return OobLocalReading("amt", None, f"PCI functions not readable ({pci.reason}); {record}")


def _ipmi(smbios: SmbiosOob | None, smbios_problem: str, signals: IpmiSignals) -> OobLocalReading:
    found: list[str] = []
    if signals.device:
        found.append(signals.device)
    if signals.sysfs_class:
        found.append("/sys/class/ipmi")
    if signals.acpi:
        found.append(f"ACPI {_ACPI_IPMI} device")
    if smbios is not None and smbios.ipmi_interfaces:
        found.append(f"SMBIOS type 38 ({smbios.ipmi_interfaces[0]})")
    if found:
        return OobLocalReading("ipmi", True, "BMC: " + ", ".join(found))
    checked = ["no /dev/ipmi0"]
    if signals.acpi is False:
        checked.append(f"no ACPI {_ACPI_IPMI} device")
    if smbios is not None:
        return OobLocalReading("ipmi", False, ", ".join([*checked, "no SMBIOS type 38 record"]))
    if signals.acpi is False:
        return OobLocalReading("ipmi", False, ", ".join(checked) + f" (SMBIOS not read: {smbios_problem})")
    return OobLocalReading("ipmi", None, ", ".join(checked) + f"; ACPI devices and SMBIOS not readable "
                                                              f"({smbios_problem})")


def _ids(function: PciFunction) -> str:
    return f"{function.vendor:04x}:{function.device:04x}"


class OobLocalCollector:
    """Reads the local capability every run; SMBIOS once it has been read (firmware records do not change
    while the host runs)."""

    name = "oob_local"

    def __init__(self, *, sysfs: Path, dev: Path, dmidecode: str) -> None:
        self._sysfs = sysfs
        self._dev = dev
        self._dmidecode = dmidecode
        self._smbios: SmbiosOob | None = None
        self._warn = WarnOnce(log)

    def collect(self, ctx: RunContext) -> Sequence[AnyReading]:
        smbios, problem = self._read_smbios(ctx)
        return decide(scan_pci(self._sysfs), read_mei(self._sysfs), smbios, problem,
                      ipmi_signals(self._sysfs, self._dev))

    def _read_smbios(self, ctx: RunContext) -> tuple[SmbiosOob | None, str]:
        if self._smbios is not None:
            return self._smbios, ""
        budget = min(_DMIDECODE_BUDGET_SECONDS, max(0.0, ctx.remaining()) / 2)
        try:
            result = run_program([self._dmidecode, "-t", "38,130"], ctx.sub(budget),
                                 max_stdout=_MAX_DMIDECODE_BYTES)
        except ProgramNotFound:
            return None, f"{self._dmidecode}: program not found"
        except Cancelled:
            if ctx.cancel.is_set():
                raise
            return None, f"{self._dmidecode}: no answer within {budget:.0f}s"
        except CollectorError as exc:
            return None, str(exc)
        text = result.stdout.decode("utf-8", "replace")
        if result.returncode != 0:
            last = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            self._warn.warn("dmidecode", "%s failed (exit %d): %s", self._dmidecode, result.returncode, last[0])
            return None, f"{self._dmidecode} exit {result.returncode}: {last[0][:120]}"
        try:
            self._smbios = parse_smbios_oob(text)
        except SmbiosParseError as exc:
            return None, f"{self._dmidecode}: {exc}"
        return self._smbios, ""
