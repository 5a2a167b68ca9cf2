"""Slow and hung name lookups through the real system resolver (getaddrinfo asking a DNS server on a private
loopback, tests/slow_dns.py), for the three network collectors that look names up: compute hosts, OOB
endpoints and SNMP switches.

What an operator relies on: a slow resolver is reported as such, never as a host, endpoint or switch that did
not answer; a lookup that hangs is not started again every round (threads would pile up); and a hung lookup
never keeps the daemon from exiting.
"""

from __future__ import annotations

from pathlib import Path

from tests.slow_dns import run_scenario

_PRELUDE = """
import json, socket, threading, time
from pathlib import Path
from types import MappingProxyType
from collectors.kit.context import RunContext
from tests.slow_dns import DelayedDns

def ctx(seconds):
    return RunContext(deadline=time.monotonic() + seconds, state_dir=Path("/nonexistent"))

def lookup_threads():
    return [t.daemon for t in threading.enumerate() if "resolve" in t.name]
"""


def test_a_slow_resolver_does_not_eat_a_hosts_connect_timeout(tmp_path: Path) -> None:
    # The name takes 1 s to resolve, the host's timeout is 0.5 s and the run has 10 s: the host listens.
    result = run_scenario(tmp_path, _PRELUDE + """
from collectors.hosts.config import ProbeTarget
from collectors.hosts.probe import probe
dns = DelayedDns(1.0)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
port = listener.getsockname()[1]
found = probe(ProbeTarget("pve2.lan", "pve2.lan", (port,)), ctx(10), 0.5)
print(json.dumps({"online": found.online, "detail": found.detail, "port": port}))
""")
    assert (result["online"], result["detail"]) == (True, f"{result['port']} open")


def test_a_hung_lookup_leaves_the_host_undetermined_and_is_not_repeated(tmp_path: Path) -> None:
    result = run_scenario(tmp_path, _PRELUDE + """
from collectors.hosts.collector import HostsCollector
from collectors.hosts.config import HostsConfig
from collectors.model.readings import HostReading
dns = DelayedDns(None)
collector = HostsCollector(HostsConfig(members=None, compute=("pve2.lan",), timeout=0.5))
rounds = []
for _ in range(2):
    host = next(r for r in collector.collect(ctx(0.8)) if isinstance(r, HostReading))
    time.sleep(0.3)  # both of glibc's queries (A, AAAA) have arrived
    rounds.append({"online": host.online, "detail": host.detail, "queries": dns.queries})
print(json.dumps({"rounds": rounds, "threads": lookup_threads()}))
""", timeout=20)  # a lookup thread that kept the process alive would hold it for the resolver's 30 s
    first, second = result["rounds"]
    assert first["online"] is None and second["online"] is None  # nothing was tried: not offline
    assert first["detail"].startswith("name lookup for pve2.lan still pending (started 0.")
    assert first["detail"].endswith(" s ago); no time left to connect")
    assert second["detail"].startswith("name lookup for pve2.lan still pending (started 1.")
    assert second["queries"] == first["queries"] > 0  # the second round asked the resolver nothing new
    assert result["threads"] == [True]  # one lookup, on a daemon thread


def test_an_oob_endpoint_whose_lookup_times_out_is_unresolvable_not_silent(tmp_path: Path) -> None:
    result = run_scenario(tmp_path, _PRELUDE + """
from collectors.oob.collector import OobProbeCollector
from collectors.oob.config import OobTarget
dns = DelayedDns(1.0)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
target = OobTarget("bmc", "bmc.lan", kind="tcp", port=listener.getsockname()[1], timeout=0.5)
collector = OobProbeCollector([target])
rounds = []
for _ in range(2):
    (reading,) = collector.collect(ctx(3))
    time.sleep(0.3)
    rounds.append({"state": reading.state, "detail": reading.detail, "queries": dns.queries})
print(json.dumps({"rounds": rounds}))
""", timeout=20)
    first, second = result["rounds"]
    assert first["state"] == "unresolvable"  # nothing was sent: not "timeout"
    assert first["detail"].startswith("name lookup for bmc.lan timed out: no answer from the resolver in 0.")
    assert first["detail"].endswith(" s (still pending)")
    # The second round (0.8 s after the first began) joins the first round's lookup, which answers at 1 s,
    # rather than starting a new one that would take 1 s again.
    assert second["state"] == "answering" and second["queries"] == first["queries"] > 0


def test_a_switch_whose_lookup_hangs_says_so_and_is_not_looked_up_again(tmp_path: Path) -> None:
    result = run_scenario(tmp_path, _PRELUDE + """
from collectors.kit.snmp_target import SnmpTarget
from collectors.model.readings import SwitchReading
from collectors.switch.collector import SwitchCollector
from collectors.switch.config import SwitchTarget
dns = DelayedDns(None)
collector = SwitchCollector([SwitchTarget(SnmpTarget(host="usw.lan", name="usw"), MappingProxyType({}), "")])
rounds = []
for _ in range(2):
    (switch,) = [r for r in collector.collect(ctx(1.0)) if isinstance(r, SwitchReading)]
    time.sleep(0.3)
    rounds.append({"up": switch.up, "reason": switch.reason, "queries": dns.queries})
print(json.dumps({"rounds": rounds, "threads": lookup_threads()}))
""", timeout=20)
    first, second = result["rounds"]
    assert not first["up"] and not second["up"]
    assert first["reason"].startswith("name lookup for usw.lan still pending (started 0.")
    assert second["reason"].startswith("name lookup for usw.lan still pending (started 1.")
    assert second["queries"] == first["queries"] > 0
    assert result["threads"] == [True]
