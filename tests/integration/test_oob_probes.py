"""The OOB probe collector against real servers: a loopback HTTP server that answers as AMT firmware does,
a banner-only impostor, a plain web server, a port that accepts and never speaks, closed TCP and UDP ports,
UDP RMCP responders, and (in a network namespace made here) an address whose packets vanish and a network
the kernel calls unreachable. Then the daemon itself (`physgap once`) with [[oob.targets]] and a host tree.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.kit.context import RunContext
from collectors.model.readings import OobReading
from collectors.oob.collector import OobProbeCollector
from collectors.oob.config import OobTarget
from tests.conftest import free_port, run_physgap
from tests.netns import Netns, network_namespace, skip_or_fail
from tests.oob_fixtures import (
    DMIDECODE,
    RmcpResponder,
    SilentServer,
    amt_like_server,
    host_tree,
    port_of,
    standin_dmidecode,
)
from tests.snmp_agent import free_udp_port

PASSWORD = "s3cret-Amt-pw!"


def probe(*targets: OobTarget, budget: float = 10.0) -> dict[str, OobReading]:
    collector = OobProbeCollector(targets)
    readings = collector.collect(RunContext(deadline=time.monotonic() + budget, state_dir=Path("/nonexistent")))
    return {r.target: r for r in readings if isinstance(r, OobReading)}


def secret(tmp_path: Path, value: str = PASSWORD, name: str = "amt-password") -> Path:
    path = tmp_path / name
    path.write_text(value + "\n")
    path.chmod(0o600)
    return path


def test_amt_firmware_is_answering_with_its_version() -> None:
    with amt_like_server() as amt:
        found = probe(OobTarget("ms01-amt", "127.0.0.1", "amt", port_of(amt), 3.0))["ms01-amt"]
        assert (found.state, found.product, found.version) == ("answering", "Intel AMT", "15.0.23.1706")
        assert "Digest realm Digest:727734D63A1FC0423736E48DA554E462" in found.detail
        assert found.power_state is None  # no credentials, no power state
        # The probe is one unauthenticated POST to /wsman, nothing else.
        assert [path for path, _, _ in amt.requests] == ["/wsman"]
        assert "Authorization" not in amt.requests[0][1]


def test_a_banner_only_impostor_and_a_plain_web_server_are_not_amt() -> None:
    with amt_like_server("impostor") as dash, amt_like_server("plain") as web:
        found = probe(OobTarget("dash", "127.0.0.1", "amt", port_of(dash), 3.0),
                      OobTarget("web", "127.0.0.1", "amt", port_of(web), 3.0))
    assert found["dash"].state == "not_oob"
    assert "banner alone is not proof" in found["dash"].detail
    assert found["web"].state == "not_oob"
    assert "nginx" in found["web"].detail


def test_a_port_that_accepts_and_never_answers_is_open_but_not_amt() -> None:
    with SilentServer() as silent:
        found = probe(OobTarget("hung", "127.0.0.1", "amt", silent.port, 0.5))["hung"]
    assert found.state == "not_oob"
    assert "no HTTP answer" in found.detail


def test_closed_ports_are_refused_and_bad_names_unresolvable() -> None:
    # A free port was bound then released: nobody listens, so the kernel answers RST / ICMP unreachable.
    found = probe(OobTarget("closed", "127.0.0.1", "amt", free_port(), 2.0),
                  OobTarget("closed-tcp", "127.0.0.1", "tcp", free_port(), 2.0),
                  OobTarget("closed-udp", "127.0.0.1", "ipmi", free_udp_port(), 2.0),
                  OobTarget("typo", "ms01-amt.invalid", "amt", 16992, 2.0))
    assert [found[n].state for n in ("closed", "closed-tcp", "closed-udp", "typo")] == [
        "refused", "refused", "refused", "unresolvable"]


def test_amt_without_a_port_tries_16992_then_16993() -> None:
    # Nothing listens on loopback 16992/16993 here: both ports are tried and named.
    found = probe(OobTarget("amt", "127.0.0.1", "amt", 16992, 2.0, tls_fallback=True))["amt"]
    assert found.state == "refused"
    assert found.detail == "connection refused on ports 16992, 16993"


def test_a_plain_tcp_target_answers_when_the_port_accepts() -> None:
    with amt_like_server("plain") as web:
        found = probe(OobTarget("kvm", "127.0.0.1", "tcp", port_of(web), 2.0))["kvm"]
    assert found.state == "answering"


@pytest.mark.parametrize(("kind", "product", "version", "provisioning"), [
    ("amt", "Intel AMT", "11.6", "post"),
    ("ipmi", "IPMI", "", ""),
])
def test_rmcp_presence_pong(kind: str, product: str, version: str, provisioning: str) -> None:
    with RmcpResponder(kind) as responder:
        found = probe(OobTarget("bmc", "127.0.0.1", "ipmi", responder.port, 2.0))["bmc"]
    assert (found.state, found.product, found.version, found.provisioning) == (
        "answering", product, version, provisioning)


def test_udp_answers_that_are_no_pong_are_not_taken_for_a_bmc() -> None:
    with RmcpResponder("junk") as responder:
        found = probe(OobTarget("bmc", "127.0.0.1", "ipmi", responder.port, 1.0))["bmc"]
    assert found.state == "not_oob"
    assert responder.pings >= 1


def test_credentials_read_the_power_state_and_never_leak(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with amt_like_server(password=PASSWORD, power_state=8) as amt:
        right = OobTarget("ms01-amt", "127.0.0.1", "amt", port_of(amt), 3.0, "admin", secret(tmp_path))
        wrong = OobTarget("wrong", "127.0.0.1", "amt", port_of(amt), 3.0, "admin", secret(tmp_path, "nope", "wrong"))
        found = probe(right, wrong)
        authorizations = [headers.get("Authorization", "") for _, headers, _ in amt.requests]
    assert found["ms01-amt"].power_state == 8
    assert found["ms01-amt"].powered_on is False
    assert found["ms01-amt"].detail.endswith("host power off (S5)")
    assert found["wrong"].state == "answering" and found["wrong"].power_state is None
    assert "credentials for 'admin' rejected" in found["wrong"].detail
    # Digest on the wire, never the password; nor in readings or logs.
    assert any(a.startswith("Digest ") for a in authorizations)
    assert all(PASSWORD not in a for a in authorizations)
    assert PASSWORD not in repr(found) and PASSWORD not in caplog.text


def test_an_unreadable_password_file_costs_the_power_state_only(tmp_path: Path) -> None:
    with amt_like_server() as amt:
        found = probe(OobTarget("amt", "127.0.0.1", "amt", port_of(amt), 3.0, "admin", tmp_path / "missing"))["amt"]
    assert found.state == "answering"
    assert "power state not read: cannot read secret file" in found.detail


# --- the timeout path: a network namespace with an address whose packets go nowhere ---------------------------

CHILD = """
import dataclasses, json, sys, time
from pathlib import Path
from collectors.kit.context import RunContext
from collectors.oob.collector import OobProbeCollector
from collectors.oob.config import OobTarget

