"""The sections of the exporters and the network probes ([mqtt], [[oob.targets]], [hosts], [[switch]]) are typed
and checked: an operator's mistake is told with its file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import ConfigError, load_config


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "physgap.toml"
    path.write_text(text)
    return load_config(path)


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    return [str(p).split(": ", 1)[1] for p in info.value.problems]


def test_typed_values_and_defaults(tmp_path: Path) -> None:
    config = load_config(None)
    assert config.mqtt.enabled is False and config.mqtt.base_topic == "physgap"
    assert config.sources["oob"].targets == ()
    assert config.sources["hosts"].members == Path("/etc/pve/.members")
    path = tmp_path / "c.toml"
    path.write_text('[mqtt]\nhost = "broker.lan"\nusername = "ha"\npassword_file = "mqtt.pass"\n\n'
                    '[[oob.targets]]\nname = "ms01-amt"\nhost = "10.0.10.5"\n\n'
                    '[[oob.targets]]\nname = "nas-bmc"\nhost = "nas-bmc.lan"\nkind = "ipmi"\n\n'
                    '[[oob.targets]]\nname = "ssh"\nhost = "pve2"\nkind = "tcp"\nport = 22\n\n'
                    '[hosts]\ncompute = ["pve1", "pve2"]\n\n'
                    '[[switch]]\nhost = "[fd00::2]"\ncommunity_file = "switch.community"\nname = "usw-16"\n\n'
                    '[[switch]]\nhost = "mikrotik.lan"\ncommunity = "s3cr3t-word"\n')
    config = load_config(path)
    assert (config.mqtt.enabled, config.mqtt.port, config.mqtt.password_file) == (True, 1883, Path("mqtt.pass"))
    assert [(t.name, t.kind, t.port) for t in config.sources["oob"].targets] == [
        ("ms01-amt", "amt", 16992), ("nas-bmc", "ipmi", 623), ("ssh", "tcp", 22)]
    assert config.sources["hosts"].compute == ("pve1", "pve2")
    switch, mikrotik = config.sources["switch"].switches
    assert (switch.agent.host, switch.label, switch.agent.community_file) == (
        "fd00::2", "usw-16", Path("switch.community"))
    assert (mikrotik.label, mikrotik.agent.community) == ("mikrotik.lan", "s3cr3t-word")
    assert "s3cr3t-word" not in repr(config)  # a secret stays out of reprs, and so out of any log of them


def test_cross_checks_say_what_is_wrong(tmp_path: Path) -> None:
    found = problems(tmp_path, '[mqtt]\nhost = "b"\nca_file = "/ca.pem"\npassword_file = "p"\n'
                               'base_topic = "home/#"\n\n'
                               '[[oob.targets]]\nname = "a"\nhost = "h"\nkind = "tcp"\n\n'
                               '[[oob.targets]]\nname = "a"\nhost = "h2"\n\n'
                               '[[oob.targets]]\nhost = "h3"\n\n'
                               '[hosts]\ncompute = ["pve 2"]\n\n[[switch]]\nname = "core"\n')
    assert "mqtt.ca_file: set, but tls = false: the ca file would be ignored" in found
    assert "mqtt.password_file: set without a username: the broker would never see it" in found
    assert any(p.startswith("mqtt.base_topic: 'home/#' is not a topic prefix") for p in found)
    assert "oob.targets[0].port: missing (a tcp target needs the port to connect to)" in found
    assert "oob.targets[1].name: 'a' is used by an earlier target" in found
    assert "oob.targets[2].name: missing (required)" in found
    assert "hosts.compute: 'pve 2' is not a host name or address" in found
    assert "switch[0].host: missing (required)" in found
