"""physgap's own small `smartctl --json` documents, as Python dicts (serialise with `as_json`).

Shapes follow the real captures in ../shared/corpus/smart (smartctl 7.3 key names and nesting); every value
is invented. Each constant is one situation an operator must see reported correctly. Tests must not mutate
them: `variant` returns a deep copy with changes applied.
"""

from __future__ import annotations

import copy
import json
from typing import Any


def _header(argv: list[str], exit_status: int, messages: list[dict[str, str]] | None = None) -> dict[str, Any]:
    smartctl: dict[str, Any] = {
        "version": [7, 3],
        "svn_revision": "5338",
        "platform_info": "x86_64-linux-6.1.0-18-amd64",
        "build_info": "(local build)",
        "argv": ["smartctl", "--json", *argv],
    }
    if messages:
        smartctl["messages"] = messages
    smartctl["exit_status"] = exit_status
    return {"json_format_version": [1, 0], "smartctl": smartctl}


def _attr(attr_id: int, name: str, value: int, worst: int, thresh: int, raw: int, raw_string: str | None = None,
          *, prefailure: bool = False, when_failed: str = "") -> dict[str, Any]:  # fmt: skip
    return {
        "id": attr_id,
        "name": name,
        "value": value,
        "worst": worst,
        "thresh": thresh,
        "when_failed": when_failed,
        "flags": {"value": 0x33 if prefailure else 0x32, "prefailure": prefailure, "updated_online": True},
        "raw": {"value": raw, "string": raw_string if raw_string is not None else str(raw)},
    }


def _device(name: str, dev_type: str, protocol: str, info_name: str | None = None) -> dict[str, Any]:
    return {"name": name, "info_name": info_name or name, "type": dev_type, "protocol": protocol}


ARGV_ATA = ["--info", "--health", "--attributes", "--nocheck=standby", "-d", "sat", "/dev/sda"]

# A WD Red class NAS HDD, all critical counters zero. 194's raw word packs min/max (the string shows it).
ATA_HDD_HEALTHY: dict[str, Any] = {
    **_header(ARGV_ATA, 0),
    "device": _device("/dev/sda", "sat", "ATA", "/dev/sda [SAT]"),
    "model_family": "Western Digital Red",
    "model_name": "WDC WD40EFRX-68N32N0",
    "serial_number": "WD-WCC7K1ABCDEF",
    "wwn": {"naa": 5, "oui": 5358, "id": 4660123456},
    "firmware_version": "82.00A82",
    "user_capacity": {"blocks": 7814037168, "bytes": 4000787030016},
    "rotation_rate": 5400,
    "smart_support": {"available": True, "enabled": True},
    "smart_status": {"passed": True},
    "ata_smart_attributes": {
        "revision": 16,
        "table": [
            _attr(1, "Raw_Read_Error_Rate", 200, 200, 51, 0, prefailure=True),
            _attr(5, "Reallocated_Sector_Ct", 200, 200, 140, 0, prefailure=True),
            _attr(9, "Power_On_Hours", 60, 60, 0, 29210),
            _attr(194, "Temperature_Celsius", 116, 103, 0, 193274871839, "31 (Min/Max 18/45)"),
            _attr(197, "Current_Pending_Sector", 200, 200, 0, 0),
            _attr(198, "Offline_Uncorrectable", 100, 253, 0, 0),
            _attr(199, "UDMA_CRC_Error_Count", 200, 200, 0, 0),
        ],
    },
    "power_on_time": {"hours": 29210},
    "power_cycle_count": 41,
    "temperature": {"current": 31},
}

