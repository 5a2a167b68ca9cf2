"""SmartCollector through a stand-in smartctl program: argv discipline, standby, exit bits, deadlines, state.

The stand-in (tests/smartctl_standin.py) is run exactly as the real program would be, via the collector's
configured `smartctl` path; it records every argv, so the tests can prove what was asked of each disk.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collectors.kit.context import Cancelled, CollectorError, RunContext
from collectors.model.readings import AnyReading, DriveReading
from collectors.smart import stuck
from collectors.smart.collector import STATE_FILE, SmartCollector
from collectors.smart.config import SmartConfig, SmartDevice
from collectors.smart.parse import STANDBY_EXIT_STATUS
from tests import smart_fixtures as fx
from tests.conftest import corpus_dir
from tests.smartctl_standin import read_calls, write_scenario, write_wrapper

NOCHECK = f"standby,{STANDBY_EXIT_STATUS}"


@dataclass
class Rig:
    """A stand-in smartctl in its own folder, a sysfs root and a state directory."""

    folder: Path
    program: str
    sysfs: Path
    state: Path

    def scenario(self, devices: dict[str, dict[str, Any]], scan: Any = None, scan_exit: int = 0) -> None:
        write_scenario(self.folder, {"scan": scan, "scan_exit": scan_exit, "devices": devices})

    def calls(self) -> list[list[str]]:
        return read_calls(self.folder)

    def queries(self) -> list[list[str]]:
        return [c for c in self.calls() if "--scan" not in c]

    def block(self, name: str, rotational: str | None) -> None:
        queue = self.sysfs / "block" / name / "queue"
        queue.mkdir(parents=True, exist_ok=True)
        if rotational is not None:
            (queue / "rotational").write_text(rotational + "\n")

    registry: stuck.Registry = dataclasses.field(default_factory=stuck.Registry)

    def collector(self, **settings: Any) -> SmartCollector:
        """A collector as [smart] with these settings builds it, pointed at the stand-in. Stuck queries are
        the test's own (the daemon shares one registry per process; tests must not share theirs)."""
        return self.build(SmartConfig(smartctl=self.program, **settings))

    def build(self, config: SmartConfig) -> SmartCollector:
        return SmartCollector(config, sysfs_root=self.sysfs, registry=self.registry)

    def ctx(self, seconds: float = 20.0) -> RunContext:
        return RunContext(deadline=time.monotonic() + seconds, state_dir=self.state)


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    folder = tmp_path / "bin"
    program = write_wrapper(folder)
    sysfs = tmp_path / "sys"
    (sysfs / "block").mkdir(parents=True)
    return Rig(folder, str(program), sysfs, tmp_path / "state")


def drives(readings: Sequence[AnyReading]) -> dict[str, DriveReading]:
    return {r.device: r for r in readings if isinstance(r, DriveReading)}


def by_key(readings: Sequence[AnyReading]) -> dict[tuple[str, str], DriveReading]:
    return {(r.device, r.dev_type): r for r in readings if isinstance(r, DriveReading)}


def doc(base: dict[str, Any], wwn_id: int | None = None, **changes: Any) -> dict[str, Any]:
    """A fixture copy; a distinct WWN id makes it a distinct drive."""
    if wwn_id is not None:
        changes["wwn"] = {"naa": 5, "oui": 5358, "id": wwn_id}
    return fx.variant(base, **changes)


def stale(before: DriveReading, now: DriveReading, *words: str) -> None:
    """`now` is `before` marked unreachable, with a reason naming the device (and `words`)."""
    assert now == dataclasses.replace(before, state="unreachable", reason=now.reason)
    assert now.reason.startswith(before.device) and all(word in now.reason for word in words), now.reason


def never_read(reading: DriveReading, *words: str) -> None:
    """A drive reported although it never answered: unreachable, no verdict, a fallback identity, a reason."""
    assert (reading.state, reading.health, reading.reachable) == ("unreachable", None, False)
    assert reading.drive == "dev-" + reading.device.rsplit("/", 1)[-1]
    assert reading.reason.startswith(reading.device) and all(word in reading.reason for word in words), reading.reason


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def assert_argv_discipline(calls: list[list[str]], may_wake: set[str]) -> None:
    """Every query names its -d type; no ATA/SCSI query lacks -n standby,3 unless the test allows it."""
    for argv in calls:
        if "--scan" in argv:
            continue
        dev_type = option(argv, "-d")
        assert dev_type, f"no explicit -d: {argv}"
        if dev_type == "nvme":
            assert "-n" not in argv
            continue
        if argv[-1] not in may_wake:
            assert option(argv, "-n") == NOCHECK, f"ATA/SCSI query without -n standby: {argv}"


# --- discovery and argv ------------------------------------------------------------------------------


