"""Configuration: the contract's keys are accepted, mistakes are named with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import ConfigError, load_config, parse_duration, parse_listen_address

FULL_CONTRACT = """
[daemon]
host = "pve1"
role = "compute"
interval = "30s"
state_dir = "/var/lib/physgap"
sysfs = "/sys"
procfs = "/proc"

[prometheus]
listen = "0.0.0.0:9829"
web_config = "/etc/physgap/web.yml"
textfile = ""

[mqtt]
host = "broker.lan"
port = 1883
tls = false
ca_file = ""
username = ""
password_file = ""
base_topic = "physgap"
discovery_prefix = "homeassistant"

[[ups.nut]]
host = "127.0.0.1"
port = 3493
ups = ""

[[ups.snmp]]
host = "ups.lan"
community = "public"

[smart]
smartctl = "smartctl"
devices = []
interval = "10m"
timeout = "60s"
concurrency = 4

[storage]
zpool = "zpool"

[nics]
include = ["*"]
exclude = []
expected = { enp2s0f0np0 = "10G" }

[pcie]
dmidecode = "dmidecode"

[[oob.targets]]
name = "ms01-amt"
host = "10.0.10.5"
kind = "amt"
port = 16992

[hosts]
members = "/etc/pve/.members"
compute = []

[[switch]]
host = "usw-16.lan"
community = "public"

[gaps.P5]
severity = "info"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "physgap.toml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return [str(p) for p in info.value.problems]


def test_every_contract_key_is_accepted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL_CONTRACT))
    assert config.daemon.host == "pve1"
    assert config.daemon.interval == 30.0
    assert config.sources["nics"].expected_mbps == {"enp2s0f0np0": 10_000}
    assert config.prometheus.web_config == Path("/etc/physgap/web.yml")
    assert config.prometheus.textfile is None  # empty string means off
    assert config.gaps["P5"].severity == "info"
    assert config.sources["oob"].targets[0].name == "ms01-amt"
    assert config.sources["oob"].targets[0].port == 16992


def test_no_file_means_defaults(tmp_path: Path) -> None:
    del tmp_path
    config = load_config(None)
    assert config.prometheus.listen == "0.0.0.0:9829"
    assert config.daemon.interval == 30.0
    assert config.sources["nics"].include == ("*",)
    assert config.daemon.host  # the machine's hostname


def test_bad_duration_names_file_line_and_key(tmp_path: Path) -> None:
    found = problems(tmp_path, '[daemon]\nhost = "x"\ninterval = "30x"\n')
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'physgap.toml'}:3: daemon.interval: bad duration '30x'")


def test_unknown_key_and_section_are_errors(tmp_path: Path) -> None:
    found = problems(tmp_path, '[daemon]\nintervall = "30s"\n\n[bogus]\nx = 1\n')
    assert any(":2: daemon.intervall: unknown key" in p for p in found)
    assert any(":4: bogus: unknown section" in p for p in found)


def test_wrong_types_are_reported_each(tmp_path: Path) -> None:
    found = problems(tmp_path, '[mqtt]\nport = "1883"\ntls = "yes"\n\n[nics]\ninclude = "eth*"\n')
    assert any("mqtt.port: expected an integer, got str" in p for p in found)
    assert any("mqtt.tls: expected true or false" in p for p in found)
    assert any(":6: nics.include: expected a list of strings" in p for p in found)


@pytest.mark.parametrize("listen", ["9829", "host:99999", "a b:80", "[::1:80", ":0"])
def test_bad_listen_addresses(tmp_path: Path, listen: str) -> None:
    found = problems(tmp_path, f'[prometheus]\nlisten = "{listen}"\n')
    assert len(found) == 1
    assert ":2: prometheus.listen:" in found[0]


def test_bad_speed_and_severity(tmp_path: Path) -> None:
    found = problems(tmp_path, '[nics]\nexpected = { eth0 = "fast" }\n\n[gaps.P3]\nseverity = "urgent"\n')
    assert any("nics.expected: eth0:" in p for p in found)
    assert any(":5: gaps.P3.severity: 'urgent' is not one of info, low, medium, high, critical" in p
               for p in found)


def test_array_entries_are_located_by_index(tmp_path: Path) -> None:
    text = ('[[oob.targets]]\nname = "a"\nhost = "h1"\n\n[[oob.targets]]\nname = "b"\nhost = "h2"\n'
            'kind = "telnet"\n')
    found = problems(tmp_path, text)
    assert found == [f"{tmp_path / 'physgap.toml'}:8: oob.targets[1].kind: 'telnet' is not one of amt, ipmi, tcp"]


def test_invalid_toml_and_unreadable_file(tmp_path: Path) -> None:
    found = problems(tmp_path, "[daemon\nhost = 1\n")
    assert "not valid TOML" in found[0]
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.toml")
    assert "cannot read" in str(info.value)


def test_garbage_bytes_are_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "physgap.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "not UTF-8" in str(info.value)


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h", 3600),
                                                ("1m30s", 90)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30", "30x", "", "s", "0s", "-5s", "5 m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_listen_address_forms() -> None:
    assert parse_listen_address(":9829") == ("0.0.0.0", 9829)
    assert parse_listen_address("[::1]:9829") == ("::1", 9829)
    assert parse_listen_address("127.0.0.1:1") == ("127.0.0.1", 1)
