"""The pure SNMP UPS mapping: MIB units, enums, range checks. No agent, no pysnmp.

The project's own recordings (tests/snmp_data) are read here with a small snmprec reader, so the values the
integration tests serve through snmpsim are also checked without the network. They are written after real
agents: the APC ones after AP9631/AP9635 cards, `cyberpower-cps*` after LibreNMS' CP1000PFCLCD capture
(../shared/corpus/snmp, CPS-MIB only), `apc-symmetra-px-3ph` after PowerNet's upsPhase tables as NUT's
apc-mib.c and LibreNMS read them (no public Symmetra PX walk exists), `ups-mib-source-other-onbattery` after the
generic net-snmp based cards that answer upsOutputSource other(1).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.kit.snmp import clean_text
from collectors.model.readings import UPS_FLAGS
from collectors.ups.snmp import (
    APC_ADV_BATTERY_CAPACITY,
    APC_ADV_BATTERY_RUNTIME,
    APC_ADV_OUTPUT_LOAD,
    APC_BASIC_OUTPUT_STATUS,
    APC_HP_BATTERY_CAPACITY,
    APC_HP_OUTPUT_LOAD,
    APC_PHASE_INPUT_VOLTAGE,
    APC_PHASE_NUM_INPUT_PHASES,
    CPS,
    POWERNET,
    UPS_ALARM_DESCR,
    UPS_ALARMS_PRESENT,
    UPS_BATTERY_STATUS,
    UPS_ESTIMATED_CHARGE_REMAINING,
    UPS_ESTIMATED_MINUTES_REMAINING,
    UPS_IDENT_MANUFACTURER,
    UPS_IDENT_MODEL,
    UPS_INPUT_NUM_LINES,
    UPS_INPUT_VOLTAGE,
    UPS_MIB,
    UPS_OUTPUT_NUM_LINES,
    UPS_OUTPUT_PERCENT_LOAD,
    UPS_OUTPUT_SOURCE,
    UPS_OUTPUT_VOLTAGE,
    UPS_SECONDS_ON_BATTERY,
    UPS_WELL_KNOWN_ALARMS,
    Value,
    cps_flags,
    detect_mib,
    down,
    map_cps,
    map_powernet,
    map_ups_mib,
    map_values,
    minutes_to_seconds,
    powernet_flags,
    timeticks_to_seconds,
    ups_mib_flags,
    well_known_alarm_ids,
)
from tests.snmprec import read_snmprec

DATA = Path(__file__).resolve().parents[1] / "snmp_data"


def eaton_93e() -> dict[str, Value]:
    """The RFC 1628 part of snmpsim-data's UPS/eaton-93e-80 recording: three phases."""
    return {
        UPS_IDENT_MANUFACTURER: "EATON", UPS_IDENT_MODEL: "EATON 93E 80",
        UPS_BATTERY_STATUS: 2, UPS_ESTIMATED_MINUTES_REMAINING: 1092, UPS_ESTIMATED_CHARGE_REMAINING: 100,
        UPS_INPUT_NUM_LINES: 3, UPS_OUTPUT_NUM_LINES: 3,
        f"{UPS_INPUT_VOLTAGE}.1": 227, f"{UPS_INPUT_VOLTAGE}.2": 227, f"{UPS_INPUT_VOLTAGE}.3": 233,
        UPS_OUTPUT_SOURCE: 3,
        f"{UPS_OUTPUT_VOLTAGE}.1": 220, f"{UPS_OUTPUT_VOLTAGE}.2": 220, f"{UPS_OUTPUT_VOLTAGE}.3": 220,
        f"{UPS_OUTPUT_PERCENT_LOAD}.1": 21, f"{UPS_OUTPUT_PERCENT_LOAD}.2": 16, f"{UPS_OUTPUT_PERCENT_LOAD}.3": 12,
        UPS_ALARMS_PRESENT: 0,
    }


# --- units ---

def test_runtime_units() -> None:
    assert minutes_to_seconds(1092) == 65520  # UPS-MIB: minutes
    assert timeticks_to_seconds(252000) == 2520  # PowerNet: hundredths of a second


def test_clean_text_strips_padding_and_survives_bad_bytes() -> None:
    assert clean_text(b"Array-3A3     ") == "Array-3A3"
    assert clean_text(b"EAST\x00\x00") == "EAST"
    assert clean_text(b"\xffUPS") == "\ufffdUPS"


# --- MIB detection and flags ---

