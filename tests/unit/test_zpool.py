"""`zpool status -P -L` parsing and the ZFS redundancy rules."""

from __future__ import annotations

import pytest

from collectors.storage.zpool import VdevNode, Zpool, ZpoolParseError, parse_scan, parse_zpool_status, vdev_redundancy
from tests import storage_fixtures as fx


def only(text: str) -> Zpool:
    pools = parse_zpool_status(text)
    assert len(pools) == 1
    return pools[0]


def paths(nodes: tuple[VdevNode, ...]) -> list[str]:
    return [node.device_path for node in nodes]


def test_mirror_pool() -> None:
    pool = only(fx.ZFS_MIRROR)
    assert (pool.name, pool.state, pool.level) == ("rpool", "ONLINE", "mirror")
    assert [v.name for v in pool.vdevs] == ["mirror-0"]
    assert pool.vdevs[0].kind == "mirror"
    assert paths(pool.members) == ["/dev/nvme0n1p3", "/dev/nvme1n1p3"]
    assert pool.redundancy == 1
    assert not pool.degraded
    assert pool.scan is not None and not pool.scan.in_progress and pool.scan.describe() == ""


def test_raidz2_with_an_unavailable_disk() -> None:
    pool = only(fx.ZFS_RAIDZ2_DEGRADED)
    assert pool.level == "raidz2"
    vdev = pool.vdevs[0]
    assert (vdev.kind, vdev.parity, vdev.state) == ("raidz", 2, "DEGRADED")
    missing = vdev.children[2]
    assert missing.name == "4829105738271935821"
    assert missing.state == "UNAVAIL"
    assert missing.device_path == "/dev/disk/by-id/ata-WDC_WD80EFZZ-68BTXN0_WD-CA0XXXXX-part1"
    assert paths(pool.failed_members) == [missing.device_path]
    assert len(pool.members) == 6
    assert pool.redundancy == 1
    assert pool.degraded
    assert "label is missing" in pool.status


def test_raidz2_faulted_disk_and_resilver_progress() -> None:
    pool = only(fx.ZFS_RAIDZ2_FAULTED_DISK)
    assert paths(pool.failed_members) == ["/dev/sdc1"]
    assert pool.vdevs[0].children[2].note == "too many errors"
    assert pool.redundancy == 1
    assert pool.scan is not None
    assert (pool.scan.action, pool.scan.in_progress, pool.scan.percent) == ("resilver", True, 42.10)
    assert (pool.scan.describe(), pool.scan.percent) == ("resilver", 42.1)


def test_single_disk_pool() -> None:
    pool = only(fx.ZFS_SINGLE)
    assert pool.level == "single"
    assert pool.vdevs[0].kind == "disk"
    assert pool.redundancy == 0
    assert not pool.degraded


def test_stripe_pool() -> None:
    pool = only(fx.ZFS_STRIPE)
    assert pool.level == "stripe"
    assert pool.redundancy == 0


def test_faulted_pool_has_no_redundancy() -> None:
    pool = only(fx.ZFS_FAULTED)
    assert pool.state == "FAULTED"
    assert pool.redundancy == 0
    assert pool.degraded
    assert pool.errors.startswith("List of errors unavailable")


def test_unavailable_pool() -> None:
    pool = only(fx.ZFS_UNAVAIL)
    assert pool.state == "UNAVAIL"
    assert paths(pool.failed_members) == ["/dev/sdj1"]
    assert pool.redundancy == 0


def test_classes_logs_cache_and_spares() -> None:
    pool = only(fx.ZFS_WITH_CLASSES)
    assert [v.name for v in pool.vdevs] == ["mirror-0", "mirror-1"]
    assert [v.name for v in pool.special] == ["mirror-3"]
    assert paths(pool.logs) == ["/dev/nvme0n1p4"]
    assert paths(pool.cache) == ["/dev/nvme1n1p4"]
    assert paths(pool.spares) == ["/dev/sde1", "/dev/sdf1"]
    assert [s.state for s in pool.spares] == ["AVAIL", "AVAIL"]
    # Data redundancy covers normal + special vdevs; log, cache and spare devices are not members.
    assert paths(pool.members) == ["/dev/sda1", "/dev/sdb1", "/dev/sdc1", "/dev/sdd1", "/dev/nvme2n1p1",
                                   "/dev/nvme3n1p1"]
    assert pool.level == "mirror"
    assert pool.redundancy == 1
    assert pool.scan is not None and (pool.scan.describe(), pool.scan.percent) == ("scrub", 14.49)


def test_special_vdev_without_redundancy_limits_the_pool() -> None:
    text = fx.pool("nas", "ONLINE", [
        fx.Row(0, "nas", "ONLINE"),
        fx.Row(2, "raidz2-0", "ONLINE"),
        *[fx.Row(4, f"/dev/sd{c}1", "ONLINE") for c in "abcd"],
        fx.Row(0, "special"),
        fx.Row(2, "/dev/nvme2n1p1", "ONLINE"),
    ])
    pool = only(text)
    assert pool.vdevs[0].redundancy == 2
    assert pool.redundancy == 0


