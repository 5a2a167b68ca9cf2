"""The golden test: one fixed fixture world rendered end to end, compared with files under tests/golden/.

A refactor must leave both files unchanged. An intended change regenerates them with
`PHYSGAP_REGENERATE_GOLDEN=1 scripts/test tests/golden`, committed on its own with a message that says why.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from tests.conftest import DaemonProcess, free_port, http_get, run_physgap, start_daemon
from tests.golden.world import fixture_world

HERE = Path(__file__).resolve().parent
METRICS_FILE = HERE / "metrics.prom"
REPORT_FILE = HERE / "report.json"
REGENERATE = os.environ.get("PHYSGAP_REGENERATE_GOLDEN") == "1"

# Values that depend on the clock, not on the world: masked, but their series must still be there.
VOLATILE = re.compile(r"^(physgap_(?:collector_duration_seconds|collector_last_success_timestamp_seconds|"
                      r"drive_reading_age_seconds)\{[^}]*\}) \S+$", re.MULTILINE)
COLLECTORS = ("nic", "pcie", "smart", "storage", "ups")


def _physgap_only(text: str) -> str:
    """physgap's own families; prometheus_client's process and runtime metrics are not the world's."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if line.startswith(("physgap_", "# HELP physgap_", "# TYPE physgap_")))


def _compare(path: Path, actual: str) -> None:
    if REGENERATE:
        path.write_text(actual)
    expected = path.read_text()
    assert actual == expected, f"{path.name} changed; if intended, regenerate it in its own commit"


def _scrape_when_complete(daemon: DaemonProcess) -> str:
    """/metrics once every collector has finished at least once."""
    deadline = time.monotonic() + 30
    body = ""
    while time.monotonic() < deadline:
        status, body = http_get(daemon.url + "/metrics")
        if status == 200 and all(
                f'physgap_collector_last_success_timestamp_seconds{{collector="{name}"}}' in body
                for name in COLLECTORS):
            return body
        time.sleep(0.2)
    raise AssertionError(f"not every collector reported within 30 s:\n{body}")


def test_fixture_world_renders_as_recorded(tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    port = free_port()
    with fixture_world(tmp_path, port) as world:
        report = run_physgap("report", "--config", str(world.config), "--format", "json")
        assert report.returncode == 0, report.stderr
        # The daemon gets a fresh state directory, so both renderings start from the same first sight.
        daemon_config = tmp_path / "daemon.toml"
        daemon_config.write_text(world.config.read_text().replace(str(tmp_path / "state"),
                                                                  str(tmp_path / "daemon-state")))
        daemon = start_daemon(daemon_config, port)
        daemon_factory.append(daemon)
        metrics = _scrape_when_complete(daemon)
        assert daemon.stop() == 0
    _compare(REPORT_FILE, world.mask(report.stdout))
    _compare(METRICS_FILE, VOLATILE.sub(r"\1 <volatile>", world.mask(_physgap_only(metrics))))
