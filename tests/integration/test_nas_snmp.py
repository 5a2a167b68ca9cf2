"""NasCollector against the real snmpsim agent serving the project's Synology walks (tests/snmp_data/nas, shaped
after centreon's DSM walks in shared/corpus/snmp) over SNMPv1, v2c and v3 authPriv; NASes that do not answer or
answer without DSM's tables; and the real daemon (`physgap once`) exporting the NAS's drives and volumes and naming
the critical disk, or its silence, in gap P2."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from collectors.kit.context import CollectorError, RunContext
from collectors.kit.snmp_target import SnmpTarget
from collectors.model.readings import AnyReading, ArrayReading, DriveReading, StorageScan
from collectors.nas.collector import NasCollector
from collectors.nas.config import NasTarget
from exporters.mqtt.topics import safe_id
from tests.conftest import empty_sysfs, run_physgap, write_config
from tests.faults.harness import value
from tests.nas_fixtures import NAS_DATA
from tests.snmp_agent import SnmpAgent, free_udp_port, serving, v3_user

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler")

V3_USER = "physgap"
V3_AUTH = "auth-passphrase-1"
V3_PRIV = "priv-passphrase-2"
FAST = 0.3  # per-request timeout for agents expected to stay silent
SILENT_REASON = "no SNMP answer (request timed out: host down, port closed or wrong community)"


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpAgent]:
    with serving(NAS_DATA.glob("*.snmpwalk"), tmp_path_factory.mktemp("snmpsim-nas"), "ds920-ok",
                 v3_user(V3_USER, V3_AUTH, V3_PRIV)) as started:
        yield started


def nas(agent: SnmpAgent, community: str, name: str, levels: dict[str, str] | None = None,
        **extra: Any) -> NasTarget:
    return NasTarget(SnmpTarget(host=agent.host, port=agent.port, community=community, name=name, **extra),
                     MappingProxyType(levels or {}))


def collect(*targets: NasTarget) -> list[AnyReading]:
    return list(NasCollector(targets).collect(RunContext(deadline=time.monotonic() + 8,
                                                         state_dir=Path("/nonexistent"))))


def health(readings: list[AnyReading]) -> dict[str, int | None]:
    return {r.drive: r.health for r in readings if isinstance(r, DriveReading)}


def volumes(readings: list[AnyReading]) -> dict[str, tuple[str, int | None, bool]]:
    return {r.array: (r.state, r.redundancy, r.degraded) for r in readings if isinstance(r, ArrayReading)}


@pytest.mark.parametrize("version", ["2c", "1"])
def test_disks_and_volumes_over_v2c_bulk_and_v1_getnext(agent: SnmpAgent, version: str) -> None:
    readings = collect(nas(agent, "ds920-critical", "syno1", version=version),
                       nas(agent, "ds216-dsm6-degraded", "ds216", version=version))
    assert health(readings) == {"syno1:Disk 1": 0, "syno1:Disk 2": 2, "syno1:Disk 3": 0,
                                "ds216:Disk 1": 0, "ds216:Disk 2": 2}
    critical = next(r for r in readings if isinstance(r, DriveReading) and r.drive == "syno1:Disk 2")
    assert critical.evidence == ("diskStatus Normal", "diskHealthStatus 3 Critical", "112 bad sector(s)")
    assert (critical.model, critical.temperature_celsius, critical.nas) == ("WD40EFRX-68N32N0", 36.0, "syno1")
    assert volumes(readings) == {"syno1:Volume 1": ("Normal", None, False),
                                 "syno1:Storage Pool 1": ("Normal", None, False),
                                 "ds216:Volume 1": ("Degrade", 0, True), "ds216:Volume 2": ("Crashed", 0, True)}
    assert not any(isinstance(r, StorageScan) for r in readings)


def test_v3_auth_priv(agent: SnmpAgent, tmp_path: Path) -> None:
    for name, secret in (("auth", V3_AUTH), ("priv", V3_PRIV)):
        (tmp_path / name).write_text(secret + "\n")
        (tmp_path / name).chmod(0o600)
    # With v3 the context name picks the recording, as the community does with v2c.
    target = NasTarget(SnmpTarget(host=agent.host, port=agent.port, name="syno1", version="3", username=V3_USER,
                                  auth_key_file=tmp_path / "auth", priv_key_file=tmp_path / "priv",
                                  context="ds920-ok"), MappingProxyType({"Volume 1": "shr"}))
    readings = collect(target)
    assert health(readings) == {"syno1:Disk 1": 0, "syno1:Disk 2": 0, "syno1:Disk 3": 0}
    assert volumes(readings)["syno1:Volume 1"] == ("Normal", 1, False)


def test_silent_and_foreign_agents_never_read_as_nas_without_disks(agent: SnmpAgent) -> None:
    closed = NasTarget(SnmpTarget(host="127.0.0.1", port=free_udp_port(), name="closed", timeout=FAST))
    wrong = nas(agent, "no-such-community", "wrong", timeout=FAST)
    foreign = nas(agent, "not-dsm", "linux")
    readings = collect(closed, wrong, foreign, nas(agent, "ds920-ok", "syno1"))
    assert set(health(readings)) == {"syno1:Disk 1", "syno1:Disk 2", "syno1:Disk 3"}
    scans = [r.reason for r in readings if isinstance(r, StorageScan) and not r.complete]
    assert scans[:2] == [f"NAS closed: {SILENT_REASON}", f"NAS wrong: {SILENT_REASON}"]
    assert scans[2].startswith("NAS linux: the agent answers but returns no SYNOLOGY-DISK-MIB diskTable rows")
    assert len(scans) == 3
    # None answering: the run fails with every reason, so the collector reads failed and P2 unknown.
    with pytest.raises(CollectorError) as info:
        collect(closed, foreign)
    assert str(info.value).startswith(f"NAS closed: {SILENT_REASON}; NAS linux: the agent answers but")


@pytest.mark.parametrize("version", ["2c", "1"])
def test_disks_without_raid_table_rows_leave_the_redundancy_unread_and_say_so_once(
        agent: SnmpAgent, version: str, caplog: pytest.LogCaptureFixture) -> None:
    # A DSM whose view leaves out SYNOLOGY-RAID-MIB: disks, but no volumes to vouch for the NAS's redundancy.
    collector = NasCollector([nas(agent, "ds920-no-raid", "syno1", version=version)])
    with caplog.at_level(logging.DEBUG, logger="collectors.nas.collector"):
        for _ in range(2):
            readings = list(collector.collect(RunContext(deadline=time.monotonic() + 8,
                                                         state_dir=Path("/nonexistent"))))
            assert health(readings) == {"syno1:Disk 1": 0, "syno1:Disk 2": 0, "syno1:Disk 3": 0}
            assert volumes(readings) == {}
            scans = [r.reason for r in readings if isinstance(r, StorageScan) and not r.complete]
            assert len(scans) == 1 and scans[0].startswith("NAS syno1: no SYNOLOGY-RAID-MIB raidTable rows")
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warned == scans  # once over both runs, not every run


def test_drive_and_array_ids_become_safe_mqtt_object_ids(agent: SnmpAgent) -> None:
    readings = collect(nas(agent, "ds920-ok", "syno1"))
    ids = [safe_id(r.drive) for r in readings if isinstance(r, DriveReading)]
    ids += [safe_id(r.array) for r in readings if isinstance(r, ArrayReading)]
    assert all(part.replace("_", "").isalnum() for part in ids), ids
    assert len(set(ids)) == len(ids) == 5
    assert ids[0].startswith("syno1_disk_1_")


# --- the real daemon ---


def _config(tmp_path: Path, nas_section: str) -> Path:
    return write_config(tmp_path / "physgap.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", 9829,
                        nas_section)


def test_physgap_once_exports_nas_drives_and_volumes_and_p2_names_the_critical_disk(agent: SnmpAgent,
                                                                                   tmp_path: Path) -> None:
    config = _config(tmp_path, f'[[nas.snmp]]\nname = "syno1"\nhost = "{agent.host}"\nport = {agent.port}\n'
                               'community = "ds920-critical"\n'
                               'levels = { "Volume 1" = "shr", "Storage Pool 1" = "shr" }\n')
    result = run_physgap("once", "--config", str(config), "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    nas_status = document["collectors"]["nas"]
    assert nas_status["success"] is True
    kinds = [(r["type"], r.get("drive") or r.get("array")) for r in nas_status["readings"]]
    assert kinds == [("DriveReading", "syno1:Disk 1"), ("DriveReading", "syno1:Disk 2"),
                     ("DriveReading", "syno1:Disk 3"), ("ArrayReading", "syno1:Volume 1"),
                     ("ArrayReading", "syno1:Storage Pool 1")]
    p2 = next(g for g in document["gaps"] if g["id"] == "P2")
    # Both volumes are declared SHR (survive one failure): the failing disk is "high", not "critical".
    assert p2["status"] == "open" and p2["severity"] == "high"
    assert p2["evidence"] == [
        "Disk 2 WD40EFRX-68N32N0 on NAS syno1 failing; every array of the NAS is redundant (Volume 1 on NAS syno1 "
        "survives 1 more, Storage Pool 1 on NAS syno1 survives 1 more): diskStatus Normal; diskHealthStatus 3 "
        "Critical; 112 bad sector(s)"]
    metrics = run_physgap("once", "--config", str(config)).stdout
    assert value(metrics, "physgap_drive_health", drive="syno1:Disk 2") == 2
    assert value(metrics, "physgap_drive_temperature_celsius", drive="syno1:Disk 1") == 34
    assert value(metrics, "physgap_drive_info", drive="syno1:Disk 3", device="Disk 3", model="SAT5210-480G",
                 serial="", protocol="", rotational="false") == 1
    assert value(metrics, "physgap_array_redundancy", array="syno1:Volume 1") == 1
    assert value(metrics, "physgap_array_info", array="syno1:Storage Pool 1", kind="synology", level="shr") == 1
    assert value(metrics, "physgap_collector_success", collector="nas") == 1


def test_physgap_once_with_a_silent_nas_reads_p2_unknown_and_the_collector_failed(tmp_path: Path) -> None:
    config = _config(tmp_path, f'[[nas.snmp]]\nname = "syno1"\nhost = "127.0.0.1"\nport = {free_udp_port()}\n'
                               'timeout = "300ms"\n')
    result = run_physgap("once", "--config", str(config), "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["collectors"]["nas"]["success"] is False
    assert document["collectors"]["nas"]["error"] == f"NAS syno1: {SILENT_REASON}"
    p2 = next(g for g in document["gaps"] if g["id"] == "P2")
    assert p2["status"] == "unknown" and p2["reason"] == f"nas collector failed: NAS syno1: {SILENT_REASON}"


def test_a_nas_that_goes_silent_keeps_its_disks_on_show_as_unreachable(tmp_path: Path) -> None:
    with serving([NAS_DATA / "ds920-ok.snmpwalk"], tmp_path / "work", "ds920-ok") as own:
        collector = NasCollector((nas(own, "ds920-ok", "syno1", timeout=FAST),))
        first = list(collector.collect(RunContext(deadline=time.monotonic() + 8, state_dir=tmp_path)))
    seen = {r.drive: r.health for r in first if isinstance(r, DriveReading)}
    assert seen and all(r.state == "read" for r in first if isinstance(r, DriveReading))
    # The agent is gone: the disks are still listed, unreachable with the reason and their last verdict,
    # and the volumes cannot be vouched for (an incomplete scan, so P2 reads unknown, not resolved).
    second = list(collector.collect(RunContext(deadline=time.monotonic() + 8, state_dir=tmp_path)))
    drives = [r for r in second if isinstance(r, DriveReading)]
    assert {d.drive: d.health for d in drives} == seen
    assert all(d.state == "unreachable" and d.reason == f"NAS syno1: {SILENT_REASON}" for d in drives)
    assert [s.reason for s in second if isinstance(s, StorageScan)] == [f"NAS syno1: {SILENT_REASON}"]
    assert not [r for r in second if isinstance(r, ArrayReading)]
