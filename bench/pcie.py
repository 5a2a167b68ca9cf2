"""Mean PcieCollector.collect() time: a collector's first run, and its repeat runs on an unchanged tree.

Prints one JSON document. Two trees: the MS-01 fixture (tests/pcie_tree.py, 18 functions in a temporary
directory) and this machine's real /sys (config space is read from hardware there, so the first run costs
what the kernel charges per config access). A first run is timed on a new collector each time, as after a
start or a SIGHUP; repeat runs reuse one collector, as the daemon does every interval. dmidecode is pointed
at a path that does not exist: SMBIOS labels are read once per collector and are not what a run costs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def measure(sysfs: Path, state: Path, first_runs: int, repeat_runs: int) -> dict[str, float | int]:
    from collectors.kit.context import RunContext
    from collectors.pcie.collector import PcieCollector
    from collectors.pcie.config import PcieConfig

    config = PcieConfig(dmidecode="/nonexistent/dmidecode")

    def run(collector: PcieCollector) -> float:
        started = time.perf_counter()
        collector.collect(RunContext(deadline=time.monotonic() + 60, state_dir=state))
        return time.perf_counter() - started

    first = sum(run(PcieCollector(config, sysfs)) for _ in range(first_runs))
    collector = PcieCollector(config, sysfs)
    run(collector)
    repeat = sum(run(collector) for _ in range(repeat_runs))
    return {
        "functions": len(os.listdir(sysfs / "bus" / "pci" / "devices")),
        "first_ms": round(first / first_runs * 1000, 3),
        "repeat_ms": round(repeat / repeat_runs * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first-runs", type=int, default=50)
    parser.add_argument("--repeat-runs", type=int, default=200)
    args = parser.parse_args()
    from tests.pcie_tree import ms01

    logging.disable(logging.WARNING)  # the missing dmidecode and an unprivileged reader warn once per collector
    with tempfile.TemporaryDirectory(prefix="physgap-bench-pcie-") as tmp:
        root = Path(tmp)
        fixture = ms01(root / "sys").root
        result = {
            "first_runs": args.first_runs,
            "repeat_runs": args.repeat_runs,
            "ms01_fixture": measure(fixture, root / "state-fixture", args.first_runs, args.repeat_runs),
            "sys": measure(Path("/sys"), root / "state-sys", args.first_runs, args.repeat_runs),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
