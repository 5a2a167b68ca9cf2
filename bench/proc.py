"""What /proc says about a process the benches measure: resident memory, CPU time, threads, open files.

A figure that cannot be read raises: a bench reports only what it measured.
"""

from __future__ import annotations

import os
from pathlib import Path

Pid = int | str  # a process id, or "self"


def proc_status(pid: Pid = "self") -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


def status_mb(pid: Pid, field: str) -> float:
    """A kB field of /proc/<pid>/status (VmRSS, VmHWM, ...) in MB."""
    value = proc_status(pid).get(field)
    if value is None:
        # A kernel thread or a zombie has no memory fields: there is no figure to report.
        raise RuntimeError(f"/proc/{pid}/status has no {field}")
    return int(value.split()[0]) / 1024


def rss_mb(pid: Pid = "self") -> float:
    return status_mb(pid, "VmRSS")


def peak_rss_mb(pid: Pid = "self") -> float:
    return status_mb(pid, "VmHWM")


def cpu_seconds(pid: Pid = "self") -> float:
    """The process's own user + system time (its children's are not counted)."""
    # The command name in parentheses may hold spaces: the fields are counted after its closing one.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid: Pid = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
