"""Pure parser of `smartctl --json` output (smartmontools 7.0-7.5): one drive's facts, and `--scan` lists.

Nothing here runs a program or judges a drive; `collectors.smart.verdict` does the judging. The parser is
deliberately forgiving about shape (a field of the wrong type is treated as absent, never as an error)
because the JSON schema grew across 7.0-7.5 and vendors fill fields with garbage, and strict about what is
not smartctl output at all (`SmartParseError`).

What the captures taught (see ../shared/notes/smart.md and the corpus SOURCES.md):
- Exit status is a bitmask; only bits 0-1 mean "no usable data", and bit 1 is shared by "open failed" and
  "the disk sleeps and `-n standby` left it alone". The two are told apart by message text
  ("Device is in STANDBY mode, exit(2)") or the 7.5 `power_mode` object, never by the exit code.
- Attribute raw values are 48-bit words that vendors pack (Seagate 1/7/188, temperature 194 with min/max),
  so `raw_value` is kept verbatim here and only `smart_verdict` decides what is a count. Temperature comes
  from `temperature.current`, never from attribute 194.
- VM disks (QEMU/virtio, VirtualBox, Hyper-V, VMware) and RAID logical volumes have no physical SMART:
  `unsupported` says so, so that nobody reports them as failed.
- Numbers outside what a drive can report (collectors.smart.ranges: a temperature of -27 °C, a
  4294967295 pending-sector filler) are dropped here and named in `implausible`, so the verdict never
  judges them and no exporter shows them.
- scrutiny stored some captures without the `smartctl` header block; a document that still carries
  smartctl's `device` block is accepted (exit status 0, no messages), anything else without `smartctl`
  is not smartctl output.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from collectors.smart.ranges import (
    CAPACITY_BYTES,
    COUNT,
    PERCENTAGE_USED,
    POWER_ON_SECONDS,
    SPARE_PERCENT,
    TEMPERATURE_CELSIUS,
    plausible,
)
from collectors.smart.values import as_int
from collectors.smart.wear import NVME_PERCENTAGE_USED, Wear, ata_wear, scsi_wear

PROTOCOLS = ("ATA", "NVMe", "SCSI")
# `-n standby,STATUS`: the exit status smartctl returns when it skipped a sleeping disk. Its default, 2, is
# also "device open failed", which would make a vanished disk look asleep (or a sleeping one look gone).
# 3 is unique: it is bits 0 and 1 together, and real smartctl never sets both, because a command-line error
# (bit 0) makes it exit before any device is opened (bit 1); the man page suggests exactly this value.
# A value with no bitmask meaning at all (say 255) would be just as unique, but 3 is what smartd users and
# the man page know, and it can never be mistaken for a health bit (3-7). The collector passes it in argv,
# the parser recognises it in answers: one value for both.
STANDBY_EXIT_STATUS = 3

EXIT_BIT_PHRASES: tuple[str, ...] = (
    "command line did not parse",
    "device open failed or the device is in a low-power mode",
    "some SMART or ATA command failed (data may be partial but is still used)",
    "SMART status check returned DISK FAILING",
    "a pre-failure attribute is at or below its threshold",
    "an attribute was at or below its threshold in the past",
    "the device error log contains records of errors",
    "the device self-test log contains records of errors",
)

# smartctl prints "Device is in STANDBY mode, exit(2)" (ataprint.cpp, also SLEEP, IDLE, STANDBY_Y, IDLE_A..C),
# SCSI power condition names such as "STANDBY BY COMMAND" (scsiprint.cpp) and, from smartctl.cpp,
# "/dev/sda: Device is in STANDBY (OS) mode, exit(2)". It only prints that line when it stopped because of -n.
_LOW_POWER_MESSAGE = re.compile(r"\bDevice is in (?P<mode>[A-Z][A-Z0-9_ ()]*?) mode\b", re.IGNORECASE)
_LOW_POWER_NAMES = re.compile(r"STANDBY|SLEEP|IDLE", re.IGNORECASE)
_ACTIVE_NAME = re.compile(r"ACTIVE", re.IGNORECASE)

# Model/vendor/product strings of hypervisor-emulated disks. QEMU's IDE disk even answers SMART with a
# canned PASSED, which says nothing about the host's real drives.
_VM_MODELS = re.compile(
    r"\bQEMU\b|\bVBOX\b|\bVMware\b|\bMsft\s+Virtual\s+Disk\b|\bVirtual\s+HD\b|\bVirtIO\b|\bXen\b|\bBochs\b",
    re.IGNORECASE,
)
_VM_DEVICE = re.compile(r"/dev/(x?vd[a-z]+)\b")  # virtio-blk / Xen PV: no SG_IO, smartctl cannot even open them
# Logical volumes presented by RAID controllers (Intel RST "Raid 1 Volume", HP Smart Array "LOGICAL VOLUME",
# LSI/Avago/Broadcom MegaRAID "MR9361-16i", Dell PERC, Adaptec/Areca/3ware volumes).
_RAID_MODELS = re.compile(
    r"\bRaid\s*\d+\s*Volume\b|\bLOGICAL\s+VOLUME\b|\bPERC\b|\bMR\d{4}|\bMegaRAID\b|\bAVAGO\b|\bLSI\b"
    r"|\bBroadcom\b|\bAdaptec\b|\bASR\d|\bAreca\b|\b3ware\b|\bAMCC\b|\bVirtual\s+Disk\b",
    re.IGNORECASE,
)
_UNDETECTABLE = re.compile(r"Unable to detect device type|Unknown USB bridge|Please specify device type", re.I)

_WHEN_FAILED = {"": "", "-": "", "now": "now", "failing_now": "now", "past": "past", "in_the_past": "past"}
_IDENTITY_CHARS = re.compile(r"[^A-Za-z0-9._-]")
_SCAN_TEXT_LINE = re.compile(r"^(?P<name>/\S+)\s+-d\s+(?P<type>\S+)\s*(?:#\s*(?P<comment>.*))?$")


class SmartParseError(ValueError):
    """The text is not smartctl JSON: empty, garbage, truncated, not an object, or no smartctl block."""


@dataclass(frozen=True)
class AtaAttribute:
    """One row of `ata_smart_attributes.table`, raw value verbatim (it may be vendor-packed)."""

    id: int
    name: str
    value: int | None  # normalised value (1-253)
    worst: int | None
    thresh: int | None
    raw_value: int | None  # the 48-bit raw word as smartctl decoded it; NOT necessarily a count
    raw_string: str  # smartctl's formatting of the raw word per its drive database, e.g. "26 (Min/Max 13/41)"
    when_failed: str  # "", "now" or "past"
    prefailure: bool | None = None  # flags.prefailure: "now" on an old-age attribute does not fail the drive


@dataclass(frozen=True)
class NvmeHealth:
    """The NVMe SMART/Health Information log (log page 0x02) plus the controller's temperature thresholds."""

    critical_warning: int  # bit 0 spare, 1 temperature, 2 reliability, 3 read-only, 4 volatile backup, 5 PMR
    media_errors: int | None
    percentage_used: int | None  # vendor estimate of life used; may exceed 100 (caps at 255)
    available_spare: int | None  # percent
    available_spare_threshold: int | None  # percent; per model (10, 5 and 0 seen)
    temperature: int | None
    warning_temp_celsius: int | None  # WCTEMP (smartctl >= 7.4 JSON), None when the drive gives none
    critical_temp_celsius: int | None  # CCTEMP


