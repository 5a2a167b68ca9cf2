"""/proc/mdstat and md sysfs parsing, and the md redundancy rules."""

from __future__ import annotations

import pytest

from collectors.storage.mdstat import (
    MdArray,
    MdMember,
    MdstatParseError,
    MdSync,
    MdSysfs,
    MdSysfsMember,
    md_redundancy,
    merge_sysfs,
    parse_mdstat,
    parse_member_state,
    parse_raid10_copies,
    parse_sync_completed,
)
from tests import storage_fixtures as fx


def only(text: str) -> MdArray:
    arrays = parse_mdstat(text)
    assert len(arrays) == 1
    return arrays[0]


def test_raid1_healthy() -> None:
    array = only(fx.MD_RAID1_HEALTHY)
    assert (array.name, array.level, array.active, array.read_only) == ("md0", "raid1", True, False)
    assert [m.name for m in array.members] == ["sdb1", "sda1"]
    assert [m.descriptor for m in array.members] == [1, 0]
    assert (array.raid_disks, array.working_disks, array.slot_status) == (2, 2, "UU")
    assert array.failed_slots == 0
    assert array.redundancy == 1
    assert not array.degraded
    assert array.sync is None


def test_raid1_degraded_with_faulty_member() -> None:
    array = only(fx.MD_RAID1_DEGRADED)
    assert [m.name for m in array.failed_members] == ["sdb1"]
    assert array.members[0].role == "faulty"
    assert array.failed_slots == 1
    assert array.redundancy == 0
    assert array.degraded


def test_raid1_degraded_after_the_failed_disk_was_removed() -> None:
    # Nothing names the missing disk any more; the slot map still counts it.
    array = only(fx.MD_RAID1_DEGRADED_REMOVED)
    assert array.failed_members == ()
    assert array.failed_slots == 1
    assert array.redundancy == 0
    assert array.degraded


def test_raid5_resync_progress() -> None:
    array = only(fx.MD_RAID5_RESYNC)
    assert array.level == "raid5"
    assert array.sync == MdSync("resync", 42.0)
    assert (array.sync.describe(), array.sync.percent) == ("resync", 42.0)
    assert array.redundancy == 1  # a resync is not a missing member
    assert not array.degraded


def test_raid5_recovery_is_degraded() -> None:
    array = only(fx.MD_RAID5_RECOVERY)
    assert array.sync is not None and (array.sync.describe(), array.sync.percent) == ("recovery", 10.5)
    assert array.failed_slots == 1
    assert array.redundancy == 0
    assert array.degraded


def test_raid0_has_no_redundancy_and_no_slot_map() -> None:
    array = only(fx.MD_RAID0)
    assert array.level == "raid0"
    assert array.raid_disks is None and array.slot_status == ""
    assert [m.name for m in array.members] == ["nvme1n1p1", "nvme0n1p1"]
    assert array.redundancy == 0
    assert not array.degraded


def test_single_member_raid1_has_no_redundancy() -> None:
    array = only(fx.MD_RAID1_SINGLE)
    assert (array.raid_disks, array.slot_status) == (1, "U")
    assert array.redundancy == 0
    assert not array.degraded


def test_raid10_near2_with_a_failed_member() -> None:
    array = only(fx.MD_RAID10_NEAR2_DEGRADED)
    assert array.copies == 2
    assert array.failed_slots == 1
    assert array.redundancy == 0


def test_raid6_spare_and_write_mostly_flags() -> None:
    array = only(fx.MD_RAID6_SPARE_WRITEMOSTLY)
    by_name = {m.name: m for m in array.members}
    assert by_name["sdf1"].hot_spare and by_name["sdf1"].role == "spare"
    assert by_name["sdb1"].write_mostly and by_name["sdb1"].role == "active"
    assert array.redundancy == 2


def test_inactive_array_serves_nothing() -> None:
    array = only(fx.MD_INACTIVE)
    assert (array.active, array.level) == (False, "")
    assert array.redundancy == 0
    assert array.degraded


def test_several_arrays_and_a_delayed_resync() -> None:
    arrays = {a.name: a for a in parse_mdstat(fx.MD_RESYNC_DELAYED)}
    assert arrays["md1"].sync == MdSync("resync", 24.1)
    assert arrays["md0"].sync == MdSync("resync", None, "delayed")
    assert arrays["md0"].sync.describe() == "resync delayed"


def test_imsm_container_is_marked() -> None:
    arrays = {a.name: a for a in parse_mdstat(fx.MD_IMSM)}
    assert arrays["md127"].container
    assert not arrays["md126"].container
    assert arrays["md126"].redundancy == 1


def test_no_arrays() -> None:
    assert parse_mdstat(fx.MD_EMPTY) == ()


def test_truncated_text_keeps_what_was_read() -> None:
    arrays = {a.name: a for a in parse_mdstat(fx.MD_TRUNCATED)}
    assert arrays["md0"].redundancy == 1
    # md1's header survived, its detail line was cut: level known, slot map unknown.
    assert arrays["md1"].level == "raid5"
    assert arrays["md1"].raid_disks is None


def test_truncated_member_token_is_skipped() -> None:
    array = only("Personalities : [raid1]\nmd0 : active raid1 sdb1[1] sda")
    assert [m.name for m in array.members] == ["sdb1"]


def test_truncated_slot_map_is_not_trusted() -> None:
    array = only("Personalities : [raid1]\nmd0 : active raid1 sdb1[1] sda1[0]\n      100 blocks super 1.2 [3/2] [U]\n")
    assert array.slot_status == ""
    assert array.failed_slots == 1  # from [3/2]