targets = [OobTarget(**t) for t in json.loads(sys.argv[1])]
started = time.monotonic()
readings = OobProbeCollector(targets).collect(RunContext(deadline=time.monotonic() + 10, state_dir=Path("/x")))
print(json.dumps({"round": time.monotonic() - started, "readings": [dataclasses.asdict(r) for r in readings]}))
"""


@pytest.fixture
def blackhole_netns() -> Iterator[Netns]:
    """A namespace where 10.213.0.0/24 is a blackhole (packets vanish: no RST, no ICMP) and 10.214.0.0/24
    has an `unreachable` route (the kernel answers EHOSTUNREACH at once)."""
    with network_namespace("oob", blackholed=["10.213.0.0/24"], unreachable=["10.214.0.0/24"],
                           unavailable=skip_or_fail) as netns:
        yield netns


def test_a_blackholed_address_times_out_at_each_targets_own_deadline(blackhole_netns: Netns) -> None:
    targets = [{"name": "amt-void", "host": "10.213.0.2", "kind": "amt", "port": 16992, "timeout": 1.0},
               {"name": "ipmi-void", "host": "10.213.0.2", "kind": "ipmi", "port": 623, "timeout": 1.0},
               {"name": "tcp-void", "host": "10.213.0.2", "kind": "tcp", "port": 22, "timeout": 1.0},
               {"name": "no-route", "host": "10.214.0.9", "kind": "amt", "port": 16992, "timeout": 1.0}]
    result = blackhole_netns.run([sys.executable, "-c", CHILD, json.dumps(targets)], check=True)
    found = {r["target"]: r for r in json.loads(result.stdout)["readings"]}
    assert {n: found[n]["state"] for n in found} == {
        "amt-void": "timeout", "ipmi-void": "timeout", "tcp-void": "timeout", "no-route": "unreachable"}
    assert found["amt-void"]["detail"] == "no answer on port 16992 before the deadline"
    assert found["ipmi-void"]["detail"] == "no RMCP presence pong on UDP 623 before the deadline"
    # Each target waited for its own deadline, not less (a probe that gives up early would call a slow
    # endpoint dead).
    assert all(found[n]["duration_seconds"] >= 0.95 for n in ("amt-void", "ipmi-void", "tcp-void"))


# --- the daemon ----------------------------------------------------------------------------------------------


def test_physgap_once_probes_targets_and_judges_p6(tmp_path: Path) -> None:
    host = host_tree(tmp_path / "host", "elitedesk-800-g3")
    dmidecode = standin_dmidecode(tmp_path / "bin", DMIDECODE["elitedesk-800-g3"])
    (host / "sys" / "class" / "net").mkdir(parents=True)  # no NICs
    with amt_like_server() as amt:
        config = tmp_path / "physgap.toml"
        config.write_text(
            f'[daemon]\nhost = "testhost"\nsysfs = "{host / "sys"}"\nprocfs = "{tmp_path}"\n'
            f'state_dir = "{tmp_path / "state"}"\n\n[prometheus]\nlisten = "127.0.0.1:{free_port()}"\n\n'
            f'[smart]\nsmartctl = "/bin/false"\n\n[storage]\nzpool = "{tmp_path / "no-zpool"}"\n\n'
            f'[ups]\nautodetect = false\nupsmon_conf = ""\n\n[pcie]\ndmidecode = "/bin/true"\n\n'
            f'[oob]\ndmidecode = "{dmidecode}"\ndev = "{host / "dev"}"\n\n'
            f'[[oob.targets]]\nname = "nas-amt"\nhost = "127.0.0.1"\nport = {port_of(amt)}\ntimeout = "3s"\n\n'
            f'[[oob.targets]]\nname = "ms01-bmc"\nhost = "127.0.0.1"\nkind = "tcp"\nport = {free_port()}\n'
            f'timeout = "2s"\n')
        result = run_physgap("once", "--config", str(config), "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    p6 = next(g for g in document["gaps"] if g["id"] == "P6")
    assert p6["status"] == "open" and p6["severity"] == "high"
    assert p6["evidence"][0].startswith("ms01-bmc (tcp 127.0.0.1:") and "refused" in p6["evidence"][0]
    assert any(e.startswith("nas-amt (amt 127.0.0.1:") and "answering" in e for e in p6["evidence"])
    prometheus = run_physgap("once", "--config", str(config)).stdout
    assert 'physgap_oob_local_present{capability="amt"} 1.0' in prometheus
