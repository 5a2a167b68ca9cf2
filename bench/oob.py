"""OOB probe round cost: 100 targets, a third of them blackholed, each with its own deadline. Prints one JSON
document. Targets (issue 10): a full round within 1.5x the per-target deadline; RSS with 100 targets reported.

Runs as root: it makes a network namespace where 10.213.0.0/24 swallows packets (tests/netns.py: routed to a
gateway on a veth whose peer drops frames sent to a MAC nobody has: no RST, no ICMP, the real timeout path),
starts an AMT-like HTTP server and an RMCP responder on the namespace's loopback, and measures the probe
rounds in a separate interpreter (so its RSS is the collector's, not the servers').
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGETS = 100
DEADLINE = 2.0  # seconds, per target
ROUNDS = 5
LIMIT_RATIO = 1.5

ROUNDS_CHILD = """
import json, sys, time
from pathlib import Path
from bench.proc import peak_rss_mb, rss_mb
from collectors.kit.context import RunContext
from collectors.oob.collector import OobProbeCollector, round_timeout
from collectors.oob.config import OobTarget
before = rss_mb()
targets = [OobTarget(**t) for t in json.loads(sys.argv[1])]
collector = OobProbeCollector(targets)
rounds, states = [], {}
for _ in range(int(sys.argv[2])):
    started = time.monotonic()
    readings = collector.collect(RunContext(deadline=started + round_timeout(targets), state_dir=Path('/x')))
    rounds.append(time.monotonic() - started)
    states = {}
    for r in readings:
        states[r.state] = states.get(r.state, 0) + 1
print(json.dumps({"rounds": rounds, "states": states, "rss_before_mb": before, "rss_after_mb": rss_mb(),
                  "rss_peak_mb": peak_rss_mb()}))
"""


def inner() -> dict[str, Any]:
    from tests.oob_fixtures import RmcpResponder, amt_like_server, port_of

    with amt_like_server() as amt, RmcpResponder("amt") as responder:
        targets: list[dict[str, Any]] = []
        for index in range(TARGETS):
            if index % 3 == 0:  # a third blackholed, alternating kinds
                kind = ("amt", "ipmi", "tcp")[index % 9 // 3]
                host, port = f"10.213.0.{2 + index}", {"amt": 16992, "ipmi": 623, "tcp": 22}[kind]
            elif index % 3 == 1:
                kind, host, port = "amt", "127.0.0.1", port_of(amt)
            else:
                kind, host, port = "ipmi", "127.0.0.1", responder.port
            targets.append({"name": f"t{index:03d}", "host": host, "kind": kind, "port": port, "timeout": DEADLINE})
        result = subprocess.run([sys.executable, "-c", ROUNDS_CHILD, json.dumps(targets), str(ROUNDS)], cwd=REPO,
                                capture_output=True, text=True, timeout=120, check=True)
    measured: dict[str, Any] = json.loads(result.stdout)
    return measured


def main() -> int:
    if "--inner" in sys.argv:
        print(json.dumps(inner()))
        return 0
    if os.geteuid() != 0:
        print(json.dumps({"error": "needs root (a network namespace for the blackholed addresses)"}))
        return 1
    from tests.netns import network_namespace

    with network_namespace("bench-oob", blackholed=["10.213.0.0/24"]) as netns:
        started = time.monotonic()
        result = netns.run([sys.executable, __file__, "--inner"], timeout=300, check=True)
        wall = time.monotonic() - started
    measured = json.loads(result.stdout)
    rounds = measured["rounds"]
    worst = max(rounds)
    document = {
        "targets": TARGETS,
        "blackholed": len(range(0, TARGETS, 3)),
        "per_target_deadline_seconds": DEADLINE,
        "rounds": ROUNDS,
        "round_seconds_median": round(statistics.median(rounds), 3),
        "round_seconds_max": round(worst, 3),
        "round_to_deadline_ratio_max": round(worst / DEADLINE, 3),
        "target_ratio": LIMIT_RATIO,
        "within_target": worst <= LIMIT_RATIO * DEADLINE,
        "states_last_round": measured["states"],
        "rss_before_collector_mb": round(measured["rss_before_mb"], 1),
        "rss_after_rounds_mb": round(measured["rss_after_mb"], 1),
        "rss_peak_mb": round(measured["rss_peak_mb"], 1),
        "bench_wall_seconds": round(wall, 1),
    }
    print(json.dumps(document, indent=2))
    return 0 if document["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