@dataclass(frozen=True)
class SmartFacts:
    """Everything physgap uses from one `smartctl --json` document.

    Exactly one of these describes the outcome: `standby` (asleep, not woken), `unsupported` non-empty
    (no physical SMART: VM disk, RAID volume, SMART unavailable/disabled), `open_failed` (unreadable),
    `has_data` (something to judge). `state` names it. A document can also be none of those (an
    `--info`-only query): state "no_data".
    """

    exit_status: int
    messages: tuple[str, ...]
    standby: bool
    open_failed: bool
    unsupported: str
    device_name: str
    dev_type: str
    protocol: str
    model: str
    serial: str
    firmware: str
    wwn: str  # "0x5000cca284e2bb06", "" when absent
    nvme_eui64: str  # 16 lower-case hex digits of namespace 1's EUI-64, "" when absent
    capacity_bytes: int | None
    rotational: bool | None
    smart_passed: bool | None
    temperature_celsius: float | None
    power_on_seconds: float | None
    attributes: Mapping[int, AtaAttribute] = field(hash=False)
    nvme: NvmeHealth | None
    scsi_grown_defects: int | None
    scsi_uncorrected_errors: int | None  # total uncorrected read + write + verify errors (error counter log)
    has_data: bool
    power_mode: str = ""  # "STANDBY", "IDLE_A", ... when smartctl reported one (message or 7.5 power_mode)
    smartctl_version: str = ""  # "7.3", "" when the header is missing
    implausible: tuple[str, ...] = ()  # values dropped as outside their plausible range, for a debug log
    wear: Wear | None = None  # rated endurance used, from whichever field this drive has (collectors.smart.wear)
    # The error counter log per direction, e.g. (("read", 1), ("write", 535)): which one grew, for the evidence.
    scsi_uncorrected_by_direction: tuple[tuple[str, int], ...] = ()

    @property
    def state(self) -> str:
        """"standby" | "unsupported" | "open_failed" | "read" | "no_data"."""
        if self.standby:
            return "standby"
        if self.unsupported:
            return "unsupported"
        if self.open_failed:
            return "open_failed"
        return "read" if self.has_data else "no_data"