def test_detect_mib() -> None:
    assert detect_mib({APC_BASIC_OUTPUT_STATUS: 2, UPS_OUTPUT_SOURCE: 3}) == POWERNET  # APC cards can speak both
    assert detect_mib({UPS_OUTPUT_SOURCE: 3}) == UPS_MIB
    # CyberPower cards answer upsIdentManufacturer "CPS" and nothing else of UPS-MIB (LibreNMS' capture)
    assert detect_mib({"1.3.6.1.4.1.3808.1.1.1.4.1.1.0": 2, UPS_IDENT_MANUFACTURER: "CPS"}) == CPS
    assert detect_mib({UPS_BATTERY_STATUS: 2}) == UPS_MIB
    assert detect_mib({}) is None
    assert detect_mib({UPS_OUTPUT_SOURCE: "normal"}) is None


@pytest.mark.parametrize(("source", "flags"), [
    (1, ()), (2, ("OFF",)), (3, ("OL",)), (4, ("OL", "BYPASS")), (5, ("OB",)), (6, ("OL", "BOOST")),
    (7, ("OL", "TRIM")), (42, ()), (None, ()),
])
def test_ups_mib_output_source(source: int | None, flags: tuple[str, ...]) -> None:
    assert ups_mib_flags(source, 2) == flags


@pytest.mark.parametrize(("status", "low"), [(1, False), (2, False), (3, True), (4, True)])
def test_ups_mib_battery_status(status: int, low: bool) -> None:
    assert ("LB" in ups_mib_flags(5, status)) is low


def test_ups_mib_alarms() -> None:
    assert ups_mib_flags(3, 2, alarms_present=0) == ("OL",)
    assert ups_mib_flags(3, 2, alarms_present=1) == ("OL", "ALARM")
    # battery bad -> RB, output overload -> OVER, temperature bad has no flag of its own
    assert ups_mib_flags(3, 2, alarms_present=3, alarm_ids=[1, 8, 5]) == ("OL", "RB", "OVER", "ALARM")


@pytest.mark.parametrize(("status", "flags"), [
    (1, ()), (2, ("OL",)), (3, ("OB",)), (4, ("OL", "BOOST")), (5, ("OFF",)), (7, ("OFF",)), (8, ()),
    (9, ("OL", "BYPASS")), (10, ("OL", "BYPASS")), (11, ("OFF",)), (12, ("OL", "TRIM")), (15, ("OB",)),
    (99, ()),
])
def test_powernet_output_status(status: int, flags: tuple[str, ...]) -> None:
    assert powernet_flags(status, 2) == flags


def _every_flag_combination() -> list[tuple[str, ...]]:
    """Every flag tuple the two mappings produce, over all documented enum values and alarms."""
    combos = [ups_mib_flags(source, battery, alarms_present=1, alarm_ids=[alarm])
              for source in range(1, 8) for battery in range(1, 5) for alarm in range(1, 25)]
    combos += [ups_mib_flags(source, battery, alarms_present=24, alarm_ids=list(range(1, 25)))
               for source in range(1, 8) for battery in range(1, 5)]
    combos += [powernet_flags(status, battery, replace, calibration)
               for status in range(1, 27) for battery in range(1, 6) for replace in (1, 2) for calibration in (1, 3)]
    return combos


def test_snmp_flags_are_nut_flags_in_nut_order() -> None:
    # Each flag then gets its explicit 0/1 series like a NUT UPS's, and "OL LB" reads the same from both sources.
    for flags in _every_flag_combination():
        assert set(flags) <= set(UPS_FLAGS), flags
        assert list(flags) == sorted(flags, key=UPS_FLAGS.index), flags


def test_powernet_battery_flags() -> None:
    assert powernet_flags(3, 3) == ("OB", "LB")
    assert powernet_flags(2, 2, replace_indicator=2) == ("OL", "RB")
    assert powernet_flags(2, 2, replace_indicator=1) == ("OL",)
    assert powernet_flags(2, 2, calibration=3) == ("OL", "CAL")
    assert powernet_flags(2, 4) == ("OL", "ALARM")  # batteryInFaultCondition
    assert powernet_flags(3, 3, replace_indicator=2) == ("OB", "LB", "RB")


# --- UPS-MIB mapping ---

