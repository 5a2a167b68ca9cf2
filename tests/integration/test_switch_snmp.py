"""SwitchCollector against the real snmpsim agent serving the project's switch recordings (shaped after the UniFi and
MikroTik captures in shared/corpus/snmp): SNMPv1, v2c and v3 authPriv, switches that do not answer, LLDP through a
stand-in lldpcli, and the real daemon naming both ends of a cable in P3."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from collectors.kit.context import Cancelled, RunContext
from collectors.kit.snmp_target import SnmpTarget
from collectors.model.readings import SwitchPortReading, SwitchReading
from collectors.switch.collector import SwitchCollector
from collectors.switch.config import PortRef, SwitchTarget
from tests.conftest import DaemonProcess, free_port, http_get, start_daemon, write_config
from tests.faults.harness import value
from tests.net_tree import X710_PORT0, ms01_tree
from tests.snmp_agent import SnmpAgent, free_udp_port, serving, v3_user
from tests.switch_fixtures import SWITCH_DATA, write_lldpcli

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler")

V3_USER = "physgap"
V3_AUTH = "auth-passphrase-1"
V3_PRIV = "priv-passphrase-2"
FAST = 0.3  # per-request timeout for switches expected to stay silent


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpAgent]:
    # One SNMPv3 user beside v1/v2c; with v3 the context name picks the recording, as the community does.
    with serving(SWITCH_DATA.glob("*.snmprec"), tmp_path_factory.mktemp("snmpsim-switch"), "usw-flex-xg",
                 v3_user(V3_USER, V3_AUTH, V3_PRIV)) as started:
        yield started


def ctx(seconds: float = 5.0) -> RunContext:
    return RunContext(deadline=time.monotonic() + seconds, state_dir=Path("/nonexistent"))


def target(agent: SnmpAgent, community: str = "usw-flex-xg", ports: dict[str, PortRef] | None = None,
           lldpcli: str | None = "", **extra: Any) -> SwitchTarget:
    snmp = SnmpTarget(host=agent.host, port=agent.port, community=community, **extra)
    return SwitchTarget(snmp, MappingProxyType(ports or {}), lldpcli)


def collect(*targets: SwitchTarget) -> tuple[dict[str, SwitchReading], list[SwitchPortReading]]:
    readings = SwitchCollector(targets).collect(ctx())
    switches = {r.switch: r for r in readings if isinstance(r, SwitchReading)}
    ports = [r for r in readings if isinstance(r, SwitchPortReading)]
    assert len(switches) + len(ports) == len(readings)
    return switches, ports


def summary(ports: list[SwitchPortReading], switch: str) -> list[tuple[str, str, int | None, str]]:
    return [(p.port, p.oper_status, p.speed_mbps, p.interface) for p in ports if p.switch == switch]


USW = [("gi1", "up", 1000, ""), ("te1", "down", None, ""), ("te2", "up", 10000, ""), ("te3", "up", 100, ""),
       ("te4", "up", 10000, "")]


@pytest.mark.parametrize("version", ["2c", "1"])
def test_unifi_ports_over_v2c_bulk_and_v1_getnext(agent: SnmpAgent, version: str) -> None:
    switches, ports = collect(target(agent, version=version, name="usw"))
    assert switches["usw"].up and switches["usw"].reason == "" and switches["usw"].sys_name == "usw-flex-xg"
    assert summary(ports, "usw") == USW  # LAG, loopback and VLAN rows are not ports
    assert [p.if_index for p in ports] == [1, 2, 3, 4, 5]


def test_v3_auth_priv(agent: SnmpAgent, tmp_path: Path) -> None:
    (tmp_path / "auth").write_text(V3_AUTH + "\n")
    (tmp_path / "priv").write_text(V3_PRIV + "\n")
    for name in ("auth", "priv"):
        (tmp_path / name).chmod(0o600)
    v3 = {"version": "3", "username": V3_USER, "auth_key_file": tmp_path / "auth", "priv_key_file": tmp_path / "priv"}
    good = SwitchTarget(SnmpTarget(host=agent.host, port=agent.port, name="mikrotik", context="crs317", **v3),
                        MappingProxyType({}), "")
    (tmp_path / "wrong").write_text("not-the-passphrase\n")
    (tmp_path / "wrong").chmod(0o600)
    wrong = {**v3, "priv_key_file": tmp_path / "wrong"}
    bad = SwitchTarget(SnmpTarget(host=agent.host, port=agent.port, name="wrong-key", context="crs317",
                                  timeout=FAST, **wrong), MappingProxyType({}), "")
    switches, ports = collect(good, bad)
    assert switches["mikrotik"].up and switches["mikrotik"].sys_name == "crs317.lan"
    assert summary(ports, "mikrotik") == [("sfp-sfpplus1", "down", None, ""), ("sfp-sfpplus2", "up", 10000, ""),
                                          ("sfp-sfpplus3", "up", 1000, ""), ("ether1", "up", 1000, "")]
    assert not switches["wrong-key"].up and summary(ports, "wrong-key") == []
    assert "passphrase" not in switches["wrong-key"].reason


def test_silent_switches_are_down_with_a_reason_and_cost_the_others_nothing(agent: SnmpAgent,
                                                                            tmp_path: Path) -> None:
    closed = SwitchTarget(SnmpTarget(host="127.0.0.1", port=free_udp_port(), name="closed", timeout=FAST),
                          MappingProxyType({"enp87s0": PortRef(name="te1")}), "")
    wrong = target(agent, community="no-such-community", name="wrong", timeout=FAST)
    unresolvable = SwitchTarget(SnmpTarget(host="switch.invalid", name="nowhere"), MappingProxyType({}), "")
    no_secret = SwitchTarget(SnmpTarget(host=agent.host, port=agent.port, name="no-secret",
                                        community_file=tmp_path / "missing"), MappingProxyType({}), "")
    switches, ports = collect(closed, wrong, unresolvable, no_secret, target(agent, name="usw"))
    assert summary(ports, "usw") == USW
    for name in ("closed", "wrong", "nowhere", "no-secret"):
        assert not switches[name].up and switches[name].reason, name
        assert summary(ports, name) == [], name  # unknown ports, not down ones
    assert "timed out" in switches["closed"].reason and "timed out" in switches["wrong"].reason
    assert "cannot resolve switch.invalid" in switches["nowhere"].reason
    assert "missing" in switches["no-secret"].reason
    assert switches["closed"].links == (("enp87s0", "te1"),) and switches["closed"].unmatched == ()


def test_nics_are_mapped_by_config_and_by_lldp(agent: SnmpAgent, tmp_path: Path) -> None:
    lldpcli = write_lldpcli(tmp_path, "neighbors-three.json")
    # neighbors-three.json: enp2s0f0np0 hears usw-flex-xg (local port 3 = te2), enp87s0 hears crs317.lan.
    usw = target(agent, name="usw-flex-xg", ports={"eno2": PortRef(index=4)}, lldpcli=str(lldpcli))
    crs = target(agent, community="crs317", name="core", lldpcli=str(lldpcli))
    switches, ports = collect(usw, crs)
    mapped = {(p.switch, p.port): (p.interface, p.mapped_by) for p in ports if p.interface}
    assert mapped == {("usw-flex-xg", "te2"): ("enp2s0f0np0", "lldp"), ("usw-flex-xg", "te3"): ("eno2", "config"),
                      ("core", "sfp-sfpplus3"): ("enp87s0", "lldp")}  # crs317 matched by its sysName
    assert switches["usw-flex-xg"].unmatched == () and switches["core"].unmatched == ()


def test_without_lldpd_the_configured_mapping_still_holds(agent: SnmpAgent, tmp_path: Path,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    lldpcli = write_lldpcli(tmp_path, None, exit_code=1, stderr="lldpcli: unable to connect to socket")
    collector = SwitchCollector([target(agent, name="usw", ports={"eno2": PortRef(name="te3")},
                                        lldpcli=str(lldpcli))])
    readings = collector.collect(ctx())
    collector.collect(ctx())
    assert [(r.port, r.interface) for r in readings if isinstance(r, SwitchPortReading) and r.interface] == [
        ("te3", "eno2")]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len([w for w in warnings if "unable to connect to socket" in w]) == 1  # once, not every run


def test_a_stopping_daemon_ends_the_run(agent: SnmpAgent) -> None:
    run = ctx(10)
    run.cancel.set()
    with pytest.raises(Cancelled):
        SwitchCollector([target(agent)]).collect(run)


# --- the real daemon ---

def _wait(daemon: DaemonProcess, done: Any, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    body = ""
    while time.monotonic() < deadline:
        _, body = http_get(daemon.url + "/metrics")
        if done(body):
            return body
        time.sleep(0.2)
    raise AssertionError(f"not reached within {seconds}s:\n{body[-3000:]}")


def test_daemon_exports_switch_ports_and_names_both_ends_in_p3(agent: SnmpAgent, tmp_path: Path,
                                                              daemon_factory: list[DaemonProcess]) -> None:
    port = free_port()
    sysfs = tmp_path / "sys"
    ms01_tree(sysfs, sfp0_speed="1000")  # the MS-01's SFP+ port 0 linked at 1G
    (sysfs / "bus" / "pci" / "devices").mkdir(parents=True, exist_ok=True)
    extra = (f'[nics]\nexpected = {{ {X710_PORT0} = "10G" }}\n\n'
             f'[[switch]]\nhost = "{agent.host}"\nport = {agent.port}\ncommunity = "usw-flex-xg"\nname = "usw-16"\n'
             f'lldpcli = ""\nports = {{ {X710_PORT0} = "gi1" }}\n\n'
             f'[[switch]]\nhost = "127.0.0.1"\nport = {free_udp_port()}\nname = "nas-switch"\ntimeout = "300ms"\n'
             f'lldpcli = ""\n')
    config = write_config(tmp_path / "physgap.toml", sysfs, tmp_path / "state", port, extra)
    daemon = start_daemon(config, port)
    daemon_factory.append(daemon)
    body = _wait(daemon, lambda text: 'physgap_switch_up{switch="nas-switch"}' in text
                 and 'physgap_switch_up{switch="usw-16"} 1.0' in text and 'gap="P3"' in text)
    assert value(body, "physgap_switch_up", switch="nas-switch") == 0
    assert value(body, "physgap_switch_port_speed_bytes", switch="usw-16", port="gi1") == 125_000_000
    assert value(body, "physgap_switch_port_speed_bytes", switch="usw-16", port="te1") is None  # down
    assert value(body, "physgap_switch_port_up", switch="usw-16", port="te1") == 0
    assert value(body, "physgap_switch_port_info", switch="usw-16", port="gi1", if_index="1", alias="uplink",
                 interface=X710_PORT0, mapped_by="config") == 1
    assert value(body, "physgap_collector_success", collector="switch") == 1  # a silent switch is no failure
    _, view = http_get(daemon.url + "/api/v1/view")
    p3 = next(gap for gap in json.loads(view)["gaps"] if gap["id"] == "P3")
    assert p3["status"] == "open"
    assert f"{X710_PORT0} 1G, expected 10G; switch usw-16 port gi1 at 1G" in p3["evidence"]
