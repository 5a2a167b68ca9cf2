"""Compute hosts probed over real TCP: loopback listeners (online), closed ports (refused: offline), and a
blackholed address inside a network namespace the test creates (no answer: offline at the deadline), all
through the real HostsCollector and its bounded fan-out."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.hosts.collector import HostsCollector
from collectors.hosts.config import HostsConfig
from collectors.kit.context import RunContext
from collectors.model.gaps import RuleContext
from collectors.model.readings import AnyReading, ComputeScan, HostReading
from daemon.gaps import p4_hosts
from tests.conftest import free_port
from tests.netns import Netns, network_namespace, skip_or_fail
from tests.unit.test_hosts_p4 import snapshot


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


def collect(config: HostsConfig, seconds: float = 10) -> list[AnyReading]:
    ctx = RunContext(deadline=time.monotonic() + seconds, state_dir=Path("/nonexistent"))
    return list(HostsCollector(config).collect(ctx))


def hosts(readings: list[AnyReading]) -> dict[str, HostReading]:
    return {r.host: r for r in readings if isinstance(r, HostReading)}


def test_listening_port_is_online_closed_port_is_offline(tmp_path: Path, listener: int) -> None:
    closed = free_port()
    config = HostsConfig(members=None,  # no Proxmox membership: the compute list alone
                         compute=(f"127.0.0.1:{listener}", f"localhost:{closed}", "127.0.0.1"),
                         ports=(closed, listener), timeout=2.0)
    readings = collect(config)
    found = hosts(readings)
    assert (found[f"127.0.0.1:{listener}"].online, found[f"127.0.0.1:{listener}"].detail) == (True, f"{listener} open")
    refused = found[f"localhost:{closed}"]
    assert refused.online is False and refused.detail == f"refused on {closed}"
    # A bare name tries every default port: one that listens is enough.
    assert (found["127.0.0.1"].online, found["127.0.0.1"].detail) == (True, f"{listener} open")
    scan = readings[-1]
    assert scan == ComputeScan("tcp", True, "3 configured compute host(s) probed over TCP", hosts_configured=3,
                               hosts_online=2)
    finding = p4_hosts.evaluate(snapshot(tuple(readings)), RuleContext(role="nas"))
    assert finding.open is False
    assert finding.evidence == (f"2 of 3 compute hosts online (localhost:{closed} offline: refused on {closed})",)


def test_a_host_answering_on_its_first_port_never_sees_the_second() -> None:
    """A live Proxmox node answers on 8006: its sshd must not log a dropped connection every interval."""
    with socket.socket() as api, socket.socket() as ssh:
        for sock in (api, ssh):
            sock.bind(("127.0.0.1", 0))
            sock.listen(8)
            sock.setblocking(False)
        ports = (api.getsockname()[1], ssh.getsockname()[1])
        readings = collect(HostsConfig(members=None, compute=("127.0.0.1",), ports=ports, timeout=2.0))
        assert hosts(readings)["127.0.0.1"].detail == f"{ports[0]} open"
        api.accept()[0].close()
        with pytest.raises(BlockingIOError):
            ssh.accept()


def test_one_host_online_opens_p4_with_the_others_reason(tmp_path: Path, listener: int) -> None:
    closed = free_port()
    config = HostsConfig(members=None, compute=(f"127.0.0.1:{listener}", f"127.0.0.1:{closed}"), timeout=2.0)
    finding = p4_hosts.evaluate(snapshot(tuple(collect(config))), RuleContext(role="compute"))
    assert finding.open is True
    assert finding.evidence == (f"1 of 2 compute hosts online (127.0.0.1:{closed} offline: refused on {closed})",)


def test_unresolvable_name_is_undetermined_not_offline(tmp_path: Path, listener: int) -> None:
    config = HostsConfig(members=None, compute=("pve9.invalid", f"127.0.0.1:{listener}"), timeout=2.0)
    readings = collect(config)
    unresolved = hosts(readings)["pve9.invalid"]
    assert unresolved.online is None and unresolved.detail.startswith("name does not resolve")
    scan = readings[-1]
    assert isinstance(scan, ComputeScan) and scan.hosts_online is None  # no count that reads as measured
    assert p4_hosts.evaluate(snapshot(tuple(readings)), RuleContext(role="compute")).open is None


def test_garbled_members_falls_back_to_the_compute_list(tmp_path: Path, listener: int) -> None:
    members = tmp_path / ".members"
    members.write_bytes(b'{\n"nodename": "pve1",\n"version": 4,\n"cluster": { "name": "la')
    config = HostsConfig(members=members, compute=(f"127.0.0.1:{listener}", f"[::1]:{listener}"), timeout=2.0)
    readings = collect(config)
    scan = readings[-1]
    assert isinstance(scan, ComputeScan) and scan.source == "tcp"
    assert scan.note.startswith(f"{members}: not valid JSON")
    assert scan.note.endswith("probed the configured compute hosts instead")
    finding = p4_hosts.evaluate(snapshot(tuple(readings)), RuleContext(role="compute"))
    # ::1 has no listener on that port (the listener is IPv4 only): refused.
    assert finding.open is True and finding.evidence[1] == scan.note


def test_standalone_node_also_counts_configured_hosts(tmp_path: Path, listener: int) -> None:
    members = tmp_path / ".members"
    members.write_bytes(b'{\n"nodename": "pve1",\n"version": 0\n}\n')
    config = HostsConfig(members=members, compute=("pve1", f"127.0.0.1:{listener}"), timeout=2.0)
    readings = collect(config)
    found = hosts(readings)
    assert set(found) == {"pve1", f"127.0.0.1:{listener}"}  # the node itself is not probed again
    assert found["pve1"].source == "pve" and found["pve1"].local
    assert p4_hosts.evaluate(snapshot(tuple(readings)), RuleContext(role="compute")).open is False


# --- the timeout path: a blackholed address in a private network namespace ------------------------------

BLACKHOLE_ROUND = """
import json, socket, sys, time
from pathlib import Path
from collectors.hosts.collector import HostsCollector
from collectors.hosts.config import HostsConfig
from collectors.kit.context import RunContext

