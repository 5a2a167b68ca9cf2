"""The pure UPS parsers: status tokens, the range-checked number table, upsmon.conf."""

from __future__ import annotations

import pytest

from collectors.model.readings import UPS_FLAGS
from collectors.ups.nut import (
    Monitor,
    UpsmonConf,
    numbers,
    parse_status,
    parse_upsmon_conf,
    phases,
    same_server,
    split_system,
    upsmon_protects,
)


@pytest.mark.parametrize(("text", "flags"), [
    ("OL", ("OL",)),
    ("OB DISCHRG", ("OB", "DISCHRG")),
    ("ol  chrg\tRB", ("OL", "CHRG", "RB")),
    ("OL OB", ("OL", "OB")),  # contradictory, as real dumps are: kept as reported
    ("OL DISCHRG OB", ("OL", "DISCHRG", "OB")),
    ("OL OL LB ol", ("OL", "LB")),
    ("OL HE", ("OL", "HE")),
    ("ALARM OL CHRG RB", ("ALARM", "OL", "CHRG", "RB")),
    ("", ()),
    ("   ", ()),
])
def test_parse_status(text: str, flags: tuple[str, ...]) -> None:
    assert parse_status(text) == flags


def test_known_flags_are_the_contract() -> None:
    assert UPS_FLAGS == ("OL", "OB", "LB", "HB", "RB", "CHRG", "DISCHRG", "BYPASS", "CAL", "OFF", "OVER",
                           "TRIM", "BOOST", "FSD", "ALARM")


def test_numbers_valid_values_are_converted() -> None:
    values, invalid = numbers({"battery.charge": "85", "battery.runtime": "2580", "ups.load": "17.5",
                               "input.voltage": "230.4", "output.voltage": " 229 ", "ups.firmware": "02.08"})
    assert invalid == []
    assert values == pytest.approx({"battery_charge_ratio": 0.85, "battery_runtime_seconds": 2580.0,
                                    "load_ratio": 0.175, "input_voltage_volts": 230.4,
                                    "output_voltage_volts": 229.0})


def test_numbers_edges_that_are_valid() -> None:
    values, invalid = numbers({"battery.charge": "0", "battery.runtime": "0", "ups.load": "200",
                               "input.voltage": "0", "output.voltage": "500"})
    assert invalid == []
    assert values == {"battery_charge_ratio": 0.0, "battery_runtime_seconds": 0.0, "load_ratio": 2.0,
                      "input_voltage_volts": 0.0, "output_voltage_volts": 500.0}
    assert numbers({"battery.runtime": str(7 * 86400)})[0] == {"battery_runtime_seconds": 604800.0}


@pytest.mark.parametrize(("var", "value"), [
    ("battery.charge", "255"),
    ("battery.charge", "-1"),
    ("battery.charge", "100.5"),
    ("battery.charge", "full"),
    ("battery.charge", ""),
    ("battery.charge", "nan"),
    ("battery.runtime", "65535"),
    ("battery.runtime", "65535.00"),
    ("battery.runtime", "-1"),
    ("battery.runtime", "3932100"),
    ("battery.runtime", "604801"),
    ("battery.runtime", "-5"),
    ("battery.runtime", "inf"),
    ("ups.load", "201"),
    ("ups.load", "-3"),
    ("input.voltage", "501"),
    ("input.voltage", "-230"),
    ("output.voltage", "65535"),
    ("output.voltage", "230V"),
])
def test_numbers_invalid_values_are_omitted_with_a_reason(var: str, value: str) -> None:
    values, invalid = numbers({var: value, "ups.load": "10"} if var != "ups.load" else {var: value})
    assert [(bad.var, bad.value) for bad in invalid] == [(var, value)]
    assert invalid[0].reason
    field = {"battery.charge": "battery_charge_ratio", "battery.runtime": "battery_runtime_seconds",
             "ups.load": "load_ratio", "input.voltage": "input_voltage_volts",
             "output.voltage": "output_voltage_volts"}[var]
    assert field not in values
    if var != "ups.load":
        assert values == {"load_ratio": 0.1}  # one bad value never costs the others


def test_numbers_ignores_absent_variables() -> None:
    assert numbers({}) == ({}, [])
    assert numbers({"ups.status": "OL"}) == ({}, [])


UPSMON_CONF = """
# a typical Debian upsmon.conf, with the noise real ones carry
RUN_AS_USER nut
MONITOR myups@localhost 1 upsmon "s3cret pass" primary
MONITOR   nas-ups@192.168.1.5:3494 2 monuser pw secondary   # trailing comment
MONITOR old@127.0.0.1 1 monuser pw master
MONITOR watchonly@localhost 0 monuser pw slave
MONITOR broken@localhost x monuser pw primary
MONITOR short@localhost 1 monuser
MONITOR badrole@localhost 1 monuser pw boss
monitor lower@localhost 1 monuser pw primary
MINSUPPLIES 1
SHUTDOWNCMD "/sbin/shutdown -h +0"
NOTIFYCMD /usr/sbin/upssched
\x00\xff garbage line "unterminated
POWERDOWNFLAG /etc/killpower
"""