def test_discovery_passes_types_and_nocheck_by_rotation(rig: Rig) -> None:
    rig.block("sda", "1")  # HDD by sysfs
    rig.block("sdb", "0")  # SSD by sysfs: read without -n (cheap SSDs claim standby forever)
    rig.block("nvme0n1", "0")
    # /dev/sdc has no sysfs entry: rotation unknown, treated as spinning
    rig.scenario({
        "/dev/sda": {"json": doc(fx.ATA_HDD_HEALTHY, 1), "type": "sat"},
        "/dev/sdb": {"json": doc(fx.ATA_HDD_HEALTHY, 2, rotation_rate=0), "type": "sat"},
        "/dev/sdc": {"json": fx.SAS_GROWN_DEFECTS, "type": "scsi"},
        "/dev/nvme0": {"json": fx.NVME_HEALTHY, "type": "nvme"},
    })
    readings = drives(rig.collector().collect(rig.ctx()))

    assert set(readings) == {"/dev/sda", "/dev/sdb", "/dev/sdc", "/dev/nvme0"}
    calls = rig.calls()
    assert calls[0][:3] == ["smartctl", "--scan", "--json"]
    queries = {argv[-1]: argv for argv in rig.queries()}
    assert option(queries["/dev/sda"], "-n") == NOCHECK
    assert option(queries["/dev/sdc"], "-n") == NOCHECK
    assert "-n" not in queries["/dev/sdb"]
    assert "-n" not in queries["/dev/nvme0"]
    # The standard wear figure (device statistics page 7) is asked of known SSDs only.
    assert {device: option(argv, "-l") for device, argv in queries.items()} == {
        "/dev/sda": None, "/dev/sdb": "ssd", "/dev/sdc": None, "/dev/nvme0": None}
    assert {argv[-1]: option(argv, "-d") for argv in queries.values()} == {
        "/dev/sda": "sat", "/dev/sdb": "sat", "/dev/sdc": "scsi", "/dev/nvme0": "nvme"}
    assert_argv_discipline(calls, may_wake={"/dev/sdb"})

    sda, nvme, sas = readings["/dev/sda"], readings["/dev/nvme0"], readings["/dev/sdc"]
    assert sda.state == "read" and sda.health == 0 and sda.drive.startswith("wwn-0x5")
    assert sda.kernel_name == "sda" and sda.rotational is True and sda.exit_status == 0
    assert nvme.kernel_name == "nvme0n1"  # the controller node; md/ZFS hold the namespace
    assert nvme.drive.startswith("eui-") and nvme.wear_ratio == pytest.approx(0.02)
    assert nvme.available_spare_ratio == pytest.approx(1.0)
    assert sas.kernel_name == "" and sas.reallocated_sectors == 12 and sas.health == 1
    assert sas.drive == "wwn-0x5000c500a1b2c3d4"


def test_ssd_learned_from_first_reading_is_then_read_without_nocheck(rig: Rig) -> None:
    rig.scenario({"/dev/sda": {"json": doc(fx.ATA_HDD_HEALTHY, rotation_rate=0)}})
    collector = rig.collector()
    collector.collect(rig.ctx())
    collector.collect(rig.ctx())
    first, second = rig.queries()
    assert option(first, "-n") == NOCHECK  # unknown rotation: treated as spinning
    assert "-n" not in second
    # ... and a new instance (daemon restart) remembers it from the state file.
    rig.collector().collect(rig.ctx())
    assert "-n" not in rig.queries()[-1]


def test_megaraid_disks_behind_one_node_are_separate_drives(rig: Rig) -> None:
    rig.scenario({
        "/dev/bus/0|megaraid,0": {"json": doc(fx.ATA_HDD_HEALTHY, 10)},
        "/dev/bus/0|megaraid,1": {"json": doc(fx.ATA_HDD_HEALTHY, 11)},
    })
    readings = by_key(rig.collector().collect(rig.ctx()))
    assert set(readings) == {("/dev/bus/0", "megaraid,0"), ("/dev/bus/0", "megaraid,1")}
    assert all(r.kernel_name == "" for r in readings.values())
    assert_argv_discipline(rig.calls(), may_wake=set())


def test_configured_devices_replace_discovery_and_ignore_applies_to_scan(rig: Rig) -> None:
    rig.scenario({
        "/dev/sda": {"json": doc(fx.ATA_HDD_HEALTHY, 1)},
        "/dev/sdb": {"json": doc(fx.ATA_HDD_HEALTHY, 2), "type": "usbjmicron"},
    })
    configured = rig.collector(devices=(SmartDevice("/dev/sdb", "usbjmicron"),))
    assert set(drives(configured.collect(rig.ctx()))) == {"/dev/sdb"}
    assert option(rig.queries()[-1], "-d") == "usbjmicron"
    assert not any("--scan" in c for c in rig.calls())

    ignoring = rig.collector(devices=(SmartDevice("/dev/sda", ignore=True),))
    assert set(drives(ignoring.collect(rig.ctx()))) == {"/dev/sdb"}
    assert not any(c[-1] == "/dev/sda" for c in rig.queries())


def test_configured_device_without_type_gets_the_scans_type(rig: Rig) -> None:
    rig.scenario({"/dev/sdc": {"json": fx.SAS_GROWN_DEFECTS, "type": "scsi"}})
    readings = drives(rig.collector(devices=(SmartDevice("/dev/sdc"),)).collect(rig.ctx()))
    assert readings["/dev/sdc"].dev_type == "scsi"
    assert option(rig.queries()[-1], "-d") == "scsi"


# --- standby -----------------------------------------------------------------------------------------


