"""[[switch]] as the operator writes it: the [[ups.snmp]] keys, SNMPv3, the NIC-to-port table and lldpcli, read
by the daemon's one loader; mistakes named with line and key; the collector planned only when configured."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.kit.snmp_target import SnmpTarget
from collectors.registry import Environment
from collectors.switch import plan
from collectors.switch.config import RUN_TIMEOUT, PortRef, SwitchConfig
from tests.conftest import config_problems, load_section, modules_after_build


def switches(tmp_path: Path, text: str) -> SwitchConfig:
    return load_section(tmp_path, text, "switch", SwitchConfig)



def test_v2c_switch_with_ports_by_name_and_by_index(tmp_path: Path) -> None:
    config = switches(tmp_path, '[[switch]]\nhost = "usw-16.lan"\ncommunity = "public"\n'
                                'ports = { enp2s0f0np0 = "te1", enp87s0 = 17 }\n')
    (target,) = config.switches
    assert target.agent == SnmpTarget(host="usw-16.lan", community="public")
    assert dict(target.ports) == {"enp2s0f0np0": PortRef(name="te1"), "enp87s0": PortRef(index=17)}
    assert target.lldpcli is None  # the default program, when installed
    assert target.label == "usw-16.lan"
    assert str(target.ports["enp87s0"]) == "ifIndex 17" and str(target.ports["enp2s0f0np0"]) == "te1"


def test_v3_auth_priv_switch_and_lldp_off(tmp_path: Path) -> None:
    config = switches(tmp_path, '[[switch]]\nhost = "10.0.0.2"\nname = "core"\nversion = "3"\n'
                                'username = "physgap"\nauth_protocol = "SHA256"\nauth_key_file = "switch-auth"\n'
                                'priv_protocol = "AES256"\npriv_key_file = "switch-priv"\ncontext = "vlan-1"\n'
                                'lldpcli = ""\n')
    (target,) = config.switches
    agent = target.agent
    assert (agent.version, agent.username, agent.auth_protocol, agent.priv_protocol, agent.context) == (
        "3", "physgap", "SHA256", "AES256", "vlan-1")
    assert (agent.auth_key_file, agent.priv_key_file) == (Path("switch-auth"), Path("switch-priv"))
    assert target.lldpcli == "" and target.label == "core"


def test_mistakes_are_named_with_line_and_key(tmp_path: Path) -> None:
    found = config_problems(tmp_path, (
        '[[switch]]\nhost = "a"\nports = { enp1 = 0, "bad name" = "te1", eth2 = true, eth3 = "", eth4 = 1.5 }\n'
        '[[switch]]\nhost = "b"\nports = "te1"\n'
        '[[switch]]\nhost = "c"\nversion = "3"\ncommunity = "public"\npriv_protocol = "AES"\n'
        '[[switch]]\nhost = "d"\nusername = "u"\nauth_key_file = "k"\n'
        '[[switch]]\nhost = "e"\nversion = "3"\nusername = "u"\nauth_key_file = "k"\nauth_protocol = "SHA1"\n'))
    assert found == [
        "3: switch[0].ports: enp1: ifIndex 0 is outside 1..2147483647",
        "6: switch[1].ports: expected a table such as { enp2s0f0np0 = \"te1\", enp87s0 = 17 }",
        "7: switch[2].username: missing (required with version = \"3\")",
        "7: switch[2].auth_key_file: missing (required with version = \"3\": physgap asks SNMPv3 agents "
        "authNoPriv or authPriv, never noAuthNoPriv)",
        "10: switch[2].community: SNMPv3 uses username and keys, not a community",
        "11: switch[2].priv_protocol: has no priv_key_file to go with it",
        "14: switch[3].username: only used with version = \"3\" (this agent is asked with SNMPv2c)",
        "15: switch[3].auth_key_file: only used with version = \"3\" (this agent is asked with SNMPv2c)",
        "21: switch[4].auth_protocol: 'SHA1' is not one of MD5, SHA, SHA224, SHA256, SHA384, SHA512",
    ]


NOT_A_NAME = "is not a network interface name (1-15 bytes, no '/' or spaces)"


@pytest.mark.parametrize(("ports", "problem"), [
    ('{ "bad name" = "te1" }', f"'bad name' {NOT_A_NAME}"),
    ('{ "a/b" = "te1" }', f"'a/b' {NOT_A_NAME}"),
    ('{ abcdefghijklmnop = "te1" }', f"'abcdefghijklmnop' {NOT_A_NAME}"),  # 16 bytes: one over IFNAMSIZ - 1
    ("{ eth2 = true }", "eth2: expected a port name (string) or ifIndex (integer), got a boolean"),
    ('{ eth3 = "" }', "eth3: the port name must not be empty"),
    ("{ eth4 = 1.5 }", "eth4: expected a port name (string) or ifIndex (integer), got float"),
    ("{ eth5 = 2147483648 }", "eth5: ifIndex 2147483648 is outside 1..2147483647"),
])
def test_bad_port_tables(tmp_path: Path, ports: str, problem: str) -> None:
    found = config_problems(tmp_path, f'[[switch]]\nhost = "a"\nports = {ports}\n')
    assert found == [f"3: switch[0].ports: {problem}"]


def test_one_nic_on_two_switches_and_two_switches_by_one_name(tmp_path: Path) -> None:
    found = config_problems(tmp_path, '[[switch]]\nhost = "a"\nports = { eth0 = "1" }\n'
                               '[[switch]]\nhost = "b"\nname = "a"\nports = { eth0 = "2" }\n')
    assert found == ["6: switch[1].name: 'a' is already switch 1: give each a distinct name",
                     "7: switch[1].ports: eth0 is already cabled to switch 1"]


def test_no_switch_plans_nothing_and_a_switch_plans_one_collector(tmp_path: Path) -> None:
    env = Environment(sysfs=Path("/sys"), procfs=Path("/proc"))
    assert plan(SwitchConfig(), env) == []
    (planned,) = plan(switches(tmp_path, '[[switch]]\nhost = "a"\n[[switch]]\nhost = "b"\n'), env)
    assert planned.collector.name == "switch"
    assert (planned.interval, planned.timeout) == (None, RUN_TIMEOUT)


def test_a_configured_switch_loads_no_pysnmp_until_it_is_polled(tmp_path: Path) -> None:
    config = tmp_path / "physgap.toml"
    config.write_text('[[switch]]\nhost = "usw.lan"\n')
    loaded = modules_after_build(config)
    assert ("pysnmp" in loaded, "collectors.switch.collector" in loaded) == (False, True)