def test_parse_upsmon_conf() -> None:
    conf = parse_upsmon_conf(UPSMON_CONF)
    assert conf.monitors == (
        Monitor("myups@localhost", 1, "primary"),
        Monitor("nas-ups@192.168.1.5:3494", 2, "secondary"),
        Monitor("old@127.0.0.1", 1, "master"),
        Monitor("watchonly@localhost", 0, "slave"),
    )
    assert conf.shutdown_cmd == "/sbin/shutdown -h +0"
    assert "s3cret" not in repr(conf)


def test_parse_upsmon_conf_without_shutdowncmd_or_content() -> None:
    assert parse_upsmon_conf("") == UpsmonConf((), "")
    assert parse_upsmon_conf("SHUTDOWNCMD\nMONITOR a@b 1 u p primary\n").shutdown_cmd == ""
    assert parse_upsmon_conf('# SHUTDOWNCMD "/sbin/poweroff"\n').shutdown_cmd == ""


@pytest.mark.parametrize(("system", "parts"), [
    ("ups@localhost", ("ups", "localhost", 3493)),
    ("ups@127.0.0.1:3494", ("ups", "127.0.0.1", 3494)),
    ("ups@[::1]:3495", ("ups", "::1", 3495)),
    ("ups@[::1]", ("ups", "::1", 3493)),
    ("ups@host:port", None),
    ("@host", None),
    ("ups@", None),
    ("ups", None),
])
def test_split_system(system: str, parts: tuple[str, str, int] | None) -> None:
    assert split_system(system) == parts


def test_same_server_is_loose_about_loopback() -> None:
    assert same_server("localhost", 3493, "127.0.0.1", 3493)
    assert same_server("::1", 3493, "127.0.0.1", 3493)
    assert same_server("NAS.lan", 3493, "nas.lan", 3493)
    assert not same_server("localhost", 3493, "127.0.0.1", 3494)
    assert not same_server("nas.lan", 3493, "127.0.0.1", 3493)


def test_upsmon_protects() -> None:
    conf = parse_upsmon_conf(UPSMON_CONF)
    assert upsmon_protects(conf, "myups", "127.0.0.1", 3493) is True
    assert upsmon_protects(conf, "old", "localhost", 3493) is True
    assert upsmon_protects(conf, "nas-ups", "192.168.1.5", 3494) is True
    assert upsmon_protects(conf, "nas-ups", "192.168.1.5", 3493) is False
    assert upsmon_protects(conf, "watchonly", "127.0.0.1", 3493) is False  # power value 0 protects nothing
    assert upsmon_protects(conf, "other", "127.0.0.1", 3493) is False
    assert upsmon_protects(UpsmonConf(conf.monitors, ""), "myups", "127.0.0.1", 3493) is False
    assert upsmon_protects(None, "myups", "127.0.0.1", 3493) is None


# --- three-phase variables ---

def test_phases_from_a_three_phase_dump() -> None:
    # The variables of the Eaton 9395 dump (../shared/corpus/nut), our own values: L-N phases, bypass phases,
    # per-phase load.
    variables = {"input.L1-N.voltage": "238.00", "input.L2-N.voltage": "241.00", "input.L3-N.voltage": "239.00",
                 "input.bypass.L1-N.voltage": "120.00", "output.L1-N.voltage": "230.00",
                 "output.L2-N.voltage": "230.00", "output.L3-N.voltage": "230.00",
                 "output.L1.power.percent": "19.00", "output.L2.power.percent": "34.00",
                 "output.L3.power.percent": "27.00", "input.phases": "3.00"}
    found, invalid = phases(variables)
    assert invalid == []
    assert found.input_volts == (("L1-N", 238.0), ("L2-N", 241.0), ("L3-N", 239.0))  # no bypass phase
    assert found.lowest_input_neutral == 238.0
    assert found.output_volts == (("L1-N", 230.0), ("L2-N", 230.0), ("L3-N", 230.0))
    assert found.busiest_load_ratio == pytest.approx(0.34)


def test_phase_to_phase_voltages_are_kept_but_never_the_lowest_neutral() -> None:
    # APC Silcon: only L-L values, zero-padded as its driver writes them.
    found, _ = phases({"input.L1-L2.voltage": "398.0", "input.L2-L3.voltage": "401.0",
                       "input.L3-L1.voltage": "395.0", "output.L1.power.percent": "077.0"})
    assert found.input_volts == (("L1-L2", 398.0), ("L2-L3", 401.0), ("L3-L1", 395.0))
    assert found.lowest_input_neutral is None
    assert found.busiest_load_ratio == pytest.approx(0.77)


def test_a_single_phase_value_is_no_phase_table() -> None:
    found, _ = phases({"input.L1-N.voltage": "231.0"})
    assert found.input_volts == ()  # one phase: the single value says it all
    assert found.lowest_input_neutral == 231.0


@pytest.mark.parametrize(("var", "value"), [("input.L2-N.voltage", "701"), ("input.L2-N.voltage", "nan"),
                                            ("output.L1-N.voltage", "-1"), ("output.L3.power.percent", "255"),
                                            ("input.L2-N.voltage", "n/a")])
def test_invalid_phase_values_are_listed_not_used(var: str, value: str) -> None:
    found, invalid = phases({"input.L1-N.voltage": "230", "input.L3-N.voltage": "231", var: value})
    assert [bad.var for bad in invalid] == [var]
    direction, phase = var.split(".")[:2]
    kept = found.input_volts if direction == "input" else found.output_volts
    assert phase not in dict(kept)
    assert found.lowest_input_neutral == 230.0
