"""StorageCollector over procfs/sysfs trees and stand-in `zpool` programs (the production code path)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from collectors.kit.context import Cancelled, CollectorError, RunContext
from collectors.model.readings import ArrayReading, StorageScan
from collectors.storage.collector import StorageCollector, whole_disk
from collectors.storage.config import StorageConfig
from tests import storage_fixtures as fx

ProgramFactory = Callable[..., str]


class Storage:
    """The collector as the daemon builds it for a [storage] section naming `zpool`; `collect` returns the
    arrays and keeps the run's StorageScan (whether every source present could be read) in `scan`."""

    def __init__(self, collector: StorageCollector) -> None:
        self.collector = collector
        self.scan: StorageScan | None = None

    def collect(self, ctx: RunContext) -> list[ArrayReading]:
        readings = self.collector.collect(ctx)
        scans = [r for r in readings if isinstance(r, StorageScan)]
        assert len(scans) == 1, readings
        self.scan = scans[0]
        return [r for r in readings if isinstance(r, ArrayReading)]


def storage(procfs: Path, sysfs: Path, zpool: str) -> Storage:
    return Storage(StorageCollector(StorageConfig(zpool=zpool), procfs, sysfs))


def ctx_for(tmp_path: Path, seconds: float = 10.0) -> RunContext:
    return RunContext(deadline=time.monotonic() + seconds, state_dir=tmp_path / "state")


def by_name(readings: Sequence[ArrayReading]) -> dict[str, ArrayReading]:
    return {r.array: r for r in readings}


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and r.name == "collectors.storage.collector"]


@pytest.fixture
def procfs(tmp_path: Path) -> Path:
    root = tmp_path / "proc"
    root.mkdir()
    return root


@pytest.fixture
def sysfs(tmp_path: Path) -> Path:
    root = tmp_path / "sys"
    (root / "block").mkdir(parents=True)
    (root / "class" / "block").mkdir(parents=True)
    return root


@pytest.fixture
def zpool(tmp_path: Path) -> ProgramFactory:
    """Writes a stand-in `zpool` that checks its arguments, prints `stdout`/`stderr` and exits with `code`."""
    counter = iter(range(1000))

    def make(stdout: str = "", stderr: str = "", code: int = 0, body: str = "") -> str:
        index = next(counter)
        out = tmp_path / f"zpool-{index}.out"
        err = tmp_path / f"zpool-{index}.err"
        out.write_text(stdout)
        err.write_text(stderr)
        path = tmp_path / f"zpool-{index}"
        path.write_text(
            "#!/bin/sh\n"
            f'echo "$@" >> {tmp_path / "zpool-calls.log"}\n'
            '[ "$*" = "status -P -L" ] || { echo "unexpected arguments: $*" >&2; exit 2; }\n'
            f"{body}\n"
            f"cat {out}\ncat {err} >&2\nexit {code}\n"
        )
        path.chmod(0o755)
        return str(path)

    return make


def no_zpool(tmp_path: Path) -> str:
    return str(tmp_path / "does-not-exist" / "zpool")


# ---------------------------------------------------------------------------------------------------- md


def test_raid1_healthy(procfs: Path, sysfs: Path, tmp_path: Path) -> None:
    (procfs / "mdstat").write_text(fx.MD_RAID1_HEALTHY)
    fx.raid1_healthy_sysfs(sysfs)
    readings = storage(procfs, sysfs, no_zpool(tmp_path)).collect(ctx_for(tmp_path))
    assert readings == [ArrayReading(array="md0", kind="md", level="raid1", state="clean", members=("sdb", "sda"),
                                     failed_members=(), redundancy=1, degraded=False, sync_action="")]


def test_raid1_degraded(procfs: Path, sysfs: Path, tmp_path: Path) -> None:
    (procfs / "mdstat").write_text(fx.MD_RAID1_DEGRADED)
    fx.raid1_degraded_sysfs(sysfs)
    reading = storage(procfs, sysfs, no_zpool(tmp_path)).collect(ctx_for(tmp_path))[0]
    assert reading.members == ("sdb", "sda")
    assert reading.failed_members == ("sdb",)
    assert (reading.redundancy, reading.degraded, reading.state) == (0, True, "active")


