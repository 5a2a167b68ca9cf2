"""Soak: the daemon for 10 minutes with every collector replaying captures, the status page fetched every
second, RSS sampled each minute. Prints one JSON document.

The daemon is the real `physgap run` on the golden test's fixture world (tests/golden/world.py): the MS-01's
NIC and PCIe sysfs trees (tests/net_tree.py, tests/pcie_tree.py), four drives through the stand-in smartctl
(a healthy HDD, a FAILED md member, a sleeping disk, an NVMe SSD), a degraded md mirror in a test procfs
(tests/storage_fixtures.py) and two UPSes on a real upsd with dummy-ups (tests/nut_fixture.py), every
collector on a 1 s interval: 600 runs of each in 10 minutes, where the defaults (30 s, SMART 10 min) would
make 20 and 1. Collectors not configured in that world (SNMP, switch, out-of-band, compute hosts) are not
part of it.

Every second the client fetches `/` (the status page) and `/metrics` on new connections; every 30 s the world
changes, so that views, gap transitions and their log lines keep coming: the UPS "desk" (on battery) goes
between low battery and not (gap P1 between critical and high), and sda's pending sectors between 8 and 0
(the drive between failing and healthy).

RSS, open file descriptors and threads are read at the start and at each full minute; growth is measured
from the first minute (imports, caches and first-run allocations settle in it) to the end.
Target (issue 11): RSS growth after the first minute < 2 MB; no failed request.

The daemon runs with MALLOC_ARENA_MAX=2 as the systemd unit and scripts/run start it (set the variable to
another value to compare), and `setup.malloc_arena_max` records it: with glibc's default (up to 8 arenas
per CPU, one taken by each thread that allocates) the daemon's 14 threads spread small allocations over
many arenas that are each kept grown, which is RSS without live objects (tracemalloc saw no Python
allocation growing between minutes): +2.89 MB against +1.68 MB with two arenas.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import arena_max, get, machine, world_daemon  # noqa: E402
from bench.proc import cpu_seconds, open_fds, proc_status, rss_mb  # noqa: E402

TARGET_GROWTH_MB = 2.0
CHANGE_EVERY = 30  # seconds between world changes


def sample(pid: int, at: float) -> dict[str, Any]:
    return {"minute": round(at / 60, 2), "rss_mb": round(rss_mb(pid), 2), "open_fds": open_fds(pid),
            "threads": int(proc_status(pid)["Threads"]), "cpu_seconds": round(cpu_seconds(pid), 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the soak (default 10)")
    args = parser.parse_args()
    seconds = args.minutes * 60

    from tests import nut_devs
    from tests import smart_fixtures as sf
    from tests.golden.world import SMART_SCENARIO
    from tests.smartctl_standin import read_calls, write_scenario

    requests = {"/": 0, "/metrics": 0}
    failures: dict[str, list[str]] = {"/": [], "/metrics": []}
    page_bytes = 0
    changes = 0
    with tempfile.TemporaryDirectory() as tmp, world_daemon(Path(tmp)) as daemon:
        smart_dir = Path(tmp) / "smartctl"
        healthy_sda = SMART_SCENARIO["devices"]["/dev/sda"]["json"]
        failing_sda = sf.with_attribute(healthy_sda, 197, raw=8)
        log_start = len(daemon.log_lines())
        started = time.monotonic()
        samples = [sample(daemon.pid, 0.0)]
        next_minute = 60.0
        tick = 0
        while (elapsed := time.monotonic() - started) < seconds:
            for path in requests:
                requests[path] += 1
                try:
                    status, body = get(daemon.port, path)
                    if status != 200:
                        failures[path].append(f"{elapsed:.0f}s: status {status}")
                    elif path == "/":
                        page_bytes = len(body)
                except OSError as exc:
                    failures[path].append(f"{elapsed:.0f}s: {exc}")
            tick += 1
            if tick % CHANGE_EVERY == 0:
                odd = (tick // CHANGE_EVERY) % 2 == 1
                daemon.world.nut.update_dev("desk", nut_devs.LOW_BATTERY if odd else nut_devs.ON_BATTERY)
                scenario = json.loads(json.dumps(SMART_SCENARIO))
                scenario["devices"]["/dev/sda"]["json"] = failing_sda if odd else healthy_sda
                write_scenario(smart_dir, scenario)
                changes += 1
            if elapsed >= next_minute:
                samples.append(sample(daemon.pid, elapsed))
                next_minute += 60
            time.sleep(max(0.0, started + tick - time.monotonic()))
        samples.append(sample(daemon.pid, time.monotonic() - started))
        metrics = b""
        with contextlib.suppress(OSError):
            _, metrics = get(daemon.port, "/metrics")
        success = {line.split('"')[1]: float(line.rsplit(" ", 1)[1]) for line in metrics.decode().splitlines()
                   if line.startswith("physgap_collector_success{")}
        log = daemon.log_lines()[log_start:]
        smartctl_calls = len(read_calls(smart_dir))
        alive = daemon.proc.poll() is None

    after_first = [s for s in samples if s["minute"] >= 1.0]
    base = after_first[0] if after_first else samples[0]
    growth = round(samples[-1]["rss_mb"] - base["rss_mb"], 2)
    cpu_window = samples[-1]["minute"] - base["minute"]
    failed = sum(len(v) for v in failures.values())
    document: dict[str, Any] = {
        "machine": machine(),
        "setup": {"minutes": args.minutes, "collector_interval_seconds": 1, "malloc_arena_max": arena_max(),
                  "fetch_every_seconds": 1,
                  "paths": list(requests), "world_change_every_seconds": CHANGE_EVERY,
                  "world": "tests/golden/world.py (4 SMART devices, md mirror, 2 NUT UPSes, MS-01 NICs and PCIe)"},
        "requests": requests,
        "failed_requests": failed,
        "failures_first": {path: items[:5] for path, items in failures.items() if items},
        "status_page_bytes": page_bytes,
        "world_changes": changes,
        "smartctl_calls": smartctl_calls,
        "samples": samples,
        "rss_mb_first_minute": base["rss_mb"],
        "rss_mb_end": samples[-1]["rss_mb"],
        "rss_growth_after_first_minute_mb": growth,
        "rss_max_of_samples_mb": max(s["rss_mb"] for s in samples),
        "open_fds_growth_after_first_minute": samples[-1]["open_fds"] - base["open_fds"],
        "threads_growth_after_first_minute": samples[-1]["threads"] - base["threads"],
        "daemon_cpu_percent_of_one_cpu_after_first_minute":
            round((samples[-1]["cpu_seconds"] - base["cpu_seconds"]) / (cpu_window * 60) * 100, 1)
            if cpu_window > 0 else None,
        "collector_success_at_end": success,
        "daemon_log": {"lines": len(log), "gap_transitions": sum(" gap P" in line for line in log),
                       "errors": [line for line in log if " ERROR " in line or "Traceback" in line][:10]},
        "daemon_alive_at_end": alive,
        "target_rss_growth_mb": TARGET_GROWTH_MB,
    }
    document["targets_met"] = {
        "rss_growth": growth < TARGET_GROWTH_MB and len(after_first) >= 2,
        "no_failed_requests": failed == 0 and alive,
    }
    print(json.dumps(document, indent=2))
    return 0 if all(document["targets_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
