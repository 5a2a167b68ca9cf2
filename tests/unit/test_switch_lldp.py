"""LLDP neighbours from lldpcli's JSON in every shape it prints, and which switch port each NIC is cabled to:
from [[switch]].ports first, else from a neighbour that is that switch."""

from __future__ import annotations

import time
from pathlib import Path
from types import MappingProxyType

import pytest

from collectors.kit.context import RunContext
from collectors.kit.snmp_target import SnmpTarget
from collectors.switch.collector import Answer, readings_for
from collectors.switch.config import PortRef, SwitchTarget
from collectors.switch.ifmib import Port, parse_ports
from collectors.switch.lldp import LldpUnavailable, Neighbor, parse_neighbors, read_neighbors
from collectors.switch.mapping import links
from tests.snmprec import read_snmprec
from tests.switch_fixtures import LLDP_DATA, SWITCH_DATA, write_lldpcli


def neighbors(fixture: str) -> tuple[Neighbor, ...]:
    return parse_neighbors((LLDP_DATA / fixture).read_text())


def switch(host: str, name: str = "", ports: dict[str, PortRef] | None = None) -> SwitchTarget:
    return SwitchTarget(SnmpTarget(host=host, name=name), MappingProxyType(ports or {}), "")


def test_several_interfaces_as_a_list_of_named_objects() -> None:
    found = neighbors("neighbors-three.json")
    assert [n.interface for n in found] == ["enp2s0f0np0", "enp87s0", "eno1"]
    unifi, mikrotik, router = found
    assert unifi == Neighbor("enp2s0f0np0", "usw-flex-xg", "mac 74:83:c2:1a:2b:3c",
                             ("192.168.1.20", "fe80::7683:c2ff:fe1a:2b3c"), "local", "3", "Port 3")
    assert (mikrotik.chassis_name, mikrotik.mgmt_ips, mikrotik.port_id_type, mikrotik.port_id) == (
        "crs317.lan", ("192.168.1.21",), "ifname", "sfp-sfpplus3")
    # A chassis that sends no SysName is printed bare, without the name level.
    assert (router.chassis_name, router.chassis_id, router.mgmt_ips) == ("", "mac 00:0d:b9:4a:5b:6c",
                                                                         ("192.168.1.1",))
    assert (router.port_id_type, router.port_descr) == ("mac", "igb1")


def test_one_interface_as_an_object_and_json0() -> None:
    (one,) = neighbors("neighbors-one.json")
    assert (one.interface, one.chassis_name, one.port_id_type, one.port_descr) == (
        "enp2s0f0np0", "usw-flex-xg.home.arpa", "mac", "te2")
    (json0,) = neighbors("neighbors-json0.json")
    assert json0 == Neighbor("enp87s0", "crs317.lan", "mac 48:8f:5a:00:11:22", ("192.168.1.21",), "ifname",
                             "sfp-sfpplus3", "")


def test_no_neighbours() -> None:
    assert neighbors("neighbors-none.json") == ()


@pytest.mark.parametrize("text", ["", "lldpcli: unable to connect", "[1, 2]", '{"lldp": "x"}', "{" * 100000])
def test_what_is_not_lldpcli_json_is_an_error_not_a_crash(text: str) -> None:
    with pytest.raises(ValueError, match="lldp"):
        parse_neighbors(text)


def test_unknown_shapes_inside_are_skipped() -> None:
    text = '{"lldp": {"interface": [{"eth0": "x"}, 7, {"eth1": {"chassis": [], "port": 3}}]}}'
    assert parse_neighbors(text) == (Neighbor("eth1", "", "", (), "", "", ""),)


def test_lldp_maps_nics_to_the_switch_that_sent_them() -> None:
    heard = neighbors("neighbors-three.json")
    usw = parse_ports(read_snmprec(SWITCH_DATA / "usw-flex-xg.snmprec"))
    crs = parse_ports(read_snmprec(SWITCH_DATA / "crs317.snmprec"))
    # By management address (= the configured host); the local port ID "3" is the ifIndex.
    (unifi,) = links(switch("192.168.1.20"), usw, heard)
    assert (unifi.interface, unifi.via, unifi.wanted) == ("enp2s0f0np0", "lldp", "LLDP port local 3")
    assert unifi.port is not None and unifi.port.name == "te2"
    # By SysName against the switch's sysName (the host is a name LLDP does not carry); the port by ifName.
    (mikrotik,) = links(switch("sw2.example"), crs, heard, sys_name="crs317.lan")
    assert mikrotik.port is not None and mikrotik.port.name == "sfp-sfpplus3"
    # The router's neighbour belongs to neither.
    assert all(link.interface != "eno1" for link in (unifi, mikrotik))


def test_sysname_matches_without_domain_and_port_by_description() -> None:
    (one,) = neighbors("neighbors-one.json")
    usw = parse_ports(read_snmprec(SWITCH_DATA / "usw-flex-xg.snmprec"))
    (link,) = links(switch("10.9.9.9", name="usw-flex-xg"), usw, (one,))
    assert link.port is not None and link.port.name == "te2"  # port ID is a MAC: the description names it


