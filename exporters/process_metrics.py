"""The daemon's own process_* series, read on every scrape at a fraction of ProcessCollector's cost.

prometheus_client's ProcessCollector builds six metric families per call and parses /proc/self/limits as
text; on a /metrics answer that took three quarters of the handler's time (issue 8 holds a scrape to 1.3x a
bare HTTP server). The series, names, help texts and sources are the same as ProcessCollector's, so
dashboards built on node_exporter's or any Python exporter's process_* series keep working; a unit test
holds the two to the same lines.
"""

from __future__ import annotations

import contextlib
import os
import resource
from pathlib import Path

_PAGE_SIZE = resource.getpagesize()
_INFINITY = float("inf")


def _ticks_per_second() -> float:
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (ValueError, OSError):
        return 100.0


def _boot_time(proc: Path) -> float | None:
    try:
        with (proc / "stat").open("rb") as stat:
            for line in stat:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _number(value: float) -> str:
    """prometheus_client's spelling of a number (Go's: 4.12e+08, +Inf), so the lines match ProcessCollector's.

    Its floatToGoString inline, for the values these series take (finite and not negative, or +Inf): six
    calls per scrape were a fifth of the handler's time.
    """
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1:]}".rstrip("0.")
        return f"{mantissa}e+0{dot - 1}"
    return "+Inf" if value == _INFINITY else text


_STAT_LINES = (
    "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
    "# TYPE process_virtual_memory_bytes gauge\n"
    "process_virtual_memory_bytes %s\n"
    "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
    "# TYPE process_resident_memory_bytes gauge\n"
    "process_resident_memory_bytes %s\n"
    "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
    "# TYPE process_start_time_seconds gauge\n"
    "process_start_time_seconds %s\n"
    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
    "# TYPE process_cpu_seconds_total counter\n"
    "process_cpu_seconds_total %s\n")
_FD_LINES = (
    "# HELP process_open_fds Number of open file descriptors.\n"
    "# TYPE process_open_fds gauge\n"
    "process_open_fds %s\n"
    "# HELP process_max_fds Maximum number of open file descriptors.\n"
    "# TYPE process_max_fds gauge\n"
    "process_max_fds %s\n")


class ProcessMetrics:
    """Formats process_* exposition text for one process (this one by default)."""

    def __init__(self, proc: Path = Path("/proc"), pid: str = "self") -> None:
        self._process = proc / pid
        self._stat = str(self._process / "stat")
        self._fd = str(self._process / "fd")
        self._ticks = _ticks_per_second()
        # Boot time does not change while the system runs; read once, as ProcessCollector does.
        self._boot = _boot_time(proc)

    def text(self) -> bytes:
        """The exposition lines; a part whose source cannot be read is left out, as ProcessCollector does."""
        if self._boot is None:
            return b""
        parts: list[str] = []
        try:
            # os.read rather than open(): no buffered file object to build, half the cost of this read.
            descriptor = os.open(self._stat, os.O_RDONLY | os.O_CLOEXEC)
            try:
                raw = os.read(descriptor, 4096)
            finally:
                os.close(descriptor)
            # After the command name, which may itself hold spaces or parentheses.
            fields = raw.rsplit(b")", 1)[-1].split()
            ticks = self._ticks
            parts.append(_STAT_LINES % (
                _number(float(fields[20])), _number(float(fields[21]) * _PAGE_SIZE),
                _number(float(fields[19]) / ticks + self._boot),
                _number(float(fields[11]) / ticks + float(fields[12]) / ticks)))
        except (OSError, ValueError, IndexError):
            pass
        with contextlib.suppress(OSError, ValueError, IndexError):
            parts.append(_FD_LINES % (_number(float(len(os.listdir(self._fd)))), _number(self._max_fds())))
        return "".join(parts).encode("ascii")

    def _max_fds(self) -> float:
        if self._process.name == "self":
            # Our own soft limit without parsing /proc/self/limits; "unlimited" reads as +Inf (ProcessCollector
            # would fail on that word and drop both fd series).
            soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            return float("inf") if soft == resource.RLIM_INFINITY else float(soft)
        with (self._process / "limits").open("rb") as limits:
            for line in limits:
                if line.startswith(b"Max open files"):
                    word = line.split()[3]
                    return float("inf") if word == b"unlimited" else float(word)
        raise ValueError("no 'Max open files' line")
