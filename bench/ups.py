"""UPS polling cost: 10 UPSes on one real upsd (dummy-ups drivers) on loopback, and what a NUT-only daemon
loads. Prints one JSON document. Targets (issue 4): <= 20 ms per poll cycle; pysnmp not in memory when
no [[ups.snmp]] is configured.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CYCLES = 200


def main() -> int:
    from collectors.kit.context import RunContext
    from collectors.ups.config import NutServerConfig
    from collectors.ups.nut import NutUpsCollector
    from tests import nut_devs
    from tests.nut_fixture import nut_server

    devs = {f"ups{i}": nut_devs.ONLINE for i in range(10)}
    with tempfile.TemporaryDirectory() as tmp, nut_server(Path(tmp) / "nut", devs) as server:
        collector = NutUpsCollector(servers=[NutServerConfig(port=server.port)], upsmon_conf=None)
        times = []
        readings = 0
        for _ in range(CYCLES):
            ctx = RunContext(deadline=time.monotonic() + 10, state_dir=Path(tmp))
            started = time.perf_counter()
            readings = len(collector.collect(ctx))
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    # A fresh interpreter builds and runs the daemon's collectors with no [[ups.snmp]]: is pysnmp loaded?
    probe = (
        "import sys, tempfile, pathlib\n"
        "from bench.proc import rss_mb\n"
        "from daemon.config import load_config\n"
        "from daemon.cli import collect_once\n"
        "d = tempfile.mkdtemp(); p = pathlib.Path(d, 'c.toml')\n"
        "p.write_text(f'[daemon]\\nstate_dir = \"{d}/state\"\\n')\n"
        "collect_once(load_config(p))\n"
        "print(int(any(m.startswith('pysnmp') for m in sys.modules)), round(rss_mb(), 1))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    pysnmp_loaded, rss = out.stdout.split()
    result = {
        "upses": readings,
        "cycles": CYCLES,
        "cycle_ms_p50": round(statistics.median(times), 2),
        "cycle_ms_p99": round(times[int(len(times) * 0.99) - 1], 2),
        "once_without_snmp": {"pysnmp_loaded": pysnmp_loaded == "1", "rss_mb": float(rss)},
    }
    result["targets_met"] = {"cycle_p50_le_20ms": result["cycle_ms_p50"] <= 20, "no_pysnmp": pysnmp_loaded == "0"}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