def test_sleeping_disk_keeps_last_reading_with_age_and_skip_count(rig: Rig) -> None:
    rig.scenario({"/dev/sda": {"json": fx.ATA_PENDING_PASSED}})
    collector = rig.collector()
    awake = drives(collector.collect(rig.ctx()))["/dev/sda"]
    assert awake.state == "read" and awake.health == 1 and awake.pending_sectors == 8

    rig.scenario({"/dev/sda": {"json": fx.ATA_PENDING_PASSED, "standby": True}})
    asleep = drives(collector.collect(rig.ctx()))["/dev/sda"]
    again = drives(collector.collect(rig.ctx()))["/dev/sda"]
    assert asleep.state == "standby" and asleep.skipped_checks == 1
    assert again.state == "standby" and again.skipped_checks == 2
    for reading in (asleep, again):
        assert reading.read_at == awake.read_at  # the age of the data, not of the check
        assert (reading.drive, reading.health, reading.evidence) == (awake.drive, awake.health, awake.evidence)
        assert reading.pending_sectors == 8
    assert_argv_discipline(rig.calls(), may_wake=set())

    rig.scenario({"/dev/sda": {"json": fx.ATA_PENDING_PASSED}})
    woke = drives(collector.collect(rig.ctx()))["/dev/sda"]
    assert woke.state == "read" and woke.skipped_checks == 0 and woke.read_at is not None
    assert awake.read_at is not None and woke.read_at > awake.read_at


def test_disk_asleep_before_its_first_read(rig: Rig) -> None:
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY, "standby": True}})
    reading = drives(rig.collector().collect(rig.ctx()))["/dev/sda"]
    assert reading.state == "standby" and reading.health is None and reading.read_at is None
    assert reading.drive == "dev-sda" and reading.skipped_checks == 1


def test_disk_asleep_after_restart_uses_persisted_identity(rig: Rig) -> None:
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY}})
    identity = drives(rig.collector().collect(rig.ctx()))["/dev/sda"].drive
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY, "standby": True}})
    reading = drives(rig.collector().collect(rig.ctx()))["/dev/sda"]
    assert reading.state == "standby" and reading.drive == identity and reading.health is None
    assert reading.rotational is True


def test_force_after_wakes_the_disk_after_n_skipped_checks(rig: Rig) -> None:
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY, "standby": True}})
    collector = rig.collector(force_after=2)
    states = [drives(collector.collect(rig.ctx()))["/dev/sda"] for _ in range(3)]
    assert [(r.state, r.skipped_checks) for r in states] == [("standby", 1), ("standby", 2), ("read", 0)]
    queries = rig.queries()
    assert [option(q, "-n") for q in queries] == [NOCHECK, NOCHECK, None]
    assert_argv_discipline(queries[:2], may_wake=set())
    # After the forced read the disk is protected again.
    collector.collect(rig.ctx())
    assert option(rig.queries()[-1], "-n") == NOCHECK


def test_without_force_after_a_sleeping_disk_is_never_woken(rig: Rig) -> None:
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY, "standby": True}})
    collector = rig.collector()
    for _ in range(5):
        collector.collect(rig.ctx())
    assert_argv_discipline(rig.calls(), may_wake=set())


def test_standby_with_default_exit_status_is_still_standby(rig: Rig) -> None:
    # smartctl 8.0 reports a runtime-suspended disk as "STANDBY (OS)" with a hard-coded exit 2.
    rig.scenario({"/dev/sdd": {"json": fx.ATA_STANDBY}})
    reading = drives(rig.collector().collect(rig.ctx()))["/dev/sdd"]
    assert reading.state == "standby" and reading.health is None


# --- exit bits and broken answers ----------------------------------------------------------------------


def test_disappeared_drive_keeps_last_reading_and_logs_once(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY}, "/dev/sdb": {"json": doc(fx.ATA_HDD_HEALTHY, 2)}})
    collector = rig.collector()
    before = drives(collector.collect(rig.ctx()))["/dev/sda"]
    rig.scenario({"/dev/sda": {"json": fx.OPEN_FAILED}, "/dev/sdb": {"json": doc(fx.ATA_HDD_HEALTHY, 2)}},
                 scan={**fx.SCAN, "devices": [
                     {"name": "/dev/sda", "type": "sat", "protocol": "ATA"},
                     {"name": "/dev/sdb", "type": "sat", "protocol": "ATA"}]})
    with caplog.at_level(logging.INFO):
        first = drives(collector.collect(rig.ctx()))
        second = drives(collector.collect(rig.ctx()))
    # The last verdict stands, marked as not answering: never presented as a fresh read.
    assert first["/dev/sda"] == second["/dev/sda"]
    stale(before, first["/dev/sda"], "No such device")
    assert first["/dev/sdb"].state == "read"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "/dev/sda" in r.getMessage()]
    assert len(warnings) == 1 and "No such device" in warnings[0].getMessage()


def test_scanned_device_that_cannot_be_opened_is_reported_without_a_verdict(rig: Rig) -> None:
    rig.scenario({"/dev/sdb": {"json": fx.ATA_HDD_HEALTHY}},
                 scan={**fx.SCAN, "devices": [{"name": "/dev/sdx", "type": "sat", "protocol": "ATA"},
                                              {"name": "/dev/sdb", "type": "sat", "protocol": "ATA"}]})
    readings = drives(rig.collector().collect(rig.ctx()))
    assert set(readings) == {"/dev/sdx", "/dev/sdb"}
    never_read(readings["/dev/sdx"], "cannot be opened", "No such device")
    assert readings["/dev/sdb"].state == "read"


