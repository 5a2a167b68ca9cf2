"""smartctl --json parsing: what each drive state looks like to physgap, and garbage that must not crash it."""

from __future__ import annotations

import json

import pytest

from collectors.smart.parse import (
    ScanEntry,
    SmartParseError,
    drive_identity,
    interpret_exit_status,
    parse_scan,
    parse_smartctl_json,
    serial_identity,
)
from tests import smart_fixtures as fx


def parse(document: dict[str, object]) -> object:
    return parse_smartctl_json(fx.as_json(document))


def test_healthy_ata_hdd_identity_and_readings() -> None:
    facts = parse_smartctl_json(fx.as_json(fx.ATA_HDD_HEALTHY))
    assert facts.state == "read"
    assert (facts.protocol, facts.dev_type, facts.device_name) == ("ATA", "sat", "/dev/sda")
    assert (facts.model, facts.serial, facts.firmware) == ("WDC WD40EFRX-68N32N0", "WD-WCC7K1ABCDEF", "82.00A82")
    # naa 5, oui 5358 = 0x0014ee, id 4660123456 = 0x115c3d740: the form /dev/disk/by-id/wwn-* uses
    assert facts.wwn == "0x50014ee115c3d740"
    assert drive_identity(facts) == "wwn-0x50014ee115c3d740"
    assert facts.capacity_bytes == 4000787030016
    assert facts.rotational is True
    assert facts.smart_passed is True
    assert facts.power_on_seconds == 29210 * 3600
    assert facts.smartctl_version == "7.3"
    assert (facts.standby, facts.open_failed, facts.unsupported, facts.has_data) == (False, False, "", True)


def test_temperature_comes_from_temperature_current_not_packed_attribute_194() -> None:
    facts = parse_smartctl_json(fx.as_json(fx.ATA_HDD_HEALTHY))
    assert facts.attributes[194].raw_value == 193274871839  # packed min/max word
    assert facts.temperature_celsius == 31.0
    without = parse_smartctl_json(fx.as_json(fx.variant(fx.ATA_HDD_HEALTHY, temperature=None)))
    assert without.temperature_celsius is None


def test_attributes_are_read_only_and_keep_raw_words_verbatim() -> None:
    facts = parse_smartctl_json(fx.as_json(fx.ATA_PENDING_PASSED))
    assert facts.attributes[188].raw_value == 0x000C000C000C
    assert facts.attributes[197].raw_string == "8"
    assert facts.attributes[5].prefailure is True and facts.attributes[197].prefailure is False
    with pytest.raises(TypeError):
        facts.attributes[5] = facts.attributes[197]  # type: ignore[index]


@pytest.mark.parametrize(
    ("when_failed", "expected"),
    [("", ""), ("-", ""), ("now", "now"), ("FAILING_NOW", "now"), ("past", "past"), ("In_the_past", "past"),
     ("in_the_past", "past"), ("sometimes", ""), (7, "")],
)  # fmt: skip
def test_when_failed_is_normalised(when_failed: object, expected: str) -> None:
    document = fx.with_attribute(fx.ATA_HDD_HEALTHY, 5, when_failed=when_failed)
    assert parse_smartctl_json(fx.as_json(document)).attributes[5].when_failed == expected


def test_failed_ata_drive() -> None:
    facts = parse_smartctl_json(fx.as_json(fx.ATA_FAILED))
    assert facts.smart_passed is False
    assert facts.exit_status == 24
    assert facts.attributes[5].when_failed == "now"
    assert facts.state == "read"


def test_standby_as_smartctl_73_prints_it_is_not_an_open_failure() -> None:
    facts = parse_smartctl_json(fx.as_json(fx.ATA_STANDBY))
    assert facts.standby is True
    assert facts.open_failed is False
    assert facts.unsupported == ""
    assert facts.has_data is False
    assert facts.state == "standby"
    assert facts.power_mode == "STANDBY"
    assert facts.device_name == "/dev/sdd"
    assert facts.messages == ("Device is in STANDBY mode, exit(2)",)


