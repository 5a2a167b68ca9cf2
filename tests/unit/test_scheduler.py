"""Scheduler: hard timeouts, no overlapping runs, one failing collector never stops the others."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from collectors.kit.command import run_program
from collectors.kit.context import CollectorError, RunContext
from collectors.model.readings import AnyReading, SlotScan
from daemon.scheduler import Job, Scheduler
from daemon.store import SnapshotStore


class Counting:
    """A collector that counts its runs and how many ran at once."""

    def __init__(self, name: str, hang: threading.Event | None = None, fail: str = "") -> None:
        self.name = name
        self.hang = hang
        self.fail = fail
        self.runs = 0
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def collect(self, ctx: RunContext) -> Sequence[AnyReading]:
        with self._lock:
            self.runs += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.hang is not None:
                self.hang.wait(10)
            if self.fail:
                raise CollectorError(self.fail)
            return (SlotScan(True, f"run {self.runs}"),)
        finally:
            with self._lock:
                self.active -= 1


class Sleeper:
    """A collector that runs a real program which never exits."""

    name = "sleeper"

    def collect(self, ctx: RunContext) -> Sequence[AnyReading]:
        run_program([sys.executable, "-c", "import time; time.sleep(60)"], ctx)
        return ()


def store_for(*names: str) -> SnapshotStore:
    return SnapshotStore("h", lambda s: (), names)


def wait_for(predicate: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


def test_a_hung_collector_times_out_and_never_overlaps(tmp_path: Path) -> None:
    release = threading.Event()
    hung = Counting("hung", hang=release)
    healthy = Counting("healthy")
    store = store_for("hung", "healthy")
    scheduler = Scheduler([Job(hung, 0.05, 0.1), Job(healthy, 0.05, 1.0)], store, tmp_path)
    scheduler.start()
    try:
        wait_for(lambda: healthy.runs >= 10)
        status = store.current().snapshot.status("hung")
        assert status is not None and status.success is False
        assert status.error in ("timed out after 0.1s",
                                "previous run is still stuck after its timeout; not starting another")
        assert hung.runs == 1 and hung.max_active == 1  # still stuck: no second run started
        healthy_status = store.current().snapshot.status("healthy")
        assert healthy_status is not None and healthy_status.success
        release.set()
        wait_for(lambda: hung.runs >= 2)
        assert hung.max_active == 1
    finally:
        release.set()
        scheduler.stop()


def test_timeout_kills_the_program(tmp_path: Path) -> None:
    store = store_for("sleeper")
    scheduler = Scheduler([Job(Sleeper(), 60, 0.3)], store, tmp_path)
    started = time.monotonic()
    scheduler.run_once()
    assert time.monotonic() - started < 2
    status = store.current().snapshot.status("sleeper")
    assert status is not None and status.success is False and status.error == "timed out after 0.3s"
    # The program is gone shortly after: the run's cancel killed its process group.
    wait_for(lambda: not _python_sleepers())


def _python_sleepers() -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"time.sleep(60)" in cmdline and str(proc.name) != "self":
            found.append(proc.name)
    return found


def test_errors_and_crashes_are_reported_not_raised(tmp_path: Path) -> None:
    class Crashing:
        name = "crashing"

        def collect(self, ctx: RunContext) -> Sequence[AnyReading]:
            raise ZeroDivisionError("bug")

    store = store_for("failing", "crashing", "fine")
    Scheduler([Job(Counting("failing", fail="sysfs gone"), 1, 1), Job(Crashing(), 1, 1),
               Job(Counting("fine"), 1, 1)], store, tmp_path).run_once()
    snap = store.current().snapshot
    assert snap.collectors["failing"].error == "sysfs gone"
    assert snap.collectors["crashing"].error == "internal error: ZeroDivisionError: bug"
    assert snap.collectors["fine"].success and snap.readings(SlotScan)[0].reason == "run 1"
    assert snap.collectors["fine"].last_success is not None


def test_failed_run_drops_old_readings_but_keeps_last_success_time(tmp_path: Path) -> None:
    flaky = Counting("flaky")
    store = store_for("flaky")
    scheduler = Scheduler([Job(flaky, 1, 1)], store, tmp_path)
    scheduler.run_once()
    first = store.current().snapshot.collectors["flaky"]
    flaky.fail = "now broken"
    scheduler.run_once()
    second = store.current().snapshot.collectors["flaky"]
    assert first.readings and not second.readings  # no stale data served as live
    assert second.last_success == first.last_success


def test_stop_returns_quickly_even_with_a_hung_collector(tmp_path: Path) -> None:
    release = threading.Event()
    hung = Counting("hung", hang=release)
    scheduler = Scheduler([Job(hung, 1, 30)], store_for("hung"), tmp_path)
    scheduler.start()
    wait_for(lambda: hung.runs == 1)
    started = time.monotonic()
    scheduler.stop(wait=1.0)
    assert time.monotonic() - started < 1.5
    release.set()


def test_a_late_run_of_the_previous_configuration_is_dropped(tmp_path: Path) -> None:
    """A run stuck past its scheduler's stop finishes after a reload: it must not write into the new config."""
    release = threading.Event()
    stuck = Counting("ups_snmp", hang=release)
    store = SnapshotStore("h", lambda s: (), ["ups_snmp", "nic"])
    old = Scheduler([Job(stuck, 60, 5)], store, tmp_path)
    old.start()
    wait_for(lambda: stuck.runs == 1)
    old.stop(wait=0.1)
    store.reconfigure("h", lambda s: (), ["nic"])  # the reload removed [[ups.snmp]]
    release.set()
    time.sleep(0.3)
    assert list(store.current().snapshot.collectors) == ["nic"]