def test_exit_bit_2_partial_data_is_used(rig: Rig) -> None:
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY, "exit": 4}})
    reading = drives(rig.collector().collect(rig.ctx()))["/dev/sda"]
    assert reading.state == "read" and reading.exit_status == 4 and reading.health == 0
    assert any("partial" in e for e in reading.evidence)


def test_exit_bit_3_disk_failing(rig: Rig) -> None:
    rig.scenario({"/dev/sdc": {"json": fx.ATA_FAILED}})
    reading = drives(rig.collector().collect(rig.ctx()))["/dev/sdc"]
    assert reading.state == "read" and reading.exit_status == 24 and reading.health == 2
    assert reading.smart_passed is False


def test_exit_bit_3_alone_is_failing(rig: Rig) -> None:
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY, "exit": 8}})
    reading = drives(rig.collector().collect(rig.ctx()))["/dev/sda"]
    assert reading.health == 2 and reading.exit_status == 8


@pytest.mark.parametrize("broken", [{"garbage": "Segmentation fault\n\x00\x01"}, {"truncate": 300},
                                    {"garbage": ""}])
def test_garbage_for_one_device_keeps_last_and_others_read(
    rig: Rig, caplog: pytest.LogCaptureFixture, broken: dict[str, Any],
) -> None:
    good = {"/dev/sda": {"json": fx.ATA_HDD_HEALTHY}, "/dev/sdb": {"json": doc(fx.ATA_HDD_HEALTHY, 2)}}
    rig.scenario(good)
    collector = rig.collector()
    before = drives(collector.collect(rig.ctx()))["/dev/sda"]
    rig.scenario({**good, "/dev/sda": {"json": fx.ATA_HDD_HEALTHY, **broken}})
    with caplog.at_level(logging.WARNING):
        runs = [drives(collector.collect(rig.ctx())) for _ in range(2)]
    for readings in runs:
        stale(before, readings["/dev/sda"], "unusable")
        assert readings["/dev/sdb"].state == "read"
    warned = [r for r in caplog.records if "/dev/sda" in r.getMessage()]
    assert len(warned) == 1 and "unusable" in warned[0].getMessage()


def test_garbage_without_history_is_reported_without_a_verdict(rig: Rig) -> None:
    rig.scenario({"/dev/sda": {"garbage": "{\"json_format_version\": [1,"},
                  "/dev/sdb": {"json": doc(fx.ATA_HDD_HEALTHY, 2)}})
    readings = drives(rig.collector().collect(rig.ctx()))
    never_read(readings["/dev/sda"], "unusable")
    assert readings["/dev/sdb"].state == "read"


def test_a_crash_handling_one_drive_costs_only_that_drive(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    import collectors.smart.collector as smart

    real = smart.parse_smartctl_json  # type: ignore[attr-defined]

    def flaky(text: str | bytes) -> Any:
        facts = real(text)
        if facts.device_name == "/dev/sda":
            raise RuntimeError("parser bug")
        return facts

    monkeypatch.setattr(smart, "parse_smartctl_json", flaky)
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY}, "/dev/sdb": {"json": fx.ATA_PENDING_PASSED}})
    readings = drives(rig.collector().collect(rig.ctx()))
    never_read(readings["/dev/sda"], "internal error RuntimeError")
    assert readings["/dev/sdb"].state == "read"


def test_unsupported_devices_are_not_failures(rig: Rig) -> None:
    rig.block("sda", "1")
    rig.scenario({"/dev/sda": {"json": fx.VM_QEMU_DISK}, "/dev/sdf": {"json": fx.RAID_VOLUME, "type": "scsi"}})
    readings = drives(rig.collector().collect(rig.ctx()))
    for device in ("/dev/sda", "/dev/sdf"):
        assert readings[device].state == "unsupported" and readings[device].health is None
        assert readings[device].evidence


# --- deadlines ------------------------------------------------------------------------------------------


def test_hung_smartctl_is_killed_and_other_drives_are_still_read(rig: Rig) -> None:
    rig.scenario({
        "/dev/sda": {"json": doc(fx.ATA_HDD_HEALTHY, 1), "sleep": 60},
        "/dev/sdb": {"json": doc(fx.ATA_HDD_HEALTHY, 2)},
        "/dev/nvme0": {"json": fx.NVME_HEALTHY, "type": "nvme"},
    })
    threads = threading.active_count()
    timeout = 4.0
    started = time.monotonic()
    readings = drives(rig.collector().collect(rig.ctx(timeout)))
    elapsed = time.monotonic() - started
    assert elapsed < timeout, f"the run took {elapsed:.2f}s: the scheduler would have discarded it"
    assert {d for d, r in readings.items() if r.state == "read"} == {"/dev/sdb", "/dev/nvme0"}
    never_read(readings["/dev/sda"])  # killed, or abandoned at the run's deadline
    _wait_for(lambda: threading.active_count() <= threads)


