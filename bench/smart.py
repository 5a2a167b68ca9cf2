"""One SMART cycle over 1, 8, 32 and 128 replayed drives, each smartctl call taking 50 ms.

Prints one JSON document. Each size runs in a fresh process (so RSS is comparable) that builds the real
SmartCollector, points it at a stand-in smartctl (a shell script: `sleep 0.05` then `cat` of a capture, so
the 50 ms is the call's whole cost, not a Python start-up), runs one collection through the real scheduler
and renders the metrics once. Target (issue 3): 128 drives within 1.2 x (128 x 50 ms / concurrency), and
RSS growing by less than 5 MB from 1 to 128 drives.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.proc import rss_mb  # noqa: E402

SIZES = (1, 8, 32, 128)
CALL_SECONDS = 0.05

CAPTURE = {
    "json_format_version": [1, 0],
    "smartctl": {"version": [7, 3], "exit_status": 0},
    "device": {"name": "/dev/sdX", "type": "sat", "protocol": "ATA"},
    "model_name": "WDC WD40EFRX-68N32N0",
    "serial_number": "WD-WCC7K0000000",
    "wwn": {"naa": 5, "oui": 5358, "id": 0},
    "rotation_rate": 5400,
    "user_capacity": {"bytes": 4000787030016},
    "smart_status": {"passed": True},
    "temperature": {"current": 34},
    "power_on_time": {"hours": 30000},
    "ata_smart_attributes": {"table": [
        {"id": 5, "name": "Reallocated_Sector_Ct", "value": 200, "worst": 200, "thresh": 140,
         "when_failed": "", "raw": {"value": 0, "string": "0"}},
        {"id": 197, "name": "Current_Pending_Sector", "value": 200, "worst": 200, "thresh": 0,
         "when_failed": "", "raw": {"value": 0, "string": "0"}},
        {"id": 198, "name": "Offline_Uncorrectable", "value": 100, "worst": 253, "thresh": 0,
         "when_failed": "", "raw": {"value": 0, "string": "0"}},
        {"id": 199, "name": "UDMA_CRC_Error_Count", "value": 200, "worst": 200, "thresh": 0,
         "when_failed": "", "raw": {"value": 0, "string": "0"}},
    ]},
}


def make_standin(directory: Path, drives: int) -> Path:
    devices = [{"name": f"/dev/sd{i}", "info_name": f"/dev/sd{i}", "type": "sat", "protocol": "ATA"}
               for i in range(drives)]
    scan = {"smartctl": {"version": [7, 3], "exit_status": 0}, "devices": devices}
    (directory / "scan.json").write_text(json.dumps(scan))
    for i in range(drives):
        capture = json.loads(json.dumps(CAPTURE))
        capture["device"]["name"] = f"/dev/sd{i}"
        capture["serial_number"] = f"WD-WCC7K{i:07d}"
        capture["wwn"]["id"] = i + 1
        (directory / f"sd{i}.json").write_text(json.dumps(capture))
    script = directory / "smartctl"
    script.write_text(
        "#!/bin/sh\n"
        f'dir="{directory}"\n'
        'case "$*" in *--scan*) exec cat "$dir/scan.json";; esac\n'
        'for last; do :; done\n'
        f"sleep {CALL_SECONDS}\n"
        'exec cat "$dir/${last##*/}.json"\n'
    )
    script.chmod(0o755)
    return script


def child(drives: int, concurrency: int) -> dict[str, object]:
    from collectors.smart.collector import SmartCollector
    from collectors.smart.config import SmartConfig
    from daemon.scheduler import Job, Scheduler
    from daemon.store import SnapshotStore
    from exporters.prometheus import render

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        standin = make_standin(directory, drives)
        (directory / "sys" / "block").mkdir(parents=True)
        collector = SmartCollector(SmartConfig(smartctl=str(standin), concurrency=concurrency),
                                   sysfs_root=directory / "sys")
        store = SnapshotStore("bench", lambda snapshot: (), ["smart"])
        scheduler = Scheduler([Job(collector, 600, 120)], store, directory / "state")
        (directory / "state").mkdir()
        rss_before = rss_mb()
        started = time.perf_counter()
        scheduler.run_once()
        cycle = time.perf_counter() - started
        status = store.current().snapshot.status("smart")
        exposition = render(store.current())
        return {
            "drives": drives,
            "cycle_seconds": round(cycle, 3),
            "ideal_seconds": round(drives * CALL_SECONDS / concurrency, 3),
            "success": bool(status and status.success),
            "readings": len(status.readings) if status else 0,
            "rss_before_mb": round(rss_before, 1),
            "rss_after_mb": round(rss_mb(), 1),
            "exposition_bytes": len(exposition),
        }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.concurrency)))
        return 0
    runs = []
    for drives in SIZES:
        out = subprocess.run([sys.executable, __file__, "--child", str(drives), "--concurrency",
                              str(args.concurrency)], capture_output=True, text=True, check=True, cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
        runs.append(json.loads(out.stdout))
    largest = runs[-1]
    budget = 1.2 * largest["ideal_seconds"]
    growth = largest["rss_after_mb"] - runs[0]["rss_after_mb"]
    print(json.dumps({
        "concurrency": args.concurrency,
        "call_seconds": CALL_SECONDS,
        "runs": runs,
        "target_128_seconds": round(budget, 3),
        "rss_growth_1_to_128_mb": round(growth, 1),
        "targets_met": {"cycle_128": largest["cycle_seconds"] <= budget, "rss_growth": growth < 5.0,
                        "all_read": all(r["success"] and r["readings"] == r["drives"] for r in runs)},
    }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