def test_a_failed_log_or_cache_device_does_not_reduce_data_redundancy() -> None:
    text = fx.pool("nas", "DEGRADED", [
        fx.Row(0, "nas", "DEGRADED"),
        fx.Row(2, "mirror-0", "ONLINE"),
        fx.Row(4, "/dev/sda1", "ONLINE"),
        fx.Row(4, "/dev/sdb1", "ONLINE"),
        fx.Row(0, "logs"),
        fx.Row(2, "/dev/nvme0n1p4", "FAULTED", note="too many errors"),
        fx.Row(0, "cache"),
        fx.Row(2, "/dev/nvme1n1p4", "REMOVED"),
    ])
    pool = only(text)
    assert pool.redundancy == 1
    assert pool.failed_members == ()
    assert pool.degraded  # the pool itself says DEGRADED


def test_hot_spare_in_use_is_counted_conservatively() -> None:
    pool = only(fx.ZFS_SPARE_IN_USE)
    mirror = pool.vdevs[0]
    assert [c.kind for c in mirror.children] == ["disk", "spare"]
    assert paths(pool.members) == ["/dev/sda1", "/dev/sdb1", "/dev/sde1"]
    assert paths(pool.failed_members) == ["/dev/sdb1"]
    assert pool.redundancy == 0  # spare-1 is DEGRADED until the failed disk is detached
    assert [s.state for s in pool.spares] == ["INUSE"]
    assert pool.scan is not None and (pool.scan.describe(), pool.scan.percent) == ("resilver", 20.44)


def test_several_pools() -> None:
    pools = parse_zpool_status(fx.ZFS_MULTI)
    assert [(p.name, p.redundancy) for p in pools] == [("rpool", 1), ("tank", 1), ("backup", 0)]


@pytest.mark.parametrize("text", ["", "\n", "no pools available\n"])
def test_no_pools(text: str) -> None:
    assert parse_zpool_status(text) == ()


@pytest.mark.parametrize("text", ["hello\n", "cannot open 'x': no such pool\n", "\x00\xff\x01garbage",
                                  "NAME STATE\n\ttank ONLINE\n"])
def test_not_zpool_output(text: str) -> None:
    with pytest.raises(ZpoolParseError):
        parse_zpool_status(text)


def test_truncated_output_keeps_what_was_read() -> None:
    text = fx.ZFS_RAIDZ2_DEGRADED
    cut = text[: text.index("/dev/sde1")]
    pool = only(cut)
    assert pool.state == "DEGRADED"
    assert len(pool.members) == 4  # sda1, sdb1, the missing disk, sdd1
    assert pool.redundancy == 1


def test_truncated_before_config() -> None:
    pool = only("  pool: tank\n state: ONLINE\n")
    assert pool.vdevs == ()
    assert pool.redundancy == 0  # nothing shows it is redundant


def test_ansi_colours_and_space_indentation_are_tolerated() -> None:
    text = fx.ZFS_RAIDZ2_FAULTED_DISK.replace("FAULTED     12", "\x1b[0;31mFAULTED\x1b[0m     12").expandtabs(8)
    pool = only(text)
    assert paths(pool.failed_members) == ["/dev/sdc1"]
    assert pool.vdevs[0].parity == 2


def test_draid_and_distributed_spare() -> None:
    text = fx.pool("big", "DEGRADED", [
        fx.Row(0, "big", "DEGRADED"),
        fx.Row(2, "draid2:4d:8c:1s-0", "DEGRADED"),
        fx.Row(4, "/dev/sda1", "ONLINE"),
        fx.Row(4, "spare-1", "DEGRADED"),
        fx.Row(6, "/dev/sdb1", "FAULTED", note="too many errors"),
        fx.Row(6, "draid2-0-0", "ONLINE"),
        *[fx.Row(4, f"/dev/sd{c}1", "ONLINE") for c in "cdefgh"],
        fx.Row(0, "spares"),
        fx.Row(2, "draid2-0-0", "INUSE", counters=None, note="currently in use"),
    ])
    pool = only(text)
    vdev = pool.vdevs[0]
    assert (vdev.kind, vdev.parity) == ("draid", 2)
    assert pool.level == "draid2"
    assert "draid2-0-0" not in paths(pool.members)
    assert pool.redundancy == 1


