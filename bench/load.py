"""Load: 50 concurrent scrapers against /metrics for 60 s; every request must succeed. Prints one JSON document.

The daemon is the real `physgap run` replaying the fixture world of the golden test (tests/golden/world.py:
the MS-01's NIC and PCIe sysfs trees, four drives through the stand-in smartctl, a degraded md mirror, two
UPSes on a real upsd with dummy-ups), every collector on a 1 s interval, so the View changes every second
while it is being scraped (harsher than the 30 s / 10 min defaults, where most scrapes hit a cached render).

Each scraper is a closed loop by default: the next request leaves as soon as the previous answer is in
(`--interval 0`), so 50 scrapers keep 50 requests in flight and the daemon runs flat out; `--interval 15`
paces each scraper like a Prometheus server with that scrape interval instead. Requests look like
Prometheus's own (Accept-Encoding: gzip, the scrape-timeout header, a 10 s timeout) and each opens a new
connection (Connection: close), the costlier case for the server. A response counts as an error unless it
is a 200 whose body has its Content-Length and decompresses to an exposition ending in a newline.
The scrapers are asyncio tasks in this process; on a small machine they compete with the daemon for CPU,
and the client's own CPU is reported so that can be judged.

Targets (issue 11): no errors; p99 reported (the target is to know it: at 50 requests in flight the p99 is
about 50 / throughput).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# What physgap.service and scripts/run set (see the unit for why).
SHIPPED_ARENAS = "2"
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.proc import cpu_seconds, open_fds, rss_mb  # noqa: E402

TIMEOUT = 10.0  # Prometheus's default scrape_timeout
REQUEST = (
    b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: Prometheus/2.42.0\r\n"
    b"Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    b"text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\nAccept-Encoding: gzip\r\n"
    b"X-Prometheus-Scrape-Timeout-Seconds: 10\r\nConnection: close\r\n\r\n"
)


# --- the daemon under test (shared with bench/soak.py) -----------------------------------------------------


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "unknown")
    memory = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal:")), 0)
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_mb": memory, "python": sys.version.split()[0],
            "kernel": os.uname().release}


def arena_max() -> str:
    """What the daemon runs with: glibc's per-thread malloc arenas shape its RSS."""
    return os.environ.get("MALLOC_ARENA_MAX", SHIPPED_ARENAS)


def get(port: int, path: str, timeout: float = TIMEOUT) -> tuple[int, bytes]:
    """One plain request on a new connection: (status, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := sock.recv(262144):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@dataclass
class WorldDaemon:
    root: Path
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    world: Any  # tests.golden.world.World

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_lines(self) -> list[str]:
        return self.log.read_text(errors="replace").splitlines()


@contextlib.contextmanager
def world_daemon(root: Path, log_level: str = "info") -> Iterator[WorldDaemon]:
    """`physgap run` on the golden test's fixture world, ready when every drive has a reading in /metrics."""
    from tests.conftest import free_port
    from tests.golden.world import fixture_world

    port = free_port()
    with fixture_world(root, port) as world:
        log = root / "physgap.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "daemon.cli", "--log-level", log_level, "--log-format", "text", "run",
                 "--config", str(world.config)],
                cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                # As the systemd unit and scripts/run start it, unless the caller sets another value.
                env={**os.environ, "MALLOC_ARENA_MAX": os.environ.get("MALLOC_ARENA_MAX", SHIPPED_ARENAS)})
        daemon = WorldDaemon(root, port, proc, log, world)
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"physgap exited {proc.returncode}: {log.read_text()[-2000:]}")
                with contextlib.suppress(OSError):
                    status, body = get(port, "/metrics")
                    if status == 200 and body.count(b"physgap_drive_info{") >= 3 and b"physgap_ups_up{" in body:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"physgap not ready within 30 s: {log.read_text()[-2000:]}")
                time.sleep(0.1)
            yield daemon
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


# --- the scrapers -----------------------------------------------------------------------------------------------


@dataclass
class Results:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    body_bytes: int = 0
    exposition_bytes: int = 0


