"""smartctl processes that outlive SIGKILL, found again and watched until they really end.

A smartctl waiting for a disk inside the kernel (a dying USB disk, a wedged HBA: uninterruptible sleep,
state D) does not die from SIGKILL until the kernel lets go of it, and until then it holds the disk, a SCSI
command slot and its memory. Starting another query on the same disk only adds a second stuck process.
Killing the process group does not reach everything either: a helper that moved to a session of its own
keeps running. So each query carries a mark in its environment (inherited by everything it starts, in any
session, and readable as long as the process exists), and after a query had to be killed the processes
still carrying its mark are its survivors. They are then watched by pid and start time only
(/proc/<pid>/stat), which also protects against a reused pid.

Reading another process's environment takes the kernel's lock on that process's memory map, which a
process stuck in the kernel in the wrong place may hold; `ps` is known to hang on such processes. So the
environment is read only for processes that can be the query's own: same user, started after the query
began (their start time is in /proc/<pid>/stat, which needs no such lock).
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

MARK_ENV = "PHYSGAP_SMART_QUERY"
PROC = Path("/proc")

# An environment larger than this is not one physgap set up (the kernel allows up to ~2 MiB of argv+env).
_MAX_ENVIRON = 4 * 1024 * 1024
# Start times are in clock ticks (1/100 s); the window's edges get this much slack for rounding.
_SLACK_SECONDS = 1.0
# Processes that are exiting or already gone hold nothing: zombies (Z), dead (X, x).
_GONE_STATES = frozenset("ZXx")
_counter = itertools.count(1)


@dataclass(frozen=True)
class Survivor:
    """One process left behind by a killed query: pid plus start time, since pids are reused."""

    pid: int
    start_ticks: int
    state: str  # one letter from /proc/<pid>/stat at the last look: "D" uninterruptible, "S" sleeping, ...


@dataclass(frozen=True)
class StuckQuery:
    """A killed query whose processes are still alive: its device is not queried until they are gone."""

    started: float  # wall-clock time the query started
    processes: tuple[Survivor, ...]

    def reason(self, label: str) -> str:
        shown = ", ".join(f"pid {p.pid} state {p.state}" for p in self.processes[:3])
        more = f" and {len(self.processes) - 3} more" if len(self.processes) > 3 else ""
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return (f"{label}: hung: the smartctl query started {when} is still alive after SIGKILL "
                f"({shown}{more}); no new query until it ends")


class Registry:
    """The stuck queries of this daemon process, by device key ("/dev/sdb|sat"), and the queries running now.

    Process-wide on purpose: a stuck process outlives the collector that started it (a SIGHUP reload builds
    new collectors), and must still keep its device from being queried again. Thread-safe: query threads
    register survivors and take running slots while a run reads the table.
    """

    def __init__(self, proc: Path = PROC) -> None:
        self._proc = proc
        self._lock = threading.Lock()
        self._stuck: dict[str, StuckQuery] = {}
        self._running = 0

    def refresh(self) -> tuple[Mapping[str, StuckQuery], tuple[str, ...]]:
        """(the stuck queries still alive, the keys whose stuck query has ended since the last look)."""
        ended: list[str] = []
        with self._lock:
            for key, entry in list(self._stuck.items()):
                alive = tuple(p for p in (still_alive(p, self._proc) for p in entry.processes) if p is not None)
                if alive:
                    self._stuck[key] = replace(entry, processes=alive)
                else:
                    del self._stuck[key]
                    ended.append(key)
            return dict(self._stuck), tuple(ended)

    def begin(self, limit: int) -> bool:
        """Take a running slot if running plus stuck queries stay within `limit`; False when they would not.
        Every True must be followed by one end()."""
        with self._lock:
            if self._running + len(self._stuck) >= limit:
                return False
            self._running += 1
            return True

    def end(self) -> None:
        with self._lock:
            self._running -= 1

    def stuck_count(self) -> int:
        with self._lock:
            return len(self._stuck)

    def note(self, key: str, mark: str, since_boot: float, started: float) -> int:
        """After a kill: register the query's processes that are still alive; returns how many there are."""
        left = survivors(mark, since_boot, self._proc)
        if left:
            with self._lock:
                self._stuck[key] = StuckQuery(started, left)
        return len(left)


def new_mark() -> str:
    """A mark unique to one query of this daemon process."""
    return f"{os.getpid()}-{next(_counter)}"


def boot_clock() -> float:
    """Seconds since boot on the clock /proc/<pid>/stat start times use (CLOCK_BOOTTIME)."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def survivors(mark: str, since: float, proc: Path = PROC) -> tuple[Survivor, ...]:
    """Processes still alive that carry `MARK_ENV=mark` and started at or after `since` (boot_clock())."""
    ticks = os.sysconf("SC_CLK_TCK")
    earliest = (since - _SLACK_SECONDS) * ticks
    uid = os.geteuid()
    needle = f"\0{MARK_ENV}={mark}\0".encode()  # a whole entry: mark "7-1" must not match "7-10"
    found: list[Survivor] = []
    try:
        entries = os.listdir(proc)
    except OSError:
        return ()
    for entry in entries:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        try:
            if os.stat(proc / entry).st_uid != uid:
                continue
        except OSError:
            continue
        status = _stat(proc, pid)
        if status is None or status[0] in _GONE_STATES or status[1] < earliest:
            continue
        if needle in _environ(proc, pid):
            found.append(Survivor(pid, status[1], status[0]))
    return tuple(found)


def still_alive(process: Survivor, proc: Path = PROC) -> Survivor | None:
    """The process as it is now, or None once it ended (or its pid belongs to another process)."""
    status = _stat(proc, process.pid)
    if status is None or status[1] != process.start_ticks or status[0] in _GONE_STATES:
        return None
    return Survivor(process.pid, process.start_ticks, status[0])


def _stat(proc: Path, pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) from /proc/<pid>/stat; None when it cannot be read."""
    try:
        text = (proc / str(pid) / "stat").read_bytes().decode("ascii", "replace")
    except OSError:
        return None
    # The command name is in parentheses and may itself contain spaces and parentheses: split after the last.
    _, _, rest = text.rpartition(")")
    fields = rest.split()
    # Field 3 (state) is fields[0]; field 22 (starttime) is fields[19].
    if len(fields) < 20 or not fields[19].isdigit():
        return None
    return fields[0], int(fields[19])


def _environ(proc: Path, pid: int) -> bytes:
    try:
        with open(proc / str(pid) / "environ", "rb") as handle:
            data = handle.read(_MAX_ENVIRON)
    except OSError:
        return b""
    # Entries are NUL-terminated; framed with NULs on both sides so that whole entries can be searched.
    return b"\0" + data if data.endswith(b"\0") else b"\0" + data + b"\0"


# The one registry of this process (see Registry).
REGISTRY = Registry()

__all__ = ["MARK_ENV", "REGISTRY", "Registry", "StuckQuery", "Survivor", "boot_clock", "new_mark", "still_alive",
           "survivors"]
