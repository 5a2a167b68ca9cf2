"""Measure the daemon: RSS after warm-up, idle CPU, /metrics latency, `physgap once` wall time.

Prints one JSON document. Runs against this machine's real /sys (what `physgap run` does by default) with a
throwaway state directory and a free loopback port. Targets come from issue 2; `--quick` shortens the
windows for a smoke run (its numbers are not the reported ones).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Run as a script, bench/ comes first on the path: the repository root takes its place, so the project
# imports resolve as they do for the daemon.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(REPO)
else:
    sys.path.insert(0, str(REPO))

from bench.proc import cpu_seconds, rss_mb  # noqa: E402
from tests.conftest import free_port  # noqa: E402

TARGETS = {"rss_mb": 30.0, "idle_cpu_percent": 0.2, "metrics_p50_ms": 2.0, "metrics_p99_ms": 10.0,
           "once_seconds": 1.0}


def scrape(port: int) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/metrics")
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"/metrics answered {response.status}")
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5 s windows and 200 requests")
    args = parser.parse_args()
    warmup, window, requests = (5, 5, 200) if args.quick else (60, 60, 2000)

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        config = Path(tmp, "physgap.toml")
        config.write_text(f'[daemon]\nstate_dir = "{tmp}/state"\n\n[prometheus]\nlisten = "127.0.0.1:{port}"\n')
        physgap = [sys.executable, "-m", "daemon.cli", "--log-level", "warning"]

        once_times = []
        for _ in range(5):
            started = time.perf_counter()
            subprocess.run([*physgap, "once", "--config", str(config)], cwd=REPO, check=True,
                           stdout=subprocess.DEVNULL)
            once_times.append(time.perf_counter() - started)

        # With the malloc arenas the systemd unit and scripts/run give it (see physgap.service).
        arenas = os.environ.get("MALLOC_ARENA_MAX", "2")
        proc = subprocess.Popen([*physgap, "run", "--config", str(config)], cwd=REPO,
                                env={**os.environ, "MALLOC_ARENA_MAX": arenas})
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    scrape(port)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            time.sleep(warmup)
            rss_after_warmup = rss_mb(proc.pid)
            cpu_before = cpu_seconds(proc.pid)
            time.sleep(window)
            idle_cpu = (cpu_seconds(proc.pid) - cpu_before) / window * 100
            latencies = sorted(scrape(port) for _ in range(requests))
            rss_after_scrapes = rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)

    result = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "rss_mb": round(rss_after_warmup, 1),
        "rss_after_scrapes_mb": round(rss_after_scrapes, 1),
        "idle_cpu_percent": round(idle_cpu, 3),
        "metrics_requests": requests,
        "metrics_p50_ms": round(statistics.median(latencies), 3),
        "metrics_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 3),
        "once_seconds": round(statistics.median(once_times), 3),
        "windows_seconds": {"warmup": warmup, "idle": window},
        "quick": args.quick,
        "malloc_arena_max": arenas,
    }
    result["targets_met"] = {k: result[k] <= v for k, v in TARGETS.items()}  # type: ignore[operator]
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