def check(response: bytes) -> tuple[int, int]:
    """(compressed, uncompressed) body size of a good answer; raises ValueError for anything else."""
    head, sep, body = response.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no header end")
    lines = head.split(b"\r\n")
    if not lines[0].startswith((b"HTTP/1.1 200 ", b"HTTP/1.0 200 ")):
        raise ValueError(f"status {lines[0][:40]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    if b"content-length" in headers and int(headers[b"content-length"]) != len(body):
        raise ValueError("truncated body")
    text = gzip.decompress(body) if headers.get(b"content-encoding") == b"gzip" else body
    if not text.endswith(b"\n") or b"physgap_build_info" not in text:
        raise ValueError("not a complete exposition")
    return len(body), len(text)


async def scrape(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(REQUEST)
        await writer.drain()
        return await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def scraper(port: int, end: float, interval: float, offset: float, results: Results) -> None:
    loop = asyncio.get_running_loop()
    next_at = loop.time() + offset
    await asyncio.sleep(offset)
    while loop.time() < end:
        started = time.perf_counter()
        try:
            response = await asyncio.wait_for(scrape(port), TIMEOUT)
            results.body_bytes, results.exposition_bytes = check(response)
            results.latencies_ms.append((time.perf_counter() - started) * 1000)
        except (OSError, ValueError, TimeoutError) as exc:
            results.errors[type(exc).__name__ + (f": {exc}" if isinstance(exc, ValueError) else "")] += 1
        if interval:
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - loop.time()))


async def load(port: int, scrapers: int, seconds: float, interval: float) -> Results:
    results = Results()
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    # Paced scrapers start spread over one interval, as independent Prometheus servers would.
    await asyncio.gather(*(scraper(port, end, interval, interval * i / scrapers, results) for i in range(scrapers)))
    return results


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * fraction) - 1))] if ordered else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the load (default 60)")
    parser.add_argument("--scrapers", type=int, default=50, help="concurrent scrapers (default 50)")
    parser.add_argument("--interval", type=float, default=0.0,
                        help="seconds between one scraper's requests; 0 (default): back to back")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, world_daemon(Path(tmp)) as daemon:
        time.sleep(3)  # a few collection cycles: imports and first-run costs are not what is measured
        log_before = len(daemon.log_lines())
        rss_before = rss_mb(daemon.pid)
        fds_before = open_fds(daemon.pid)
        samples: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(1.0):
                with contextlib.suppress(OSError):
                    samples.append(rss_mb(daemon.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cpu_before, client_before, started = cpu_seconds(daemon.pid), time.process_time(), time.monotonic()
        results = asyncio.run(load(daemon.port, args.scrapers, args.seconds, args.interval))
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(daemon.pid) - cpu_before
        client_cpu = time.process_time() - client_before
        stop.set()
        sampler.join()
        rss_after = rss_mb(daemon.pid)
        fds_after = open_fds(daemon.pid)
        new_log = daemon.log_lines()[log_before:]
        alive = daemon.proc.poll() is None

    ordered = sorted(results.latencies_ms)
    requests = len(ordered) + sum(results.errors.values())
    errors = sum(results.errors.values())
    document: dict[str, Any] = {
        "machine": machine(),
        "setup": {"scrapers": args.scrapers, "seconds": args.seconds,
                  "interval_seconds": args.interval or "back to back", "connection": "new per request",
                  "accept_encoding": "gzip", "collector_interval_seconds": 1,
                  "malloc_arena_max": arena_max()},
        "requests": requests,
        "errors": errors,
        "error_kinds": dict(results.errors),
        "requests_per_second": round(requests / elapsed, 1),
        "latency_ms": {"p50": round(statistics.median(ordered), 2) if ordered else None,
                       "p90": round(percentile(ordered, 0.90), 2), "p99": round(percentile(ordered, 0.99), 2),
                       "max": round(ordered[-1], 2) if ordered else None},
        "body_bytes_gzip": results.body_bytes,
        "exposition_bytes": results.exposition_bytes,
        "daemon": {
            "cpu_percent_of_one_cpu": round(cpu / elapsed * 100, 1),
            "rss_mb_before": round(rss_before, 1),
            "rss_mb_max": round(max(samples, default=rss_after), 1),
            "rss_mb_after": round(rss_after, 1),
            "open_fds_before": fds_before,
            "open_fds_after": fds_after,
            "log_lines_during_load": len(new_log),
            "http_log_lines_during_load": [line for line in new_log if "exporters.http" in line][:10],
            "alive_after": alive,
        },
        "client_cpu_percent_of_one_cpu": round(client_cpu / elapsed * 100, 1),
        "client_max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "targets": {"errors": 0},
    }
    document["targets_met"] = {"errors": errors == 0 and requests > 0 and alive}
    print(json.dumps(document, indent=2))
    return 0 if document["targets_met"]["errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