@pytest.mark.parametrize(
    ("message", "exit_status", "mode"),
    [
        ("Device is in SLEEP mode, exit(2)", 2, "SLEEP"),
        ("Device is in IDLE_A mode, exit(2)", 2, "IDLE_A"),
        ("Device is in STANDBY mode, exit(3)", 3, "STANDBY"),  # -n standby,3: bits 0 and 1, still asleep
        ("Device is in STANDBY BY COMMAND mode, exit(2)", 2, "STANDBY BY COMMAND"),  # SCSI power condition
        ("/dev/sdd: Device is in STANDBY (OS) mode, exit(2)", 2, "STANDBY (OS)"),
    ],
)
def test_every_low_power_message_means_standby(message: str, exit_status: int, mode: str) -> None:
    document = fx.variant(fx.ATA_STANDBY)
    document["smartctl"]["messages"] = [{"string": message, "severity": "information"}]
    document["smartctl"]["exit_status"] = exit_status
    facts = parse_smartctl_json(fx.as_json(document))
    assert (facts.state, facts.power_mode, facts.open_failed) == ("standby", mode, False)


def test_exit_status_3_from_n_standby_3_means_standby_even_without_the_message() -> None:
    document = fx.variant(fx.ATA_STANDBY)
    del document["smartctl"]["messages"]
    document["smartctl"]["exit_status"] = 3
    assert parse_smartctl_json(fx.as_json(document)).state == "standby"
    document["smartctl"]["exit_status"] = 2  # plain exit 2 without a message: an open failure
    assert parse_smartctl_json(fx.as_json(document)).state == "open_failed"


def test_smartctl_75_power_mode_object_alone_means_standby() -> None:
    document = fx.variant(fx.ATA_STANDBY, power_mode={"ata_value": 0, "name": "STANDBY"})
    del document["smartctl"]["messages"]
    assert parse_smartctl_json(fx.as_json(document)).state == "standby"


def test_awake_disk_with_power_mode_is_read_not_standby() -> None:
    document = fx.variant(fx.ATA_HDD_HEALTHY, power_mode={"ata_value": 255, "name": "ACTIVE or IDLE"})
    facts = parse_smartctl_json(fx.as_json(document))
    assert (facts.state, facts.standby) == ("read", False)


def test_open_failure_is_unreadable_not_standby_nor_unsupported() -> None:
    facts = parse_smartctl_json(fx.as_json(fx.OPEN_FAILED))
    assert (facts.open_failed, facts.standby, facts.unsupported, facts.has_data) == (True, False, "", False)
    assert facts.state == "open_failed"


def test_exit_bit_2_with_data_is_a_usable_read() -> None:
    document = fx.variant(fx.ATA_HDD_HEALTHY)
    document["smartctl"]["exit_status"] = 4
    facts = parse_smartctl_json(fx.as_json(document))
    assert (facts.state, facts.open_failed, facts.exit_status) == ("read", False, 4)


def test_nvme_health_log_and_identity() -> None:
    facts = parse_smartctl_json(fx.as_json(fx.NVME_HEALTHY))
    assert facts.protocol == "NVMe"
    assert facts.rotational is False
    assert facts.nvme_eui64 == "0025386000000000"
    assert drive_identity(facts) == "eui-0025386000000000"
    assert facts.nvme is not None
    assert (facts.nvme.critical_warning, facts.nvme.media_errors, facts.nvme.percentage_used) == (0, 0, 2)
    assert (facts.nvme.available_spare, facts.nvme.available_spare_threshold) == (100, 10)
    assert (facts.nvme.warning_temp_celsius, facts.nvme.critical_temp_celsius) == (82, 85)
    assert facts.temperature_celsius == 41.0


def test_nvme_temperature_limits_fall_back_to_temperature_op_limits_and_zero_means_none() -> None:
    document = fx.variant(fx.NVME_HEALTHY, nvme_composite_temperature_threshold=None,
                          temperature={"current": 41, "op_limit_max": 70, "critical_limit_max": 0})  # fmt: skip
    nvme = parse_smartctl_json(fx.as_json(document)).nvme
    assert nvme is not None
    assert (nvme.warning_temp_celsius, nvme.critical_temp_celsius) == (70, None)


def test_nvme_critical_warning_from_log() -> None:
    facts = parse_smartctl_json(fx.as_json(fx.NVME_CRITICAL))
    assert facts.nvme is not None and facts.nvme.critical_warning == 1
    assert facts.smart_passed is False