def test_raid5_resync(procfs: Path, sysfs: Path, tmp_path: Path) -> None:
    (procfs / "mdstat").write_text(fx.MD_RAID5_RESYNC)
    fx.raid5_resync_sysfs(sysfs)
    reading = storage(procfs, sysfs, no_zpool(tmp_path)).collect(ctx_for(tmp_path))[0]
    assert reading.members == ("sdd", "sdc", "sdb", "sda")
    assert (reading.sync_action, reading.sync_progress_ratio) == ("resync", pytest.approx(0.4200, abs=5e-4))
    assert (reading.redundancy, reading.degraded) == (1, False)


def test_raid0_on_nvme_partitions(procfs: Path, sysfs: Path, tmp_path: Path) -> None:
    (procfs / "mdstat").write_text(fx.MD_RAID0)
    fx.raid0_sysfs(sysfs)
    reading = storage(procfs, sysfs, no_zpool(tmp_path)).collect(ctx_for(tmp_path))[0]
    assert (reading.level, reading.members, reading.redundancy) == ("raid0", ("nvme1n1", "nvme0n1"), 0)


def test_single_member_raid1(procfs: Path, sysfs: Path, tmp_path: Path) -> None:
    (procfs / "mdstat").write_text(fx.MD_RAID1_SINGLE)
    fx.raid1_single_sysfs(sysfs)
    reading = storage(procfs, sysfs, no_zpool(tmp_path)).collect(ctx_for(tmp_path))[0]
    assert (reading.array, reading.members, reading.redundancy, reading.degraded) == ("md3", ("sde",), 0, False)


def test_md_without_sysfs_uses_mdstat_alone(procfs: Path, sysfs: Path, tmp_path: Path) -> None:
    (procfs / "mdstat").write_text(fx.MD_RAID5_RECOVERY + fx.MD_RAID6_SPARE_WRITEMOSTLY)
    readings = by_name(storage(procfs, sysfs, no_zpool(tmp_path)).collect(ctx_for(tmp_path)))
    md1 = readings["md1"]
    assert (md1.sync_action, md1.sync_progress_ratio) == ("recovery", pytest.approx(0.1050, abs=5e-4))
    assert (readings["md1"].redundancy, readings["md1"].degraded) == (0, True)
    # The hot spare carries no data and is not a member; the write-mostly member is.
    assert readings["md5"].members == ("sde", "sdd", "sdc", "sdb", "sda")
    assert readings["md5"].spares == ("sdf",)
    assert readings["md5"].redundancy == 2


def test_imsm_container_is_not_reported(procfs: Path, sysfs: Path, tmp_path: Path) -> None:
    (procfs / "mdstat").write_text(fx.MD_IMSM)
    readings = by_name(storage(procfs, sysfs, no_zpool(tmp_path)).collect(ctx_for(tmp_path)))
    assert list(readings) == ["md126"]
    assert readings["md126"].members == ("sda", "sdb")


def test_inactive_array(procfs: Path, sysfs: Path, tmp_path: Path) -> None:
    (procfs / "mdstat").write_text(fx.MD_INACTIVE)
    reading = storage(procfs, sysfs, no_zpool(tmp_path)).collect(ctx_for(tmp_path))[0]
    assert (reading.state, reading.level, reading.redundancy, reading.degraded) == ("inactive", "unknown", 0, True)


def test_no_mdstat_means_no_md(procfs: Path, sysfs: Path, tmp_path: Path,
                               caplog: pytest.LogCaptureFixture) -> None:
    assert storage(procfs, sysfs, no_zpool(tmp_path)).collect(ctx_for(tmp_path)) == []
    assert warnings(caplog) == []


