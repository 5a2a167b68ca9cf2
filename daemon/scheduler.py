"""Runs each collector on its own interval, in its own worker thread, with a hard timeout.

Why threads and not asyncio: the sources are blocking by nature (sysfs reads, subprocesses, a line-based
TCP protocol) and the Prometheus HTTP server is thread based. A supervisor thread per collector starts each
run in a fresh worker thread and waits at most `timeout` for it. On timeout the run's context is cancelled,
which kills its subprocess group and closes its sockets (see collectors.kit.command); the run is reported
failed at once and no new run of that collector starts until the stuck one has really ended, so there are
never two runs of one collector at the same time. Collectors built on asyncio (pysnmp 7) run their own event
loop inside their worker thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from collectors.kit.context import Collector, CollectorError, RunContext
from collectors.model.readings import AnyReading
from collectors.model.snapshot import CollectorStatus
from daemon.store import SnapshotStore

log = logging.getLogger("physgap.scheduler")


@dataclass(frozen=True)
class Job:
    collector: Collector
    interval: float
    timeout: float

    @property
    def name(self) -> str:
        return self.collector.name


class _Outcome:
    """Filled in by the worker thread; read by the supervisor only after join()."""

    def __init__(self) -> None:
        self.readings: tuple[AnyReading, ...] = ()
        self.error: str | None = None


class _Supervisor:
    def __init__(self, job: Job, store: SnapshotStore, state_dir: Path, stop: threading.Event) -> None:
        self.job = job
        self._store = store
        self._generation = store.generation
        self._state_dir = state_dir
        self._stop = stop
        self._worker: threading.Thread | None = None
        self._ctx: RunContext | None = None
        self._last_error = ""
        self._last_success: float | None = None
        self.thread = threading.Thread(target=self._loop, name=f"physgap-{job.name}", daemon=True)
        self.progress = time.monotonic()  # last time this supervisor finished a cycle (watchdog input)

    def _loop(self) -> None:
        next_due = time.monotonic()
        while not self._stop.wait(max(0.0, next_due - time.monotonic())):
            self.run_once()
            self.progress = time.monotonic()
            next_due += self.job.interval
            if next_due < time.monotonic():  # a slow run: skip the missed slots instead of bursting
                next_due = time.monotonic() + self.job.interval

    def cancel(self) -> None:
        if self._ctx is not None:
            self._ctx.cancel.set()

    def run_once(self) -> None:
        job = self.job
        started_wall = time.time()
        started = time.monotonic()
        if self._worker is not None and self._worker.is_alive():
            self._report(False, "previous run is still stuck after its timeout; not starting another",
                         (), 0.0, started_wall)
            return
        ctx = RunContext(deadline=started + job.timeout, state_dir=self._state_dir,
                         log=logging.getLogger(f"physgap.collector.{job.name}"))
        self._ctx = ctx
        outcome = _Outcome()
        worker = threading.Thread(target=_work, args=(job.collector, ctx, outcome),
                                  name=f"physgap-{job.name}-run", daemon=True)
        self._worker = worker
        worker.start()
        worker.join(job.timeout)
        duration = time.monotonic() - started
        if worker.is_alive():
            ctx.cancel.set()
            self._report(False, f"timed out after {job.timeout:g}s", (), duration, started_wall)
            return
        if outcome.error is not None:
            self._report(False, outcome.error, (), duration, started_wall)
        else:
            self._report(True, "", outcome.readings, duration, started_wall)

    def _report(self, ok: bool, error: str, readings: tuple[AnyReading, ...], duration: float,
                started_wall: float) -> None:
        finished = started_wall + duration
        if ok:
            self._last_success = finished
            if self._last_error:
                log.info("collector %s recovered", self.job.name)
        elif error != self._last_error:
            # Logged when the reason changes, not every interval: a dead UPS must not flood the journal.
            log.warning("collector %s failed: %s", self.job.name, error)
        self._last_error = "" if ok else error
        self._store.record(CollectorStatus(
            name=self.job.name, success=ok, error=error, duration_seconds=duration, last_run=finished,
            last_success=self._last_success, readings=readings), self._generation)


def _work(collector: Collector, ctx: RunContext, outcome: _Outcome) -> None:
    try:
        outcome.readings = tuple(collector.collect(ctx))
    except CollectorError as exc:
        outcome.error = str(exc) or type(exc).__name__
    except Exception as exc:
        log.exception("collector %s crashed", collector.name)
        outcome.error = f"internal error: {type(exc).__name__}: {exc}"


class Scheduler:
    def __init__(self, jobs: Sequence[Job], store: SnapshotStore, state_dir: Path) -> None:
        self._stop = threading.Event()
        self._supervisors = [_Supervisor(job, store, state_dir, self._stop) for job in jobs]

    def start(self) -> None:
        for supervisor in self._supervisors:
            supervisor.thread.start()

    def stop(self, wait: float = 1.0) -> None:
        self._stop.set()
        for supervisor in self._supervisors:
            supervisor.cancel()
        deadline = time.monotonic() + wait
        for supervisor in self._supervisors:
            supervisor.thread.join(max(0.0, deadline - time.monotonic()))

    def run_once(self) -> None:
        """Run every collector once, concurrently, and return when all have reported (for `physgap once`)."""
        threads = [threading.Thread(target=s.run_once, daemon=True) for s in self._supervisors]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def healthy(self, now: float, slack: float) -> bool:
        """True while every supervisor finished a cycle recently enough (feeds the systemd watchdog)."""
        return all(
            now - s.progress <= s.job.interval + s.job.timeout + slack
            for s in self._supervisors if s.thread.is_alive() or not self._stop.is_set()
        )