def test_sas_drive() -> None:
    facts = parse_smartctl_json(fx.as_json(fx.SAS_GROWN_DEFECTS))
    assert (facts.protocol, facts.model, facts.firmware) == ("SCSI", "SEAGATE ST4000NM0023", "GS0F")
    assert facts.wwn == "0x5000c500a1b2c3d4"  # NAA-5 logical unit id
    assert facts.scsi_grown_defects == 12
    assert facts.scsi_uncorrected_errors == 0
    assert facts.power_on_seconds == 40112 * 3600 + 7 * 60
    assert facts.rotational is True


def test_scsi_uncorrected_errors_sum_read_write_verify() -> None:
    document = fx.variant(fx.SAS_GROWN_DEFECTS)
    log = document["scsi_error_counter_log"]
    log["read"]["total_uncorrected_errors"] = 2
    log["write"]["total_uncorrected_errors"] = 5
    log["verify"]["total_uncorrected_errors"] = "lots"  # wrong type: ignored, the rest still counts
    assert parse_smartctl_json(fx.as_json(document)).scsi_uncorrected_errors == 7


@pytest.mark.parametrize(
    ("name", "reason_part"),
    [("vm_qemu_disk", "QEMU"), ("vm_virtio_disk", "vda"), ("raid_volume", "AVAGO MR9361-8i")],
)
def test_vm_disks_and_raid_volumes_are_unsupported_never_failed(name: str, reason_part: str) -> None:
    facts = parse_smartctl_json(fx.as_json(fx.ALL[name]))
    assert facts.state == "unsupported"
    assert reason_part in facts.unsupported
    assert facts.open_failed is False and facts.standby is False


def test_smart_unavailable_and_disabled_are_unsupported() -> None:
    unavailable = fx.variant(fx.ATA_STANDBY, smart_support={"available": False}, model_name="SanDisk Cruzer")
    unavailable["smartctl"] = {"exit_status": 4}
    assert "lacks SMART" in parse_smartctl_json(fx.as_json(unavailable)).unsupported
    disabled = fx.variant(unavailable, smart_support={"available": True, "enabled": False})
    assert "disabled" in parse_smartctl_json(fx.as_json(disabled)).unsupported


def test_info_only_query_is_no_data_and_keeps_identity() -> None:
    document = fx.variant(fx.NVME_HEALTHY, smart_status=None, nvme_smart_health_information_log=None)
    facts = parse_smartctl_json(fx.as_json(document))
    assert facts.state == "no_data"
    assert drive_identity(facts) == "eui-0025386000000000"


def test_document_without_smartctl_block_but_with_device_is_accepted() -> None:
    """scrutiny stored such partial captures (corpus scsi-sas-...-grown-defects-56.json)."""
    document = fx.variant(fx.SAS_GROWN_DEFECTS, smartctl=None, json_format_version=None)
    facts = parse_smartctl_json(fx.as_json(document))
    assert (facts.exit_status, facts.messages, facts.scsi_grown_defects) == (0, (), 12)


def test_stray_text_line_before_the_json_is_tolerated() -> None:
    """smartctl < 7.3 could print "  Pending defect count:" ahead of the document (smartctl_exporter strips it)."""
    facts = parse_smartctl_json("  Pending defect count:\n" + fx.as_json(fx.ATA_HDD_HEALTHY))
    assert facts.serial == "WD-WCC7K1ABCDEF"


def test_bytes_input() -> None:
    assert parse_smartctl_json(fx.as_json(fx.NVME_HEALTHY).encode()).protocol == "NVMe"


@pytest.mark.parametrize(
    "text",
    ["", "   \n", "{", "[]", "null", "42", '"smartctl"', "not json at all", '{"foo": 1}', '{"smartctl": 7}',
     b"\xff\xfe\x00garbage", "[" * 100000],
)  # fmt: skip
def test_garbage_raises_smart_parse_error(text: str | bytes) -> None:
    with pytest.raises(SmartParseError):
        parse_smartctl_json(text)