def test_garbage_mdstat_warns_once_and_keeps_zfs(procfs: Path, sysfs: Path, tmp_path: Path, zpool: ProgramFactory,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    (procfs / "mdstat").write_bytes(fx.MD_GARBAGE.encode("latin-1"))
    collector = storage(procfs, sysfs, zpool(fx.ZFS_MIRROR))
    first = collector.collect(ctx_for(tmp_path))
    second = collector.collect(ctx_for(tmp_path))
    assert [r.array for r in first] == [r.array for r in second] == ["rpool"]
    assert len(warnings(caplog)) == 1
    assert "mdstat" in warnings(caplog)[0]


def test_garbage_mdstat_still_reports_arrays_sysfs_knows(procfs: Path, sysfs: Path, tmp_path: Path) -> None:
    (procfs / "mdstat").write_text("garbage\n")
    fx.raid1_degraded_sysfs(sysfs)
    reading = storage(procfs, sysfs, no_zpool(tmp_path)).collect(ctx_for(tmp_path))[0]
    assert (reading.array, reading.redundancy, reading.failed_members) == ("md0", 0, ("sdb",))


def test_truncated_mdstat_is_completed_from_sysfs(procfs: Path, sysfs: Path, tmp_path: Path) -> None:
    (procfs / "mdstat").write_text(fx.MD_TRUNCATED)
    fx.raid5_resync_sysfs(sysfs)
    readings = by_name(storage(procfs, sysfs, no_zpool(tmp_path)).collect(ctx_for(tmp_path)))
    assert readings["md1"].members == ("sdd", "sdc", "sdb", "sda")
    # from sync_completed: mdstat lost that line
    assert (readings["md1"].sync_action, readings["md1"].sync_progress_ratio) == (
        "resync", pytest.approx(0.4200, abs=5e-4))
    assert readings["md1"].redundancy == 1


def test_unreadable_procfs_is_an_error(tmp_path: Path, sysfs: Path) -> None:
    with pytest.raises(CollectorError):
        storage(tmp_path / "no-proc", sysfs, no_zpool(tmp_path)).collect(ctx_for(tmp_path))


# --------------------------------------------------------------------------------------------------- ZFS


def test_zfs_pools(procfs: Path, sysfs: Path, tmp_path: Path, zpool: ProgramFactory) -> None:
    program = zpool(fx.ZFS_MULTI + "\n" + fx.ZFS_WITH_CLASSES)
    readings = by_name(storage(procfs, sysfs, program).collect(ctx_for(tmp_path)))
    assert readings["rpool"] == ArrayReading(array="rpool", kind="zfs", level="mirror", state="ONLINE",
                                             members=("nvme0n1", "nvme1n1"), failed_members=(), redundancy=1,
                                             degraded=False, sync_action="")
    tank = readings["tank"]
    # The missing disk keeps the by-id name it had: it has no kernel name any more.
    missing = "ata-WDC_WD80EFZZ-68BTXN0_WD-CA0XXXXX"
    assert tank.members == ("sda", "sdb", missing, "sdd", "sde", "sdf")
    assert (tank.failed_members, tank.redundancy, tank.degraded, tank.level) == ((missing,), 1, True, "raidz2")
    assert (readings["backup"].level, readings["backup"].redundancy) == ("single", 0)
    nas = readings["nas"]
    assert nas.members == ("sda", "sdb", "sdc", "sdd", "nvme2n1", "nvme3n1")
    # Spares, SLOG and L2ARC are named apart, so that P2 judges a failing one for what it risks.
    assert (nas.spares, nas.logs, nas.caches, nas.log_redundancy) == (("sde", "sdf"), ("nvme0n1",), ("nvme1n1",), 0)
    assert (nas.sync_action, nas.sync_progress_ratio, nas.redundancy) == ("scrub", pytest.approx(0.145, abs=5e-4), 1)
    assert (tmp_path / "zpool-calls.log").read_text() == "status -P -L\n"


def test_zfs_resilver_and_faulted_pool(procfs: Path, sysfs: Path, tmp_path: Path, zpool: ProgramFactory) -> None:
    program = zpool(fx.ZFS_RAIDZ2_FAULTED_DISK + "\n" + fx.ZFS_FAULTED)
    readings = by_name(storage(procfs, sysfs, program).collect(ctx_for(tmp_path)))
    tank = readings["tank"]
    assert (tank.sync_action, tank.sync_progress_ratio) == ("resilver", pytest.approx(0.4210, abs=5e-4))
    assert readings["tank"].failed_members == ("sdc",)
    assert (readings["usbpool"].state, readings["usbpool"].redundancy) == ("FAULTED", 0)


def test_md_and_zfs_together(procfs: Path, sysfs: Path, tmp_path: Path, zpool: ProgramFactory) -> None:
    (procfs / "mdstat").write_text(fx.MD_RAID1_HEALTHY)
    fx.raid1_healthy_sysfs(sysfs)
    readings = storage(procfs, sysfs, zpool(fx.ZFS_SINGLE)).collect(ctx_for(tmp_path))
    assert [(r.kind, r.array) for r in readings] == [("md", "md0"), ("zfs", "backup")]


@pytest.mark.parametrize(("stdout", "stderr", "code"), [
    ("", fx.ZFS_NO_POOLS_STDERR, 0),
    ("", fx.ZFS_NO_POOLS_STDERR, 1),
    ("", "The ZFS modules are not loaded.\nTry running '/sbin/modprobe zfs' as root to load them.\n", 1),
])
def test_no_pools(procfs: Path, sysfs: Path, tmp_path: Path, zpool: ProgramFactory,
                  caplog: pytest.LogCaptureFixture, stdout: str, stderr: str, code: int) -> None:
    assert storage(procfs, sysfs, zpool(stdout, stderr, code)).collect(ctx_for(tmp_path)) == []
    assert warnings(caplog) == []


def test_zpool_missing_is_not_an_error(procfs: Path, sysfs: Path, tmp_path: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    (procfs / "mdstat").write_text(fx.MD_RAID1_HEALTHY)
    caplog.set_level(logging.DEBUG, logger="collectors.storage.collector")
    collector = storage(procfs, sysfs, no_zpool(tmp_path))
    for _ in range(3):
        assert [r.array for r in collector.collect(ctx_for(tmp_path))] == ["md0"]
    assert warnings(caplog) == []
    notes = [r.levelno for r in caplog.records if "not found" in r.getMessage()]
    assert notes and set(notes) == {logging.DEBUG}  # a host without ZFS is noted for debugging, never warned


def test_zpool_not_on_path(procfs: Path, sysfs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    collector = storage(procfs, sysfs, "zpool")
    assert collector.collect(ctx_for(tmp_path)) == []
    assert collector.scan == StorageScan(True, "")  # no ZFS installed: nothing to read, nothing missed


def test_zpool_garbage_warns_once_md_kept(procfs: Path, sysfs: Path, tmp_path: Path, zpool: ProgramFactory,
                                          caplog: pytest.LogCaptureFixture) -> None:
    (procfs / "mdstat").write_text(fx.MD_RAID1_HEALTHY)
    collector = storage(procfs, sysfs, zpool("\x00\x01 definitely not zpool output\n"))
    for _ in range(2):
        assert [r.array for r in collector.collect(ctx_for(tmp_path))] == ["md0"]
        # md is still reported, but the host must not pass for one without pools.
        assert collector.scan is not None and not collector.scan.complete
        assert "status output unusable" in collector.scan.reason
    assert len(warnings(caplog)) == 1


def test_zpool_failure_warns_once_and_again_after_recovery(procfs: Path, sysfs: Path, tmp_path: Path,
                                                           zpool: ProgramFactory,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    (procfs / "mdstat").write_text(fx.MD_RAID1_HEALTHY)
    broken = zpool("", "internal error: out of memory\n", 1)
    working = zpool(fx.ZFS_MIRROR)
    # One configured zpool whose behaviour changes between runs, as the real one does when ZFS recovers.
    current = tmp_path / "zpool-current"
    program = tmp_path / "zpool-switch"
    program.write_text(f'#!/bin/sh\nexec "$(cat {current})" "$@"\n')
    program.chmod(0o755)
    current.write_text(broken)
    collector = storage(procfs, sysfs, str(program))
    collector.collect(ctx_for(tmp_path))
    collector.collect(ctx_for(tmp_path))
    assert len(warnings(caplog)) == 1
    assert "out of memory" in warnings(caplog)[0]
    assert collector.scan is not None and collector.scan.reason.endswith("status exited 1")
    current.write_text(working)
    assert len(collector.collect(ctx_for(tmp_path))) == 2
    assert collector.scan == StorageScan(True, "")
    current.write_text(broken)
    collector.collect(ctx_for(tmp_path))
    assert len(warnings(caplog)) == 2


def test_hung_zpool_is_killed_before_the_deadline(procfs: Path, sysfs: Path, tmp_path: Path,
                                                  zpool: ProgramFactory,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    (procfs / "mdstat").write_text(fx.MD_RAID1_HEALTHY)
    fx.raid1_healthy_sysfs(sysfs)
    pid_file = tmp_path / "sleep.pid"
    program = zpool(fx.ZFS_MIRROR, body=f"sleep 60 & echo $! > {pid_file}; wait")
    started = time.monotonic()
    readings = storage(procfs, sysfs, program).collect(ctx_for(tmp_path, 2.0))
    elapsed = time.monotonic() - started
    assert [r.array for r in readings] == ["md0"]
    assert elapsed < 2.0  # back before the scheduler's own timeout, with the md readings
    assert len(warnings(caplog)) == 1 and "in time" in warnings(caplog)[0]
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            break
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the zpool helper {pid} survived the kill")


def test_cancel_is_not_swallowed(procfs: Path, sysfs: Path, tmp_path: Path, zpool: ProgramFactory) -> None:
    ctx = ctx_for(tmp_path)
    ctx.cancel.set()
    with pytest.raises(Cancelled):
        storage(procfs, sysfs, zpool(fx.ZFS_MIRROR)).collect(ctx)


# ------------------------------------------------------------------------------------ partition -> disk


def test_whole_disk_from_sysfs(sysfs: Path) -> None:
    fx.block_device(sysfs, "nvme0n1", ["nvme0n1p1", "nvme0n1p2"], bus="pci0000:00/0000:00:1d.0/0000:02:00.0/nvme/nvme0")
    fx.block_device(sysfs, "sda", ["sda1"])
    # A name the fallback rules would not undo: sysfs alone knows its disk.
    fx.block_device(sysfs, "emcpowera", ["emcpowera1"], bus="virtual")
    assert whole_disk("nvme0n1p2", sysfs) == "nvme0n1"
    assert whole_disk("/dev/nvme0n1p2", sysfs) == "nvme0n1"
    assert whole_disk("nvme0n1", sysfs) == "nvme0n1"
    assert whole_disk("sda1", sysfs) == "sda"
    assert whole_disk("sda", sysfs) == "sda"
    assert whole_disk("emcpowera1", sysfs) == "emcpowera"


@pytest.mark.parametrize(("name", "disk"), [
    ("sda1", "sda"), ("sdaa12", "sdaa"), ("vdb2", "vdb"), ("xvda1", "xvda"), ("hdc3", "hdc"),
    ("nvme0n1p2", "nvme0n1"), ("mmcblk0p1", "mmcblk0"), ("loop0p1", "loop0"), ("md0p1", "md0"),
    ("nvme0n1", "nvme0n1"), ("sda", "sda"), ("dm-3", "dm-3"), ("md127", "md127"),
    ("/dev/sdb1", "sdb"), ("/dev/disk/by-id/ata-ST4000VN008-2DR166_ZDHXXXXX-part1", "ata-ST4000VN008-2DR166_ZDHXXXXX"),
    ("4829105738271935821", "4829105738271935821"),
])
def test_whole_disk_fallback_rules(sysfs: Path, name: str, disk: str) -> None:
    assert whole_disk(name, sysfs) == disk


def test_md_member_names_come_from_the_block_link(procfs: Path, sysfs: Path, tmp_path: Path) -> None:
    (procfs / "mdstat").write_text(fx.MD_RAID1_HEALTHY)
    fx.raid1_healthy_sysfs(sysfs)
    assert os.readlink(sysfs / "devices/virtual/block/md0/md/dev-sda1/block").endswith("/sda/sda1")
    reading = storage(procfs, sysfs, no_zpool(tmp_path)).collect(ctx_for(tmp_path))[0]
    assert set(reading.members) == {"sda", "sdb"}
