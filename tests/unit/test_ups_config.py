"""[ups], [[ups.nut]] and [[ups.snmp]] as the operator writes them: read by the daemon's one loader, built into
the typed configs the collectors take, and mistakes named with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.kit.snmp_target import SnmpTarget
from collectors.ups.config import DEFAULT_UPSMON_CONF, NutServerConfig, UpsConfig
from daemon.config import load_config
from tests.conftest import config_problems, load_section


def ups(tmp_path: Path, text: str) -> UpsConfig:
    return load_section(tmp_path, text, "ups", UpsConfig)



def test_nothing_written_means_autodetect() -> None:
    config = load_config(None).sources["ups"]
    assert config == UpsConfig(nut=(), snmp=(), autodetect=True, upsmon_conf=DEFAULT_UPSMON_CONF)


def test_nut_server_defaults(tmp_path: Path) -> None:
    config = ups(tmp_path, '[[ups.nut]]\nhost = "nas.lan"\n')
    assert config.nut == (NutServerConfig(host="nas.lan", port=3493, ups="", username="", password_file=None,
                                          starttls=False, ca_file=None, timeout=5.0),)
    assert config.nut[0].label == "nas.lan:3493"


def test_nut_server_every_key(tmp_path: Path) -> None:
    config = ups(tmp_path, '[ups]\nupsmon_conf = ""\ntimeout = "20s"\n\n'
                           '[[ups.nut]]\nhost = "10.0.0.2"\nport = 3494\nups = "rack"\nusername = "mon"\n'
                           'password_file = "nut.pass"\nstarttls = true\nca_file = "/etc/ssl/nut-ca.pem"\n'
                           'timeout = "1500ms"\n')
    (server,) = config.nut
    assert server == NutServerConfig(host="10.0.0.2", port=3494, ups="rack", username="mon",
                                     password_file=Path("nut.pass"), starttls=True,
                                     ca_file=Path("/etc/ssl/nut-ca.pem"), timeout=1.5)
    assert (config.upsmon_conf, config.timeout) == (None, 20.0)


def test_bracketed_ipv6_host_is_accepted_bare(tmp_path: Path) -> None:
    config = ups(tmp_path, '[[ups.nut]]\nhost = "[::1]"\n\n[[ups.snmp]]\nhost = "[fd00::9]"\n')
    assert config.nut[0].host == "::1"  # what the socket wants
    assert config.nut[0].label == "[::1]:3493"  # what the reading says
    assert config.snmp[0].host == "fd00::9"


@pytest.mark.parametrize("host", ["[]", "[::1", "::1]", "[[::1]]"])
def test_malformed_brackets_are_refused(tmp_path: Path, host: str) -> None:
    assert config_problems(tmp_path, f'[[ups.nut]]\nhost = "{host}"\n') == [
        f"2: ups.nut[0].host: {host!r} is not a host name or address"]


def test_one_set_of_rules_for_nut_and_snmp(tmp_path: Path) -> None:
    # Before the loader checked everything once, the NUT collector took a port as a string and the SNMP
    # collector "v2c": the file now means the same thing wherever it is read.
    found = config_problems(tmp_path, '[[ups.nut]]\nhost = "a"\nport = "3493"\ntimeout = 5\n\n'
                               '[[ups.snmp]]\nhost = "b"\nversion = "v2c"\nport = 0\n')
    assert found == [
        "3: ups.nut[0].port: expected an integer, got str",
        "4: ups.nut[0].timeout: expected a duration such as \"30s\", got 5",
        "8: ups.snmp[0].version: 'v2c' is not one of 1, 2c",
        "9: ups.snmp[0].port: 0 is outside 1..65535",
    ]


def test_nut_ups_name_is_checked(tmp_path: Path) -> None:
    assert config_problems(tmp_path, '[[ups.nut]]\nhost = "a"\nups = "rack@nas"\n') == [
        "3: ups.nut[0].ups: 'rack@nas' is not a NUT UPS name"]


def test_snmp_target_defaults(tmp_path: Path) -> None:
    (target,) = ups(tmp_path, '[[ups.snmp]]\nhost = "ups.lan"\n').snmp
    assert target == SnmpTarget(host="ups.lan", port=161, community="public", community_file=None, version="2c",
                                name="", timeout=1.0)
    assert target.label == "ups.lan"


def test_snmp_target_every_key(tmp_path: Path) -> None:
    (target,) = ups(tmp_path, '[[ups.snmp]]\nhost = "10.0.0.9"\nport = 1161\ncommunity = "s3cret"\n'
                              'community_file = "/etc/physgap/ups-community"\nversion = "1"\nname = "rack"\n'
                              'timeout = "2s"\n').snmp
    assert (target.host, target.port, target.community, target.version, target.timeout) == (
        "10.0.0.9", 1161, "s3cret", "1", 2.0)
    assert target.community_file == Path("/etc/physgap/ups-community")
    assert target.label == "rack"
    assert "s3cret" not in repr(target)


def test_snmp_host_is_required(tmp_path: Path) -> None:
    assert config_problems(tmp_path, '[[ups.snmp]]\nname = "rack"\n') == ["1: ups.snmp[0].host: missing (required)"]