# A Seagate desktop HDD that says PASSED while it starts losing sectors: 8 pending and 8 offline-uncorrectable
# (one unreadable 4 KiB physical sector of a 512e drive), below the size at which physgap fails a drive at
# first sight, so a warning until they grow. 1/7/188 carry Seagate-packed raw words (188 = 0x000C000C000C:
# three 16-bit counters, the exos-x16 trap) that must never read as counts.
ATA_PENDING_PASSED: dict[str, Any] = {
    **_header(ARGV_ATA, 0),
    "device": _device("/dev/sdb", "sat", "ATA", "/dev/sdb [SAT]"),
    "model_family": "Seagate Barracuda 7200.14 (AF)",
    "model_name": "ST3000DM001-1CH166",
    "serial_number": "Z1F2ABCD",
    "wwn": {"naa": 5, "oui": 3152, "id": 2271560481},
    "firmware_version": "CC27",
    "user_capacity": {"blocks": 5860533168, "bytes": 3000592982016},
    "rotation_rate": 7200,
    "smart_support": {"available": True, "enabled": True},
    "smart_status": {"passed": True},
    "ata_smart_attributes": {
        "revision": 10,
        "table": [
            _attr(1, "Raw_Read_Error_Rate", 110, 99, 6, 225145600, prefailure=True),
            _attr(5, "Reallocated_Sector_Ct", 96, 96, 10, 160, prefailure=True),
            _attr(7, "Seek_Error_Rate", 85, 60, 30, 12884901888372, prefailure=True),
            _attr(187, "Reported_Uncorrect", 97, 97, 0, 3),
            _attr(188, "Command_Timeout", 100, 97, 0, 51540393996),
            _attr(194, "Temperature_Celsius", 36, 45, 0, 98784247844, "36 (0 16 0 0 0)"),
            _attr(197, "Current_Pending_Sector", 100, 100, 0, 8),
            _attr(198, "Offline_Uncorrectable", 100, 100, 0, 8),
            _attr(199, "UDMA_CRC_Error_Count", 200, 200, 0, 0),
        ],
    },
    "power_on_time": {"hours": 21877},
    "temperature": {"current": 36},
}

# The drive's own verdict: FAILED, attribute 5 failing now (exit 8 DISK FAILING + 16 prefail below threshold).
ATA_FAILED: dict[str, Any] = {
    **_header(ARGV_ATA, 24),
    "device": _device("/dev/sdc", "sat", "ATA", "/dev/sdc [SAT]"),
    "model_name": "TOSHIBA MG05ACA800E",
    "serial_number": "59K0A0XYZ",
    "wwn": {"naa": 5, "oui": 57, "id": 11659834},
    "firmware_version": "GX6J",
    "rotation_rate": 7200,
    "smart_support": {"available": True, "enabled": True},
    "smart_status": {"passed": False},
    "ata_smart_attributes": {
        "revision": 16,
        "table": [
            _attr(5, "Reallocated_Sector_Ct", 1, 1, 50, 12001, prefailure=True, when_failed="now"),
            _attr(197, "Current_Pending_Sector", 100, 100, 0, 48),
        ],
    },
    "temperature": {"current": 38},
}

# `smartctl -n standby` on a sleeping SATA disk, smartctl 7.3: a message and exit 2, no data. (smart.md §1.5;
# no public capture exists, the string is ataprint.cpp's.)
ATA_STANDBY: dict[str, Any] = {
    **_header(
        ["--info", "--health", "--attributes", "--nocheck=standby", "-d", "sat", "/dev/sdd"], 2,
        [{"string": "Device is in STANDBY mode, exit(2)", "severity": "information"}],
    ),
    "device": _device("/dev/sdd", "sat", "ATA", "/dev/sdd [SAT]"),
}  # fmt: skip

ARGV_NVME = ["--info", "--health", "--attributes", "-d", "nvme", "/dev/nvme0"]


