"""Measure what physgap's HTTP server adds to a scrape: /metrics against a bare `http.server`, in one run.

Prints one JSON document. The daemon runs as `physgap run` does by default (this machine's real /sys, a
throwaway state directory, a free loopback port); its /metrics body is then served, byte for byte, by a bare
`http.server.HTTPServer` (single-threaded: the cheapest server the standard library has) and, for reference,
by `http.server.ThreadingHTTPServer` (what `python -m http.server` runs: a thread per connection). Requests
are sequential, each on a new connection, as Prometheus makes them without keep-alive; the servers are
measured in alternating rounds so that a burst of noise on the machine hits all of them alike.

Two comparisons:
- `/metrics`: what a scraper sees; physgap renders part of the exposition per scrape (process_* series and
  reading ages), the bare servers send a fixed body.
- `/-/healthy` (a fixed "OK"): the server alone, against a bare server sending the same three bytes.
Target (issue 8): physgap's p50 at most 1.3x the bare server's; `target_met` says it for each comparison.

The client is a bare socket (connect, send, read to EOF) so that client-side overhead, the same for all,
does not dilute the difference between the servers.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
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

TARGET_P50_RATIO = 1.3
HEALTHY_BODY = b"OK\n"


def request(path: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n"
            "Connection: close\r\n\r\n").encode()


def fetch(port: int, path: str = "/metrics") -> bytes:
    """One request on a new connection; the whole response."""
    message = request(path)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(message)
        chunks = []
        while chunk := sock.recv(262144):
            chunks.append(chunk)
    response = b"".join(chunks)
    if not response.startswith((b"HTTP/1.0 200 ", b"HTTP/1.1 200 ")):
        raise RuntimeError(f"port {port} answered {response[:80]!r}")
    return response


def timed(port: int, path: str) -> float:
    started = time.perf_counter()
    fetch(port, path)
    return (time.perf_counter() - started) * 1000


def percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)
    return {"p50_ms": round(statistics.median(ordered), 4),
            "p99_ms": round(ordered[max(0, int(len(ordered) * 0.99) - 1)], 4)}


def bare_server(body_file: str, threading: bool) -> int:
    """Run as a child: serve the fixed body at /metrics and HEALTHY_BODY elsewhere on a free port, print the
    port, serve until killed."""
    metrics = Path(body_file).read_bytes()
    metrics_type = os.environ.get("BENCH_CONTENT_TYPE", "text/plain")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, content_type = ((metrics, metrics_type) if self.path == "/metrics"
                                  else (HEALTHY_BODY, "text/plain; charset=utf-8"))
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server_class = http.server.ThreadingHTTPServer if threading else http.server.HTTPServer
    server = server_class(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()
    return 0


def start_bare(body_file: Path, content_type: str, threading: bool) -> tuple[subprocess.Popen[str], int]:
    argv = [sys.executable, __file__, "--bare-server", str(body_file)]
    if threading:
        argv.append("--threading")
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "BENCH_CONTENT_TYPE": content_type})
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def wait_for(port: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            fetch(port)
            return
        except (OSError, RuntimeError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1,000 requests per measurement instead of 10,000")
    parser.add_argument("--bare-server", metavar="BODY_FILE", help=argparse.SUPPRESS)
    parser.add_argument("--threading", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        return bare_server(args.bare_server, args.threading)
    # Imported here, not above: the bare-server children stay a bare interpreter (no pytest, no test kit).
    from tests.conftest import free_port

    requests, rounds = (1000, 10) if args.quick else (10000, 20)

    children: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            port = free_port()
            config = Path(tmp, "physgap.toml")
            config.write_text(f'[daemon]\nstate_dir = "{tmp}/state"\n\n[prometheus]\nlisten = "127.0.0.1:{port}"\n')
            daemon = subprocess.Popen([sys.executable, "-m", "daemon.cli", "--log-level", "warning", "run",
                                       "--config", str(config)], cwd=REPO, text=True)
            children.append(daemon)
            wait_for(port, 20)
            # Let the first collection cycle finish: its work is not what is measured here.
            time.sleep(3)
            response = fetch(port)
            head, _, body = response.partition(b"\r\n\r\n")
            content_type = next(
                (line.split(b":", 1)[1].strip().decode() for line in head.split(b"\r\n")
                 if line.lower().startswith(b"content-type:")), "text/plain")
            body_file = Path(tmp, "body")
            body_file.write_bytes(body)
            bare, bare_port = start_bare(body_file, content_type, threading=False)
            children.append(bare)
            threaded, threaded_port = start_bare(body_file, content_type, threading=True)
            children.append(threaded)

            targets = {
                "physgap_metrics": (port, "/metrics"),
                "bare_http_server_metrics": (bare_port, "/metrics"),
                "bare_threading_http_server_metrics": (threaded_port, "/metrics"),
                "physgap_healthy": (port, "/-/healthy"),
                "bare_http_server_healthy": (bare_port, "/-/healthy"),
            }
            latencies: dict[str, list[float]] = {name: [] for name in targets}
            for target_port, path in targets.values():  # warm-up: imports, caches, first-connection costs
                for _ in range(200):
                    fetch(target_port, path)
            per_round = requests // rounds
            for _ in range(rounds):
                for name, (target_port, path) in targets.items():
                    latencies[name].extend(timed(target_port, path) for _ in range(per_round))
        finally:
            for child in children:
                child.terminate()
                child.wait(10)

    results = {name: percentiles(values) for name, values in latencies.items()}

    def ratio(name: str, reference: str, key: str = "p50_ms") -> float:
        return round(results[name][key] / results[reference][key], 3)

    document = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "requests_per_measurement": per_round * rounds,
        "metrics_body_bytes": len(body),
        **results,
        "ratios": {
            "metrics_over_bare_p50": ratio("physgap_metrics", "bare_http_server_metrics"),
            "metrics_over_bare_p99": ratio("physgap_metrics", "bare_http_server_metrics", "p99_ms"),
            "metrics_over_bare_threading_p50": ratio("physgap_metrics", "bare_threading_http_server_metrics"),
            "metrics_over_bare_threading_p99": ratio("physgap_metrics", "bare_threading_http_server_metrics",
                                                     "p99_ms"),
            "healthy_over_bare_p50": ratio("physgap_healthy", "bare_http_server_healthy"),
            "healthy_over_bare_p99": ratio("physgap_healthy", "bare_http_server_healthy", "p99_ms"),
        },
        "target_p50_ratio": TARGET_P50_RATIO,
        "target_met": {
            "metrics_vs_bare_http_server": ratio("physgap_metrics", "bare_http_server_metrics") <= TARGET_P50_RATIO,
            "metrics_vs_bare_threading_http_server":
                ratio("physgap_metrics", "bare_threading_http_server_metrics") <= TARGET_P50_RATIO,
            "healthy_vs_bare_http_server": ratio("physgap_healthy", "bare_http_server_healthy") <= TARGET_P50_RATIO,
        },
        "quick": args.quick,
    }
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