def test_configuration_wins_over_lldp_and_unknown_ports_stay_unmatched() -> None:
    heard = neighbors("neighbors-three.json")
    usw = parse_ports(read_snmprec(SWITCH_DATA / "usw-flex-xg.snmprec"))
    target = switch("192.168.1.20", ports={"enp2s0f0np0": PortRef(name="te4"), "enp3s0": PortRef(index=99)})
    found = {link.interface: link for link in links(target, usw, heard)}
    assert found["enp2s0f0np0"].via == "config"
    assert found["enp2s0f0np0"].port is not None and found["enp2s0f0np0"].port.name == "te4"
    assert (found["enp3s0"].wanted, found["enp3s0"].port) == ("ifIndex 99", None)
    assert set(found) == {"enp2s0f0np0", "enp3s0"}


def test_a_silent_switch_keeps_its_mapped_nics_with_no_ports() -> None:
    target = switch("192.168.1.20", ports={"enp87s0": PortRef(name="te1")})
    reading, port_readings = readings_for(Answer(target, reason="no SNMP answer"), neighbors("neighbors-three.json"))
    assert (reading.up, reading.reason, port_readings) == (False, "no SNMP answer", [])
    assert reading.links == (("enp87s0", "te1"), ("enp2s0f0np0", "LLDP port local 3"))
    assert reading.unmatched == ()  # unknown, not missing: the switch said nothing


def test_readings_name_the_nic_on_its_port() -> None:
    target = switch("192.168.1.20", name="usw-16", ports={"enp87s0": PortRef(name="te3")})
    answer = Answer(target, parse_ports(read_snmprec(SWITCH_DATA / "usw-flex-xg.snmprec")), "usw-flex-xg")
    reading, port_readings = readings_for(answer, neighbors("neighbors-three.json"))
    assert reading.up and reading.sys_name == "usw-flex-xg" and reading.unmatched == ()
    mapped = {p.port: (p.interface, p.mapped_by, p.speed_mbps) for p in port_readings if p.interface}
    assert mapped == {"te2": ("enp2s0f0np0", "lldp", 10000), "te3": ("enp87s0", "config", 100)}
    assert [p.port for p in port_readings] == ["gi1", "te1", "te2", "te3", "te4"]
    assert {p.switch for p in port_readings} == {"usw-16"}


def test_readings_come_from_the_ports_the_poll_parsed() -> None:
    # The poll parses the ifTable once (to refuse an empty one) and hands the ports on; readings_for uses them.
    target = switch("192.168.1.20", name="sw", ports={"eno1": PortRef(name="te7")})
    ports = (Port(7, "te7", "TenGigabitEthernet7", "uplink", 6, "up", 10000),
             Port(8, "lo", "loopback", "", 24, "up", None))
    reading, port_readings = readings_for(Answer(target, ports, "sw"), ())
    assert (reading.up, reading.unmatched) == (True, ())
    assert [(p.port, p.alias, p.speed_mbps, p.interface) for p in port_readings] == [
        ("te7", "uplink", 10000, "eno1")]


def ctx() -> RunContext:
    return RunContext(deadline=time.monotonic() + 5, state_dir=Path("/nonexistent"))


def test_lldpcli_is_run_with_json_output(tmp_path: Path) -> None:
    program = write_lldpcli(tmp_path, "neighbors-three.json")
    assert [n.interface for n in read_neighbors(str(program), ctx())] == ["enp2s0f0np0", "enp87s0", "eno1"]


def test_lldpd_not_running_or_lldpcli_missing_is_unavailable(tmp_path: Path) -> None:
    program = write_lldpcli(tmp_path, None, exit_code=1,
                            stderr="lldpcli: unable to connect to socket /run/lldpd.socket")
    with pytest.raises(LldpUnavailable, match="unable to connect to socket"):
        read_neighbors(str(program), ctx())
    with pytest.raises(LldpUnavailable, match="not found"):
        read_neighbors(str(tmp_path / "missing-lldpcli"), ctx())
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    with pytest.raises(LldpUnavailable, match="no JSON"):
        read_neighbors(str(write_lldpcli(garbage, "../snmp_data/switch/crs317.snmprec")), ctx())


def test_a_hung_lldpcli_is_killed_within_its_budget(tmp_path: Path) -> None:
    program = tmp_path / "lldpcli"
    program.write_text("#!/bin/sh\nexec sleep 30\n")
    program.chmod(0o755)
    started = time.monotonic()
    with pytest.raises(LldpUnavailable, match="no answer within"):
        read_neighbors(str(program), RunContext(deadline=time.monotonic() + 20, state_dir=Path("/nonexistent")))
    assert time.monotonic() - started < 10  # its own budget, not the run's 20 s