def _nvme(model: str, serial: str, eui_ext: int, log: dict[str, Any], exit_status: int = 0,
          critical_flags: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    warning = log["critical_warning"]
    status: dict[str, Any] = {"passed": warning == 0, "nvme": {"value": warning, **(critical_flags or {})}}
    return {
        **_header(ARGV_NVME, exit_status),
        "device": _device("/dev/nvme0", "nvme", "NVMe"),
        "model_name": model,
        "serial_number": serial,
        "firmware_version": "3B2QGXA7",
        "nvme_total_capacity": 1000204886016,
        "nvme_namespaces": [
            {"id": 1, "size": {"blocks": 1953525168, "bytes": 1000204886016},
             "eui64": {"oui": 9528, "ext_id": eui_ext}},
        ],
        "user_capacity": {"blocks": 1953525168, "bytes": 1000204886016},
        "smart_support": {"available": True, "enabled": True},
        "smart_status": status,
        "nvme_smart_health_information_log": {
            "temperature": 41, "available_spare": 100, "available_spare_threshold": 10, "percentage_used": 2,
            "media_errors": 0, "num_err_log_entries": 0, "power_on_hours": 3120, **log,
        },
        "nvme_composite_temperature_threshold": {"warning": 82, "critical": 85},
        "temperature": {"current": log.get("temperature", 41)},
        "power_on_time": {"hours": 3120},
    }  # fmt: skip


NVME_HEALTHY = _nvme("Samsung SSD 980 PRO 1TB", "S5GXNF0R123456A", 412316860416, {"critical_warning": 0})
# Spare exhausted: the controller raises critical warning bit 0 and the overall check fails (exit 8).
NVME_CRITICAL = _nvme(
    "Samsung SSD 970 EVO Plus 500GB", "S4EVNX0R654321B", 412316860417,
    {"critical_warning": 1, "available_spare": 4, "available_spare_threshold": 10, "media_errors": 3},
    exit_status=8, critical_flags={"spare_below_threshold": True, "temperature_above_or_below_threshold": False},
)  # fmt: skip
NVME_WORN_85 = _nvme("INTEL SSDPE2KX020T8", "PHLJ912345672P0BGN", 412316860418,
                     {"critical_warning": 0, "percentage_used": 85, "available_spare": 97})  # fmt: skip

# A SAS HDD (smartctl 7.3 SCSI keys) whose grown defect list is non-empty; the WWN is the NAA-5 LU id.
SAS_GROWN_DEFECTS: dict[str, Any] = {
    **_header(["--info", "--health", "--attributes", "-d", "scsi", "/dev/sde"], 0),
    "device": _device("/dev/sde", "scsi", "SCSI"),
    "scsi_vendor": "SEAGATE",
    "scsi_product": "ST4000NM0023",
    "scsi_model_name": "SEAGATE ST4000NM0023",
    "scsi_revision": "GS0F",
    "user_capacity": {"blocks": 7814037168, "bytes": 4000787030016},
    "logical_unit_id": "0x5000c500a1b2c3d4",
    "serial_number": "Z1Z0ABCD0000C512",
    "rotation_rate": 7200,
    "smart_support": {"available": True, "enabled": True},
    "smart_status": {"passed": True},
    "temperature": {"current": 35, "drive_trip": 68},
    "power_on_time": {"hours": 40112, "minutes": 7},
    "scsi_grown_defect_list": 12,
    "scsi_error_counter_log": {
        "read": {"total_errors_corrected": 80211, "total_uncorrected_errors": 0, "gigabytes_processed": "91230.1"},
        "write": {"total_errors_corrected": 0, "total_uncorrected_errors": 0, "gigabytes_processed": "40211.7"},
        "verify": {"total_errors_corrected": 17, "total_uncorrected_errors": 0, "gigabytes_processed": "3.1"},
    },
}

# SATA SSDs and their wear, in the conventions of ../shared/corpus/smart-wear (collectors.smart.wear).
ARGV_SSD = ["-a", "-l", "ssd", "-d", "sat", "/dev/sdg"]


def _ata_ssd(family: str, model: str, serial: str, wwn_id: int, table: list[dict[str, Any]],
             **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        **_header(ARGV_SSD, 0),
        "device": _device("/dev/sdg", "sat", "ATA", "/dev/sdg [SAT]"),
        "model_family": family,
        "model_name": model,
        "serial_number": serial,
        "wwn": {"naa": 5, "oui": 0x5CD2E4, "id": wwn_id},
        "firmware_version": "D2010370",
        "user_capacity": {"blocks": 468862128, "bytes": 240057409536},
        "rotation_rate": 0,
        "in_smartctl_database": True,
        "smart_support": {"available": True, "enabled": True},
        "smart_status": {"passed": True},
        "ata_smart_attributes": {"revision": 1, "table": table},
        "power_on_time": {"hours": 61021},
        "temperature": {"current": 27},
        **extra,
    }


# Intel DC S3500 class: wear only in 233 Media_Wearout_Indicator's NORMALIZED value (14 left = 86 % used,
# a warning); its raw is 0. 232 is spare, 241 host writes in 32 MiB units.
ATA_SSD_INTEL_WORN = _ata_ssd(
    "Intel 730 and DC S35x0/3610/3700 Series SSDs", "INTEL SSDSC2BB240G4", "BTWL3405012A240NGN", 0x0A1B2C3D,
    [_attr(5, "Reallocated_Sector_Ct", 100, 100, 0, 0),
     _attr(184, "End-to-End_Error", 100, 100, 90, 0, prefailure=True),
     _attr(187, "Reported_Uncorrect", 100, 100, 0, 0),
     _attr(232, "Available_Reservd_Space", 100, 100, 10, 0, prefailure=True),
     _attr(233, "Media_Wearout_Indicator", 14, 14, 0, 0),
     _attr(241, "Host_Writes_32MiB", 100, 100, 0, 16911221)],
)  # fmt: skip

# Samsung 860 EVO class with `-l ssd`: device statistics page 7 says 19 % used and 177 Wear_Leveling_Count's
# normalized 81 agrees; its raw 278 is average P/E cycles, not a percentage.
ATA_SSD_SAMSUNG_DEVSTAT = _ata_ssd(
    "Samsung based SSDs", "Samsung SSD 860 EVO 500GB", "S3Z2NB0K123456X", 0x0A1B2C3E,
    [_attr(5, "Reallocated_Sector_Ct", 100, 100, 10, 0, prefailure=True),
     _attr(177, "Wear_Leveling_Count", 81, 81, 0, 278, prefailure=True),
     _attr(187, "Reported_Uncorrect", 100, 100, 0, 0),
     _attr(241, "Total_LBAs_Written", 99, 99, 0, 51318463210)],
    ata_device_statistics={"pages": [
        {"number": 1, "name": "General Statistics", "revision": 1, "table": [
            {"offset": 8, "name": "Lifetime Power-On Resets", "size": 4, "value": 88,
             "flags": {"value": 192, "string": "V--- ", "valid": True, "normalized": False}}]},
        {"number": 7, "name": "Solid State Device Statistics", "revision": 1, "table": [
            {"offset": 8, "name": "Percentage Used Endurance Indicator", "size": 1, "value": 19,
             "flags": {"value": 224, "string": "VN-- ", "valid": True, "normalized": True,
                       "supports_dsn": False, "monitored_condition_met": False}}]},
    ]},
)  # fmt: skip

# SandForce (OCZ Vertex 2 class): 231 SSD_Life_Left is the wear (97 left); 233 here is SandForce_Internal and
# 177 Wear_Range_Delta, both normalized 0 with threshold 0, which an ID-only rule reads as "worn out".
ATA_SSD_SANDFORCE = _ata_ssd(
    "SandForce Driven SSDs", "OCZ-VERTEX2", "OCZ-8D6E1A2B3C4D5E6F", 0x0A1B2C3F,
    [_attr(5, "Retired_Block_Count", 100, 100, 3, 0, prefailure=True),
     _attr(177, "Wear_Range_Delta", 0, 0, 0, 1),
     _attr(187, "Reported_Uncorrect", 100, 100, 0, 0),
     _attr(231, "SSD_Life_Left", 97, 97, 10, 0, prefailure=True),
     _attr(233, "SandForce_Internal", 0, 0, 0, 1280),
     _attr(241, "Lifetime_Writes_GiB", 0, 0, 0, 576)],
)  # fmt: skip

# A SAS SSD (HGST Ultrastar SS200 class, smartctl 7.3 SCSI keys) at 82 % of its rated endurance.
SAS_SSD_WORN: dict[str, Any] = {
    **_header(["-a", "-l", "ssd", "-d", "scsi", "/dev/sdh"], 0),
    "device": _device("/dev/sdh", "scsi", "SCSI"),
    "scsi_vendor": "HGST",
    "scsi_product": "HUSMR3280ASS200",
    "scsi_model_name": "HGST HUSMR3280ASS200",
    "scsi_revision": "J172",
    "user_capacity": {"blocks": 1562824368, "bytes": 800166076416},
    "logical_unit_id": "0x5000cca0a1b2c3d4",
    "serial_number": "0LX1ABCD",
    "rotation_rate": 0,
    "smart_support": {"available": True, "enabled": True},
    "smart_status": {"passed": True},
    "scsi_percentage_used_endurance_indicator": 82,
    "temperature": {"current": 33, "drive_trip": 70},
    "power_on_time": {"hours": 38211, "minutes": 12},
    "scsi_grown_defect_list": 0,
    "scsi_error_counter_log": {
        "read": {"total_errors_corrected": 0, "total_uncorrected_errors": 0, "gigabytes_processed": "48.639"},
        "write": {"total_errors_corrected": 0, "total_uncorrected_errors": 0, "gigabytes_processed": "2473.166"},
        "verify": {"total_errors_corrected": 0, "total_uncorrected_errors": 0, "gigabytes_processed": "7.988"},
    },
}

# A Proxmox guest's IDE/SATA disk: QEMU answers SMART with a canned PASSED that says nothing real.
VM_QEMU_DISK: dict[str, Any] = {
    **_header(["--info", "--health", "--attributes", "-d", "sat", "/dev/sda"], 0),
    "device": _device("/dev/sda", "sat", "ATA", "/dev/sda [SAT]"),
    "model_name": "QEMU HARDDISK",
    "serial_number": "QM00005",
    "firmware_version": "2.5+",
    "user_capacity": {"blocks": 67108864, "bytes": 34359738368},
    "smart_support": {"available": True, "enabled": True},
    "smart_status": {"passed": True},
    "ata_smart_attributes": {
        "revision": 1,
        "table": [_attr(1, "Raw_Read_Error_Rate", 100, 100, 6, 0, prefailure=True)],
    },
    "temperature": {"current": 0},
}

# A virtio-blk disk: smartctl cannot even tell what it is (notes §0: "Unable to detect device type", exit 1).
VM_VIRTIO_DISK: dict[str, Any] = {
    **_header(["--info", "--health", "/dev/vda"], 1,
              [{"string": "/dev/vda: Unable to detect device type", "severity": "error"}]),
}  # fmt: skip

# A MegaRAID logical drive addressed with -d scsi: no SMART, the member disks need -d megaraid,N.
RAID_VOLUME: dict[str, Any] = {
    **_header(["--info", "--health", "--attributes", "-d", "scsi", "/dev/sdf"], 4),
    "device": _device("/dev/sdf", "scsi", "SCSI"),
    "scsi_vendor": "AVAGO",
    "scsi_product": "MR9361-8i",
    "scsi_model_name": "AVAGO MR9361-8i",
    "scsi_revision": "4.68",
    "user_capacity": {"blocks": 3905945600, "bytes": 1999844147200},
    "logical_unit_id": "0x600605b00abcdef0229b7c3a1c2d3e4f",
    "serial_number": "004f3e2d1c3a7c9b22f0cdab0b500506",
    "smart_support": {"available": False},
    "temperature": {"current": 0, "drive_trip": 0},
}

# The disk vanished (pulled, dead controller): open fails, exit 2, an error message and nothing else.
OPEN_FAILED: dict[str, Any] = {
    **_header(["--info", "--health", "-d", "sat", "/dev/sdz"], 2,
              [{"string": "Smartctl open device: /dev/sdz [SAT] failed: No such device", "severity": "error"}]),
}  # fmt: skip

SCAN: dict[str, Any] = {
    **_header(["--scan"], 0),
    "devices": [
        _device("/dev/sda", "sat", "ATA", "/dev/sda [SAT]"),
        _device("/dev/nvme0", "nvme", "NVMe"),
        _device("/dev/bus/0", "megaraid,0", "SCSI", "/dev/bus/0 [megaraid_disk_00]"),
        _device("/dev/bus/0", "megaraid,1", "SCSI", "/dev/bus/0 [megaraid_disk_01]"),
    ],
}

ALL: dict[str, dict[str, Any]] = {
    "ata_hdd_healthy": ATA_HDD_HEALTHY,
    "ata_pending_passed": ATA_PENDING_PASSED,
    "ata_failed": ATA_FAILED,
    "ata_standby": ATA_STANDBY,
    "nvme_healthy": NVME_HEALTHY,
    "nvme_critical": NVME_CRITICAL,
    "nvme_worn_85": NVME_WORN_85,
    "sas_grown_defects": SAS_GROWN_DEFECTS,
    "ata_ssd_intel_worn": ATA_SSD_INTEL_WORN,
    "ata_ssd_samsung_devstat": ATA_SSD_SAMSUNG_DEVSTAT,
    "ata_ssd_sandforce": ATA_SSD_SANDFORCE,
    "sas_ssd_worn": SAS_SSD_WORN,
    "vm_qemu_disk": VM_QEMU_DISK,
    "vm_virtio_disk": VM_VIRTIO_DISK,
    "raid_volume": RAID_VOLUME,
    "open_failed": OPEN_FAILED,
}


def as_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2)


def variant(document: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy with top-level keys replaced (a value of None removes the key)."""
    copied = copy.deepcopy(document)
    for key, value in changes.items():
        if value is None:
            copied.pop(key, None)
        else:
            copied[key] = value
    return copied


def with_attribute(document: dict[str, Any], attr_id: int, **fields: Any) -> dict[str, Any]:
    """A deep copy with one ATA attribute row changed (`raw`/`raw_string` set the raw word and its text)."""
    copied = copy.deepcopy(document)
    for row in copied["ata_smart_attributes"]["table"]:
        if row["id"] == attr_id:
            if "raw" in fields:
                raw = fields.pop("raw")
                row["raw"] = {"value": raw, "string": fields.pop("raw_string", str(raw))}
            row.update(fields)
            return copied
    raise KeyError(attr_id)


def with_nvme_log(document: dict[str, Any], **fields: Any) -> dict[str, Any]:
    copied = copy.deepcopy(document)
    copied["nvme_smart_health_information_log"].update(fields)
    return copied