silent, timeout = int(sys.argv[1]), float(sys.argv[2])
with socket.socket() as listener:
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    compute = tuple(f"10.98.0.{i + 2}" for i in range(silent)) + (f"127.0.0.1:{port}",)
    config = HostsConfig(members=None, compute=compute, ports=(8006, 22), timeout=timeout)
    started = time.monotonic()
    readings = HostsCollector(config).collect(RunContext(deadline=started + 3 * timeout + 2, state_dir=Path("/x")))
    took = time.monotonic() - started
print(json.dumps({"took": took, "hosts": {r.host: [r.online, r.detail] for r in readings if hasattr(r, "online")}}))
"""


@pytest.fixture
def blackhole_netns() -> Iterator[Netns]:
    """A namespace where 10.98.0.0/24 is routed to a gateway that does not exist: nothing ever answers."""
    with network_namespace("hosts", blackholed=["10.98.0.0/24"], unavailable=skip_or_fail) as netns:
        yield netns


def test_blackholed_hosts_time_out_concurrently_as_offline(blackhole_netns: Netns) -> None:
    silent, timeout = 8, 1.0
    result = blackhole_netns.run([sys.executable, "-c", BLACKHOLE_ROUND, str(silent), str(timeout)])
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    found = report["hosts"]
    assert len(found) == silent + 1
    for i in range(silent):
        assert found[f"10.98.0.{i + 2}"] == [False, "no answer within 1s on 8006, 22"]
    assert [online for name, (online, _) in found.items() if name.startswith("127.0.0.1:")] == [True]
    # All at once: eight silent hosts one after another would take eight timeouts.
    assert report["took"] < 2 * timeout
