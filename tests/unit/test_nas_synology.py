"""Synology DSM's disk and RAID tables (the project's walks in tests/snmp_data/nas, shaped after centreon's walks in
shared/corpus/snmp) read into drive and array readings, [[nas.snmp]] as the operator writes it, and what gap P2
makes of NAS readings: the critical disk named with its NAS, degraded and crashed volumes, undeclared levels,
silent NASes."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from collectors.kit.snmp_target import SnmpTarget
from collectors.model.gaps import RuleContext
from collectors.model.readings import AnyReading, ArrayReading, DriveReading, StorageScan
from collectors.model.snapshot import Gap
from collectors.nas import plan
from collectors.nas.collector import Answer, readings_for
from collectors.nas.config import NasConfig, NasTarget
from collectors.nas.synology import array_readings, drive_reading, parse_disks
from collectors.registry import Environment
from tests.conftest import config_problems, load_section, modules_after_build
from tests.gap_fixtures import gap, snapshot
from tests.nas_fixtures import NAS_DATA, snmpwalk_values

READ_AT = 1_700_000_000.0


def nas_readings(walk: str, name: str = "syno1", levels: dict[str, str] | None = None) -> list[AnyReading]:
    values = snmpwalk_values(NAS_DATA / walk)
    target = NasTarget(SnmpTarget(host="192.0.2.20", name=name), MappingProxyType(levels or {}))
    return readings_for(Answer(target, tuple(parse_disks(values)), values, READ_AT))


def drives_of(readings: list[AnyReading]) -> dict[str, DriveReading]:
    return {r.drive: r for r in readings if isinstance(r, DriveReading)}


def arrays_of(readings: list[AnyReading]) -> dict[str, ArrayReading]:
    return {r.array: r for r in readings if isinstance(r, ArrayReading)}


# --- the parser -------------------------------------------------------------------------------------------


def test_dsm7_disks_read_with_model_type_temperature_and_both_statuses() -> None:
    drives = drives_of(nas_readings("ds920-ok.snmpwalk"))
    assert list(drives) == ["syno1:Disk 1", "syno1:Disk 2", "syno1:Disk 3"]
    one = drives["syno1:Disk 1"]
    assert (one.device, one.model, one.protocol, one.rotational, one.state, one.health, one.nas) == (
        "Disk 1", "WD40EFRX-68N32N0", "ATA", None, "read", 0, "syno1")
    assert one.evidence == ("diskStatus Normal", "diskHealthStatus Normal")
    assert (one.temperature_celsius, one.reallocated_sectors, one.read_at) == (34.0, 0, READ_AT)
    assert (one.serial, one.kernel_name, one.smart_passed, one.reason) == ("", "", None, "")
    ssd = drives["syno1:Disk 3"]
    # NotInitialized: a disk DSM does not use yet, not a failing one.
    assert (ssd.rotational, ssd.health, ssd.evidence[0]) == (False, 0, "diskStatus NotInitialized")


def test_health_critical_beats_a_normal_disk_status() -> None:
    drives = drives_of(nas_readings("ds920-critical.snmpwalk"))
    bad = drives["syno1:Disk 2"]
    assert bad.health == 2
    assert bad.evidence == ("diskStatus Normal", "diskHealthStatus 3 Critical", "112 bad sector(s)")
    assert bad.reallocated_sectors == 112
    assert drives["syno1:Disk 1"].health == 0


def test_dsm6_without_health_column_uses_disk_status_and_drops_the_zero_temperature() -> None:
    readings = nas_readings("ds216-dsm6-degraded.snmpwalk", name="ds216")
    drives = drives_of(readings)
    assert drives["ds216:Disk 1"].health == 0 and drives["ds216:Disk 1"].temperature_celsius == 38.0
    crashed = drives["ds216:Disk 2"]
    assert crashed.health == 2 and crashed.evidence == ("diskStatus 5 Crashed",)
    assert crashed.temperature_celsius is None  # 0 is "no sensor", never a reading
    arrays = arrays_of(readings)
    degraded, lost = arrays["ds216:Volume 1"], arrays["ds216:Volume 2"]
    assert (degraded.kind, degraded.state, degraded.degraded, degraded.redundancy, degraded.nas) == (
        "synology", "Degrade", True, 0, "ds216")
    assert (lost.state, lost.degraded, lost.redundancy) == ("Crashed", True, 0)
    assert degraded.members == () and degraded.level == ""


def test_normal_volumes_survive_an_unknown_number_of_failures_unless_the_level_is_declared() -> None:
    arrays = arrays_of(nas_readings("ds920-ok.snmpwalk"))
    assert [(a.array, a.state, a.degraded, a.redundancy) for a in arrays.values()] == [
        ("syno1:Volume 1", "Normal", False, None), ("syno1:Storage Pool 1", "Normal", False, None)]
    declared = arrays_of(nas_readings("ds920-ok.snmpwalk", levels={"Storage Pool 1": "raid6"}))
    assert (declared["syno1:Storage Pool 1"].level, declared["syno1:Storage Pool 1"].redundancy) == ("raid6", 2)
    assert declared["syno1:Volume 1"].redundancy is None


def test_unknown_statuses_and_absurd_values_are_unknown_never_ok() -> None:
    readings = nas_readings("odd-values.snmpwalk")
    drives = drives_of(readings)
    odd = drives["syno1:Disk 1"]
    assert odd.health is None and odd.reason == "NAS syno1 Disk 1: diskStatus 9 is not in SYNOLOGY-DISK-MIB"
    assert odd.temperature_celsius is None  # 255
    two = drives["syno1:Disk 2"]
    assert two.health == 0 and two.temperature_celsius is None and two.reallocated_sectors is None  # -27, -1
    (volume,) = arrays_of(readings).values()
    assert (volume.state, volume.redundancy, volume.degraded) == ("RaidUnknownStatus", None, False)
    # A level does not make an unknown status redundant.
    (declared,) = arrays_of(nas_readings("odd-values.snmpwalk", levels={"Volume 1": "raid1"})).values()
    assert declared.redundancy is None


@pytest.mark.parametrize(("status", "health", "expected"), [
    (1, None, 0), (2, None, 0), (3, None, 0), (4, None, 1), (5, None, 2),
    (1, 2, 1), (1, 4, 2), (5, 1, 2), (None, 3, 2), (None, None, None), (6, 1, None), (1, 0, None)])
def test_verdict_is_the_worse_of_both_statuses(status: int | None, health: int | None,
                                               expected: int | None) -> None:
    values = {"1.3.6.1.4.1.6574.2.1.1.2.0": "Disk 1"}
    if status is not None:
        values["1.3.6.1.4.1.6574.2.1.1.5.0"] = status  # type: ignore[assignment]
    if health is not None:
        values["1.3.6.1.4.1.6574.2.1.1.13.0"] = health  # type: ignore[assignment]
    (disk,) = parse_disks(values)
    reading = drive_reading("nas", disk, READ_AT)
    assert reading.health == expected
    assert bool(reading.reason) == (expected is None)


def test_rows_without_id_or_status_are_not_disks_and_a_raid_row_without_name_keeps_its_index() -> None:
    assert parse_disks({"1.3.6.1.4.1.6574.2.1.1.6.0": 30, "1.3.6.1.4.1.6574.2.1.1.2.x": "junk"}) == []
    (array,) = array_readings("nas", {"1.3.6.1.4.1.6574.3.1.1.3.4": 2}, {})
    assert (array.array, array.state, array.degraded, array.redundancy, array.sync_action) == (
        "nas:raid index 4", "Repairing", True, 0, "recovery")


# --- a NAS that said nothing ------------------------------------------------------------------------------


def test_a_silent_nas_is_an_incomplete_scan_naming_it() -> None:
    target = NasTarget(SnmpTarget(host="192.0.2.20", name="syno1"))
    (scan,) = readings_for(Answer(target, reason="no SNMP answer (request timed out)"))
    assert scan == StorageScan(False, "NAS syno1: no SNMP answer (request timed out)")


def test_disks_without_raid_table_rows_are_an_incomplete_scan_naming_the_nas() -> None:
    # A DSM view without SYNOLOGY-RAID-MIB (or a v1 walk that ends at once): the disks are read, the redundancy
    # is not, and the readings say so instead of showing a NAS with no arrays to worry about.
    readings = nas_readings("ds920-no-raid.snmpwalk")
    assert list(drives_of(readings)) == ["syno1:Disk 1", "syno1:Disk 2", "syno1:Disk 3"]
    assert arrays_of(readings) == {}
    (scan,) = [r for r in readings if isinstance(r, StorageScan)]
    assert not scan.complete
    assert scan.reason.startswith("NAS syno1: no SYNOLOGY-RAID-MIB raidTable rows")


def test_the_answer_carries_the_disks_as_parsed() -> None:
    # readings_for reads the disks the poll parsed (once), not the raw table again.
    target = NasTarget(SnmpTarget(host="192.0.2.20", name="syno1"))
    raids = snmpwalk_values(NAS_DATA / "ds920-ok.snmpwalk")
    (disk,) = parse_disks({"1.3.6.1.4.1.6574.2.1.1.2.0": "Disk 7", "1.3.6.1.4.1.6574.2.1.1.5.0": 5})
    readings = readings_for(Answer(target, (disk,), raids, READ_AT))
    assert [(d.drive, d.health) for d in drives_of(readings).values()] == [("syno1:Disk 7", 2)]
    assert list(arrays_of(readings)) == ["syno1:Volume 1", "syno1:Storage Pool 1"]


# --- gap P2 -----------------------------------------------------------------------------------------------



def p2(nas: tuple[AnyReading, ...] | str | None, local: tuple[AnyReading, ...] = (), role: str = "compute") -> Gap:
    snap = snapshot(smart=(), storage=(StorageScan(True, ""), *local), nas=nas)
    return gap(snap, "P2", ctx=RuleContext(role=role))


def mirror() -> ArrayReading:
    return ArrayReading("md0", "md", "raid1", "clean", ("sda", "sdb"), (), 1, False)


def test_p2_names_the_critical_disk_and_its_nas() -> None:
    gap = p2(tuple(nas_readings("ds920-critical.snmpwalk")))
    assert gap.status == "open" and gap.severity == "critical"
    assert gap.evidence == (
        "Disk 2 WD40EFRX-68N32N0 on NAS syno1 failing, and no array of the NAS is known to cover it (SNMP lists "
        "no members, and not every array's redundancy is known): diskStatus Normal; diskHealthStatus 3 "
        "Critical; 112 bad sector(s)",)


def test_p2_failing_nas_disk_behind_declared_redundancy_is_high() -> None:
    levels = {"Volume 1": "shr", "Storage Pool 1": "shr"}
    gap = p2(tuple(nas_readings("ds920-critical.snmpwalk", levels=levels)))
    assert gap.status == "open" and gap.severity == "high"
    assert gap.evidence[0].startswith("Disk 2 WD40EFRX-68N32N0 on NAS syno1 failing; every array of the NAS is "
                                      "redundant (Volume 1 on NAS syno1 survives 1 more, Storage Pool 1 on NAS "
                                      "syno1 survives 1 more)")


def test_p2_degraded_and_crashed_nas_volumes_are_critical() -> None:
    gap = p2(tuple(nas_readings("ds216-dsm6-degraded.snmpwalk", name="ds216")))
    assert gap.status == "open" and gap.severity == "critical"
    assert gap.evidence[:2] == (
        "Volume 1 on NAS ds216 (synology status Degrade) survives no further drive failure",
        "Volume 2 on NAS ds216 (synology status Crashed) survives no further drive failure")
    assert gap.evidence[2].startswith("Disk 2 ST4000VN008-2DR166 on NAS ds216 failing")


def test_p2_healthy_nas_with_undeclared_levels_is_unknown_and_says_how_to_settle_it() -> None:
    gap = p2(tuple(nas_readings("ds920-ok.snmpwalk")), local=(mirror(),))
    assert gap.status == "unknown"
    assert gap.reason == (
        "redundancy not readable for Volume 1 on NAS syno1 (status Normal; SNMP gives no RAID level: declare it "
        "in [[nas.snmp]] levels); Storage Pool 1 on NAS syno1 (status Normal; SNMP gives no RAID level: declare "
        "it in [[nas.snmp]] levels)")
    levels = {"Volume 1": "shr", "Storage Pool 1": "raid5"}
    resolved = p2(tuple(nas_readings("ds920-ok.snmpwalk", levels=levels)), local=(mirror(),))
    assert resolved.status == "resolved"
    assert resolved.evidence == ("md0 (md raid1) survives 1 drive failure(s)",
                                 "Volume 1 on NAS syno1 (synology shr) survives 1 drive failure(s)",
                                 "Storage Pool 1 on NAS syno1 (synology raid5) survives 1 drive failure(s)",
                                 "3 drive(s) healthy")


def test_p2_is_unknown_not_resolved_when_the_nas_gives_disks_but_no_raid_table() -> None:
    gap = p2(tuple(nas_readings("ds920-no-raid.snmpwalk")), local=(mirror(),))
    assert gap.status == "unknown"
    assert gap.reason.startswith("arrays not fully read: NAS syno1: no SYNOLOGY-RAID-MIB raidTable rows")


def test_p2_role_nas_wants_a_redundant_array_on_this_host_not_on_another_nas() -> None:
    levels = {"Volume 1": "shr", "Storage Pool 1": "shr"}
    gap = p2(tuple(nas_readings("ds920-ok.snmpwalk", levels=levels)), role="nas")
    assert gap.status == "open"
    assert gap.evidence == ("this NAS has no redundant array or pool: its data sits on single drives",)


def test_p2_reads_unknown_while_the_nas_collector_fails_or_has_not_run() -> None:
    failed = p2("NAS syno1: no SNMP answer (request timed out: host down, port closed or wrong community)",
                local=(mirror(),))
    assert failed.status == "unknown"
    assert failed.reason == ("nas collector failed: NAS syno1: no SNMP answer (request timed out: host down, port "
                             "closed or wrong community)")
    assert p2(None, local=(mirror(),)).status == "unknown"
    # Evidence from this host still opens it.
    degraded = ArrayReading("md0", "md", "raid1", "clean", ("sda", "sdb"), ("sdb",), 0, True)
    assert p2("NAS syno1: silent", local=(degraded,)).status == "open"


def test_p2_one_silent_nas_beside_an_answering_one() -> None:
    silent = readings_for(Answer(NasTarget(SnmpTarget(host="192.0.2.21", name="syno2")), reason="no SNMP answer"))
    levels = {"Volume 1": "shr", "Storage Pool 1": "shr"}
    answering = nas_readings("ds920-ok.snmpwalk", levels=levels)
    gap = p2((*answering, *silent), local=(mirror(),))
    assert gap.status == "unknown" and gap.reason == "arrays not fully read: NAS syno2: no SNMP answer"
    opened = p2((*nas_readings("ds920-critical.snmpwalk"), *silent))
    assert opened.status == "open" and "on NAS syno1 failing" in opened.evidence[0]


# --- [[nas.snmp]] -----------------------------------------------------------------------------------------


def load(tmp_path: Path, text: str) -> NasConfig:
    return load_section(tmp_path, text, "nas", NasConfig)



def test_config_v2c_and_v3_with_levels(tmp_path: Path) -> None:
    config = load(tmp_path, '[nas]\ninterval = "5m"\n\n'
                            '[[nas.snmp]]\nname = "syno1"\nhost = "192.0.2.20"\ncommunity_file = "syno1-community"\n'
                            'levels = { "Volume 1" = "SHR", "Storage Pool 1" = "raid5" }\n\n'
                            '[[nas.snmp]]\nname = "syno2"\nhost = "192.0.2.21"\nversion = "3"\nusername = "physgap"\n'
                            'auth_key_file = "syno2-auth"\npriv_key_file = "syno2-priv"\n')
    one, two = config.snmp
    assert one.agent == SnmpTarget(host="192.0.2.20", name="syno1", community_file=Path("syno1-community"))
    assert dict(one.levels) == {"Volume 1": "shr", "Storage Pool 1": "raid5"}
    assert (two.name, two.agent.version, two.agent.priv_key_file) == ("syno2", "3", Path("syno2-priv"))
    assert config.interval == 300.0


def test_config_mistakes(tmp_path: Path) -> None:
    found = config_problems(tmp_path, '[[nas.snmp]]\nhost = "a"\n'
                               '[[nas.snmp]]\nname = "b"\nhost = "b"\nlevels = { "Volume 1" = "raid7" }\n'
                               '[[nas.snmp]]\nname = "b"\nhost = "c"\nversion = "3"\n')
    assert found == [
        "1: nas.snmp[0].name: missing (required)",
        "6: nas.snmp[1].levels: 'Volume 1': 'raid7' is not one of basic, jbod, raid0, raid1, raid5, raid6, "
        "raid10, raid-f1, shr, shr-2",
        "7: nas.snmp[2].username: missing (required with version = \"3\")",
        "7: nas.snmp[2].auth_key_file: missing (required with version = \"3\": physgap asks SNMPv3 agents "
        "authNoPriv or authPriv, never noAuthNoPriv)",
        "8: nas.snmp[2].name: 'b' is already NAS 2: give each a distinct name",
    ]


def test_no_nas_plans_nothing_and_loads_no_pysnmp(tmp_path: Path) -> None:
    env = Environment(sysfs=Path("/sys"), procfs=Path("/proc"))
    assert plan(NasConfig(), env) == []
    (planned,) = plan(load(tmp_path, '[[nas.snmp]]\nname = "a"\nhost = "a"\n'), env)
    assert planned.collector.name == "nas" and planned.timeout == 20.0
    assert "pysnmp" not in modules_after_build(tmp_path / "physgap.toml")