@pytest.mark.parametrize(("seconds", "alarms", "flags"), [
    (95, (), ("OB",)),  # counting time on battery
    (0, (2,), ("OB", "ALARM")),  # upsAlarmOnBattery, whatever the counter says
    (None, (2,), ("OB", "ALARM")),
    (0, (14,), ("OFF", "ALARM")),  # upsAlarmUpsOutputOff
    (0, (), ("OL",)),  # RFC 1628: zero seconds on battery means not on battery
    (0, (9,), ("OL", "BYPASS", "ALARM")),  # upsAlarmOnBypass
    (None, (), ()),  # nothing says where the power comes from: no status, never a guessed "on line"
])
def test_ups_mib_output_source_other_falls_back(seconds: int | None, alarms: tuple[int, ...],
                                                flags: tuple[str, ...]) -> None:
    for source in (1, None):  # other(1), or an agent without upsOutputSource
        assert ups_mib_flags(source, 2, len(alarms), alarms, seconds_on_battery=seconds) == flags


def test_ups_mib_a_stated_source_wins_over_the_fallbacks() -> None:
    # upsSecondsOnBattery is the time since the last switch on some agents, even back on mains.
    assert ups_mib_flags(3, 2, seconds_on_battery=300) == ("OL",)
    other = map_ups_mib(eaton_93e() | {UPS_OUTPUT_SOURCE: 1, UPS_SECONDS_ON_BATTERY: 0}, "u").reading
    assert other.flags == ("OL",)
    assert map_ups_mib(eaton_93e() | {UPS_OUTPUT_SOURCE: 1}, "u").reading.flags == ()


def test_ups_mib_source_other_recording_reads_on_battery() -> None:
    reading = map_values(UPS_MIB, read_snmprec(DATA / "ups-mib-source-other-onbattery.snmprec"), "u").reading
    assert reading.flags == ("OB", "ALARM")
    assert reading.on_battery and not reading.critical
    assert reading.alarm == "on battery, input bad"
    assert (reading.battery_charge_ratio, reading.battery_runtime_seconds) == (0.88, 23 * 60)
    assert reading.input_voltage_volts == 0.0 and reading.input_phase_volts == ()  # one line: no per-line series


def test_ups_mib_three_phase_exports_every_line_and_the_lowest() -> None:
    mapped = map_ups_mib(eaton_93e(), "eaton")
    reading = mapped.reading
    assert mapped.invalid == ()
    assert (reading.ups, reading.source, reading.up, reading.reason) == ("eaton", "snmp", True, "")
    assert reading.flags == ("OL",)
    assert (reading.manufacturer, reading.model, reading.serial, reading.driver) == (
        "EATON", "EATON 93E 80", "", "UPS-MIB")
    assert reading.battery_charge_ratio == 1.0
    assert reading.battery_runtime_seconds == 65520.0  # 1092 minutes
    assert reading.load_ratio == 0.21  # the busiest line
    assert reading.input_phase_volts == (("L1", 227.0), ("L2", 227.0), ("L3", 233.0))
    assert reading.input_voltage_volts == 227.0  # the lowest line, not the highest (233)
    assert reading.lowest_input_phase == ("L1", 227.0)
    assert reading.output_phase_volts == (("L1", 220.0), ("L2", 220.0), ("L3", 220.0))
    assert reading.output_voltage_volts == 220.0
    assert reading.shutdown_clients is None and reading.local_upsmon is None


def test_ups_mib_a_sagging_or_dead_phase_is_the_single_value() -> None:
    sagging = map_ups_mib(eaton_93e() | {f"{UPS_INPUT_VOLTAGE}.2": 187}, "u").reading
    assert (sagging.input_voltage_volts, sagging.lowest_input_phase) == (187.0, ("L2", 187.0))
    dead = map_ups_mib(eaton_93e() | {f"{UPS_INPUT_VOLTAGE}.3": 0}, "u").reading
    assert (dead.input_voltage_volts, dead.lowest_input_phase) == (0.0, ("L3", 0.0))


def test_ups_mib_rows_beyond_num_lines_are_unused_lines() -> None:
    # After snmpsim-data's UPS/phoenixtec-power: upsInputNumLines 1, and rows 2 and 3 at 0 V.
    values = eaton_93e() | {UPS_INPUT_NUM_LINES: 1, UPS_OUTPUT_NUM_LINES: 1,
                            f"{UPS_INPUT_VOLTAGE}.2": 0, f"{UPS_INPUT_VOLTAGE}.3": 0,
                            f"{UPS_OUTPUT_PERCENT_LOAD}.2": 0, f"{UPS_OUTPUT_PERCENT_LOAD}.3": 0}
    reading = map_ups_mib(values, "u").reading
    assert reading.input_voltage_volts == 227.0
    assert reading.load_ratio == 0.21
    assert reading.input_phase_volts == () and reading.output_phase_volts == ()  # a single-line UPS