@pytest.mark.parametrize("text", ["", "hello world\n", fx.MD_GARBAGE, "md0 is not a header\n"])
def test_text_that_is_not_mdstat_raises(text: str) -> None:
    with pytest.raises(MdstatParseError):
        parse_mdstat(text)


def test_garbage_lines_inside_mdstat_are_skipped() -> None:
    text = fx.MD_RAID1_HEALTHY.replace("unused devices", "\x00\xff junk [[[ ((F)\nunused devices")
    assert only(text).redundancy == 1


@pytest.mark.parametrize(
    ("level", "raid_disks", "failed", "copies", "expected"),
    [
        ("raid1", 2, 0, None, 1),
        ("raid1", 3, 0, None, 2),
        ("raid1", 3, 1, None, 1),
        ("raid1", 2, 1, None, 0),
        ("raid1", 1, 0, None, 0),
        ("raid4", 3, 0, None, 1),
        ("raid5", 4, 0, None, 1),
        ("raid5", 4, 1, None, 0),
        ("raid5", 4, 2, None, 0),
        ("raid6", 5, 0, None, 2),
        ("raid6", 5, 1, None, 1),
        ("raid6", 5, 3, None, 0),
        ("raid10", 4, 0, 2, 1),
        ("raid10", 4, 1, 2, 0),
        ("raid10", 6, 0, 3, 2),
        ("raid10", 6, 1, 3, 1),
        ("raid10", 4, 0, None, 1),
        ("raid0", 2, 0, None, 0),
        ("linear", 2, 0, None, 0),
        ("multipath", 2, 0, None, 0),
        ("something-new", 2, 0, None, 0),
    ],
)
def test_redundancy_rules(level: str, raid_disks: int, failed: int, copies: int | None, expected: int) -> None:
    assert md_redundancy(level, raid_disks, failed, copies) == expected


def test_member_state_flags() -> None:
    state = parse_member_state("in_sync,write_mostly")
    assert state.in_sync and state.write_mostly and not state.faulty
    assert parse_member_state("faulty").faulty
    assert parse_member_state("writemostly").write_mostly
    assert parse_member_state("spare").spare


@pytest.mark.parametrize(
    ("text", "expected"),
    [("820563712 / 1953382400", 42.0), ("none", None), ("delayed", None), ("1 / 0", None), ("x / y", None),
     (None, None), ("5 / 4", 100.0)],
)
def test_sync_completed(text: str | None, expected: float | None) -> None:
    value = parse_sync_completed(text)
    if expected is None:
        assert value is None
    else:
        assert value == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize(("layout", "copies"), [("258", 2), ("513", 2), ("66049", 2), ("259", 3), ("0", None),
                                                ("junk", None), (None, None)])
def test_raid10_layout(layout: str | None, copies: int | None) -> None:
    assert parse_raid10_copies(layout) == copies


def test_sysfs_overrides_mdstat_and_marks_the_rebuilding_member() -> None:
    array = only(fx.MD_RAID5_RECOVERY)
    merged = merge_sysfs("md1", array, MdSysfs(
        level="raid5", raid_disks="4", degraded="1", array_state="active", sync_action="recover",
        sync_completed="205105408 / 1953382400",
        members=(MdSysfsMember("sde", "spare", "3"), MdSysfsMember("sda", "in_sync", "0"),
                 MdSysfsMember("sdb", "in_sync", "1"), MdSysfsMember("sdc", "in_sync", "2")),
    ))
    by_name = {m.name: m for m in merged.members}
    assert by_name["sde"].role == "rebuilding"
    assert not by_name["sde"].hot_spare
    assert merged.sync is not None and (merged.sync.describe(), merged.sync.percent) == ("recovery", 10.5)
    assert merged.degraded_slots == 1
    assert merged.redundancy == 0
    assert merged.array_state == "active"


def test_sysfs_sync_percent_when_mdstat_has_none() -> None:
    base = MdArray(name="md0", active=True, read_only=False, level="raid1", members=(MdMember("sda1"),))
    merged = merge_sysfs("md0", base, MdSysfs(sync_action="check", sync_completed="50 / 200"))
    assert merged.sync == MdSync("check", 25.0)
    idle = merge_sysfs("md0", merged, MdSysfs(sync_action="idle"))
    assert idle.sync is None


def test_sysfs_raid10_layout_gives_copies() -> None:
    merged = merge_sysfs("md4", None, MdSysfs(level="raid10", raid_disks="6", degraded="1", array_state="clean",
                                              layout="259"))
    assert merged.copies == 3
    assert merged.redundancy == 1


def test_sysfs_counts_out_of_range_are_unknown_not_counts() -> None:
    # sysfs degraded -1 is garbage, not "nothing missing": the faulty member decides.
    merged = merge_sysfs("md4", None, MdSysfs(level="raid1", raid_disks="2", degraded="-1", array_state="clean",
                                              members=(MdSysfsMember("sda1", "in_sync", "0"),
                                                       MdSysfsMember("sdb1", "faulty", "-1"))))
    assert merged.failed_slots == 1
    assert merged.redundancy == 0


def test_sysfs_broken_state_has_no_redundancy() -> None:
    array = only(fx.MD_RAID0)
    merged = merge_sysfs("md2", array, MdSysfs(level="raid0", array_state="broken"))
    assert not merged.running
    assert merged.degraded
    assert merged.redundancy == 0


def test_sysfs_only_array() -> None:
    merged = merge_sysfs("md9", None, MdSysfs(level="raid1", raid_disks="2", degraded="0", array_state="clean",
                                              members=(MdSysfsMember("sdx1", "in_sync", "0"),
                                                       MdSysfsMember("sdy1", "in_sync", "1"))))
    assert merged.active and merged.redundancy == 1
    assert [m.name for m in merged.members] == ["sdx1", "sdy1"]
