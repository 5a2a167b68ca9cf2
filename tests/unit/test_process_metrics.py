"""The daemon's process_* series: the same lines ProcessCollector writes, from the same /proc files."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

from exporters.process_metrics import ProcessMetrics

# A real /proc/<pid>/stat line shape: a command name with a space and a parenthesis in it.
STAT = (b"4242 (physgap (run)) S 1 4242 4242 0 -1 4194560 9000 0 12 0 1234 567 0 0 20 0 5 0 8123456 "
        b"412344320 7890 18446744073709551615 1 1 0 0 0 0 0 16781312 16386 0 0 0 17 3 0 0 0 0 0\n")


def proc_root(tmp_path: Path, max_open_files: str = "1024") -> Path:
    proc = tmp_path / "proc"
    (proc / "4242" / "fd").mkdir(parents=True)
    (proc / "stat").write_bytes(b"cpu  1 2 3 4\nbtime 1764590000\nprocesses 5\n")
    (proc / "4242" / "stat").write_bytes(STAT)
    (proc / "4242" / "limits").write_text(
        "Limit                     Soft Limit           Hard Limit           Units     \n"
        "Max cpu time              unlimited            unlimited            seconds   \n"
        f"Max open files            {max_open_files:<20} 524288               files     \n")
    for fd in range(7):
        (proc / "4242" / "fd" / str(fd)).touch()
    return proc


def prometheus_client_text(proc: Path, pid: str) -> bytes:
    registry = CollectorRegistry()
    ProcessCollector(pid=lambda: pid, proc=str(proc), registry=registry)
    return generate_latest(registry)


def test_same_lines_as_prometheus_client_for_the_same_proc_files(tmp_path: Path) -> None:
    proc = proc_root(tmp_path)
    expected = prometheus_client_text(proc, "4242")
    assert b"process_open_fds 7.0" in expected and b"process_cpu_seconds_total" in expected
    assert ProcessMetrics(proc, "4242").text() == expected


def test_own_process_series_are_all_present_and_plausible() -> None:
    lines = ProcessMetrics().text().decode().splitlines()
    values = {line.split()[0]: float(line.split()[1]) for line in lines if not line.startswith("#")}
    assert set(values) == {"process_virtual_memory_bytes", "process_resident_memory_bytes",
                           "process_start_time_seconds", "process_cpu_seconds_total", "process_open_fds",
                           "process_max_fds"}
    assert values["process_resident_memory_bytes"] > 1e6
    assert 0 < values["process_open_fds"] <= values["process_max_fds"]


def test_unlimited_open_files_reads_as_infinity_instead_of_dropping_the_fd_series(tmp_path: Path) -> None:
    text = ProcessMetrics(proc_root(tmp_path, "unlimited"), "4242").text().decode()
    assert "process_max_fds +Inf\n" in text
    assert "process_open_fds 7.0\n" in text


def test_unreadable_sources_leave_their_lines_out_without_failing(tmp_path: Path) -> None:
    proc = proc_root(tmp_path)
    (proc / "4242" / "stat").write_bytes(b"garbage")
    text = ProcessMetrics(proc, "4242").text().decode()
    assert "process_cpu_seconds_total" not in text
    assert "process_open_fds 7.0\n" in text
    assert ProcessMetrics(tmp_path / "nowhere", "1").text() == b""