@dataclass(frozen=True)
class ScanEntry:
    """One device from `smartctl --scan[-open] --json`. (name, dev_type) is the key: MegaRAID disks share a name."""

    name: str
    dev_type: str
    protocol: str


# --- tolerant accessors: the wrong type is "absent" ------------------------------------------------------


def _obj(value: object, key: str) -> dict[str, Any] | None:
    if isinstance(value, dict):
        child = value.get(key)
        if isinstance(child, dict):
            return child
    return None


def _uint(value: object) -> int | None:
    number = as_int(value)
    return number if number is not None and number >= 0 else None


def _str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _load(text: str | bytes) -> dict[str, Any]:
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise SmartParseError(f"expected text, got {type(text).__name__}")
    if not text.strip():
        raise SmartParseError("empty output")
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # smartctl < 7.3 could print a stray text line (e.g. "  Pending defect count:") before the JSON
        # (smartctl_exporter readjson.go strips it); retry from the first line that opens an object.
        lines = text.splitlines()
        start = next((i for i, line in enumerate(lines) if line.startswith("{")), None)
        if not start:
            raise SmartParseError(f"not JSON: {exc}") from None
        try:
            document = json.loads("\n".join(lines[start:]))
        except (ValueError, RecursionError):
            raise SmartParseError(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise SmartParseError(f"JSON is a {type(document).__name__}, not an object")
    return document


def _header(document: dict[str, Any]) -> tuple[int, tuple[str, ...], str]:
    smartctl = _obj(document, "smartctl")
    if smartctl is None:
        if _obj(document, "device") is None:
            raise SmartParseError("no 'smartctl' block: not smartctl --json output")
        return 0, (), ""
    status = as_int(smartctl.get("exit_status"))
    exit_status = status & 0xFF if status is not None and status >= 0 else 0
    raw_messages = smartctl.get("messages")
    messages: list[str] = []
    if isinstance(raw_messages, list):
        for message in raw_messages:
            if isinstance(message, dict) and (string := _str(message.get("string"))):
                messages.append(string)
    version = smartctl.get("version")
    version_text = ""
    if isinstance(version, list) and version and all(_uint(part) is not None for part in version):
        version_text = ".".join(str(part) for part in version)
    return exit_status, tuple(messages), version_text


# --- public API -------------------------------------------------------------------------------------------


def interpret_exit_status(status: int) -> tuple[str, ...]:
    """One phrase per set bit of smartctl's exit status (man smartctl, RETURN VALUES), lowest bit first."""
    if isinstance(status, bool) or not isinstance(status, int) or status < 0:
        return ()
    return tuple(phrase for bit, phrase in enumerate(EXIT_BIT_PHRASES) if status & (1 << bit))


def parse_smartctl_json(text: str | bytes) -> SmartFacts:
    """Parse one `smartctl --json` document. Raises only SmartParseError."""
    document = _load(text)
    exit_status, messages, version = _header(document)

    device = _obj(document, "device") or {}
    device_name = _str(device.get("name"))
    dev_type = _str(device.get("type"))
    protocol = _protocol(_str(device.get("protocol")))

    vendor = _str(document.get("scsi_vendor")) or _str(document.get("vendor"))
    product = _str(document.get("scsi_product")) or _str(document.get("product"))
    model = (
        _str(document.get("model_name"))
        or _str(document.get("scsi_model_name"))
        or " ".join(part for part in (vendor, product) if part)
    )
    serial = _str(document.get("serial_number"))
    firmware = (
        _str(document.get("firmware_version")) or _str(document.get("scsi_revision")) or _str(document.get("revision"))
    )

    dropped: list[str] = []
    attributes = _attributes(document)
    nvme = _nvme(document, dropped)
    smart_status = _obj(document, "smart_status")
    smart_passed = _bool(smart_status.get("passed")) if smart_status is not None else None
    grown = plausible("SCSI grown defect list", as_int(document.get("scsi_grown_defect_list")), COUNT, dropped)
    by_direction = _scsi_uncorrected(document, dropped)
    uncorrected = (plausible("SCSI uncorrected errors", sum(count for _, count in by_direction), COUNT, dropped)
                   if by_direction else None)
    has_data = bool(smart_passed is not None or attributes or nvme is not None or grown is not None
                    or uncorrected is not None)  # fmt: skip

    power_mode = ""
    from_message = next((m for msg in messages if (m := _LOW_POWER_MESSAGE.search(msg))), None)
    if from_message is not None:
        power_mode = from_message.group("mode").strip().upper()
    power = _obj(document, "power_mode")  # smartctl >= 7.5, ATA only
    if not power_mode and power is not None:
        power_mode = _str(power.get("name")).upper()
    # smartctl prints "Device is in X mode" only when it stopped because of -n; the 7.5 power_mode object is
    # present for awake disks too, so it counts only together with exit bit 1 and no data. Exit status
    # exactly 3 is what `-n standby,3` returns for a skipped disk and nothing else produces (a command line
    # error exits 1 before any open, an open failure exits 2), which covers outputs without the message.
    standby = not has_data and (
        from_message is not None
        or exit_status == STANDBY_EXIT_STATUS
        or (bool(exit_status & 0b10) and bool(_LOW_POWER_NAMES.search(power_mode))
            and not _ACTIVE_NAME.search(power_mode))
    )  # fmt: skip

    smart_support = _obj(document, "smart_support")
    unsupported = ""
    if not standby:
        unsupported = _unsupported(
            (model, vendor, product), device_name, messages, smart_support, has_data,
        )  # fmt: skip
    open_failed = bool(exit_status & 0b11) and not standby and not has_data and not unsupported

    rotational = False if protocol == "NVMe" else _rotational(document.get("rotation_rate"))
    if nvme is not None and nvme.percentage_used is not None:
        wear: Wear | None = Wear(nvme.percentage_used, NVME_PERCENTAGE_USED)
    elif protocol == "SCSI":
        wear = scsi_wear(document, dropped)
    elif protocol == "ATA" or attributes:
        wear = ata_wear(document, attributes, rotational, dropped)
    else:
        wear = None

    return SmartFacts(
        exit_status=exit_status,
        messages=messages,
        standby=standby,
        open_failed=open_failed,
        unsupported=unsupported,
        device_name=device_name,
        dev_type=dev_type,
        protocol=protocol,
        model=model,
        serial=serial,
        firmware=firmware,
        wwn=_wwn(document),
        nvme_eui64=_eui64(document),
        capacity_bytes=_capacity(document, dropped),
        rotational=rotational,
        smart_passed=smart_passed,
        temperature_celsius=_temperature(document, nvme, dropped),
        power_on_seconds=_power_on_seconds(document, dropped),
        attributes=MappingProxyType(attributes),
        nvme=nvme,
        scsi_grown_defects=grown,
        scsi_uncorrected_errors=uncorrected,
        has_data=has_data,
        power_mode=power_mode,
        smartctl_version=version,
        implausible=tuple(dropped),
        wear=wear,
        scsi_uncorrected_by_direction=by_direction,
    )


def drive_identity(facts: SmartFacts) -> str:
    """A stable id for labels and baselines: WWN, else NVMe EUI-64, else model_serial; "" when none.

    The device path is not an identity (sdX and nvmeN move across boots; MegaRAID disks all share
    /dev/bus/0). Without a serial there is nothing unique left, so "" then, even if the model is known.
    """
    if facts.wwn:
        return "wwn-" + facts.wwn
    if facts.nvme_eui64:
        return "eui-" + facts.nvme_eui64
    return serial_identity(facts.model, facts.serial)


def serial_identity(model: str, serial: str) -> str:
    """The model_serial form of an identity ("" without a serial): made of text only, so no number in an
    answer (a WWN field that reads negative or out of range) can change it."""
    if not serial:
        return ""
    joined = f"{model}_{serial}" if model else serial
    return _IDENTITY_CHARS.sub("", joined.replace(" ", "_"))


def parse_scan(text: str | bytes) -> tuple[ScanEntry, ...]:
    """Devices from `smartctl --scan --json` / `--scan-open --json` (text `--scan` output accepted too).

    Duplicates (same name and type) are dropped; order is smartctl's.
    """
    try:
        document = _load(text)
    except SmartParseError:
        entries = _scan_text(text)
        if entries is None:
            raise
        return entries
    if _obj(document, "smartctl") is None:
        raise SmartParseError("no 'smartctl' block: not smartctl --scan --json output")
    devices = document.get("devices")
    found: list[ScanEntry] = []
    if isinstance(devices, list):
        for device in devices:
            if not isinstance(device, dict) or not (name := _str(device.get("name"))):
                continue
            entry = ScanEntry(name, _str(device.get("type")), _protocol(_str(device.get("protocol"))))
            if entry not in found:
                found.append(entry)
    return tuple(found)


# --- pieces -----------------------------------------------------------------------------------------------


def _protocol(value: str) -> str:
    return next((name for name in PROTOCOLS if name.lower() == value.lower()), "")


def _attributes(document: dict[str, Any]) -> dict[int, AtaAttribute]:
    table = (_obj(document, "ata_smart_attributes") or {}).get("table")
    found: dict[int, AtaAttribute] = {}
    if not isinstance(table, list):
        return found
    for row in table:
        if not isinstance(row, dict):
            continue
        attr_id = as_int(row.get("id"))
        if attr_id is None or not 1 <= attr_id <= 255 or attr_id in found:
            continue
        raw = row.get("raw")
        raw_value = _uint(raw.get("value")) if isinstance(raw, dict) else None
        raw_string = _str(raw.get("string")) if isinstance(raw, dict) else ""
        flags = row.get("flags")
        when = row.get("when_failed")
        found[attr_id] = AtaAttribute(
            id=attr_id,
            name=_str(row.get("name")),
            value=_uint(row.get("value")),
            worst=_uint(row.get("worst")),
            thresh=_uint(row.get("thresh")),
            raw_value=raw_value,
            raw_string=raw_string,
            when_failed=_WHEN_FAILED.get(when.strip().lower(), "") if isinstance(when, str) else "",
            prefailure=_bool(flags.get("prefailure")) if isinstance(flags, dict) else None,
        )
    return found


def _nvme(document: dict[str, Any], dropped: list[str]) -> NvmeHealth | None:
    log = _obj(document, "nvme_smart_health_information_log")
    if log is None:
        return None
    warning = _uint(log.get("critical_warning"))
    if warning is None:
        status = _obj(_obj(document, "smart_status"), "nvme")
        warning = _uint(status.get("value")) if status is not None else None
    thresholds = _obj(document, "nvme_composite_temperature_threshold") or {}
    temperature = _obj(document, "temperature") or {}

    def limit(name: str, primary: object, fallback: object) -> int | None:
        value = as_int(primary)
        if value is None:
            value = as_int(fallback)
        if not value:
            return None  # 0 = the controller reports no threshold
        return plausible(name, value, TEMPERATURE_CELSIUS, dropped)

    return NvmeHealth(
        critical_warning=warning or 0,
        media_errors=plausible("NVMe media errors", as_int(log.get("media_errors")), COUNT, dropped),
        percentage_used=plausible("NVMe percentage used", as_int(log.get("percentage_used")), PERCENTAGE_USED,
                                      dropped),
        available_spare=plausible("NVMe available spare", as_int(log.get("available_spare")), SPARE_PERCENT,
                                      dropped),
        available_spare_threshold=plausible(
            "NVMe available spare threshold", as_int(log.get("available_spare_threshold")), SPARE_PERCENT, dropped),
        temperature=as_int(log.get("temperature")),  # range-checked where it is used (_temperature)
        warning_temp_celsius=limit("NVMe warning temperature", thresholds.get("warning"),
                                   temperature.get("op_limit_max")),
        critical_temp_celsius=limit("NVMe critical temperature", thresholds.get("critical"),
                                    temperature.get("critical_limit_max")),
    )


def _scsi_uncorrected(document: dict[str, Any], dropped: list[str]) -> tuple[tuple[str, int], ...]:
    """Total uncorrected errors per direction of the error counter log; () when the log is absent."""
    log = _obj(document, "scsi_error_counter_log")
    if log is None:
        return ()
    return tuple(
        (direction, count)
        for direction in ("read", "write", "verify")
        if (section := _obj(log, direction)) is not None
        and (count := plausible(f"SCSI {direction} uncorrected errors",
                                    as_int(section.get("total_uncorrected_errors")), COUNT, dropped)) is not None
    )


def _wwn(document: dict[str, Any]) -> str:
    wwn = _obj(document, "wwn")
    if wwn is not None:
        naa, oui, ident = _uint(wwn.get("naa")), _uint(wwn.get("oui")), _uint(wwn.get("id"))
        if naa is not None and oui is not None and ident is not None and naa < 16 and oui < 1 << 24 \
                and ident < 1 << 36 and (oui or ident):  # fmt: skip
            return f"0x{naa:x}{oui:06x}{ident:09x}"
    # SAS drives carry their NAA-5 WWN as the logical unit id (what /dev/disk/by-id/wwn-* uses); RAID
    # volumes carry 32-digit NAA-6 ids, which are not drive identities.
    lu = _str(document.get("logical_unit_id")).lower()
    if re.fullmatch(r"0x5[0-9a-f]{15}", lu):
        return lu
    return ""


def _eui64(document: dict[str, Any]) -> str:
    namespaces = document.get("nvme_namespaces")
    if not isinstance(namespaces, list):
        return ""
    for namespace in namespaces:
        eui = _obj(namespace, "eui64")
        if eui is None:
            continue
        oui, ext = _uint(eui.get("oui")), _uint(eui.get("ext_id"))
        if oui is not None and ext is not None and oui < 1 << 24 and ext < 1 << 40 and (oui or ext):
            return f"{oui:06x}{ext:010x}"
    return ""


def _capacity(document: dict[str, Any], dropped: list[str]) -> int | None:
    user = _obj(document, "user_capacity")
    size = as_int(user.get("bytes")) if user is not None else None
    if not size:
        size = as_int(document.get("nvme_total_capacity"))
    if not size:
        return None  # 0: unknown, not a finding
    return plausible("capacity", size, CAPACITY_BYTES, dropped)


def _rotational(rate: object) -> bool | None:
    value = _uint(rate)
    return None if value is None else value > 0


def _temperature(document: dict[str, Any], nvme: NvmeHealth | None, dropped: list[str]) -> float | None:
    current = (_obj(document, "temperature") or {}).get("current")
    value: float | None = as_int(current) if not isinstance(current, float) else current
    if value is None and nvme is not None:
        value = nvme.temperature
    if value is None:
        return None
    if value == 0:
        return None  # RAID volumes and virtual disks without a sensor: no reading, and nothing odd about it
    # Compared as given (an int of any size compares exactly), converted only once it is known to be small.
    checked = plausible("temperature", value, TEMPERATURE_CELSIUS, dropped)
    return None if checked is None else float(checked)


def _power_on_seconds(document: dict[str, Any], dropped: list[str]) -> float | None:
    power_on = _obj(document, "power_on_time")
    if power_on is None:
        return None
    hours, minutes = as_int(power_on.get("hours")), as_int(power_on.get("minutes"))
    if hours is None:
        return None
    if minutes is not None and not 0 <= minutes < 60:
        dropped.append(f"power-on minutes {minutes} outside 0..59")
        return None
    seconds = plausible("power-on time", hours * 3600 + (minutes or 0) * 60, POWER_ON_SECONDS, dropped)
    return None if seconds is None else float(seconds)


def _unsupported(
    names: tuple[str, str, str],
    device_name: str,
    messages: tuple[str, ...],
    smart_support: dict[str, Any] | None,
    has_data: bool,
) -> str:
    text = " ".join(names)
    if vm := _VM_MODELS.search(text):
        return f"virtual machine disk ({vm.group(0)}): no physical SMART"
    for candidate in (device_name, *messages):
        if vm_device := _VM_DEVICE.search(candidate):
            return f"virtual machine disk ({vm_device.group(1)}): no physical SMART"
    available = _bool(smart_support.get("available")) if smart_support is not None else None
    enabled = _bool(smart_support.get("enabled")) if smart_support is not None else None
    raid = _RAID_MODELS.search(text) if not has_data else None
    if raid:
        shown = names[0] or " ".join(part for part in names[1:] if part)
        return f"RAID or virtual volume ({shown}): no SMART, check the member disks"
    if available is False:
        return "SMART unavailable: the device lacks SMART capability"
    if not has_data and any(_UNDETECTABLE.search(message) for message in messages):
        return "device type not detectable (virtual disk or unknown USB bridge): set its -d type"
    if enabled is False and not has_data:
        return "SMART disabled on the device (smartctl -s on enables it)"
    return ""


def _scan_text(text: str | bytes) -> tuple[ScanEntry, ...] | None:
    """`smartctl --scan` text: "/dev/sda -d sat # /dev/sda [SAT], ATA device"; None when it is not that."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8", errors="replace")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return None
    found: list[ScanEntry] = []
    for line in lines:
        match = _SCAN_TEXT_LINE.match(line)
        if match is None:
            return None
        comment = match.group("comment") or ""
        protocol = next((p for p in PROTOCOLS if f"{p} device".lower() in comment.lower()), "")
        entry = ScanEntry(match.group("name"), match.group("type"), protocol)
        if entry not in found:
            found.append(entry)
    return tuple(found)
