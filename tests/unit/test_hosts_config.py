"""[hosts]: compute entries as "host", "host:port" or "[address]:port", which ports a bare host is probed
on, and that files written for the earlier release (members, compute as plain names) mean the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from collectors.hosts.config import DEFAULT_PORTS, HostsConfig, ProbeTarget, split_host_port
from daemon.config import load_config
from tests.conftest import config_problems, load_section


def hosts(tmp_path: Path, text: str) -> HostsConfig:
    return load_section(tmp_path, text, "hosts", HostsConfig)


def problems(tmp_path: Path, text: str) -> list[str]:
    return [problem.split(": ", 1)[1] for problem in config_problems(tmp_path, text)]


def test_default_reads_proxmox_membership_and_probes_nothing() -> None:
    config = load_config(None).sources["hosts"]
    assert (config.members, config.compute, config.targets) == (Path("/etc/pve/.members"), (), ())


def test_a_bare_name_is_probed_on_the_proxmox_api_then_ssh(tmp_path: Path) -> None:
    config = hosts(tmp_path, '[hosts]\nmembers = "/etc/pve/.members"\ncompute = ["pve1", "pve2"]\n')
    assert config.compute == ("pve1", "pve2")  # as written: the label a host is shown by
    assert DEFAULT_PORTS == (8006, 22)
    assert config.targets == (ProbeTarget("pve1", "pve1", (8006, 22)), ProbeTarget("pve2", "pve2", (8006, 22)))


def test_ports_per_host_and_default_ports(tmp_path: Path) -> None:
    config = hosts(tmp_path, '[hosts]\nmembers = ""\ncompute = ["10.0.10.6:22", "[fd00::7]:8006", "fd00::8", '
                             '"k3s-1"]\nports = [22]\ntimeout = "500ms"\n')
    assert config.members is None
    assert config.timeout == 0.5
    assert config.targets == (ProbeTarget("10.0.10.6:22", "10.0.10.6", (22,)),
                              ProbeTarget("[fd00::7]:8006", "fd00::7", (8006,)),
                              ProbeTarget("fd00::8", "fd00::8", (22,)), ProbeTarget("k3s-1", "k3s-1", (22,)))


@pytest.mark.parametrize(("text", "expected"), [
    ("pve2", ("pve2", None)), ("pve2:22", ("pve2", 22)), ("[::1]", ("::1", None)), ("::1", ("::1", None)),
    ("[fe80::1%eno1]:22", ("fe80::1%eno1", 22)),
])
def test_split_host_port(text: str, expected: tuple[str, int | None]) -> None:
    assert split_host_port(text) == expected


def test_bad_entries_are_refused_with_the_entry_named(tmp_path: Path) -> None:
    found = problems(tmp_path, '[hosts]\ncompute = ["pve2:ssh"]\n')
    assert found == ["hosts.compute: 'pve2:ssh' is not a host, host:port or [address]:port"]
    assert problems(tmp_path, '[hosts]\ncompute = ["pve2:70000"]\n') == [
        "hosts.compute: 'pve2:70000': port 70000 is outside 1..65535"]
    assert problems(tmp_path, '[hosts]\ncompute = ["pve2", "pve2"]\n') == ["hosts.compute: 'pve2' is listed twice"]
    assert problems(tmp_path, '[hosts]\nports = []\n') == [
        "hosts.ports: expected a non-empty list of ports, such as [8006, 22]"]
    assert problems(tmp_path, '[hosts]\nports = [0]\n') == ["hosts.ports: 0 is outside 1..65535"]
    assert problems(tmp_path, '[hosts]\ntimeout = "10ms"\n')[0].startswith("hosts.timeout: '10ms' is shorter")
