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
    assert "8 pending sectors" in verdict.evidence
    assert "8 offline uncorrectable sectors" in verdict.evidence
    assert "160 reallocated sectors" in verdict.evidence
    assert "3 reported uncorrectable errors" in verdict.evidence


@pytest.mark.parametrize(
    ("attr_id", "noun"),
    [(197, "pending sectors"), (198, "offline uncorrectable sectors"), (187, "reported uncorrectable errors")],
)
def test_unreadable_data_fails_at_first_sight_from_16(attr_id: int, noun: str) -> None:
    """No baseline (a new host, a wiped state directory): 15 is a warning, 16 fails (Limits.unreadable_failing),
    and the evidence says why."""
    clean = fx.ATA_PENDING_PASSED
    for zeroed in (5, 187, 197, 198):
        clean = fx.with_attribute(clean, zeroed, raw=0)
    below = verdict_of(fx.with_attribute(clean, attr_id, raw=15))
    assert below == Verdict(1, (f"15 {noun}",))
    at = verdict_of(fx.with_attribute(clean, attr_id, raw=16))
    assert at == Verdict(2, (f"16 {noun} (failing from 16)",))
    assert verdict_of(fx.with_attribute(clean, attr_id, raw=16), unreadable_failing=17).health == 1


def test_passed_drive_with_hundreds_of_pending_sectors_fails_without_a_baseline() -> None:
    """corpus ST3000DM001: PASSED with 5592 pending, 5592 offline uncorrectable, 97 reported uncorrect."""
    document = fx.with_attribute(fx.ATA_PENDING_PASSED, 197, raw=5592)
    document = fx.with_attribute(document, 198, raw=5592)
    document = fx.with_attribute(document, 187, raw=97)
    verdict = verdict_of(document)
    assert verdict.health == 2
    assert verdict.evidence[:3] == ("5592 pending sectors (failing from 16)",
                                    "5592 offline uncorrectable sectors (failing from 16)",
                                    "97 reported uncorrectable errors (failing from 16)")
    # With a baseline the growth says more than the size: it names the earlier count.
    facts = facts_of(document)
    assert "5592 pending sectors (was 5000)" in judge(facts, replace(counters(facts), pending=5000)).evidence


def test_size_alone_never_fails_reallocations_end_to_end_or_nvme_media_errors() -> None:
    """Remaps succeeded (corpus: 304 and 387 reallocated sectors on PASSED drives, WARN); end-to-end and NVMe
    media errors are events without published failure statistics (corpus: 1421 media errors, WARN)."""
    assert verdict_of(fx.with_attribute(fx.ATA_HDD_HEALTHY, 5, raw=5000)) == Verdict(1, ("5000 reallocated sectors",))
    assert verdict_of(fx.with_nvme_log(fx.NVME_HEALTHY, media_errors=1421)) == Verdict(
        1, ("1421 NVMe media and data integrity errors",))


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
        reallocated=160, pending=8, offline_uncorrectable=8, reported_uncorrect=3, end_to_end=None,
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
    baseline = replace(counters(facts), pending=3, reallocated=150)
    verdict = judge(facts, baseline)
    # New unreadable sectors are active decay: failing, also below the first-sight size. More remaps: warning,
    # with the old value shown.
    assert verdict.health == 2
    assert verdict.evidence[0] == "8 pending sectors (was 3)"
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
    assert "8 pending sectors" in verdict.evidence


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
    assert worn == Verdict(1, ("wear 85% of rated endurance used, from NVMe percentage used (warning at 75%)",))
    assert verdict_of(fx.with_nvme_log(fx.NVME_HEALTHY, percentage_used=115)).health == 2
    assert verdict_of(fx.with_nvme_log(fx.NVME_HEALTHY, percentage_used=74)).health == 0
    # corpus P4500 at 75 %: SOURCES asks for a warning at a configurable point
    assert verdict_of(fx.with_nvme_log(fx.NVME_HEALTHY, percentage_used=75)).health == 1
    assert verdict_of(fx.with_nvme_log(fx.NVME_HEALTHY, percentage_used=75), wear_warning=80).health == 0


@pytest.mark.parametrize(
    ("document", "used", "source"),
    [
        (fx.ATA_SSD_INTEL_WORN, 86, "233 Media_Wearout_Indicator normalized 14"),
        (fx.ATA_SSD_SAMSUNG_DEVSTAT, 19, "ATA device statistics (percentage used endurance indicator)"),
        (fx.ATA_SSD_SANDFORCE, 3, "231 SSD_Life_Left normalized 97"),
        (fx.SAS_SSD_WORN, 82, "SCSI percentage used endurance indicator"),
        (fx.NVME_WORN_85, 85, "NVMe percentage used"),
    ],
)  # fmt: skip
def test_sata_and_sas_ssd_wear_is_judged_like_nvme(document: dict[str, Any], used: int, source: str) -> None:
    facts = facts_of(document)
    assert facts.wear is not None and (facts.wear.percent_used, facts.wear.source) == (used, source)
    verdict = judge(facts, None)
    if used >= 75:
        assert verdict == Verdict(1, (f"wear {used}% of rated endurance used, from {source} (warning at 75%)",))
    else:
        assert verdict == Verdict(0, ())
    assert judge(facts, None, limits=Limits(wear_failing=used)).health == 2