@pytest.mark.parametrize("name", sorted(fx.ALL))
def test_truncated_documents_raise_smart_parse_error(name: str) -> None:
    text = fx.as_json(fx.ALL[name])
    for cut in (len(text) // 2, len(text) - 2, 1):
        with pytest.raises(SmartParseError):
            parse_smartctl_json(text[:cut])


def test_wrong_types_are_treated_as_absent() -> None:
    document = fx.variant(
        fx.ATA_HDD_HEALTHY,
        model_name=5, serial_number=["x"], wwn={"naa": "5", "oui": 5358, "id": 1}, user_capacity="4 TB",
        rotation_rate="fast", smart_status={"passed": "yes"}, temperature={"current": "hot"},
        power_on_time={"hours": True}, nvme_namespaces="nope", scsi_grown_defect_list=-3,
    )  # fmt: skip
    document["ata_smart_attributes"]["table"] += [
        "junk", {"id": "five"}, {"id": 300, "raw": {"value": 1}}, {"id": 10, "raw": "7", "value": "100"},
    ]
    document["device"] = {"name": 3, "type": None, "protocol": "Fibre"}
    document["smartctl"]["messages"] = [{"string": 7}, "text", {"string": "kept"}]
    facts = parse_smartctl_json(json.dumps(document))
    assert (facts.model, facts.serial, facts.wwn, facts.capacity_bytes) == ("", "", "", None)
    assert (facts.rotational, facts.smart_passed, facts.temperature_celsius, facts.power_on_seconds) == (
        None, None, None, None,
    )  # fmt: skip
    assert (facts.device_name, facts.dev_type, facts.protocol) == ("", "", "")
    assert facts.scsi_grown_defects is None
    assert facts.messages == ("kept",)
    assert 300 not in facts.attributes
    assert facts.attributes[10].raw_value is None and facts.attributes[10].value is None
    assert facts.attributes[5].raw_value == 0  # the good rows survive
    assert facts.has_data  # the attribute table is still data


def test_boolean_exit_status_is_not_a_number() -> None:
    document = fx.variant(fx.ATA_HDD_HEALTHY)
    document["smartctl"]["exit_status"] = True
    assert parse_smartctl_json(json.dumps(document)).exit_status == 0


def test_interpret_exit_status_names_each_bit() -> None:
    assert interpret_exit_status(0) == ()
    phrases = interpret_exit_status(216)  # corpus usb-jmicron: bits 3, 4, 6, 7
    assert len(phrases) == 4
    assert "DISK FAILING" in phrases[0]
    assert "pre-failure attribute" in phrases[1]
    assert "error log" in phrases[2] and "self-test log" in phrases[3]
    assert "low-power" in interpret_exit_status(2)[0]
    assert "partial" in interpret_exit_status(4)[0]
    assert interpret_exit_status(-1) == ()


def test_identity_falls_back_to_sanitised_model_and_serial() -> None:
    document = fx.variant(fx.ATA_HDD_HEALTHY, wwn=None, model_name="WDC  WD40EFRX/68N (x)", serial_number="WD-1 2")
    assert drive_identity(parse_smartctl_json(fx.as_json(document))) == "WDC__WD40EFRX68N_x_WD-1_2"
    no_serial = fx.variant(document, serial_number=None)
    assert drive_identity(parse_smartctl_json(fx.as_json(no_serial))) == ""


def test_wwn_all_zero_is_not_an_identity() -> None:
    document = fx.variant(fx.ATA_HDD_HEALTHY, wwn={"naa": 5, "oui": 0, "id": 0})
    facts = parse_smartctl_json(fx.as_json(document))
    assert facts.wwn == ""
    assert drive_identity(facts) == "WDC_WD40EFRX-68N32N0_WD-WCC7K1ABCDEF"


def test_parse_scan_keeps_megaraid_disks_sharing_one_name() -> None:
    entries = parse_scan(fx.as_json(fx.SCAN))
    assert entries == (
        ScanEntry("/dev/sda", "sat", "ATA"),
        ScanEntry("/dev/nvme0", "nvme", "NVMe"),
        ScanEntry("/dev/bus/0", "megaraid,0", "SCSI"),
        ScanEntry("/dev/bus/0", "megaraid,1", "SCSI"),
    )


def test_parse_scan_drops_duplicates_and_junk_entries() -> None:
    document = fx.variant(fx.SCAN)
    document["devices"] += [document["devices"][0], {"type": "sat"}, "junk", {"name": "/dev/sdx", "type": 4}]
    entries = parse_scan(json.dumps(document))
    assert entries[-1] == ScanEntry("/dev/sdx", "", "")
    assert len(entries) == 5
    assert parse_scan(json.dumps(fx.variant(fx.SCAN, devices=None))) == ()


def test_parse_scan_accepts_text_output() -> None:
    text = (
        "/dev/nvme0 -d nvme # /dev/nvme0, NVMe device\n"
        "/dev/bus/0 -d sat+megaraid,60 # /dev/bus/0 [megaraid_disk_60] [SAT], ATA device\n"
    )
    assert parse_scan(text) == (
        ScanEntry("/dev/nvme0", "nvme", "NVMe"), ScanEntry("/dev/bus/0", "sat+megaraid,60", "ATA"),
    )  # fmt: skip


@pytest.mark.parametrize("text", ["", "{", "[]", "garbage line", '{"devices": []}'])
def test_parse_scan_garbage_raises(text: str) -> None:
    with pytest.raises(SmartParseError):
        parse_scan(text)


# --- plausible ranges: fillers and sign-extended bytes are absent, not readings ---------------------------


@pytest.mark.parametrize(("current", "noted"), [
    (-27, True),  # a sign-extended byte (0xE5): seen exported as -27 °C
    (-273, True),  # 0 K converted to °C
    (255, True),  # SCSI "not available"
    (128, True),  # 0x80 read unsigned
    (10**400, True),  # valid JSON, far beyond a float
    (0, False),  # no sensor (RAID volume, virtual disk): absent without a note
])
def test_implausible_temperatures_are_absent(current: int, noted: bool) -> None:
    facts = parse_smartctl_json(json.dumps(fx.variant(fx.ATA_HDD_HEALTHY, temperature={"current": current})))
    assert facts.temperature_celsius is None
    assert facts.state == "read"  # the rest of the answer is used
    assert bool([n for n in facts.implausible if n.startswith("temperature")]) is noted


def test_temperature_range_edges_are_readings() -> None:
    for current in (1, 125, 24.5):
        facts = parse_smartctl_json(fx.as_json(fx.variant(fx.ATA_HDD_HEALTHY, temperature={"current": current})))
        assert facts.temperature_celsius == float(current)
        assert facts.implausible == ()


def test_non_finite_temperatures_are_absent() -> None:
    for text in ("NaN", "Infinity", "-Infinity"):
        document = fx.as_json(fx.ATA_HDD_HEALTHY).replace('"current": 31', f'"current": {text}')
        assert parse_smartctl_json(document).temperature_celsius is None


def test_out_of_range_nvme_numbers_are_absent_and_named() -> None:
    document = fx.with_nvme_log(fx.NVME_HEALTHY, percentage_used=300, available_spare=101,
                                available_spare_threshold=-1, media_errors=4294967295, temperature=-5)
    document = fx.variant(document, temperature={"current": -5}, power_on_time={"hours": -3120},
                          user_capacity={"bytes": 2**60}, nvme_total_capacity=None,
                          nvme_composite_temperature_threshold={"warning": 300, "critical": 85})
    facts = parse_smartctl_json(fx.as_json(document))
    assert facts.nvme is not None
    assert (facts.nvme.percentage_used, facts.nvme.available_spare, facts.nvme.available_spare_threshold,
            facts.nvme.media_errors) == (None, None, None, None)
    assert (facts.nvme.warning_temp_celsius, facts.nvme.critical_temp_celsius) == (None, 85)
    assert (facts.temperature_celsius, facts.power_on_seconds, facts.capacity_bytes) == (None, None, None)
    assert len(facts.implausible) == 8
    assert "NVMe percentage used 300 outside 0..255" in facts.implausible


def test_a_negative_wwn_field_drops_the_wwn_but_the_serial_identity_is_text_only() -> None:
    """The parser cannot vouch for a WWN with a negative field; the collector keeps the drive's id
    (see test_smart_collector) because serial_identity is built from text alone."""
    facts = parse_smartctl_json(fx.as_json(fx.variant(fx.ATA_HDD_HEALTHY, wwn={"naa": 5, "oui": 5358, "id": -27})))
    assert facts.wwn == ""
    assert drive_identity(facts) == serial_identity(facts.model, facts.serial) == "WDC_WD40EFRX-68N32N0_WD-WCC7K1ABCDEF"