def test_ups_mib_rows_indexed_with_a_trailing_zero() -> None:
    # snmpsim-data's UPS/eastpower-istars-swv053 indexes rows "1.0", "2.0", "3.0".
    values = {UPS_OUTPUT_SOURCE: 3, UPS_INPUT_NUM_LINES: 3, f"{UPS_INPUT_VOLTAGE}.1.0": 236,
              f"{UPS_INPUT_VOLTAGE}.2.0": 236, f"{UPS_INPUT_VOLTAGE}.3.0": 234}
    reading = map_ups_mib(values, "u").reading
    assert reading.input_phase_volts == (("L1", 236.0), ("L2", 236.0), ("L3", 234.0))


def test_ups_mib_out_of_range_values_are_omitted_and_reported() -> None:
    # After snmpsim-data's UPS/huawei-gse200m: charge and runtime -1, voltages in tenths (2369 = 236.9 V).
    values = eaton_93e() | {UPS_ESTIMATED_CHARGE_REMAINING: -1, UPS_ESTIMATED_MINUTES_REMAINING: -1,
                            f"{UPS_OUTPUT_VOLTAGE}.1": 2199, f"{UPS_OUTPUT_VOLTAGE}.2": 2199,
                            f"{UPS_OUTPUT_VOLTAGE}.3": 2199, f"{UPS_OUTPUT_PERCENT_LOAD}.1": 255}
    mapped = map_ups_mib(values, "huawei")
    reading = mapped.reading
    assert reading.up
    assert reading.battery_charge_ratio is None
    assert reading.battery_runtime_seconds is None
    assert reading.output_voltage_volts is None
    assert reading.load_ratio == 0.16  # line 1 (255 %) dropped, the others still count
    fields = {invalid.field for invalid in mapped.invalid}
    assert {"battery charge", "battery runtime", "output voltage L1", "output load L1"} <= fields


@pytest.mark.parametrize(("minutes", "expected"), [(0, None), (10080, 604800.0), (10081, None), (65535, None)])
def test_ups_mib_runtime_range(minutes: int, expected: float | None) -> None:
    reading = map_ups_mib(eaton_93e() | {UPS_ESTIMATED_MINUTES_REMAINING: minutes}, "u").reading
    assert reading.battery_runtime_seconds == expected


def test_ups_mib_zero_runtime_is_believed_on_battery_only() -> None:
    on_mains = map_ups_mib(eaton_93e() | {UPS_ESTIMATED_MINUTES_REMAINING: 0}, "u")
    assert on_mains.reading.battery_runtime_seconds is None
    assert [invalid.field for invalid in on_mains.invalid] == ["battery runtime"]
    depleted = map_ups_mib(eaton_93e() | {UPS_ESTIMATED_MINUTES_REMAINING: 0, UPS_OUTPUT_SOURCE: 5,
                                          UPS_BATTERY_STATUS: 4}, "u").reading
    assert depleted.battery_runtime_seconds == 0.0
    assert depleted.flags == ("OB", "LB")
    assert depleted.critical


def test_ups_mib_alarm_table() -> None:
    values = eaton_93e() | {
        UPS_ALARMS_PRESENT: 3,
        f"{UPS_ALARM_DESCR}.1": f"{UPS_WELL_KNOWN_ALARMS}.1",
        f"{UPS_ALARM_DESCR}.2": f"{UPS_WELL_KNOWN_ALARMS}.8",
        f"{UPS_ALARM_DESCR}.3": "1.3.6.1.4.1.534.1.7.3",  # a vendor alarm: only its OID is known
    }
    assert well_known_alarm_ids(values) == [1, 8]
    reading = map_ups_mib(values, "u").reading
    assert reading.flags == ("OL", "RB", "OVER", "ALARM")
    assert reading.replace_battery
    assert reading.alarm == "battery bad, output overload, 1.3.6.1.4.1.534.1.7.3"


def test_ups_mib_alarm_count_without_table() -> None:
    reading = map_ups_mib(eaton_93e() | {UPS_ALARMS_PRESENT: 2}, "u").reading
    assert reading.flags == ("OL", "ALARM")
    assert reading.alarm == "2 alarm(s) present"