@pytest.mark.parametrize(
    ("attr_id", "name", "value", "raw", "used"),
    [
        (169, "Remaining_Lifetime_Perc", 100, 96, 4),  # Silicon Motion: raw remaining, normalized stuck at 100
        (202, "Percent_Lifetime_Remain", 99, 1, 1),  # Micron: raw = percent USED despite the name
        (202, "Perc_Rated_Life_Used", 1, 355, 355),  # Crucial m4 worn out: raw goes past 100
        (231, "SSD_Life_Left", 40, 0, 60),
        (233, "Media_Wearout_Indicator", 1, 0, 99),
        (177, "Wear_Leveling_Count", 90, 1773, 10),  # Samsung: raw is P/E cycles, not a percentage
    ],
)  # fmt: skip
def test_each_vendor_wear_convention(attr_id: int, name: str, value: int, raw: int, used: int) -> None:
    row = {"id": attr_id, "name": name, "value": value, "worst": value, "thresh": 0, "when_failed": "",
           "flags": {"value": 50, "prefailure": False}, "raw": {"value": raw, "string": str(raw)}}
    document = fx.variant(fx.ATA_SSD_INTEL_WORN, ata_smart_attributes={"revision": 1, "table": [row]})
    wear = facts_of(document).wear
    assert wear is not None and wear.percent_used == used


def test_vendor_wear_names_are_trusted_only_from_the_drive_database_and_on_ssds() -> None:
    """Not in smartctl's database, attribute names are its generic defaults (corpus P3-2TB); a spinning drive
    has no wear attribute; Silicon Motion's 177 never moves. None of those is a wear reading."""
    for document in (
        fx.variant(fx.ATA_SSD_INTEL_WORN, in_smartctl_database=False),
        fx.variant(fx.ATA_SSD_INTEL_WORN, in_smartctl_database=None, model_family=None),
        fx.variant(fx.ATA_SSD_INTEL_WORN, rotation_rate=7200),
        fx.variant(fx.ATA_SSD_SAMSUNG_DEVSTAT, ata_device_statistics=None, model_family="Silicon Motion based SSDs"),
    ):
        facts = facts_of(document)
        assert facts.wear is None, facts.wear
        assert not any("rated endurance" in line for line in judge(facts, None).evidence)
    # smartctl < 7.0 JSON has no in_smartctl_database: a model family is shown only for known drives.
    assert facts_of(fx.variant(fx.ATA_SSD_INTEL_WORN, in_smartctl_database=None)).wear is not None


def test_device_statistics_need_the_valid_flag_and_smartctl_75_endurance_used_counts_too() -> None:
    invalid = fx.variant(fx.ATA_SSD_SAMSUNG_DEVSTAT)
    invalid["ata_device_statistics"]["pages"][1]["table"][0]["flags"]["valid"] = False
    invalid["ata_smart_attributes"]["table"] = []
    assert facts_of(invalid).wear is None
    summarised = fx.variant(fx.ATA_SSD_SAMSUNG_DEVSTAT, ata_device_statistics=None, ata_smart_attributes=None,
                            endurance_used={"current_percent": 91})
    wear = facts_of(summarised).wear
    assert wear is not None and (wear.percent_used, wear.source) == (91, "smartctl endurance_used")


@pytest.mark.parametrize("bad", [256, -1, "80", True, 12.5])
def test_implausible_wear_values_are_not_readings(bad: object) -> None:
    for document in (fx.variant(fx.SAS_SSD_WORN, scsi_percentage_used_endurance_indicator=bad),
                     fx.variant(fx.ATA_SSD_SAMSUNG_DEVSTAT, ata_smart_attributes=None,
                                endurance_used={"current_percent": bad}, ata_device_statistics=None)):
        assert facts_of(document).wear is None
    over = fx.with_attribute(fx.ATA_SSD_INTEL_WORN, 233, value=140)  # another scale than "percent remaining"
    facts = facts_of(over)
    assert facts.wear is None and any("233 Media_Wearout_Indicator life remaining 140" in n for n in facts.implausible)


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


def test_sas_uncorrected_errors_warn_at_any_size_and_fail_when_they_grow() -> None:
    """corpus ST373453LC: read 1 / write 535 uncorrected, WARN; errors, not sectors, so no size limit."""
    document = fx.variant(fx.SAS_GROWN_DEFECTS, scsi_grown_defect_list=0)
    document["scsi_error_counter_log"]["read"]["total_uncorrected_errors"] = 1
    document["scsi_error_counter_log"]["write"]["total_uncorrected_errors"] = 535
    assert verdict_of(document) == Verdict(1, ("536 uncorrected read/write/verify errors (read 1, write 535)",))
    facts = facts_of(document)
    grown = judge(facts, replace(counters(facts), reported_uncorrect=530))
    assert grown == Verdict(2, ("536 uncorrected read/write/verify errors (read 1, write 535) (was 530)",))


def test_sas_grown_defect_growth_and_uncorrected_growth_together() -> None:
    """Like ATA 5 and 187: more grown defects warn, more uncorrected errors fail; the worst comes first."""
    document = fx.variant(fx.SAS_GROWN_DEFECTS, scsi_grown_defect_list=20)
    document["scsi_error_counter_log"]["verify"]["total_uncorrected_errors"] = 2
    facts = facts_of(document)
    verdict = judge(facts, replace(counters(facts), grown_defects=12, reported_uncorrect=0))
    assert verdict == Verdict(2, ("2 uncorrected read/write/verify errors (verify 2) (was 0)",
                                  "20 grown defects (was 12)"))


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
