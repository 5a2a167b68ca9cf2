"""IF-MIB port speeds the way switches really answer: a speed only for up ports, ifHighSpeed cross-checked
against ifSpeed, sentinels unknown, and only front ports reported."""

from __future__ import annotations

import pytest

from collectors.switch.ifmib import front_ports, oper_status, parse_ports, port_labels, port_speed_mbps
from tests.snmprec import read_snmprec
from tests.switch_fixtures import SWITCH_DATA

G = 4294967295  # ifSpeed's ceiling: "see ifHighSpeed"


@pytest.mark.parametrize(("status", "high", "speed", "expected"), [
    ("up", 1000, 1_000_000_000, 1000),
    ("up", 10000, G, 10000),  # above 4.29 Gbit/s only ifHighSpeed can say it
    ("up", 2500, 2_500_000_000, 2500),
    ("up", 100, 100_000_000, 100),
    ("up", 10000, None, 10000),  # no ifSpeed column
    ("up", None, 1_000_000_000, 1000),  # no ifXTable (ZTE, Ruijie): ifSpeed / 10^6
    ("up", 100_000_000, 100_000_000, 100),  # D-Link: ifHighSpeed in bit/s
    ("up", 0, 1_000_000_000, 1000),  # HPE: up port with ifHighSpeed 0
    ("up", 1000, 100_000_000, 100),  # they disagree below the ceiling: ifSpeed is exact there
    ("up", 0, 0, None),
    ("up", G, G, None),  # a Gauge32 at its ceiling in both columns
    ("up", 65535, G, None),  # the 16-bit "unknown"
    ("up", "1000", None, None),  # a string where a Gauge32 belongs
    ("down", 10000, G, None),  # UniFi: nominal speed on a down port
    ("down", 1000, 1_000_000_000, None),  # Cisco
    ("down", 0, 0, None),  # MikroTik
    ("notPresent", 10000, G, None),  # Arista: empty SFP+ cage
    ("lowerLayerDown", 1000, 1_000_000_000, None),
    ("unknown", 1000, 1_000_000_000, None),
])
def test_speed_only_for_up_ports_and_only_when_believable(status: str, high: int | str | None,
                                                          speed: int | None, expected: int | None) -> None:
    assert port_speed_mbps(status, high, speed) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    (1, "up"), (2, "down"), (3, "testing"), (5, "dormant"), (6, "notPresent"), (7, "lowerLayerDown"),
    (0, "unknown"), (9, "unknown"), (None, "unknown"), ("up", "unknown"),
])
def test_oper_status_names(raw: int | str | None, expected: str) -> None:
    assert oper_status(raw) == expected


def test_unifi_front_ports_without_lags_vlans_and_loopback() -> None:
    ports = front_ports(parse_ports(read_snmprec(SWITCH_DATA / "usw-flex-xg.snmprec")))
    assert [(p.if_index, p.name, p.oper_status, p.speed_mbps) for p in ports] == [
        (1, "gi1", "up", 1000),
        (2, "te1", "down", None),  # reports ifHighSpeed 10000 while down
        (3, "te2", "up", 10000),
        (4, "te3", "up", 100),  # a 10G port negotiated at 100M
        (5, "te4", "up", 10000),
    ]
    assert ports[2].alias == "pve1 enp2s0f0np0"


def test_a_lag_is_kept_when_a_nic_is_mapped_to_it() -> None:
    ports = parse_ports(read_snmprec(SWITCH_DATA / "crs317.snmprec"))
    assert [p.name for p in front_ports(ports)] == ["sfp-sfpplus1", "sfp-sfpplus2", "sfp-sfpplus3", "ether1"]
    kept = front_ports(ports, keep={19})
    assert [p.name for p in kept][-1] == "server-trunk"
    assert kept[-1].speed_mbps == 10000


def test_agents_that_break_the_rules() -> None:
    ports = {p.if_index: p for p in parse_ports(read_snmprec(SWITCH_DATA / "odd-agent.snmprec"))}
    assert ports[1].speed_mbps == 100  # ifHighSpeed 100000000 (bit/s)
    assert ports[2].speed_mbps == 1000  # ifHighSpeed 0 on an up port
    assert (ports[3].name, ports[3].alias, ports[3].speed_mbps) == ("ZTE gei-0/1/0/3", "", 1000)  # no ifXTable
    assert (ports[4].oper_status, ports[4].speed_mbps) == ("unknown", None)  # ifOperStatus 9
    assert (ports[5].oper_status, ports[5].speed_mbps) == ("down", None)
    assert ports[8].speed_mbps is None  # both columns at the Gauge32 ceiling
    assert (ports[9].oper_status, ports[9].speed_mbps) == ("up", None)


def test_two_rows_with_one_name_keep_a_series_each() -> None:
    labels = port_labels(parse_ports(read_snmprec(SWITCH_DATA / "odd-agent.snmprec")))
    assert labels[6] == "uplink (ifIndex 6)" and labels[7] == "uplink (ifIndex 7)"
    assert labels[1] == "1"
    assert len(set(labels.values())) == len(labels)


def test_rows_outside_the_columns_and_odd_indexes_are_ignored() -> None:
    values = {
        "1.3.6.1.2.1.2.2.1.8.1": 1, "1.3.6.1.2.1.31.1.1.1.1.1": "gi1", "1.3.6.1.2.1.31.1.1.1.15.1": 1000,
        "1.3.6.1.2.1.2.2.1.8.x": 1,  # not an ifIndex
        "1.3.6.1.2.1.2.2.1.8.2.5": 1,  # a deeper index: not ifTable
        "1.3.6.1.2.1.1.5.0": "sw",
    }
    ports = parse_ports(values)
    assert [(p.if_index, p.name, p.speed_mbps) for p in ports] == [(1, "gi1", 1000)]
    assert parse_ports({}) == ()