def test_ups_mib_minimal_agent() -> None:
    reading = map_ups_mib({UPS_OUTPUT_SOURCE: 3}, "u").reading
    assert reading.flags == ("OL",)
    assert reading.battery_charge_ratio is None and reading.load_ratio is None
    assert reading.manufacturer == "" and reading.alarm == ""


def test_wrong_types_are_invalid_not_errors() -> None:
    mapped = map_ups_mib(eaton_93e() | {UPS_ESTIMATED_CHARGE_REMAINING: "100%"}, "u")
    assert mapped.reading.battery_charge_ratio is None
    assert [invalid.field for invalid in mapped.invalid] == ["battery charge"]


# --- PowerNet mapping, over the project's own recordings ---

def test_powernet_on_line_recording() -> None:
    mapped = map_values(POWERNET, read_snmprec(DATA / "apc-smart-ups.snmprec"), "rack")
    reading = mapped.reading
    assert mapped.invalid == ()
    assert reading.flags == ("OL",)
    assert (reading.manufacturer, reading.model, reading.serial, reading.driver) == (
        "APC", "Smart-UPS 1500", "AS1924123456", "PowerNet-MIB")
    assert reading.battery_charge_ratio == 1.0
    assert reading.battery_runtime_seconds == 2520.0  # 252000 TimeTicks = 42 minutes
    # high-precision objects (tenths) win over the integer ones
    assert reading.load_ratio == pytest.approx(0.234)
    assert reading.input_voltage_volts == 230.4
    assert reading.output_voltage_volts == 230.1
    assert not reading.critical


def test_powernet_on_battery_recording() -> None:
    mapped = map_values(POWERNET, read_snmprec(DATA / "apc-smart-ups-onbattery.snmprec"), "closet")
    reading = mapped.reading
    assert mapped.invalid == ()
    assert reading.flags == ("OB", "LB", "RB")
    assert reading.on_battery and reading.low_battery and reading.replace_battery and reading.critical
    assert reading.model == "Smart-UPS 750 RM"  # trailing blank stripped
    assert reading.battery_charge_ratio == 0.18
    assert reading.battery_runtime_seconds == 180.0
    assert reading.load_ratio == 0.31  # no high-precision objects on this old card: integer fallback
    assert reading.input_voltage_volts == 0.0  # a blackout: 0 V is a real reading
    assert reading.output_voltage_volts == 230.0


def test_powernet_high_precision_negative_falls_back() -> None:
    values = read_snmprec(DATA / "apc-smart-ups.snmprec") | {APC_HP_OUTPUT_LOAD: -1, APC_HP_BATTERY_CAPACITY: -1}
    mapped = map_powernet(values, "u")
    assert mapped.reading.load_ratio == 0.23
    assert mapped.reading.battery_charge_ratio == 1.0
    assert mapped.invalid == ()


@pytest.mark.parametrize(("oid", "raw", "attribute", "field"), [
    (APC_ADV_BATTERY_RUNTIME, 0xFFFFFFFF, "battery_runtime_seconds", "battery runtime"),  # "not supported"
    (APC_ADV_BATTERY_RUNTIME, 7 * 24 * 3600 * 100 + 1, "battery_runtime_seconds", "battery runtime"),
    (APC_ADV_BATTERY_CAPACITY, 255, "battery_charge_ratio", "battery charge"),
    (APC_ADV_OUTPUT_LOAD, 201, "load_ratio", "output load"),
])
def test_powernet_range_checks(oid: str, raw: int, attribute: str, field: str) -> None:
    values = read_snmprec(DATA / "apc-smart-ups-onbattery.snmprec") | {oid: raw}
    mapped = map_powernet(values, "u")
    assert getattr(mapped.reading, attribute) is None
    assert [invalid.field for invalid in mapped.invalid] == [field]


def test_powernet_range_edges_are_valid() -> None:
    values = read_snmprec(DATA / "apc-smart-ups-onbattery.snmprec") | {
        APC_ADV_BATTERY_CAPACITY: 100, APC_ADV_OUTPUT_LOAD: 200, APC_ADV_BATTERY_RUNTIME: 7 * 24 * 3600 * 100}
    reading = map_powernet(values, "u").reading
    assert (reading.battery_charge_ratio, reading.load_ratio, reading.battery_runtime_seconds) == (
        1.0, 2.0, 604800.0)