def test_hung_drive_first_in_a_serial_queue_does_not_starve_the_rest(rig: Rig) -> None:
    rig.scenario({
        "/dev/sda": {"json": doc(fx.ATA_HDD_HEALTHY, 1), "sleep": 60},
        "/dev/sdb": {"json": doc(fx.ATA_HDD_HEALTHY, 2)},
        "/dev/sdc": {"json": doc(fx.ATA_HDD_HEALTHY, 3)},
    })
    timeout = 5.0
    started = time.monotonic()
    readings = drives(rig.collector(concurrency=1).collect(rig.ctx(timeout)))
    assert time.monotonic() - started < timeout
    assert {d for d, r in readings.items() if r.state == "read"} == {"/dev/sdb", "/dev/sdc"}
    never_read(readings["/dev/sda"])  # killed, or abandoned at the run's deadline


def test_hung_drive_keeps_its_last_reading(rig: Rig) -> None:
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY}})
    collector = rig.collector()
    before = drives(collector.collect(rig.ctx()))["/dev/sda"]
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY, "sleep": 60}})
    stale(before, drives(collector.collect(rig.ctx(2.0)))["/dev/sda"])


def test_cancel_stops_the_run(rig: Rig) -> None:
    rig.scenario({f"/dev/sd{c}": {"json": doc(fx.ATA_HDD_HEALTHY, i), "sleep": 60} for i, c in enumerate("abcdef")})
    ctx = rig.ctx(60)
    timer = threading.Timer(0.5, ctx.cancel.set)
    timer.start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        rig.collector(concurrency=2).collect(ctx)
    assert time.monotonic() - started < 5
    # Queued queries were dropped, not run after the cancel.
    time.sleep(0.3)
    assert len(rig.queries()) <= 2


def _wait_for(condition: Any, seconds: float = 3.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


# --- collector failures ---------------------------------------------------------------------------------


def test_scan_garbage_fails_the_collector(rig: Rig) -> None:
    rig.scenario({}, scan="smartctl: garbage\x00{", scan_exit=0)
    with pytest.raises(CollectorError, match="--scan"):
        rig.collector().collect(rig.ctx())


def test_missing_smartctl_fails_the_collector(rig: Rig, tmp_path: Path) -> None:
    collector = rig.build(SmartConfig(smartctl=str(tmp_path / "no-such-smartctl")))
    with pytest.raises(CollectorError, match="not found"):
        collector.collect(rig.ctx())


def test_empty_scan_is_no_drives_not_a_failure(rig: Rig) -> None:
    rig.scenario({})
    assert list(rig.collector().collect(rig.ctx())) == []


def test_scan_with_nonzero_exit_is_still_used(rig: Rig) -> None:
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY}}, scan_exit=2)
    assert set(drives(rig.collector().collect(rig.ctx()))) == {"/dev/sda"}


# --- state ----------------------------------------------------------------------------------------------


def test_baseline_survives_restart_and_growth_is_reported(rig: Rig) -> None:
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY}})
    first = drives(rig.collector().collect(rig.ctx()))["/dev/sda"]
    assert first.health == 0 and first.pending_sectors == 0
    state = json.loads((rig.state / STATE_FILE).read_text())
    assert state["baselines"][first.drive]["pending"] == 0

    rig.scenario({"/dev/sda": {"json": fx.with_attribute(fx.ATA_HDD_HEALTHY, 197, raw=8)}})
    grown = drives(rig.collector().collect(rig.ctx()))["/dev/sda"]  # a new instance: a daemon restart
    assert grown.drive == first.drive and grown.health == 2
    assert "8 pending sectors (was 0)" in grown.evidence
    # The baseline stays the reference: a later reading still shows the growth.
    again = drives(rig.collector().collect(rig.ctx()))["/dev/sda"]
    assert "8 pending sectors (was 0)" in again.evidence
    assert json.loads((rig.state / STATE_FILE).read_text())["baselines"][first.drive]["pending"] == 0


def test_drive_first_seen_with_hundreds_of_unreadable_sectors_is_failing_at_once(rig: Rig) -> None:
    """A new host or a wiped state directory: no baseline, and the size alone fails the drive."""
    dying = fx.with_attribute(fx.with_attribute(fx.ATA_PENDING_PASSED, 197, raw=661), 198, raw=661)
    rig.scenario({"/dev/sda": {"json": dying}})
    reading = drives(rig.collector().collect(rig.ctx()))["/dev/sda"]
    assert (reading.health, reading.pending_sectors, reading.uncorrectable_sectors) == (2, 661, 661)
    assert reading.evidence[0] == "661 pending sectors (failing from 16)"


def test_sata_and_sas_ssd_wear_is_a_reading_and_a_warning(rig: Rig) -> None:
    rig.scenario({"/dev/sdg": {"json": fx.ATA_SSD_INTEL_WORN},
                  "/dev/sdh": {"json": fx.SAS_SSD_WORN, "type": "scsi"},
                  "/dev/sdi": {"json": doc(fx.ATA_SSD_SANDFORCE)}})
    readings = drives(rig.collector().collect(rig.ctx()))
    sata, sas, sandforce = readings["/dev/sdg"], readings["/dev/sdh"], readings["/dev/sdi"]
    assert (sata.wear_ratio, sata.health) == (pytest.approx(0.86), 1)
    assert sata.evidence == ("wear 86% of rated endurance used, from 233 Media_Wearout_Indicator normalized 14 "
                             "(warning at 75%)",)
    assert (sas.wear_ratio, sas.health, sas.protocol) == (pytest.approx(0.82), 1, "SCSI")
    assert (sandforce.wear_ratio, sandforce.health) == (pytest.approx(0.03), 0)  # 231, not 233 SandForce_Internal


