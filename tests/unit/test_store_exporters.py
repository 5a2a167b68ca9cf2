"""The store wakes exporters when a new View exists; the textfile exporter follows it without polling."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from collectors.model.snapshot import CollectorStatus
from daemon.store import SnapshotStore
from exporters.textfile import TextfileExporter
from tests.faults.harness import wait_until


def test_subscribers_hear_of_every_new_view_until_they_unsubscribe() -> None:
    store = SnapshotStore("h", lambda s: (), ["nic", "pcie"])
    seen: list[int] = []
    unsubscribe = store.subscribe(lambda view: seen.append(view.version))
    store.record(CollectorStatus("nic", True))
    store.record(CollectorStatus("pcie", False, error="boom"))
    store.reconfigure("h2", lambda s: (), ["nic"])
    assert seen == [1, 2, 3]
    unsubscribe()
    store.record(CollectorStatus("nic", True))
    assert seen == [1, 2, 3]
    assert store.current().version == 4


def test_a_late_result_of_an_old_configuration_wakes_nobody() -> None:
    store = SnapshotStore("h", lambda s: (), ["nic"])
    woken = threading.Event()
    store.subscribe(lambda view: woken.set())
    generation = store.generation
    store.reconfigure("h", lambda s: (), ["nic"])
    woken.clear()
    store.record(CollectorStatus("nic", True), generation)
    assert not woken.is_set()


def test_textfile_follows_the_store_and_coalesces_bursts(tmp_path: Path) -> None:
    store = SnapshotStore("h", lambda s: (), ["nic", "pcie"])
    path = tmp_path / "physgap.prom"
    exporter = TextfileExporter(path, min_seconds=0.3)
    exporter.start(store)
    try:
        assert wait_until(path.exists)
        assert 'physgap_collector_success{collector="nic"} 0.0' in path.read_text()
        first = path.stat().st_mtime_ns
        for _ in range(20):  # a burst of reports: one write of the newest View, not twenty
            store.record(CollectorStatus("nic", True))
        store.record(CollectorStatus("pcie", True))
        assert wait_until(lambda: 'collector="pcie"} 1.0' in path.read_text())
        assert 'physgap_collector_success{collector="nic"} 1.0' in path.read_text()
        assert path.stat().st_mtime_ns != first
        # A new path on reload: the current View is written there without waiting for a collector.
        moved = tmp_path / "moved.prom"
        exporter.reconfigure(moved)
        assert wait_until(moved.exists)
    finally:
        exporter.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["moved.prom", "physgap.prom"]  # no temp files left


def test_an_unwritable_textfile_is_logged_once_and_retried(tmp_path: Path,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="physgap.exporters.textfile")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store = SnapshotStore("h", lambda s: (), ["nic"])
    exporter = TextfileExporter(blocker / "physgap.prom", min_seconds=0.05)
    exporter.start(store)
    try:
        for _ in range(5):
            store.record(CollectorStatus("nic", True))
            time.sleep(0.06)
        assert wait_until(lambda: len(caplog.records) >= 1)
        time.sleep(0.2)
        assert len([r for r in caplog.records if "cannot write textfile" in r.getMessage()]) == 1
        exporter.reconfigure(tmp_path / "ok.prom")
        assert wait_until((tmp_path / "ok.prom").exists)
    finally:
        exporter.stop()