def test_powernet_three_phase_recording() -> None:
    mapped = map_values(POWERNET, read_snmprec(DATA / "apc-symmetra-px-3ph.snmprec"), "px")
    reading = mapped.reading
    assert mapped.invalid == ()
    assert (reading.model, reading.flags) == ("Symmetra PX 40kW", ("OL",))
    # Mains phases only (input table 1; table 2 is the bypass, at 230 V while L2 of the mains sags).
    assert reading.input_phase_volts == (("L1", 231.0), ("L2", 198.0), ("L3", 229.0))
    assert reading.input_voltage_volts == 198.0  # the lowest phase, not upsAdvInputLineVoltage's 231
    assert reading.lowest_input_phase == ("L2", 198.0)
    assert reading.output_phase_volts == (("L1", 230.0), ("L2", 230.0))  # L3 reports -1: not measured
    assert reading.output_voltage_volts == 230.0
    assert reading.load_ratio == pytest.approx(0.384)


def test_powernet_phase_rows_count_only_with_several_phases() -> None:
    values = read_snmprec(DATA / "apc-smart-ups.snmprec") | {APC_PHASE_NUM_INPUT_PHASES: 1,
                                                             f"{APC_PHASE_INPUT_VOLTAGE}.1.1.1": 231}
    reading = map_powernet(values, "u").reading
    assert reading.input_phase_volts == ()
    assert reading.input_voltage_volts == 230.4  # the high-precision single value stays


# --- CyberPower CPS-MIB mapping ---

@pytest.mark.parametrize(("status", "flags"), [
    (1, ()), (2, ("OL",)), (3, ("OB",)), (4, ("OL", "BOOST")), (5, ("OFF",)), (6, ("OFF",)), (7, ()),
    (8, ("OL",)), (9, ("OL", "BYPASS")), (10, ("OL", "TRIM")), (11, ("OL", "OVER")), (99, ()),
])
def test_cps_output_status(status: int, flags: tuple[str, ...]) -> None:
    assert cps_flags(status, 2) == flags


def test_cps_battery_flags() -> None:
    assert cps_flags(3, 3) == ("OB", "LB")
    assert cps_flags(2, 4) == ("OL", "ALARM")  # batteryNotPresent
    assert cps_flags(2, 2, replace_indicator=2) == ("OL", "RB")


def test_cps_on_line_recording_asks_for_a_new_battery() -> None:
    mapped = map_values(CPS, read_snmprec(DATA / "cyberpower-cps.snmprec"), "desk")
    reading = mapped.reading
    assert mapped.invalid == ()
    assert reading.flags == ("OL", "RB")
    assert reading.replace_battery and not reading.critical
    assert (reading.manufacturer, reading.model, reading.serial, reading.driver) == (
        "CyberPower", "CP1500PFCLCD", "CXXKV2012345", "CPS-MIB")
    assert reading.battery_charge_ratio == 1.0
    assert reading.battery_runtime_seconds == 1860.0  # TimeTicks / 100
    assert reading.load_ratio == 0.17
    assert (reading.input_voltage_volts, reading.output_voltage_volts) == (120.8, 120.0)  # tenths of a volt


def test_cps_on_battery_recording() -> None:
    reading = map_values(CPS, read_snmprec(DATA / "cyberpower-cps-onbattery.snmprec"), "desk").reading
    assert reading.flags == ("OB", "LB")
    assert reading.critical
    assert (reading.battery_charge_ratio, reading.battery_runtime_seconds, reading.load_ratio) == (0.18, 240.0, 0.31)
    assert reading.input_voltage_volts == 0.0


def test_cps_three_phase_rows() -> None:
    values = read_snmprec(DATA / "cyberpower-cps.snmprec") | {
        "1.3.6.1.4.1.3808.1.1.1.9.1.1.0": 3, "1.3.6.1.4.1.3808.1.1.1.9.1.2.1.2.1": 2301,
        "1.3.6.1.4.1.3808.1.1.1.9.1.2.1.2.2": 2288, "1.3.6.1.4.1.3808.1.1.1.9.1.2.1.2.3": 2104}
    reading = map_cps(values, "u").reading
    assert reading.input_phase_volts == (("L1", 230.1), ("L2", 228.8), ("L3", 210.4))
    assert reading.input_voltage_volts == 210.4


def test_down_reading() -> None:
    reading = down("ups.lan", "no SNMP answer")
    assert (reading.up, reading.reason, reading.flags, reading.source) == (False, "no SNMP answer", (), "snmp")
    assert reading.shutdown_clients is None and reading.local_upsmon is None