def test_sas_grown_defects_and_uncorrected_errors_grow_against_the_stored_baseline(rig: Rig) -> None:
    rig.scenario({"/dev/sde": {"json": fx.SAS_GROWN_DEFECTS, "type": "scsi"}})
    first = drives(rig.collector().collect(rig.ctx()))["/dev/sde"]
    assert (first.health, first.evidence) == (1, ("12 grown defects",))
    baseline = json.loads((rig.state / STATE_FILE).read_text())["baselines"][first.drive]
    assert (baseline["grown_defects"], baseline["reported_uncorrect"]) == (12, 0)

    worse = fx.variant(fx.SAS_GROWN_DEFECTS, scsi_grown_defect_list=31)
    worse["scsi_error_counter_log"]["read"]["total_uncorrected_errors"] = 3
    rig.scenario({"/dev/sde": {"json": worse, "type": "scsi"}})
    grown = drives(rig.collector().collect(rig.ctx()))["/dev/sde"]  # a new instance: a daemon restart
    assert grown.drive == first.drive and grown.health == 2
    assert grown.evidence == ("3 uncorrected read/write/verify errors (read 3) (was 0)", "31 grown defects (was 12)")
    assert (grown.reallocated_sectors, grown.uncorrectable_sectors) == (31, 3)


def test_state_file_written_by_an_earlier_release_still_loads(rig: Rig) -> None:
    # smart-state.json as physgap has always written it: upgrading must keep baselines and identities.
    drive = "wwn-0x50014ee115c3d740"  # fx.ATA_HDD_HEALTHY's identity
    baseline = {"reallocated": 0, "pending": 0, "offline_uncorrectable": 0, "reported_uncorrect": None,
                "end_to_end": None, "media_errors": None, "grown_defects": None, "crc_errors": 0,
                "available_spare": None}
    rig.state.mkdir()
    (rig.state / STATE_FILE).write_text(json.dumps({
        "version": 1,
        "devices": {"/dev/sda|sat": {"drive": drive, "rotational": True},
                    "/dev/sdb|sat": {"drive": "wwn-0x5000000000000002", "rotational": True}},
        "baselines": {drive: baseline},
    }))
    rig.scenario({"/dev/sda": {"json": fx.with_attribute(fx.ATA_HDD_HEALTHY, 197, raw=8)},
                  "/dev/sdb": {"json": doc(fx.ATA_HDD_HEALTHY, 2), "standby": True}})
    readings = drives(rig.collector().collect(rig.ctx()))
    assert readings["/dev/sda"].drive == drive and "8 pending sectors (was 0)" in readings["/dev/sda"].evidence
    asleep = readings["/dev/sdb"]
    assert (asleep.state, asleep.drive, asleep.rotational) == ("standby", "wwn-0x5000000000000002", True)
    assert not list(rig.state.glob(f"{STATE_FILE}.corrupt-*"))