# --- nothing ends a collector's schedule silently (issue 8, item 6) ----------------------------------------


class Flaky:
    """A store subscriber (as an exporter is) that raises on the calls listed, then behaves."""

    def __init__(self, *failing_calls: int, error: BaseException | None = None) -> None:
        self.failing = set(failing_calls)
        self.error = error or RuntimeError("exporter bug")
        self.calls = 0
        self.errors: list[str] = []

    def __call__(self, view: object) -> None:
        self.calls += 1
        status = view.snapshot.status("x")  # type: ignore[attr-defined]
        if status is not None and status.error:
            self.errors.append(status.error)
        if self.calls in self.failing:
            raise self.error


def test_a_collector_that_exits_reads_failed_not_empty(tmp_path: Path) -> None:
    class Exiting:
        name = "exiting"

        def collect(self, ctx: RunContext) -> Sequence[AnyReading]:
            raise SystemExit(3)

    store = store_for("exiting")
    Scheduler([Job(Exiting(), 1, 1)], store, tmp_path).run_once()
    status = store.current().snapshot.collectors["exiting"]
    assert (status.success, status.error) == (False, "internal error: SystemExit: 3")


def test_an_error_around_the_run_is_reported_and_the_schedule_goes_on(tmp_path: Path) -> None:
    collector = Counting("x")
    store = store_for("x")
    flaky = Flaky(1)
    store.subscribe(flaky)
    scheduler = Scheduler([Job(collector, 0.05, 1)], store, tmp_path)
    scheduler.start()
    try:
        wait_for(lambda: collector.runs >= 3)
        assert "scheduler error: RuntimeError: exporter bug" in flaky.errors
        wait_for(lambda: store.current().snapshot.collectors["x"].success is True)
    finally:
        scheduler.stop()


def test_a_dead_supervisor_is_revived_and_says_why(tmp_path: Path) -> None:
    collector = Counting("x")
    store = store_for("x")
    # Calls 1 and 2: the run's report and the guard's own report both raise, so the thread ends.
    flaky = Flaky(1, 2, error=SystemExit("bye"))
    store.subscribe(flaky)
    scheduler = Scheduler([Job(collector, 0.05, 1)], store, tmp_path)
    scheduler.start()
    try:
        revived: list[str] = []

        def revive() -> bool:
            revived.extend(scheduler.revive())
            return bool(revived)

        wait_for(revive)
        assert revived == ["x"]
        assert "scheduler thread died (SystemExit: bye); restarted" in flaky.errors
        runs = collector.runs
        wait_for(lambda: collector.runs > runs)
        wait_for(lambda: store.current().snapshot.collectors["x"].success is True)
    finally:
        scheduler.stop()


def test_a_supervisor_that_cannot_be_revived_stops_the_watchdog(tmp_path: Path) -> None:
    collector = Counting("x")
    store = store_for("x")
    store.subscribe(Flaky(*range(1, 10_000), error=SystemExit("always")))
    scheduler = Scheduler([Job(collector, 0.05, 0.1)], store, tmp_path)
    scheduler.start()
    try:
        assert scheduler.healthy(time.monotonic(), slack=0.1)
        time.sleep(0.5)
        assert scheduler.revive() == []  # its report raises every time: no restart
        assert not scheduler.healthy(time.monotonic(), slack=0.1)
    finally:
        scheduler.stop()