def test_scan_lines() -> None:
    paused = parse_scan(["scrub paused since Sun Jan 14 00:24:01 2024",
                         "\tscrub started on Sun Jan 14 00:20:00 2024",
                         "\t1.23T scanned, 512G issued, 3.45T total", "\t0B repaired, 14.49% done"])
    assert paused.paused and paused.describe() == "scrub paused"
    done = parse_scan(["resilvered 1.52T in 05:12:10 with 0 errors on Mon Jan 15 15:14:21 2024"])
    assert (done.action, done.in_progress, done.describe()) == ("resilver", False, "")
    none = parse_scan(["none requested"])
    assert (none.action, none.describe()) == ("", "")
    # OpenZFS 2.2 layout and a sequential (dRAID) rebuild line.
    new = parse_scan(["resilver (draid2:4d:8c:1s-0) in progress since Mon Jan 15 10:02:11 2024",
                      "\t1.1T / 3.5T scanned at 1.2G/s, 1.0T / 3.5T issued at 1.1G/s",
                      "\t360G resilvered, 29.71% done, 00:38:02 to go"])
    assert (new.describe(), new.percent) == ("resilver", 29.71)
    no_percent = parse_scan(["scrub in progress since Sun Jan 14 00:24:01 2024"])
    assert no_percent.describe() == "scrub"


@pytest.mark.parametrize(
    ("name", "states", "expected"),
    [
        ("mirror-0", ["ONLINE", "ONLINE"], 1),
        ("mirror-0", ["ONLINE", "ONLINE", "ONLINE"], 2),
        ("mirror-0", ["ONLINE", "FAULTED"], 0),
        ("mirror-0", ["ONLINE", "OFFLINE", "ONLINE"], 1),
        ("raidz1-0", ["ONLINE"] * 4, 1),
        ("raidz1-0", ["ONLINE", "ONLINE", "UNAVAIL"], 0),
        ("raidz2-0", ["ONLINE"] * 6, 2),
        ("raidz2-0", ["ONLINE"] * 5 + ["REMOVED"], 1),
        ("raidz3-0", ["ONLINE"] * 6 + ["FAULTED"], 2),
        ("raidz2-0", ["FAULTED", "FAULTED", "FAULTED", "ONLINE"], 0),
        ("raidz-0", ["ONLINE"] * 3, 1),
        ("mirror-0", ["ONLINE", "DEGRADED"], 0),
    ],
)
def test_vdev_redundancy(name: str, states: list[str], expected: int) -> None:
    children = tuple(VdevNode(f"/dev/sd{chr(97 + i)}1", state) for i, state in enumerate(states))
    vdev_state = "ONLINE" if all(s == "ONLINE" for s in states) else "DEGRADED"
    assert vdev_redundancy(VdevNode(name, vdev_state, children)) == expected


def test_down_top_level_vdev_and_plain_disk() -> None:
    assert vdev_redundancy(VdevNode("mirror-0", "UNAVAIL", (VdevNode("/dev/sda1", "ONLINE"),))) == 0
    assert vdev_redundancy(VdevNode("/dev/sda1", "ONLINE")) == 0


def test_pool_redundancy_is_the_minimum_over_data_vdevs() -> None:
    text = fx.pool("tank", "DEGRADED", [
        fx.Row(0, "tank", "DEGRADED"),
        fx.Row(2, "raidz2-0", "ONLINE"),
        *[fx.Row(4, f"/dev/sd{c}1", "ONLINE") for c in "abcd"],
        fx.Row(2, "mirror-1", "DEGRADED"),
        fx.Row(4, "/dev/sde1", "ONLINE"),
        fx.Row(4, "/dev/sdf1", "OFFLINE"),
    ])
    pool = only(text)
    assert pool.level == "raidz2+mirror"
    assert pool.redundancy == 0


def test_spare_log_and_cache_devices_are_listed_apart_from_members() -> None:
    pool = only(fx.ZFS_WITH_CLASSES)
    assert paths(pool.spare_devices) == ["/dev/sde1", "/dev/sdf1"]
    assert paths(pool.log_devices) == ["/dev/nvme0n1p4"]
    assert paths(pool.cache_devices) == ["/dev/nvme1n1p4"]
    assert pool.log_redundancy == 0  # a single SLOG device
    assert not set(paths(pool.members)) & {"/dev/sde1", "/dev/sdf1", "/dev/nvme0n1p4", "/dev/nvme1n1p4"}


def test_mirrored_log_survives_one_failure_and_an_in_use_spare_is_both() -> None:
    text = fx.pool("nas", "ONLINE", [
        fx.Row(0, "nas", "ONLINE"),
        fx.Row(2, "mirror-0", "ONLINE"),
        fx.Row(4, "/dev/sda1", "ONLINE"),
        fx.Row(4, "/dev/sdb1", "ONLINE"),
        fx.Row(0, "logs"),
        fx.Row(2, "mirror-1", "ONLINE"),
        fx.Row(4, "/dev/nvme0n1p4", "ONLINE"),
        fx.Row(4, "/dev/nvme1n1p4", "ONLINE"),
    ])
    pool = only(text)
    assert paths(pool.log_devices) == ["/dev/nvme0n1p4", "/dev/nvme1n1p4"]
    assert pool.log_redundancy == 1
    in_use = only(fx.ZFS_SPARE_IN_USE)
    assert paths(in_use.spare_devices) == ["/dev/sde1"] and "/dev/sde1" in paths(in_use.members)
