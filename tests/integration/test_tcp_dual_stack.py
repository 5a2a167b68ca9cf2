"""A dual-stack name whose first address never answers: the OOB `tcp` probe, like the hosts probe, tries the
next address (collectors.kit.tcp) instead of calling a live device dead.

Inside a network namespace made here, the name `bmc.dual.test` resolves (through the namespace's own
/etc/hosts, which `ip netns exec` mounts from /etc/netns/NAME/hosts) to 2001:db8::1 first (on a link where
nothing answers) and 127.0.0.1 second, where a listener accepts. A second check gives the connect
logic an address the kernel has an `unreachable` route for (EHOSTUNREACH at once) ahead of the listener."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import Netns, network_namespace, skip_or_fail

NAME = "bmc.dual.test"
SILENT = "2001:db8::1"  # on the dummy link's prefix: routed, never answered
UNROUTABLE = "2001:db8:1::1"  # an `unreachable` route: the kernel refuses at once

CHILD = """
import json, socket, sys, threading, time
from pathlib import Path
from collectors.kit import tcp
from collectors.kit.context import RunContext
from collectors.model.readings import OobReading
from collectors.oob.collector import OobProbeCollector
from collectors.oob.config import OobTarget

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(8)
port = listener.getsockname()[1]
order = [info[4][0] for info in socket.getaddrinfo(sys.argv[1], port, type=socket.SOCK_STREAM)]
readings = OobProbeCollector([OobTarget("bmc", sys.argv[1], "tcp", port, 3.0)]).collect(
    RunContext(deadline=time.monotonic() + 10, state_dir=Path("/nonexistent")))
reading = next(r for r in readings if isinstance(r, OobReading))
outcome = tcp.first_open([(socket.AF_INET6, sys.argv[2]), (socket.AF_INET, "127.0.0.1")], [port],
                         time.monotonic() + 3.0, threading.Event())
print(json.dumps({"order": order, "state": reading.state, "detail": reading.detail,
                  "accepted": outcome.accepted, "port": port,
                  "failures": [[f.address, f.error] for f in outcome.failures]}))
"""


@pytest.fixture
def dual_stack() -> Iterator[Netns]:
    with network_namespace("dual", unreachable=["2001:db8:1::/48"], unavailable=skip_or_fail) as netns:
        # A veth pair whose far end holds no address: neighbour discovery for 2001:db8::1 goes unanswered.
        netns.ip("link", "add", "dual0", "type", "veth", "peer", "name", "dual1")
        netns.ip("addr", "add", "2001:db8::2/64", "dev", "dual0", "nodad")
        netns.ip("link", "set", "dual0", "up")
        netns.ip("link", "set", "dual1", "up")
        folder = Path("/etc/netns") / netns.name
        folder.mkdir(parents=True)
        try:
            (folder / "hosts").write_text(f"{SILENT} {NAME}\n127.0.0.1 {NAME}\n")
            yield netns
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def test_a_silent_first_address_does_not_hide_a_listening_second_one(dual_stack: Netns) -> None:
    result = dual_stack.run([sys.executable, "-c", CHILD, NAME, UNROUTABLE], check=True)
    found = json.loads(result.stdout.splitlines()[-1])
    # The scenario holds: the resolver hands out the silent IPv6 address first.
    assert found["order"] == [SILENT, "127.0.0.1"]
    assert (found["state"], found["detail"]) == ("answering", f"port {found['port']} open")
    # An address the kernel cannot route to fails at once, and the next one is tried.
    assert found["accepted"] == ["127.0.0.1", found["port"]]
    assert [address for address, _ in found["failures"]] == [UNROUTABLE]