def test_corrupt_state_is_set_aside(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.state.mkdir()
    (rig.state / STATE_FILE).write_text("{not json")
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY}})
    with caplog.at_level(logging.WARNING):
        readings = drives(rig.collector().collect(rig.ctx()))
    assert readings["/dev/sda"].state == "read"
    aside = list(rig.state.glob(f"{STATE_FILE}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_text() == "{not json"
    assert json.loads((rig.state / STATE_FILE).read_text())["version"] == 1
    assert any("corrupt" in r.getMessage() for r in caplog.records)


def test_unwritable_state_dir_is_logged_once(rig: Rig, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY}})
    collector = rig.collector()
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            ctx = RunContext(deadline=time.monotonic() + 20, state_dir=blocker / "state")
            assert drives(collector.collect(ctx))["/dev/sda"].state == "read"
    assert len([r for r in caplog.records if "cannot write" in r.getMessage()]) == 1


# --- logs -----------------------------------------------------------------------------------------------


def test_serials_and_wwns_never_logged_above_debug(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    hdd = fx.ATA_PENDING_PASSED
    collector = rig.collector(force_after=1)
    steps: list[dict[str, dict[str, Any]]] = [
        {"/dev/sda": {"json": hdd}, "/dev/sdf": {"json": fx.RAID_VOLUME, "type": "scsi"}},
        {"/dev/sda": {"json": hdd, "standby": True}},
        {"/dev/sda": {"json": hdd}},  # forced wake
        {"/dev/sda": {"garbage": f"error {hdd['serial_number']}"}},
        {"/dev/sda": {"json": fx.OPEN_FAILED}},
        {"/dev/sda": {"json": hdd, "sleep": 60}},
    ]
    with caplog.at_level(logging.DEBUG):
        for step in steps:
            rig.scenario(step, scan={**fx.SCAN, "devices": [
                {"name": "/dev/sda", "type": "sat", "protocol": "ATA"},
                {"name": "/dev/sdf", "type": "scsi", "protocol": "SCSI"}]})
            collector.collect(rig.ctx(3))
    secrets = [hdd["serial_number"], fx.RAID_VOLUME["serial_number"], "0x5000c50", "wwn-"]
    shown = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert shown, "expected some INFO/WARNING messages from these steps"
    for message in shown:
        for secret in secrets:
            assert secret not in message, message


# --- real captures ----------------------------------------------------------------------------------------


@pytest.fixture
def corpus() -> Iterator[Path]:
    yield corpus_dir("smart")


def test_real_captures_through_the_collector(rig: Rig, corpus: Path) -> None:
    rig.block("sdb", "1")
    rig.block("sdd", "0")
    rig.scenario({
        "/dev/sda": {"file": str(corpus / "ata-hdd-seagate-st3500418as-reallocated-304.json")},
        "/dev/sdb": {"file": str(corpus / "ata-hdd-wdc-wd20efrx-ok.json")},
        "/dev/sdc": {"file": str(corpus / "scsi-intel-raid-volume-nosmart-exit4.json"), "type": "scsi"},
        "/dev/sdd": {"file": str(corpus / "ata-ssd-samsung-pm883-ok.json")},
        "/dev/sde": {"file": str(corpus / "scsi-hdd-seagate-st373453lc-grown-defects-260.json"), "type": "scsi"},
        "/dev/nvme0": {"file": str(corpus / "nvme-samsung-970evo-media-errors-7.json"), "type": "nvme"},
        "/dev/nvme1": {"file": str(corpus / "nvme-crucial-p2-ok.json"), "type": "nvme"},
    })
    readings = drives(rig.collector().collect(rig.ctx()))
    assert readings["/dev/sda"].health == 1 and readings["/dev/sda"].reallocated_sectors == 304
    assert readings["/dev/sdb"].health == 0 and readings["/dev/sdb"].rotational is True
    assert readings["/dev/sdc"].state == "unsupported" and readings["/dev/sdc"].health is None
    assert readings["/dev/sdd"].rotational is False
    assert readings["/dev/sde"].reallocated_sectors == 260 and readings["/dev/sde"].health == 1
    assert readings["/dev/nvme0"].media_errors == 7 and readings["/dev/nvme0"].health == 1
    assert readings["/dev/nvme1"].health == 0
    assert_argv_discipline(rig.calls(), may_wake={"/dev/sdd"})


def test_real_open_failed_capture_keeps_last_reading(rig: Rig, corpus: Path) -> None:
    rig.scenario({"/dev/sda": {"file": str(corpus / "ata-hdd-wdc-wd20efrx-ok.json")}})
    collector = rig.collector()
    before = drives(collector.collect(rig.ctx()))["/dev/sda"]
    rig.scenario({"/dev/sda": {"file": str(corpus / "error-windows-open-failed-exit2.json")}})
    stale(before, drives(collector.collect(rig.ctx()))["/dev/sda"], "cannot be opened")


def test_real_megaraid_scan(rig: Rig, corpus: Path) -> None:
    scan = json.loads((corpus / "scan-megaraid.json").read_text())
    rig.scenario({
        "/dev/bus/0|megaraid,0": {"file": str(corpus / "megaraid-sat-hdd-wd4000fyyx-reallocated-387.json")},
        "/dev/bus/0|megaraid,1": {"json": doc(fx.ATA_HDD_HEALTHY, 99)},
    }, scan=scan)
    readings = by_key(rig.collector().collect(rig.ctx()))
    assert readings[("/dev/bus/0", "megaraid,0")].reallocated_sectors == 387
    assert readings[("/dev/bus/0", "megaraid,1")].health == 0
    assert_argv_discipline(rig.calls(), may_wake=set())


# --- every drive is reported; identity; ranges; state housekeeping (issue 8) -----------------------------


def test_missing_smartctl_with_configured_devices_reports_each_drive_unreachable(
        rig: Rig, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = SmartConfig(smartctl=str(tmp_path / "no-such-smartctl"),
                         devices=(SmartDevice("/dev/sda", "sat"), SmartDevice("/dev/nvme0", "nvme")))
    collector = rig.build(config)
    with caplog.at_level(logging.WARNING):
        for _ in range(2):
            readings = drives(collector.collect(rig.ctx()))
    never_read(readings["/dev/sda"], "not queried", "program not found")
    assert (readings["/dev/sda"].protocol, readings["/dev/nvme0"].protocol) == ("ATA", "NVMe")
    assert len([r for r in caplog.records if "program not found" in r.getMessage()]) == 1


def test_identity_is_kept_when_a_wwn_reads_garbage_but_a_new_drive_gets_its_own(rig: Rig) -> None:
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY}})
    first = drives(rig.collector().collect(rig.ctx()))["/dev/sda"]
    assert first.drive == "wwn-0x50014ee115c3d740"
    garbled = doc(fx.ATA_HDD_HEALTHY, wwn={"naa": 5, "oui": 5358, "id": -27}, temperature={"current": -27})
    rig.scenario({"/dev/sda": {"json": garbled}})
    # After a restart too: the node's drive and its model_serial alias come from the state file.
    for collector in (rig.collector(), rig.collector()):
        again = drives(collector.collect(rig.ctx()))["/dev/sda"]
        assert (again.drive, again.state, again.temperature_celsius) == (first.drive, "read", None)
    assert list(json.loads((rig.state / STATE_FILE).read_text())["baselines"]) == [first.drive]
    # Another disk in the same slot (another serial) is another drive.
    other = doc(fx.ATA_HDD_HEALTHY, wwn=None, serial_number="WD-OTHER0001")
    rig.scenario({"/dev/sda": {"json": other}})
    assert drives(rig.collector().collect(rig.ctx()))["/dev/sda"].drive == "WDC_WD40EFRX-68N32N0_WD-OTHER0001"


