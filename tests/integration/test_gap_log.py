"""The journal tells the story of the gaps: opened, severity changed, resolved, undecidable."""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path

import pytest

from collectors.model.snapshot import CollectorStatus, Gap
from daemon.store import SnapshotStore
from exporters.gap_log import GapLogExporter, transitions
from tests.conftest import DaemonProcess, empty_sysfs, free_port, start_daemon, write_config


def gap(status: str, severity: str = "high", evidence: tuple[str, ...] = (), reason: str = "") -> Gap:
    return Gap("P1", "No UPS", "power", status == "open", severity, evidence, status != "unknown", reason)


def test_each_change_is_one_line_with_its_evidence() -> None:
    opened = transitions({}, (gap("open", evidence=("ups1 OB", "no upsmon attached")),))
    assert opened == ["gap P1 opened (high): No UPS: ups1 OB; no upsmon attached"]
    worse = transitions({"P1": ("open", "high")}, (gap("open", "critical", ("ups1 OB LB",)),))
    assert worse == ["gap P1 changed severity (critical): No UPS: ups1 OB LB"]
    assert transitions({"P1": ("open", "high")}, (gap("open", "high", ("other words",)),)) == []
    closed = transitions({"P1": ("open", "high")}, (gap("resolved", evidence=("ups1 OL, 1 upsmon attached",)),))
    assert closed == ["gap P1 resolved: No UPS: ups1 OL, 1 upsmon attached"]
    blind = transitions({"P1": ("resolved", "")}, (gap("unknown", reason="ups collector failed: refused"),))
    assert blind == ["gap P1 cannot be evaluated: No UPS: ups collector failed: refused"]
    starting = Gap("P1", "No UPS", "power", False, "high", (), False, "waiting for the first ups collection", True)
    assert transitions({}, (starting,)) == []
    # Undecidable after the wait is news, though both read "unknown".
    assert transitions({"P1": ("waiting", "")}, (gap("unknown", reason="no UPS answered"),)) == [
        "gap P1 cannot be evaluated: No UPS: no UPS answered"]
    vm = Gap("P5", "Unused PCIe slot", "capacity", False, "info", (), True, "no physical PCIe slot on this host",
             applicable=False)
    assert transitions({}, (vm,)) == [
        "gap P5 does not apply here: Unused PCIe slot: no physical PCIe slot on this host"]
    assert transitions({"P5": ("not applicable", "")}, (vm,)) == []


def test_the_exporter_follows_the_store(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="physgap.gaps")
    verdict = {"open": False}
    store = SnapshotStore("h", lambda s: (gap("open" if verdict["open"] else "resolved", evidence=("e",)),),
                          ["ups"])
    exporter = GapLogExporter()
    exporter.start(store)
    store.record(CollectorStatus("ups", True))
    verdict["open"] = True
    store.record(CollectorStatus("ups", True))
    store.record(CollectorStatus("ups", True))  # no change, no line
    exporter.stop()
    verdict["open"] = False
    store.record(CollectorStatus("ups", True))  # stopped: not heard
    assert [r.getMessage() for r in caplog.records] == ["gap P1 resolved: No UPS: e",
                                                         "gap P1 opened (high): No UPS: e"]
    assert all(r.levelno == logging.WARNING for r in caplog.records)


def test_the_daemon_logs_gaps_at_warning(tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    port = free_port()
    config = write_config(tmp_path / "c.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", port)
    daemon = start_daemon(config, port)
    daemon_factory.append(daemon)
    time.sleep(2.5)
    assert daemon.stop(signal.SIGTERM) == 0
    log = daemon.stderr()
    # An empty sysfs: no NIC, so P3 cannot be evaluated, and the journal says why, once.
    assert log.count("gap P3 cannot be evaluated: Running at GbE when 10G is available: no network interface") == 1
    assert "WARNING" in next(line for line in log.splitlines() if "gap P3" in line)
