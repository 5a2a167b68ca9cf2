"""Runs each collector on its own interval, in its own worker thread, with a hard timeout.

Why threads and not asyncio: the sources are blocking by nature (sysfs reads, subprocesses, a line-based
TCP protocol) and the Prometheus HTTP server is thread based. A supervisor thread per collector starts each
run in a fresh worker thread and waits at most `timeout` for it. On timeout the run's context is cancelled,
which kills its subprocess group and closes its sockets (see collectors.kit.command); the run is reported
failed at once and no new run of that collector starts until the stuck one has really ended, so there are
never two runs of one collector at the same time. Collectors built on asyncio (pysnmp 7) run their own event
loop inside their worker thread.

Nothing ends a collector's schedule silently: a run that dies for any reason (a crash, a SystemExit, no
thread to start it) is recorded as failed with the reason and tried again at the next interval; if a
supervisor's own thread still ends, the daemon's main loop revives it (`Scheduler.revive`), and one that
cannot get a cycle done stops feeding the systemd watchdog (`Scheduler.healthy`).
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


# A failure reason is shown in the log, the report and the status page: a collector error that quotes a
# flood of output must not carry it there.
_MAX_REASON = 500
# The longest single wait: intervals are bounded by the config schema, but a Job built elsewhere must never
# ask the thread library for a wait it cannot represent ("200000d" raised OverflowError and killed threads).
_MAX_WAIT_SECONDS = 3600.0
_NO_RESULT = "the run ended without a result"


class _Outcome:
    """Filled in by the worker thread; read by the supervisor only after join()."""

    def __init__(self) -> None:
        self.readings: tuple[AnyReading, ...] = ()
        self.error: str | None = _NO_RESULT  # cleared only by a run that returned readings


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
        self.thread: threading.Thread | None = None  # the loop, once started
        self.death = ""  # why the loop thread ended, when it ended on its own
        self.progress = time.monotonic()  # last time this supervisor finished a cycle (watchdog input)

    def start(self) -> None:
        self.death = ""
        thread = threading.Thread(target=self._run_loop, name=f"physgap-{self.job.name}", daemon=True)
        thread.start()
        self.thread = thread

    def _run_loop(self) -> None:
        try:
            self._loop()
        except BaseException as exc:
            # Only reached when the guard inside the loop failed too (its own report raised): the scheduler
            # revives this supervisor from the main loop, and says why.
            self.death = f"{type(exc).__name__}: {exc}"[:_MAX_REASON]
            log.critical("collector %s: scheduler thread ended: %s", self.job.name, self.death, exc_info=exc)

    def _loop(self) -> None:
        next_due = time.monotonic()
        while True:
            delay = next_due - time.monotonic()
            if delay > 0:
                if self._stop.wait(min(delay, _MAX_WAIT_SECONDS)):
                    return
                continue
            if self._stop.is_set():
                return
            try:
                self.run_once()
            except BaseException as exc:
                # Whatever broke outside the collector (no thread could be started, the store or an exporter
                # callback raised): this collector reads failed with the reason and runs again at its next
                # interval, instead of its thread dying while /metrics serves its last reading as current.
                self._crashed(exc)
            self.progress = time.monotonic()
            next_due += self.job.interval
            if next_due < time.monotonic():  # a slow run: skip the missed slots instead of bursting
                next_due = time.monotonic() + self.job.interval

    def _crashed(self, exc: BaseException) -> None:
        log.error("collector %s: scheduler error", self.job.name, exc_info=exc)
        self.fail(f"scheduler error: {type(exc).__name__}: {exc}")

    def fail(self, reason: str) -> None:
        """Record a failure that happened around the run, not in it."""
        self._report(False, reason, (), 0.0, time.time())

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
        if self._stop.is_set():
            # Stopped between the check and now: Scheduler.stop may have looked at the previous context.
            ctx.cancel.set()
        outcome = _Outcome()
        worker = threading.Thread(target=_work, args=(job.collector, ctx, outcome),
                                  name=f"physgap-{job.name}-run", daemon=True)
        try:
            worker.start()
        except RuntimeError as exc:  # "can't start new thread": a thread or memory limit was reached
            self._report(False, f"could not start a run: {exc}", (), time.monotonic() - started, started_wall)
            return
        self._worker = worker
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
        if len(error) > _MAX_REASON:
            error = error[: _MAX_REASON - 3] + "..."
        if ok:
            self._last_success = finished
            if self._last_error:
                log.info("collector %s recovered", self.job.name)
        elif error != self._last_error and not self._stop.is_set():
            # Logged when the reason changes, not every interval: a dead UPS must not flood the journal.
            # A run cancelled because the daemon is stopping is no news.
            log.warning("collector %s failed: %s", self.job.name, error)
        self._last_error = "" if ok else error
        self._store.record(CollectorStatus(
            name=self.job.name, success=ok, error=error, duration_seconds=duration, last_run=finished,
            last_success=self._last_success, readings=readings), self._generation)


def _work(collector: Collector, ctx: RunContext, outcome: _Outcome) -> None:
    try:
        outcome.readings = tuple(collector.collect(ctx))
        outcome.error = None
    except CollectorError as exc:
        outcome.error = str(exc) or type(exc).__name__
    except BaseException as exc:
        # BaseException too: a SystemExit or GeneratorExit from a collector would otherwise end this thread
        # silently, and the run would count as a success without readings.
        log.error("collector %s crashed", collector.name, exc_info=exc)
        outcome.error = f"internal error: {type(exc).__name__}: {exc}"


class Scheduler:
    def __init__(self, jobs: Sequence[Job], store: SnapshotStore, state_dir: Path) -> None:
        self._stop = threading.Event()
        self._supervisors = [_Supervisor(job, store, state_dir, self._stop) for job in jobs]
        self._once: list[threading.Thread] = []

    def start(self) -> None:
        for supervisor in self._supervisors:
            supervisor.start()

    def stop(self, wait: float = 1.0) -> None:
        """Cancel every run (run_program kills their process groups) and wait up to `wait` seconds for the
        supervisors to finish."""
        self._stop.set()
        for supervisor in self._supervisors:
            supervisor.cancel()
        deadline = time.monotonic() + wait
        threads = [s.thread for s in self._supervisors if s.thread is not None] + self._once
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def run_once(self, grace: float = 1.5) -> None:
        """Run every collector once, concurrently, and return when all have reported (for `physgap once`).

        If waiting is interrupted (a signal handler raised, Ctrl-C), every run is cancelled and given up to
        `grace` seconds to kill and reap its programs before the exception goes on: an interrupted `once`
        must leave no smartctl behind."""
        inline: list[_Supervisor] = []
        self._once = []
        finished = threading.Semaphore(0)

        def run(supervisor: _Supervisor) -> None:
            try:
                supervisor.run_once()
            finally:
                finished.release()

        try:
            for supervisor in self._supervisors:
                thread = threading.Thread(target=run, args=(supervisor,), name=f"physgap-{supervisor.job.name}",
                                          daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # no thread to spare: run it here, after the others started
                    inline.append(supervisor)
                    continue
                self._once.append(thread)
            for supervisor in inline:
                supervisor.run_once()
            # Not Thread.join(): on Python 3.11 a join interrupted by a signal handler's exception marks
            # the still running thread as stopped (bpo-45274), and stop() could then no longer wait for it.
            for _ in self._once:
                finished.acquire()
        except BaseException:
            self.stop(grace)
            raise

    def revive(self) -> list[str]:
        """Restart every supervisor whose loop ended on its own while the scheduler runs; its collector
        reads failed, with the reason, until its next run succeeds. Returns the names revived."""
        if self._stop.is_set():
            return []
        revived: list[str] = []
        for supervisor in self._supervisors:
            if supervisor.thread is None or supervisor.thread.is_alive():
                continue
            reason = supervisor.death or "ended"
            try:
                supervisor.fail(f"scheduler thread died ({reason}); restarted")
                supervisor.start()
            except BaseException as exc:
                # No thread to spare either, or its report raised again: tried again at the next tick.
                # Meanwhile its progress stalls and healthy() stops feeding the watchdog, so systemd
                # restarts the daemon.
                log.error("collector %s: could not restart its scheduler thread: %s", supervisor.job.name, exc)
                continue
            log.warning("collector %s: scheduler thread died (%s); restarted", supervisor.job.name, reason)
            revived.append(supervisor.job.name)
        return revived

    def healthy(self, now: float, slack: float) -> bool:
        """True while every supervisor finished a cycle recently enough (feeds the systemd watchdog). A
        supervisor that cannot get a cycle done (stuck, or dying as soon as it is revived) stalls this, and
        systemd restarts the daemon."""
        return all(
            now - s.progress <= s.job.interval + s.job.timeout + slack
            for s in self._supervisors
            if (s.thread is not None and s.thread.is_alive()) or not self._stop.is_set()
        )