def test_every_number_of_a_reading_passes_its_range(rig: Rig) -> None:
    worn = fx.with_nvme_log(fx.NVME_HEALTHY, percentage_used=256, available_spare=100)
    crc = fx.with_attribute(fx.ATA_HDD_HEALTHY, 199, raw=0xFFFF_FFFF, raw_string="4294967295")
    rig.scenario({"/dev/nvme0": {"json": worn, "type": "nvme"}, "/dev/sda": {"json": crc}})
    readings = drives(rig.collector().collect(rig.ctx()))
    assert (readings["/dev/nvme0"].wear_ratio, readings["/dev/nvme0"].available_spare_ratio) == (None, 1.0)
    assert readings["/dev/sda"].crc_errors is None and readings["/dev/sda"].health == 0


def test_state_entries_unseen_for_half_a_year_are_pruned_and_seen_times_cost_no_rewrite(rig: Rig) -> None:
    rig.state.mkdir()
    long_ago = time.time() - 181 * 86400
    (rig.state / STATE_FILE).write_text(json.dumps({
        "version": 1,
        "devices": {"/dev/sdz|sat": {"drive": "wwn-0x5000000000000099", "rotational": True, "seen": long_ago}},
        "baselines": {"wwn-0x5000000000000099": {"pending": 3}},
        "baseline_seen": {"wwn-0x5000000000000099": long_ago},
    }))
    rig.scenario({"/dev/sda": {"json": fx.ATA_HDD_HEALTHY}})
    collector = rig.collector()
    collector.collect(rig.ctx())
    state = json.loads((rig.state / STATE_FILE).read_text())
    assert list(state["devices"]) == ["/dev/sda|sat"] and list(state["baselines"]) == ["wwn-0x50014ee115c3d740"]
    assert state["devices"]["/dev/sda|sat"]["alias"] == "WDC_WD40EFRX-68N32N0_WD-WCC7K1ABCDEF"
    written = (rig.state / STATE_FILE).stat().st_mtime_ns
    for _ in range(3):
        collector.collect(rig.ctx())
    assert (rig.state / STATE_FILE).stat().st_mtime_ns == written  # "seen" is refreshed once a day, not per run


def test_stuck_finds_a_killed_querys_survivor_by_its_exact_mark_and_sees_it_end(tmp_path: Path) -> None:
    """collectors.smart.stuck against real processes: a `sleep` in a session of its own carrying a mark."""
    since = stuck.boot_clock()
    mark = f"{os.getpid()}-test-1"
    env = {**os.environ, stuck.MARK_ENV: mark}
    survivor = subprocess.Popen(["sleep", "30"], env=env, start_new_session=True)
    other = subprocess.Popen(["sleep", "30"], env={**os.environ, stuck.MARK_ENV: mark + "0"}, start_new_session=True)
    try:
        found = stuck.survivors(mark, since)
        assert [p.pid for p in found] == [survivor.pid]  # "...-1" is not "...-10"
        assert stuck.survivors(mark, stuck.boot_clock() + 60) == ()  # started before the query: not its own
        assert stuck.still_alive(found[0]) is not None
        survivor.kill()
        survivor.wait()
        assert stuck.still_alive(found[0]) is None
    finally:
        for proc in (survivor, other):
            proc.kill()
            proc.wait()


def test_smartctl_killed_by_a_signal_is_no_answer_not_exit_bits(rig: Rig, tmp_path: Path) -> None:
    """A negative return code (killed by SIGSEGV) must not be read as a bitmask ("-11 & 1": a refused -d)."""
    crashing = tmp_path / "crashing-smartctl"
    crashing.write_text(f"#!/bin/sh\necho '{json.dumps(fx.ATA_HDD_HEALTHY)[:200]}'\nkill -SEGV $$\n")
    crashing.chmod(0o755)
    config = SmartConfig(smartctl=str(crashing), devices=(SmartDevice("/dev/sda", "sat"),))
    reading = drives(rig.build(config).collect(rig.ctx()))["/dev/sda"]
    never_read(reading, "smartctl died of SIGSEGV")


def test_a_scanned_drive_that_drops_off_the_bus_stays_listed_as_unreachable(rig: Rig) -> None:
    """The commonest way a disk fails: it vanishes from `smartctl --scan`. It must not vanish from physgap."""
    rig.scenario({"/dev/sda": {"json": doc(fx.ATA_HDD_HEALTHY, 1), "type": "sat"},
                  "/dev/sdb": {"json": doc(fx.ATA_HDD_HEALTHY, 2), "type": "sat"}})
    collector = rig.collector()
    before = drives(collector.collect(rig.ctx()))
    assert before["/dev/sdb"].state == "read"
    rig.scenario({"/dev/sda": {"json": doc(fx.ATA_HDD_HEALTHY, 1), "type": "sat"}})  # sdb gone from the bus
    after = drives(collector.collect(rig.ctx()))
    assert set(after) == {"/dev/sda", "/dev/sdb"}
    assert after["/dev/sda"].state == "read"
    stale(before["/dev/sdb"], after["/dev/sdb"])
    assert after["/dev/sdb"].drive == before["/dev/sdb"].drive  # the same drive, not a new unknown one
