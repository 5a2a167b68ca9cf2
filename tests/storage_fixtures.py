"""md and ZFS fixtures written from the real formats (the project's own; no captured host data).

/proc/mdstat texts follow the kernel's md_seq_show/status_resync output as printed on Debian 12 kernels
(6.1) and as shown in public examples (linuxwiki.org /proc/mdstat recovery walkthrough, mdadm DegradedArray
mails): member flags (F)/(S)/(W), `[n/m] [UU_]`, `level 5, 512k chunk, algorithm 2`, `2 near-copies`,
`recovery = 28.5% (...) finish=... speed=...`, `resync=DELAYED`, `super external:imsm` containers.
md sysfs trees follow Documentation/admin-guide/md.rst (level, raid_disks, degraded, array_state,
sync_action, sync_completed "done / total", layout, dev-*/state, dev-*/slot, dev-*/block).

`zpool status -P -L` texts are laid out with the exact printf formats of OpenZFS 2.1 zpool_main.c
(`print_status_config`: "\\t%*s%-*s  %-8s %5s %5s %5s", notes after two spaces, "was <path>" for missing
devices; `print_class_vdevs`: "\\t%s\\t\\n"; `print_l2cache`/`print_spares`: "\\tcache\\n"/"\\tspares\\n";
`print_scan_status`: "\\t%s scanned at %s/s, %s issued at %s/s, %s total" and
"\\t%s resilvered, %.2f%% done, %llu days %02llu:%02llu:%02llu to go"), the status/action wording of
libzfs' status messages, and Proxmox VE 8 / Debian 12 device naming (rpool on nvme*n1p3, data on sdX1).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# --------------------------------------------------------------------------------------------- /proc/mdstat

PERSONALITIES = "Personalities : [raid1] [linear] [multipath] [raid0] [raid6] [raid5] [raid4] [raid10] \n"
UNUSED = "unused devices: <none>\n"

MD_RAID1_HEALTHY = (
    PERSONALITIES
    + "md0 : active raid1 sdb1[1] sda1[0]\n"
    "      1953381440 blocks super 1.2 [2/2] [UU]\n"
    "      bitmap: 0/15 pages [0KB], 65536KB chunk\n"
    "\n" + UNUSED
)

MD_RAID1_DEGRADED = (
    PERSONALITIES
    + "md0 : active raid1 sdb1[1](F) sda1[0]\n"
    "      1953381440 blocks super 1.2 [2/1] [U_]\n"
    "      bitmap: 3/15 pages [12KB], 65536KB chunk\n"
    "\n" + UNUSED
)

# The failed disk already pulled (mdadm --remove): only the slot map still shows the hole.
MD_RAID1_DEGRADED_REMOVED = (
    PERSONALITIES
    + "md0 : active raid1 sda1[0]\n"
    "      1953381440 blocks super 1.2 [2/1] [U_]\n"
    "      bitmap: 3/15 pages [12KB], 65536KB chunk\n"
    "\n" + UNUSED
)

MD_RAID5_RESYNC = (
    PERSONALITIES
    + "md1 : active raid5 sdd[3] sdc[2] sdb[1] sda[0]\n"
    "      5860147200 blocks super 1.2 level 5, 512k chunk, algorithm 2 [4/4] [UUUU]\n"
    "      [========>............]  resync = 42.0% (820563712/1953382400) finish=95.3min speed=198034K/sec\n"
    "      bitmap: 8/15 pages [32KB], 65536KB chunk\n"
    "\n" + UNUSED
)

MD_RAID5_RECOVERY = (
    PERSONALITIES
    + "md1 : active raid5 sde[4] sdc[2] sdb[1] sda[0]\n"
    "      5860147200 blocks super 1.2 level 5, 512k chunk, algorithm 2 [4/3] [UUU_]\n"
    "      [=>...................]  recovery = 10.5% (205105408/1953382400) finish=152.6min speed=190946K/sec\n"
    "      bitmap: 0/15 pages [0KB], 65536KB chunk\n"
    "\n" + UNUSED
)

MD_RAID0 = (
    PERSONALITIES
    + "md2 : active raid0 nvme1n1p1[1] nvme0n1p1[0]\n"
    "      1000007680 blocks super 1.2 512k chunks\n"
    "\n" + UNUSED
)

MD_RAID1_SINGLE = (
    PERSONALITIES
    + "md3 : active raid1 sde1[0]\n"
    "      976630464 blocks super 1.2 [1/1] [U]\n"
    "\n" + UNUSED
)

MD_RAID10_NEAR2_DEGRADED = (
    PERSONALITIES
    + "md4 : active raid10 sdd1[3] sdc1[2](F) sdb1[1] sda1[0]\n"
    "      3906762752 blocks super 1.2 512K chunks 2 near-copies [4/3] [UU_U]\n"
    "      bitmap: 2/30 pages [8KB], 65536KB chunk\n"
    "\n" + UNUSED
)

MD_RAID6_SPARE_WRITEMOSTLY = (
    PERSONALITIES
    + "md5 : active raid6 sdf1[5](S) sde1[4] sdd1[3] sdc1[2] sdb1[1](W) sda1[0]\n"
    "      7813525504 blocks super 1.2 level 6, 512k chunk, algorithm 2 [5/5] [UUUUU]\n"
    "\n" + UNUSED
)

# Boot-time partial assembly: members present, array not started, no level printed.
MD_INACTIVE = (
    PERSONALITIES
    + "md127 : inactive sdb1[1](S)\n"
    "      1953381440 blocks super 1.2\n"
    "\n" + UNUSED
)

MD_RESYNC_DELAYED = (
    PERSONALITIES
    + "md1 : active raid1 sdb2[1] sda2[0]\n"
    "      976630464 blocks super 1.2 [2/2] [UU]\n"
    "      [====>................]  resync = 24.1% (235392000/976630464) finish=60.2min speed=205120K/sec\n"
    "\n"
    "md0 : active raid1 sdb1[1] sda1[0]\n"
    "      523264 blocks super 1.2 [2/2] [UU]\n"
    "      \tresync=DELAYED\n"
    "\n" + UNUSED
)

# Intel RST (IMSM) as Linux assembles it: the container md127 and the volume md126 inside it.
MD_IMSM = (
    "Personalities : [raid1] \n"
    "md126 : active raid1 sda[1] sdb[0]\n"
    "      976748544 blocks super external:/md127/0 [2/2] [UU]\n"
    "\n"
    "md127 : inactive sdb[1](S) sda[0](S)\n"
    "      5032 blocks super external:imsm\n"
    "\n" + UNUSED
)

MD_EMPTY = "Personalities : \nunused devices: <none>\n"

MD_TRUNCATED = MD_RAID1_HEALTHY + MD_RAID5_RESYNC.split("\n", 2)[1] + "\n      5860147200 blocks super 1.2 le"

MD_GARBAGE = "\x00\x01\x7fELF\x02\x01\x01 this is not mdstat at all\n\xff\xfe"


# ------------------------------------------------------------------------------------------ md sysfs trees


@dataclass(frozen=True)
class MdMemberSpec:
    state: str  # dev-*/state, e.g. "in_sync" or "faulty" or "in_sync,write_mostly"
    slot: str  # dev-*/slot: a number or "none"


@dataclass(frozen=True)
class MdSpec:
    name: str
    level: str
    raid_disks: int
    array_state: str = "clean"
    degraded: int | None = 0  # None: attribute absent (raid0, linear)
    sync_action: str | None = "idle"
    sync_completed: str | None = "none"
    layout: str | None = None
    members: Mapping[str, MdMemberSpec] = field(default_factory=dict)


SATA_BUS = "pci0000:00/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0"


def block_device(sysfs: Path, disk: str, partitions: Sequence[str] = (), bus: str = SATA_BUS) -> None:
    """A disk and its partitions as sysfs shows them: devices/.../block/<disk>/<part>/partition, with
    class/block/<name> and block/<disk> symlinks pointing into it."""
    disk_dir = sysfs / "devices" / bus / "block" / disk
    disk_dir.mkdir(parents=True, exist_ok=True)
    (disk_dir / "size").write_text("3907029168\n")
    entries = {disk: disk_dir}
    for number, part in enumerate(partitions, start=1):
        part_dir = disk_dir / part
        part_dir.mkdir(exist_ok=True)
        (part_dir / "partition").write_text(f"{number}\n")
        entries[part] = part_dir
    (sysfs / "class" / "block").mkdir(parents=True, exist_ok=True)
    (sysfs / "block").mkdir(parents=True, exist_ok=True)
    for name, target in entries.items():
        link = sysfs / "class" / "block" / name
        if not os.path.lexists(link):
            link.symlink_to(os.path.relpath(target, link.parent))
    link = sysfs / "block" / disk
    if not os.path.lexists(link):
        link.symlink_to(os.path.relpath(disk_dir, link.parent))


def md_sysfs(sysfs: Path, spec: MdSpec) -> Path:
    """`<sysfs>/block/<md>/md/` with the attributes of `spec`; member `block` links point at the partition
    directories when block_device() made them (dangling links otherwise, as for a vanished disk)."""
    md_dir = sysfs / "devices" / "virtual" / "block" / spec.name
    base = md_dir / "md"
    base.mkdir(parents=True, exist_ok=True)
    attrs = {
        "level": spec.level,
        "raid_disks": str(spec.raid_disks),
        "array_state": spec.array_state,
        "degraded": None if spec.degraded is None else str(spec.degraded),
        "sync_action": spec.sync_action,
        "sync_completed": spec.sync_completed,
        "layout": spec.layout,
    }
    for attr, value in attrs.items():
        if value is not None:
            (base / attr).write_text(value + "\n")
    for member, member_spec in spec.members.items():
        dev = base / f"dev-{member}"
        dev.mkdir(exist_ok=True)
        (dev / "state").write_text(member_spec.state + "\n")
        (dev / "slot").write_text(member_spec.slot + "\n")
        target = sysfs / "class" / "block" / member
        resolved = Path(os.path.realpath(target)) if os.path.lexists(target) else target
        (dev / "block").symlink_to(os.path.relpath(resolved, dev))
    for root in ("block", "class/block"):
        (sysfs / root).mkdir(parents=True, exist_ok=True)
        link = sysfs / root / spec.name
        if not os.path.lexists(link):
            link.symlink_to(os.path.relpath(md_dir, link.parent))
    return base


IN_SYNC = "in_sync"


def raid1_healthy_sysfs(sysfs: Path) -> None:
    block_device(sysfs, "sda", ["sda1"])
    block_device(sysfs, "sdb", ["sdb1"], bus="pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0")
    md_sysfs(sysfs, MdSpec("md0", "raid1", 2, members={
        "sda1": MdMemberSpec(IN_SYNC, "0"), "sdb1": MdMemberSpec(IN_SYNC, "1")}))


def raid1_degraded_sysfs(sysfs: Path) -> None:
    block_device(sysfs, "sda", ["sda1"])
    block_device(sysfs, "sdb", ["sdb1"], bus="pci0000:00/0000:00:17.0/ata2/host1/target1:0:0/1:0:0:0")
    md_sysfs(sysfs, MdSpec("md0", "raid1", 2, array_state="active", degraded=1, members={
        "sda1": MdMemberSpec(IN_SYNC, "0"), "sdb1": MdMemberSpec("faulty", "none")}))


def raid5_resync_sysfs(sysfs: Path) -> None:
    for index, disk in enumerate(("sda", "sdb", "sdc", "sdd")):
        block_device(sysfs, disk, bus=f"pci0000:00/0000:00:17.0/ata{index + 1}/host{index}/target{index}:0:0/"
                     f"{index}:0:0:0")
    md_sysfs(sysfs, MdSpec("md1", "raid5", 4, array_state="active", sync_action="resync",
                           sync_completed="820563712 / 1953382400", layout="2", members={
                               disk: MdMemberSpec(IN_SYNC, str(i)) for i, disk in enumerate(("sda", "sdb", "sdc",
                                                                                               "sdd"))}))


def raid0_sysfs(sysfs: Path) -> None:
    block_device(sysfs, "nvme0n1", ["nvme0n1p1"], bus="pci0000:00/0000:00:1d.0/0000:02:00.0/nvme/nvme0")
    block_device(sysfs, "nvme1n1", ["nvme1n1p1"], bus="pci0000:00/0000:00:1d.4/0000:03:00.0/nvme/nvme1")
    md_sysfs(sysfs, MdSpec("md2", "raid0", 2, degraded=None, sync_action=None, sync_completed=None, members={
        "nvme0n1p1": MdMemberSpec(IN_SYNC, "0"), "nvme1n1p1": MdMemberSpec(IN_SYNC, "1")}))


def raid1_single_sysfs(sysfs: Path) -> None:
    block_device(sysfs, "sde", ["sde1"], bus="pci0000:00/0000:00:14.0/usb2/2-1/2-1:1.0/host6/target6:0:0/6:0:0:0")
    md_sysfs(sysfs, MdSpec("md3", "raid1", 1, members={"sde1": MdMemberSpec(IN_SYNC, "0")}))


# ------------------------------------------------------------------------------------- zpool status -P -L


@dataclass(frozen=True)
class Row:
    depth: int  # 0 = pool root or class header; 2 per nesting level as zpool prints it
    name: str
    state: str = ""  # "" = a class header line ("logs", "cache", "spares", "special", "dedup")
    counters: tuple[str, str, str] | None = ("0", "0", "0")  # None for spares
    note: str = ""


def config(rows: Sequence[Row]) -> str:
    """The config block exactly as print_status_config lays it out."""
    width = max(10, *(row.depth + len(row.name) for row in rows))
    # printf formats: "\t%-*s  %-8s %5s %5s %5s" for the header, "\t%*s%-*s  %-8s" + " %5s %5s %5s" per row.
    lines = [f"\t{'NAME':<{width}}  {'STATE':<8} {'READ':>5} {'WRITE':>5} {'CKSUM':>5}"]
    for row in rows:
        if not row.state:
            # print_class_vdevs prints "\t%s\t"; cache and spares print "\t%s" without the trailing tab.
            lines.append(f"\t{row.name}\t" if row.name in ("logs", "special", "dedup") else f"\t{row.name}")
            continue
        line = f"\t{'':>{row.depth}}{row.name:<{width - row.depth}}  {row.state:<8}"
        if row.counters is not None:
            read, write, cksum = row.counters
            line += f" {read:>5} {write:>5} {cksum:>5}"
        if row.note:
            line += "  " + row.note
        lines.append(line)
    return "\n".join(lines) + "\n"


def pool(name: str, state: str, rows: Sequence[Row], scan: str = "", status: str = "", action: str = "",
         see: str = "", errors: str = "No known data errors") -> str:
    text = f"  pool: {name}\n state: {state}\n"
    if status:
        text += f"status: {status}\n"
    if action:
        text += f"action: {action}\n"
    if see:
        text += f"   see: {see}\n"
    if scan:
        text += f"  scan: {scan}\n"
    text += "config:\n\n" + config(rows) + f"\nerrors: {errors}\n"
    return text


ZFS_MIRROR = pool("rpool", "ONLINE", [
    Row(0, "rpool", "ONLINE"),
    Row(2, "mirror-0", "ONLINE"),
    Row(4, "/dev/nvme0n1p3", "ONLINE"),
    Row(4, "/dev/nvme1n1p3", "ONLINE"),
], scan="scrub repaired 0B in 00:02:41 with 0 errors on Sun Jan 14 00:26:42 2024")

ZFS_RAIDZ2_DEGRADED = pool("tank", "DEGRADED", [
    Row(0, "tank", "DEGRADED"),
    Row(2, "raidz2-0", "DEGRADED"),
    Row(4, "/dev/sda1", "ONLINE"),
    Row(4, "/dev/sdb1", "ONLINE"),
    Row(4, "4829105738271935821", "UNAVAIL", note="was /dev/disk/by-id/ata-WDC_WD80EFZZ-68BTXN0_WD-CA0XXXXX-part1"),
    Row(4, "/dev/sdd1", "ONLINE"),
    Row(4, "/dev/sde1", "ONLINE"),
    Row(4, "/dev/sdf1", "ONLINE"),
], status="One or more devices could not be used because the label is missing or\n"
          "\tinvalid.  Sufficient replicas exist for the pool to continue\n"
          "\tfunctioning in a degraded state.",
   action="Replace the device using 'zpool replace'.",
   see="https://openzfs.github.io/openzfs-docs/msg/ZFS-8000-4J",
   scan="scrub repaired 0B in 05:21:44 with 0 errors on Sun Jan 14 05:45:45 2024")

ZFS_RAIDZ2_FAULTED_DISK = pool("tank", "DEGRADED", [
    Row(0, "tank", "DEGRADED"),
    Row(2, "raidz2-0", "DEGRADED"),
    Row(4, "/dev/sda1", "ONLINE"),
    Row(4, "/dev/sdb1", "ONLINE"),
    Row(4, "/dev/sdc1", "FAULTED", counters=("12", "204", "0"), note="too many errors"),
    Row(4, "/dev/sdd1", "ONLINE"),
], status="One or more devices are faulted in response to persistent errors.\n"
          "\tSufficient replicas exist for the pool to continue functioning in a\n"
          "\tdegraded state.",
   action="Replace the faulted device, or use 'zpool clear' to mark the device\n\trepaired.",
   see="https://openzfs.github.io/openzfs-docs/msg/ZFS-8000-K4",
   scan="resilver in progress since Mon Jan 15 10:02:11 2024\n"
        "\t2.10T scanned at 1.20G/s, 1.48T issued at 845M/s, 3.52T total\n"
        "\t368G resilvered, 42.10% done, 0 days 00:42:13 to go")

ZFS_SINGLE = pool("backup", "ONLINE", [
    Row(0, "backup", "ONLINE"),
    Row(2, "/dev/sdg1", "ONLINE"),
], scan="none requested")

ZFS_STRIPE = pool("scratch", "ONLINE", [
    Row(0, "scratch", "ONLINE"),
    Row(2, "/dev/sdh1", "ONLINE"),
    Row(2, "/dev/sdi1", "ONLINE"),
], scan="none requested")

# Pool metadata damaged: the root reads FAULTED "corrupted data" although its disk answers.
ZFS_FAULTED = pool("usbpool", "FAULTED", [
    Row(0, "usbpool", "FAULTED", note="corrupted data"),
    Row(2, "/dev/sdj1", "ONLINE"),
], status="The pool metadata is corrupted and the pool cannot be opened.",
   action="Destroy and re-create the pool from\n\ta backup source.",
   see="https://openzfs.github.io/openzfs-docs/msg/ZFS-8000-72",
   errors="List of errors unavailable: pool I/O is currently suspended")

# The only disk of a single-disk pool pulled: pool and root UNAVAIL, the leaf REMOVED.
ZFS_UNAVAIL = pool("usbpool", "UNAVAIL", [
    Row(0, "usbpool", "UNAVAIL", note="insufficient replicas"),
    Row(2, "/dev/sdj1", "REMOVED"),
], status="One or more devices could not be opened.  There are insufficient\n"
          "\treplicas for the pool to continue functioning.",
   action="Attach the missing device and online it using 'zpool online'.",
   see="https://openzfs.github.io/openzfs-docs/msg/ZFS-8000-3C",
   errors="List of errors unavailable: pool I/O is currently suspended")

ZFS_WITH_CLASSES = pool("nas", "ONLINE", [
    Row(0, "nas", "ONLINE"),
    Row(2, "mirror-0", "ONLINE"),
    Row(4, "/dev/sda1", "ONLINE"),
    Row(4, "/dev/sdb1", "ONLINE"),
    Row(2, "mirror-1", "ONLINE"),
    Row(4, "/dev/sdc1", "ONLINE"),
    Row(4, "/dev/sdd1", "ONLINE"),
    Row(0, "special"),
    Row(2, "mirror-3", "ONLINE"),
    Row(4, "/dev/nvme2n1p1", "ONLINE"),
    Row(4, "/dev/nvme3n1p1", "ONLINE"),
    Row(0, "logs"),
    Row(2, "/dev/nvme0n1p4", "ONLINE"),
    Row(0, "cache"),
    Row(2, "/dev/nvme1n1p4", "ONLINE"),
    Row(0, "spares"),
    Row(2, "/dev/sde1", "AVAIL", counters=None),
    Row(2, "/dev/sdf1", "AVAIL", counters=None),
], scan="scrub in progress since Sun Jan 14 00:24:01 2024\n"
        "\t1.23T scanned at 1.05G/s, 512G issued at 436M/s, 3.45T total\n"
        "\t0B repaired, 14.49% done, 0 days 01:57:40 to go")

# A hot spare taking over: spare-1 groups the failed disk and the spare, the spare shows INUSE in `spares`.
ZFS_SPARE_IN_USE = pool("nas", "DEGRADED", [
    Row(0, "nas", "DEGRADED"),
    Row(2, "mirror-0", "DEGRADED"),
    Row(4, "/dev/sda1", "ONLINE"),
    Row(4, "spare-1", "DEGRADED"),
    Row(6, "/dev/sdb1", "FAULTED", counters=("0", "87", "0"), note="too many errors"),
    Row(6, "/dev/sde1", "ONLINE", note="(resilvering)"),
    Row(0, "spares"),
    Row(2, "/dev/sde1", "INUSE", counters=None, note="currently in use"),
], scan="resilver in progress since Tue Jan 16 03:12:55 2024\n"
        "\t812G scanned at 2.04G/s, 166G issued at 418M/s, 812G total\n"
        "\t166G resilvered, 20.44% done, 0 days 00:26:21 to go")

ZFS_MULTI = ZFS_MIRROR + "\n" + ZFS_RAIDZ2_DEGRADED + "\n" + ZFS_SINGLE

ZFS_NO_POOLS_STDERR = "no pools available\n"
