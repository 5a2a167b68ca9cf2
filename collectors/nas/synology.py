"""SYNOLOGY-DISK-MIB diskTable and SYNOLOGY-RAID-MIB raidTable as DSM answers them: pure functions from
`{dotted OID: value}` to DriveReadings and ArrayReadings.

What the MIBs say and DSM does (centreon's Synology walks in shared/corpus/snmp, the MIB texts):
- diskTable rows are indexed from 0; diskID is the bay's name ("Disk 1"), the only identity the table has (no
  serial number): a drive id is the NAS's name and the bay, so a replaced disk keeps the bay's series.
- diskStatus (DSM 6 and 7): 1 Normal, 2 Initialized, 3 NotInitialized, 4 SystemPartitionFailed, 5 Crashed.
  diskHealthStatus (.13, DSM 7 only): 1 Normal, 2 Warning, 3 Critical, 4 Failing. A disk whose diskStatus is
  Normal can be Critical by health (the corpus' critical walk): both are read, the worse one counts.
- raidStatus: 1 Normal, 2 Repairing, ... 11 Degrade, 12 Crashed, ... 21 RaidUnknownStatus. The table lists
  storage pools and volumes alike, with no member list and no RAID level: how many failures a Normal volume
  survives is unknown unless the operator declares its level ([[nas.snmp]].levels).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from collectors.kit.snmp import Values, int_value, rows, text_value
from collectors.model.readings import ArrayReading, DriveReading
from collectors.nas.config import LEVEL_REDUNDANCY
from collectors.smart.ranges import COUNT, TEMPERATURE_CELSIUS, plausible

_DISK = "1.3.6.1.4.1.6574.2.1.1"
DISK_ID = f"{_DISK}.2"
DISK_MODEL = f"{_DISK}.3"
DISK_TYPE = f"{_DISK}.4"
DISK_STATUS = f"{_DISK}.5"
DISK_TEMPERATURE = f"{_DISK}.6"  # °C
DISK_BAD_SECTOR = f"{_DISK}.9"
DISK_HEALTH_STATUS = f"{_DISK}.13"
DISK_COLUMNS = (DISK_ID, DISK_MODEL, DISK_TYPE, DISK_STATUS, DISK_TEMPERATURE, DISK_BAD_SECTOR, DISK_HEALTH_STATUS)

_RAID = "1.3.6.1.4.1.6574.3.1.1"
RAID_NAME = f"{_RAID}.2"
RAID_STATUS = f"{_RAID}.3"
RAID_COLUMNS = (RAID_NAME, RAID_STATUS)

OK, WARNING, FAILING = 0, 1, 2

# value -> (MIB name, verdict). NotInitialized is a disk DSM does not use yet, not a failing one;
# SystemPartitionFailed is DSM's copy of its own system on that disk out of sync (repairable from the UI): a
# warning, not the disk failing.
DISK_STATUSES: Mapping[int, tuple[str, int]] = {
    1: ("Normal", OK), 2: ("Initialized", OK), 3: ("NotInitialized", OK), 4: ("SystemPartitionFailed", WARNING),
    5: ("Crashed", FAILING),
}
DISK_HEALTH: Mapping[int, tuple[str, int]] = {
    1: ("Normal", OK), 2: ("Warning", WARNING), 3: ("Critical", FAILING), 4: ("Failing", FAILING),
}
RAID_STATUSES: Mapping[int, str] = {
    1: "Normal", 2: "Repairing", 3: "Migrating", 4: "Expanding", 5: "Deleting", 6: "Creating", 7: "RaidSyncing",
    8: "RaidParityChecking", 9: "RaidAssembling", 10: "Canceling", 11: "Degrade", 12: "Crashed",
    13: "DataScrubbing", 14: "RaidDeploying", 15: "RaidUnDeploying", 16: "RaidMountCache", 17: "RaidUnmountCache",
    18: "RaidExpandingUnfinishedSHR", 19: "RaidConvertSHRToPool", 20: "RaidMigrateSHR1ToSHR2",
    21: "RaidUnknownStatus",
}
# Degrade: a member is gone. Repairing: DSM rebuilds onto a replacement, so one is still missing (for SHR-2
# or RAID 6 that understates by one; never overstates). Crashed: the volume has already lost data.
_DEGRADED = frozenset({"Degrade", "Repairing", "Crashed"})
_SYNC_ACTIONS: Mapping[str, str] = {
    "Repairing": "recovery", "RaidSyncing": "resync", "RaidParityChecking": "check", "DataScrubbing": "scrub",
}


@dataclass(frozen=True)
class Disk:
    """One diskTable row, joined across the columns by its index."""

    index: int
    disk_id: str
    model: str
    disk_type: str
    status: int | None
    health_status: int | None
    temperature: int | None
    bad_sectors: int | None


def parse_disks(values: Values) -> list[Disk]:
    """diskTable rows in index order; a row needs a diskID or a status to be a disk."""
    disks = []
    for index, row in sorted(rows(values, DISK_COLUMNS).items()):
        disk = Disk(index, text_value(row, DISK_ID), text_value(row, DISK_MODEL), text_value(row, DISK_TYPE),
                    int_value(row, DISK_STATUS), int_value(row, DISK_HEALTH_STATUS),
                    int_value(row, DISK_TEMPERATURE), int_value(row, DISK_BAD_SECTOR))
        if disk.disk_id or disk.status is not None or disk.health_status is not None:
            disks.append(disk)
    return disks


def _protocol(disk_type: str) -> tuple[str, bool | None]:
    """(protocol, rotational) from diskType ("SATA", "SAS", "SSD", "NVMe", ...): only what it says."""
    kind = disk_type.upper()
    if "NVME" in kind:
        return "NVMe", False
    protocol = "ATA" if "SATA" in kind else "SCSI" if "SAS" in kind else ""
    return protocol, False if "SSD" in kind else None


def _verdict(name: str, value: int | None, table: Mapping[int, tuple[str, int]],
             evidence: list[str], unknown: list[str]) -> int | None:
    if value is None:
        return None
    known = table.get(value)
    if known is None:
        unknown.append(f"{name} {value} is not in SYNOLOGY-DISK-MIB")
        return None
    label, verdict = known
    evidence.append(f"{name} {label}" if verdict == OK else f"{name} {value} {label}")
    return verdict


def drive_reading(nas: str, disk: Disk, read_at: float) -> DriveReading:
    """One disk of NAS `nas` as a DriveReading: health is the worse of diskStatus and diskHealthStatus; a status
    the MIB does not define, or no status at all, leaves health None (unknown, never ok)."""
    evidence: list[str] = []
    unknown: list[str] = []
    verdicts = [v for v in (_verdict("diskStatus", disk.status, DISK_STATUSES, evidence, unknown),
                            _verdict("diskHealthStatus", disk.health_status, DISK_HEALTH, evidence, unknown))
                if v is not None]
    dropped: list[str] = []
    bad = plausible("diskBadSector", disk.bad_sectors, COUNT, dropped)
    if bad:
        evidence.append(f"{bad} bad sector(s)")
    temperature = plausible("diskTemperature", disk.temperature, TEMPERATURE_CELSIUS, dropped)
    name = disk.disk_id or f"disk index {disk.index}"
    health = max(verdicts) if verdicts and not unknown else None
    if health is None and not unknown:
        unknown.append("neither diskStatus nor diskHealthStatus answered")
    protocol, rotational = _protocol(disk.disk_type)
    return DriveReading(
        drive=f"{nas}:{name}", device=name, dev_type="snmp", protocol=protocol, model=disk.model, serial="",
        rotational=rotational, state="read", health=health, evidence=tuple(evidence), smart_passed=None,
        exit_status=None, read_at=read_at, temperature_celsius=None if temperature is None else float(temperature),
        reallocated_sectors=bad, nas=nas,
        reason=f"NAS {nas} {name}: {'; '.join(unknown)}" if health is None else "",
    )


def array_readings(nas: str, values: Values, levels: Mapping[str, str]) -> list[ArrayReading]:
    """raidTable rows (pools and volumes) of NAS `nas`: Degrade, Repairing and Crashed are degraded with
    redundancy 0; any other status survives what its declared level survives, or an unknown number."""
    arrays = []
    for index, row in sorted(rows(values, RAID_COLUMNS).items()):
        name = text_value(row, RAID_NAME) or f"raid index {index}"
        status = int_value(row, RAID_STATUS)
        state = RAID_STATUSES.get(status, f"status {status}") if status is not None else "no status"
        level = levels.get(name, "")
        degraded = state in _DEGRADED
        if degraded:
            redundancy: int | None = 0
        elif state in RAID_STATUSES.values() and state != "RaidUnknownStatus" and level:
            redundancy = LEVEL_REDUNDANCY[level]
        else:
            redundancy = None
        arrays.append(ArrayReading(array=f"{nas}:{name}", kind="synology", level=level, state=state, members=(),
                                   failed_members=(), redundancy=redundancy, degraded=degraded,
                                   sync_action=_SYNC_ACTIONS.get(state, ""), nas=nas))
    return arrays
