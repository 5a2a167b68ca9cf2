"""Cost of the status page at 128 drives: mean ms per render, uncached (a new View every time, as after each
collector run) and cached (the same View: only the clock cells are filled), plain and gzip'ed as a browser
asks for it. Prints one JSON document.

The View is built in memory the way the daemon builds it: readings of 128 SATA drives (two degrading, one
asleep), 8 md arrays of 16 members (one degraded), 2 UPSes (one on battery), 4 NICs, 6 slots and 16 PCIe
links, gaps from the real rules. Rendering is the whole of a page view's cost that depends on the data; the
HTTP server's share is the same for every route and is measured by bench/run.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from collectors.model.gaps import RuleContext  # noqa: E402
from collectors.model.readings import (  # noqa: E402
    ArrayReading,
    DriveReading,
    LinkReading,
    PcieLinkReading,
    SlotReading,
    SlotScan,
    UpsReading,
)
from collectors.model.snapshot import CollectorStatus, Snapshot, View  # noqa: E402
from daemon.gaps import RULES  # noqa: E402
from daemon.gaps.engine import evaluate  # noqa: E402
from exporters.status_page import status_page_route  # noqa: E402

DRIVES = 128


def _drive(i: int, now: float) -> DriveReading:
    name = f"sd{chr(97 + i // 26) if i >= 26 else ''}{chr(97 + i % 26)}"
    degrading = i in (17, 90)
    return DriveReading(
        drive=f"wwn-0x5000c500{i:08x}", device=f"/dev/{name}", dev_type="sat", protocol="ATA",
        model="WDC WD40EFRX-68N32N0", serial=f"WD-WCC7K{i:07d}", rotational=True,
        state="standby" if i == 5 else "read", health=2 if degrading else 0,
        evidence=("48 pending sectors (was 0)",) if degrading else (), smart_passed=not degrading, exit_status=0,
        read_at=now - 300, capacity_bytes=4_000_787_030_016, temperature_celsius=30.0 + i % 12,
        power_on_seconds=108_000_000.0, reallocated_sectors=12 if degrading else 0,
        pending_sectors=48 if degrading else 0, uncorrectable_sectors=0, crc_errors=0, kernel_name=name)


def build_view(version: int, now: float) -> View:
    drives = tuple(_drive(i, now) for i in range(DRIVES))
    arrays = tuple(ArrayReading(f"md{a}", "md", "raid6", "clean",
                                tuple(d.kernel_name for d in drives[a * 16:(a + 1) * 16]),
                                (drives[a * 16].kernel_name,) if a == 1 else (), 1 if a == 1 else 2, a == 1)
                   for a in range(DRIVES // 16))
    upses = (UpsReading("rack@127.0.0.1:3493", "nut", True, "", ("OL",), "APC", "Smart-UPS 1500", "AS1",
                        "usbhid-ups", 1.0, 2580.0, 0.17, 230.0, 230.0, shutdown_clients=1, local_upsmon=True),
             UpsReading("desk@127.0.0.1:3493", "nut", True, "", ("OB", "DISCHRG"), "APC", "Back-UPS XS", "AS2",
                        "usbhid-ups", 0.8, 1500.0, 0.3, 0.0, 230.0, shutdown_clients=1, local_upsmon=True))
    nics = tuple(LinkReading(f"enp{i}s0", True, "ethernet", "up" if i % 2 else "down", True, bool(i % 2),
                             1000 if i % 2 else None, True if i % 2 else None, 10000, (), 10000, i)
                 for i in range(4))
    slots = tuple(SlotReading(f"PCIE{i}", f"0000:00:0{i}.0", f"PCIE{i}", "x16 PCI Express 4", "x16", i < 3,
                              f"0000:0{i}:00.0" if i < 3 else None, "link up" if i < 3 else "no link")
                  for i in range(6))
    links = tuple(PcieLinkReading(f"0000:{i:02x}:00.0", "8086:1572", "0x020000", "endpoint", 8.0, 8.0, 4, 4,
                                  8.0, 4, False) for i in range(16))
    statuses = {
        "smart": CollectorStatus("smart", True, duration_seconds=2.1, last_run=now - 300, last_success=now - 300,
                                 readings=drives),
        "storage": CollectorStatus("storage", True, last_run=now - 5, last_success=now - 5, readings=arrays),
        "ups": CollectorStatus("ups", True, last_run=now - 5, last_success=now - 5, readings=upses),
        "nic": CollectorStatus("nic", True, last_run=now - 5, last_success=now - 5, readings=nics),
        "pcie": CollectorStatus("pcie", True, last_run=now - 5, last_success=now - 5,
                                readings=(SlotScan(True, "sysfs"), *slots, *links)),
    }
    snapshot = Snapshot("nas", now, MappingProxyType(statuses))
    return View(snapshot, evaluate(snapshot, RULES, {}, RuleContext("nas")), version)


def _measure(route: Any, environ: dict[str, str], rounds: int, before: Any = None) -> tuple[float, int]:
    times = []
    size = 0
    for _ in range(rounds):
        if before is not None:
            before()
        started = time.perf_counter()
        body = b"".join(route(environ, lambda status, headers: None))
        times.append((time.perf_counter() - started) * 1000)
        size = len(body)
    return statistics.mean(times), size


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    now = time.time()
    views = [build_view(version, now) for version in range(2)]
    current = {"view": views[0]}
    route = status_page_route(lambda: current["view"])
    flip = iter(range(1_000_000))

    def new_view() -> None:
        # Alternating versions: every request finds a View the cache has not seen.
        current["view"] = views[next(flip) % 2]

    plain: dict[str, str] = {"PATH_INFO": "/"}
    gzipped = {"PATH_INFO": "/", "HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}
    _measure(route, gzipped, 20, new_view)  # warm-up: imports, allocator, branch caches
    uncached_ms, html_bytes = _measure(route, plain, args.rounds, new_view)
    uncached_gzip_ms, gzip_bytes = _measure(route, gzipped, args.rounds, new_view)
    cached_ms, _ = _measure(route, plain, args.rounds * 5)
    cached_gzip_ms, _ = _measure(route, gzipped, args.rounds * 5)
    print(json.dumps({
        "drives": DRIVES, "rounds": args.rounds, "html_bytes": html_bytes, "gzip_bytes": gzip_bytes,
        "uncached_ms": round(uncached_ms, 3), "uncached_gzip_ms": round(uncached_gzip_ms, 3),
        "cached_ms": round(cached_ms, 3), "cached_gzip_ms": round(cached_gzip_ms, 3),
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
