"""physgap's drive verdict: what warns, what fails, growth against the baseline, and the traps (packed raw
values, CRC errors that are a cable, sleeping or virtual disks that have no verdict)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from collectors.smart.parse import SmartFacts, parse_smartctl_json
from collectors.smart.verdict import (
    NVME_CRITICAL_WARNING_BITS,
    DriveCounters,
    Limits,
    Verdict,
    counters,
    judge,
)
from tests import smart_fixtures as fx


def facts_of(document: dict[str, Any]) -> SmartFacts:
    return parse_smartctl_json(fx.as_json(document))


def verdict_of(document: dict[str, Any], baseline: DriveCounters | None = None, **limits: Any) -> Verdict:
    return judge(facts_of(document), baseline, limits=Limits(**limits))


def test_healthy_drives_are_ok_with_no_evidence() -> None:
    for document in (fx.ATA_HDD_HEALTHY, fx.NVME_HEALTHY):
        assert verdict_of(document) == Verdict(0, ())


def test_pending_sectors_on_a_passed_drive_warn() -> None:
    verdict = verdict_of(fx.ATA_PENDING_PASSED)
    assert verdict.health == 1
    assert "40 pending sectors" in verdict.evidence
    assert "40 offline uncorrectable sectors" in verdict.evidence
    assert "160 reallocated sectors" in verdict.evidence
    assert "3 reported uncorrectable errors" in verdict.evidence


def test_packed_seagate_raw_values_never_become_counts() -> None:
    verdict = verdict_of(fx.ATA_PENDING_PASSED)
    text = " ".join(verdict.evidence)
    for packed in ("51540393996", "12884901888372", "225145600", "188", "Command_Timeout", "Seek_Error"):
        assert packed not in text
    healthy_with_packed = fx.with_attribute(fx.ATA_PENDING_PASSED, 197, raw=0)
    for attr_id in (5, 187, 198):
        healthy_with_packed = fx.with_attribute(healthy_with_packed, attr_id, raw=0)
    assert verdict_of(healthy_with_packed) == Verdict(0, ())


def test_counters_read_the_counted_attributes() -> None:
    assert counters(facts_of(fx.ATA_PENDING_PASSED)) == DriveCounters(
        reallocated=160, pending=40, offline_uncorrectable=40, reported_uncorrect=3, end_to_end=None,
        media_errors=None, grown_defects=None, crc_errors=0, available_spare=None,
    )  # fmt: skip


def test_saturated_raw_is_not_a_count_and_is_noted() -> None:
    """corpus ST3160815AS: 197/198 raw 4294967295 on a PASSED drive."""
    document = fx.with_attribute(fx.ATA_HDD_HEALTHY, 197, raw=0xFFFFFFFF)
    facts = facts_of(document)
    assert counters(facts).pending is None
    verdict = judge(facts, None)
    assert verdict.health == 0
    assert any("4294967295 is not a plausible count" in line for line in verdict.evidence)


def test_raw_string_leading_number_is_the_count() -> None:
    """A drive-database format like raw16(raw16) packs a second field: "5 (0 2)" counts 5, not the word."""
    document = fx.with_attribute(fx.ATA_HDD_HEALTHY, 5, raw=0x0002_0000_0005, raw_string="5 (0 2)")
    assert counters(facts_of(document)).reallocated == 5
    assert "5 reallocated sectors" in verdict_of(document).evidence


def test_growth_since_baseline() -> None:
    facts = facts_of(fx.ATA_PENDING_PASSED)
    baseline = replace(counters(facts), pending=30, reallocated=150)
    verdict = judge(facts, baseline)
    # New unreadable sectors are active decay: failing. More remaps: warning, with the old value shown.
    assert verdict.health == 2
    assert verdict.evidence[0] == "40 pending sectors (was 30)"
    assert "160 reallocated sectors (was 150)" in verdict.evidence


def test_no_growth_keeps_the_absolute_warning_without_was() -> None:
    facts = facts_of(fx.ATA_PENDING_PASSED)
    verdict = judge(facts, counters(facts))
    assert verdict.health == 1
    assert not any("was" in line for line in verdict.evidence)


def test_shrinking_pending_count_is_not_growth() -> None:
    facts = facts_of(fx.ATA_PENDING_PASSED)
    verdict = judge(facts, replace(counters(facts), pending=90))
    assert verdict.health == 1
    assert "40 pending sectors" in verdict.evidence


def test_reallocation_growth_alone_is_a_warning() -> None:
    facts = facts_of(fx.with_attribute(fx.ATA_HDD_HEALTHY, 5, raw=8))
    verdict = judge(facts, replace(counters(facts), reallocated=0))
    assert verdict == Verdict(1, ("8 reallocated sectors (was 0)",))


def test_overall_failed_is_failing() -> None:
    verdict = verdict_of(fx.ATA_FAILED)
    assert verdict.health == 2
    assert verdict.evidence[0] == "SMART overall-health FAILED"
    assert "5 Reallocated_Sector_Ct failing now (1 <= threshold 50)" in verdict.evidence


def test_exit_bit_3_without_smart_status_is_failing() -> None:
    document = fx.variant(fx.ATA_HDD_HEALTHY, smart_status=None)
    document["smartctl"]["exit_status"] = 8
    assert verdict_of(document).health == 2


def test_old_age_attribute_failing_now_warns_and_past_warns() -> None:
    """corpus ST2000DM006: 190 Airflow_Temperature_Cel FAIL=NOW on a PASSED drive (old-age, not a failure)."""
    now = fx.with_attribute(fx.ATA_HDD_HEALTHY, 9, when_failed="now")
    assert verdict_of(now).health == 1
    past = fx.with_attribute(fx.ATA_HDD_HEALTHY, 1, when_failed="past")
    verdict = verdict_of(past)
    assert verdict.health == 1
    assert "1 Raw_Read_Error_Rate was at or below threshold in the past" in verdict.evidence


def test_prefail_attribute_failing_now_on_a_passed_drive_is_failing() -> None:
    document = fx.with_attribute(fx.ATA_HDD_HEALTHY, 1, when_failed="now", value=40)
    assert verdict_of(document).health == 2


def test_self_test_errors_warn_but_error_log_alone_does_not() -> None:
    document = fx.variant(fx.ATA_HDD_HEALTHY)
    document["smartctl"]["exit_status"] = 64
    verdict = verdict_of(document)
    assert verdict.health == 0 and any("error log" in line for line in verdict.evidence)
    document["smartctl"]["exit_status"] = 128
    assert verdict_of(document) == Verdict(1, ("self-test log records errors",))


def test_nvme_critical_warning_and_spare_below_threshold_fail() -> None:
    verdict = verdict_of(fx.NVME_CRITICAL)
    assert verdict.health == 2
    assert "NVMe critical warning: available spare below threshold" in verdict.evidence
    assert "NVMe available spare 4% below threshold 10%" in verdict.evidence
    assert "3 NVMe media and data integrity errors" in verdict.evidence


@pytest.mark.parametrize(("bit", "meaning"), NVME_CRITICAL_WARNING_BITS)
def test_every_nvme_critical_warning_bit_is_named_and_failing(bit: int, meaning: str) -> None:
    verdict = verdict_of(fx.with_nvme_log(fx.NVME_HEALTHY, critical_warning=bit))
    assert verdict.health == 2
    assert f"NVMe critical warning: {meaning}" in verdict.evidence


def test_unknown_nvme_critical_warning_bits_still_fail() -> None:
    verdict = verdict_of(fx.with_nvme_log(fx.NVME_HEALTHY, critical_warning=0x80))
    assert verdict == Verdict(2, ("NVMe critical warning: unknown bits 0x80",))


def test_nvme_wear() -> None:
    worn = verdict_of(fx.NVME_WORN_85)
    assert worn.health == 1 and "NVMe wear 85% of rated endurance used (warning at 80%)" in worn.evidence
    assert verdict_of(fx.with_nvme_log(fx.NVME_HEALTHY, percentage_used=115)).health == 2
    assert verdict_of(fx.with_nvme_log(fx.NVME_HEALTHY, percentage_used=75)).health == 0
    # corpus P4500 at 75 %: SOURCES asks for a configurable warning point
    assert verdict_of(fx.with_nvme_log(fx.NVME_HEALTHY, percentage_used=75), wear_warning=70).health == 1


def test_nvme_media_error_growth_fails_and_spare_drop_warns() -> None:
    facts = facts_of(fx.with_nvme_log(fx.NVME_HEALTHY, media_errors=9, available_spare=79))
    baseline = replace(counters(facts), media_errors=7, available_spare=100)
    verdict = judge(facts, baseline)
    assert verdict.health == 2
    assert verdict.evidence[0] == "9 NVMe media and data integrity errors (was 7)"
    assert "NVMe available spare 79% (was 100%)" in verdict.evidence
    assert judge(facts, replace(baseline, media_errors=9)).health == 1


def test_sas_grown_defects_warn_and_growth_is_noted() -> None:
    verdict = verdict_of(fx.SAS_GROWN_DEFECTS)
    assert verdict == Verdict(1, ("12 grown defects",))
    facts = facts_of(fx.SAS_GROWN_DEFECTS)
    grown = judge(facts, replace(counters(facts), grown_defects=4))
    assert grown == Verdict(1, ("12 grown defects (was 4)",))


def test_sas_uncorrected_errors_warn() -> None:
    document = fx.variant(fx.SAS_GROWN_DEFECTS, scsi_grown_defect_list=0)
    document["scsi_error_counter_log"]["write"]["total_uncorrected_errors"] = 535
    assert verdict_of(document) == Verdict(1, ("535 uncorrected read/write/verify errors",))


@pytest.mark.parametrize(
    ("document", "temperature", "health", "limit"),
    [
        (fx.ATA_HDD_HEALTHY, 54, 0, ""),
        (fx.ATA_HDD_HEALTHY, 55, 1, "HDD warning limit 55 °C"),
        (fx.ATA_HDD_HEALTHY, 66, 2, "HDD limit 65 °C"),
        (fx.variant(fx.ATA_HDD_HEALTHY, rotation_rate=0), 66, 0, ""),
        (fx.variant(fx.ATA_HDD_HEALTHY, rotation_rate=0), 71, 1, "SSD warning limit 70 °C"),
        (fx.NVME_HEALTHY, 80, 0, ""),  # below this drive's own WCTEMP 82
        (fx.NVME_HEALTHY, 83, 1, "NVMe warning limit 82 °C"),
        (fx.NVME_HEALTHY, 85, 2, "NVMe limit 85 °C"),
        (fx.variant(fx.NVME_HEALTHY, nvme_composite_temperature_threshold=None), 76, 1, "NVMe warning limit 75 °C"),
    ],
)  # fmt: skip
def test_temperature_limits_per_class(document: dict[str, Any], temperature: int, health: int, limit: str) -> None:
    verdict = verdict_of(fx.variant(document, temperature={"current": temperature}))
    assert verdict.health == health
    if limit:
        assert any(limit in line for line in verdict.evidence)


def test_crc_errors_are_a_cable_note_and_growth_only_warns() -> None:
    facts = facts_of(fx.with_attribute(fx.ATA_HDD_HEALTHY, 199, raw=3))
    first = judge(facts, None)
    assert first == Verdict(0, ("199 UDMA CRC errors: 3 (cable or backplane, not the disk)",))
    grown = judge(facts_of(fx.with_attribute(fx.ATA_HDD_HEALTHY, 199, raw=3_118_119)), counters(facts))
    assert grown == Verdict(1, ("199 UDMA CRC errors: 3118119 (was 3) (cable or backplane, not the disk)",))


def test_crc_growth_never_fails_a_healthy_disk_and_never_counts_as_media() -> None:
    facts = facts_of(fx.with_attribute(fx.ATA_HDD_HEALTHY, 199, raw=10**9))
    verdict = judge(facts, replace(counters(facts), crc_errors=0))
    assert verdict.health == 1
    assert counters(facts).reallocated == 0 and counters(facts).pending == 0


@pytest.mark.parametrize("name", ["ata_standby", "vm_qemu_disk", "vm_virtio_disk", "raid_volume", "open_failed"])
def test_states_without_a_verdict_raise(name: str) -> None:
    with pytest.raises(ValueError, match="no verdict"):
        judge(facts_of(fx.ALL[name]), None)


def test_baseline_round_trips_through_json() -> None:
    original = counters(facts_of(fx.ATA_PENDING_PASSED))
    assert DriveCounters.from_json(json.loads(json.dumps(original.to_json()))) == original


@pytest.mark.parametrize(
    "data",
    [None, "pending=3", [], {}, {"pending": "3", "reallocated": -1, "crc_errors": True, "media_errors": 2.5, "x": 1}],
)
def test_baseline_from_garbage_is_all_unknown(data: object) -> None:
    assert DriveCounters.from_json(data) == DriveCounters(*([None] * 9))


def test_partial_baseline_keeps_good_values() -> None:
    restored = DriveCounters.from_json({"pending": 4, "grown_defects": "x"})
    assert (restored.pending, restored.grown_defects, restored.reallocated) == (4, None, None)
