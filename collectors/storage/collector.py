"""Storage redundancy: Linux md arrays (/proc/mdstat + md sysfs) and ZFS pools (`zpool status -P -L`).

Each source is optional and fails on its own: no /proc/mdstat means no md, no `zpool` program means no ZFS,
and a broken or hung `zpool` costs the ZFS readings only (with one warning), never the md ones. Only an
unreadable procfs root ends the run, because then nothing said here could be trusted.

Members are reported as whole-disk kernel names ("sda", "nvme0n1") so they match DriveReading.kernel_name:
`<sysfs>/class/block/<name>/partition` marks a partition, and the entry's resolved parent directory is its
disk; without a sysfs entry the kernel's own naming rule is undone instead ("nvme0n1p2" -> "nvme0n1").
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

from collectors.kit.command import ProgramNotFound, run_program
from collectors.kit.context import Cancelled, CollectorError, RunContext
from collectors.kit.sysfs import read_attr
from collectors.kit.units import percent_to_ratio
from collectors.kit.warnonce import WarnOnce
from collectors.model.readings import AnyReading, ArrayReading, StorageScan
from collectors.storage.config import StorageConfig
from collectors.storage.mdstat import (
    MdArray,
    MdstatParseError,
    MdSysfs,
    MdSysfsMember,
    merge_sysfs,
    parse_mdstat,
)
from collectors.storage.zpool import VdevNode, Zpool, ZpoolParseError, parse_zpool_status

log = logging.getLogger(__name__)

# sysfs attributes are a page at most; a bigger read means something that is not sysfs is mounted there.
# /proc/mdstat of even a large host is a few KiB; refuse to slurp something unbounded mounted in its place.
_MAX_MDSTAT = 1024 * 1024
# The share of the run's remaining time kept back from `zpool`, so that a hung zpool is killed while there is
# still time to hand back the md readings before the scheduler's own timeout discards the whole run.
_ZPOOL_RESERVE_FRACTION = 0.2
_ZPOOL_RESERVE_MAX = 1.0
# Kernel naming (block/genhd.c disk_name): a disk whose name ends in a digit gets "p<N>" partitions
# (nvme0n1p2, mmcblk0p1, loop0p1, md0p1); other disks get a bare number (sda1, vdb2, xvda1).
_DIGIT_DISK_PARTITION = re.compile(r"^(.*\d)p\d+$")
_LETTER_DISK_PARTITION = re.compile(r"^((?:sd|hd|vd|xvd|ubd)[a-z]+)\d+$")
_BY_ID_PARTITION = re.compile(r"^(.+)-part\d+$")
# Answers that mean "this host has no pools", as opposed to "pools could not be read". A missing /dev/zfs
# ("Failed to initialize the libzfs library") is deliberately not among them: on a host with pools it means a
# sandbox (PrivateDevices=, a container) hides them, and that must be visible as a warning.
_NO_ZFS_MESSAGES = ("no pools available", "The ZFS modules are not loaded")


def whole_disk(name: str, sysfs: Path) -> str:
    """The whole-disk kernel name behind a block device name: "sda1" -> "sda", "nvme0n1p2" -> "nvme0n1".

    sysfs decides when it has the device: a partition's `class/block/<name>` entry resolves into its disk's
    directory. Names sysfs does not know (a test tree, a device that vanished) fall back to the naming rule.
    """
    name = os.path.basename(name.rstrip("/"))
    entry = sysfs / "class" / "block" / name
    if os.path.lexists(entry):
        if not (entry / "partition").exists():
            return name
        parent = Path(os.path.realpath(entry)).parent.name
        if parent and parent not in ("block", "class"):
            return parent
    match = _DIGIT_DISK_PARTITION.match(name) or _LETTER_DISK_PARTITION.match(name)
    if match is not None:
        return match.group(1)
    by_id = _BY_ID_PARTITION.match(name)
    if by_id is not None:
        return by_id.group(1)
    return name


def _unique(names: Sequence[str]) -> tuple[str, ...]:
    """Order-preserving de-duplication: two partitions of one disk in one array are one member disk."""
    return tuple(dict.fromkeys(names))


class StorageCollector:
    """ArrayReadings for every md array and every ZFS pool on this host."""

    name = "storage"

    def __init__(self, config: StorageConfig, procfs: Path, sysfs: Path) -> None:
        self._config = config
        self._procfs = procfs
        self._sysfs = sysfs
        # A persistent fault must not repeat every interval; keys are forgotten when the source ("md:",
        # "zfs:") works again, so that a recurrence is reported again. A source that is simply absent (no
        # mdstat, no zpool, no pools) is no fault: it is noted at debug level, the level of any repeat.
        self._warn = WarnOnce(log, "storage: ")
        self._unread: list[str] = []  # this run's sources that exist but could not be read

    def collect(self, ctx: RunContext) -> Sequence[AnyReading]:
        try:
            os.stat(self._procfs)
            os.listdir(self._procfs)
        except OSError as exc:
            raise CollectorError(f"{self._procfs}: cannot read procfs: {exc.strerror}") from exc
        ctx.check()
        self._unread = []
        readings: list[AnyReading] = list(self._md_readings())
        ctx.check()
        readings.extend(self._zfs_readings(ctx))
        # A source that exists but could not be read must not pass for a host without arrays.
        readings.append(StorageScan(not self._unread, "; ".join(self._unread)))
        return readings

    # -- md ------------------------------------------------------------------------------------------------

    def _read_mdstat(self) -> str | None:
        path = self._procfs / "mdstat"
        try:
            with path.open("rb") as handle:
                raw = handle.read(_MAX_MDSTAT)
        except FileNotFoundError:
            log.debug("storage: %s absent: no md arrays on this host", path)
            return None
        except OSError as exc:
            self._warn.warn("md:unreadable", "%s unreadable (%s); md arrays not reported", path, exc.strerror or exc)
            self._unread.append(f"{path} unreadable ({exc.strerror or exc})")
            return None
        return raw.decode("utf-8", "replace")

    def _md_readings(self) -> list[ArrayReading]:
        text = self._read_mdstat()
        if text is None:
            return []
        arrays: dict[str, MdArray | None] = {}
        try:
            for array in parse_mdstat(text):
                arrays[array.name] = array
        except MdstatParseError as exc:
            self._warn.warn("md:garbage", "%s: %s; md arrays from sysfs only", self._procfs / "mdstat", exc)
        else:
            self._warn.forget("md:")
        # Arrays sysfs knows but a truncated mdstat lost are still reported.
        for name in self._sysfs_md_names():
            arrays.setdefault(name, None)
        readings: list[ArrayReading] = []
        for name, parsed in arrays.items():
            merged = merge_sysfs(name, parsed, self._read_md_sysfs(name))
            if merged.container:
                continue  # IMSM/DDF container: its volumes (md126, ...) are the arrays that hold data
            if parsed is None and not merged.members and not merged.level:
                continue  # an md node sysfs keeps around with nothing assembled in it
            readings.append(self._md_reading(merged))
        return readings

    def _sysfs_md_names(self) -> list[str]:
        try:
            entries = sorted(os.listdir(self._sysfs / "block"))
        except OSError:
            return []
        return [name for name in entries if name.startswith("md") and (self._sysfs / "block" / name / "md").is_dir()]

    def _read_md_sysfs(self, name: str) -> MdSysfs:
        base = self._sysfs / "block" / name / "md"
        members: list[MdSysfsMember] = []
        try:
            entries = sorted(os.listdir(base))
        except OSError:
            return MdSysfs()
        for entry in entries:
            if not entry.startswith("dev-"):
                continue
            members.append(MdSysfsMember(
                name=self._member_name(base / entry, entry[len("dev-"):]),
                state=read_attr(base / entry / "state"),
                slot=read_attr(base / entry / "slot"),
            ))
        return MdSysfs(
            level=read_attr(base / "level"),
            raid_disks=read_attr(base / "raid_disks"),
            degraded=read_attr(base / "degraded"),
            array_state=read_attr(base / "array_state"),
            sync_action=read_attr(base / "sync_action"),
            sync_completed=read_attr(base / "sync_completed"),
            layout=read_attr(base / "layout"),
            members=tuple(members),
        )

    @staticmethod
    def _member_name(directory: Path, fallback: str) -> str:
        """The kernel name of a member: `dev-<x>` is named after it, but the `block` link is authoritative
        (bdevname can mangle "/" into "!" for names like cciss!c0d0)."""
        try:
            target = os.readlink(directory / "block")
        except OSError:
            return fallback
        return os.path.basename(target.rstrip("/")) or fallback

    def _md_reading(self, array: MdArray) -> ArrayReading:
        carrying = [member for member in array.members if not member.hot_spare]
        failed = [member.name for member in array.failed_members]
        return ArrayReading(
            array=array.name,
            kind="md",
            level=array.level or "unknown",
            state=array.array_state or ("active" if array.active else "inactive"),
            members=_unique([whole_disk(member.name, self._sysfs) for member in carrying]),
            failed_members=_unique([whole_disk(name, self._sysfs) for name in failed]),
            redundancy=array.redundancy,
            degraded=array.degraded,
            sync_action=array.sync.describe() if array.sync is not None else "",
            sync_progress_ratio=percent_to_ratio(array.sync.percent if array.sync is not None else None, clamp=True),
            # Not members: an idle spare holds no data, and a failing one is a lesser finding than a member.
            spares=_unique([whole_disk(member.name, self._sysfs) for member in array.members if member.hot_spare]),
        )

    # -- ZFS -----------------------------------------------------------------------------------------------

    def _zfs_readings(self, ctx: RunContext) -> list[ArrayReading]:
        pools = self._run_zpool(ctx)
        if pools is None:
            return []
        return [self._zfs_reading(pool) for pool in pools]

    @staticmethod
    def _zpool_context(ctx: RunContext) -> RunContext:
        return ctx.keeping_back(_ZPOOL_RESERVE_FRACTION, at_least=0.0, at_most=_ZPOOL_RESERVE_MAX)

    def _run_zpool(self, ctx: RunContext) -> tuple[Zpool, ...] | None:
        zpool = self._config.zpool
        argv = [zpool, "status", "-P", "-L"]
        # The C locale keeps the output in the English the parser reads; no colour escapes either.
        env = {key: value for key, value in os.environ.items() if key not in ("ZFS_COLOR", "LANGUAGE")}
        env["LC_ALL"] = "C"
        try:
            result = run_program(argv, self._zpool_context(ctx), env=env)
        except ProgramNotFound:
            log.debug("storage: %s not found: no ZFS pools reported", zpool)
            return None
        except Cancelled:
            if ctx.cancel.is_set():
                raise  # the daemon is stopping or the scheduler gave up on this run: nothing to hand back
            self._warn.warn("zfs:timeout", "%s status did not finish in time; ZFS pools not reported", zpool)
            self._unread.append(f"{zpool} status did not finish in time")
            return None
        except CollectorError as exc:
            self._warn.warn("zfs:failed", "%s; ZFS pools not reported", exc)
            self._unread.append(f"ZFS pools not read: {exc}")
            return None
        stdout = result.stdout.decode("utf-8", "replace")
        stderr = result.stderr.decode("utf-8", "replace")
        # zpool prints "no pools available" on stderr and exits 0; some builds exit 1. Either way no pools.
        if "pool:" not in stdout and any(message in stdout or message in stderr for message in _NO_ZFS_MESSAGES):
            log.debug("storage: %s reports no pools", zpool)
            self._warn.forget("zfs:")
            return ()
        if result.returncode != 0:
            detail = (stderr.strip() or stdout.strip()).splitlines()
            self._warn.warn("zfs:exit", "%s status exited %d (%s); ZFS pools not reported", zpool,
                            result.returncode, detail[0] if detail else "no message")
            self._unread.append(f"{zpool} status exited {result.returncode}")
            return None
        try:
            pools = parse_zpool_status(stdout)
        except ZpoolParseError as exc:
            self._warn.warn("zfs:garbage", "%s status: %s; ZFS pools not reported", zpool, exc)
            self._unread.append(f"{zpool} status output unusable ({exc})")
            return None
        self._warn.forget("zfs:")
        return pools

    def _zfs_reading(self, pool: Zpool) -> ArrayReading:
        return ArrayReading(
            array=pool.name,
            kind="zfs",
            level=pool.level,
            state=pool.state,
            members=_unique([whole_disk(leaf.device_path, self._sysfs) for leaf in pool.members]),
            failed_members=_unique([whole_disk(leaf.device_path, self._sysfs) for leaf in pool.failed_members]),
            redundancy=pool.redundancy,
            degraded=pool.degraded,
            sync_action=pool.scan.describe() if pool.scan is not None else "",
            sync_progress_ratio=percent_to_ratio(
                pool.scan.percent if pool.scan is not None and pool.scan.in_progress else None, clamp=True
            ),
            # Spares, SLOG and L2ARC devices hold no pool data; they are named so that a failing one is
            # judged for what it risks instead of as a drive with no redundancy behind it.
            spares=self._disks(pool.spare_devices),
            logs=self._disks(pool.log_devices),
            caches=self._disks(pool.cache_devices),
            log_redundancy=pool.log_redundancy,
        )

    def _disks(self, leaves: Sequence[VdevNode]) -> tuple[str, ...]:
        return _unique([whole_disk(leaf.device_path, self._sysfs) for leaf in leaves])


__all__ = ["StorageCollector", "whole_disk"]
