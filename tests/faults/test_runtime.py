"""Programs, signals and workers through the real daemon and CLI (issue 8, items 2, 3 and 6).

Every program is a stand-in configured by path: a shell script that floods, hangs or does nothing. Each case
asserts what an operator sees: the exit status and the one line on stderr, /metrics, the log, the process's
peak memory, and which of its children are still alive afterwards.
"""

from __future__ import annotations

import json
import re
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, DaemonProcess, empty_sysfs, free_port, physgap_argv, start_daemon
from tests.faults.harness import marked_env, marked_processes, popen_physgap, program, scrape, series, wait_until

TIMEOUT = 30
COLLECTORS = ("hosts", "nic", "oob_local", "pcie", "smart", "storage", "ups")
# physgap alone is about 30 MB; before the caps were enforced while reading, a flooding smartctl took
# `once` to 750 MB and the daemon to 2.2 GB. The caps (4 MiB stdout, 64 KiB stderr) allow a few MB more.
PEAK_RSS_LIMIT_KB = 120 * 1024


def host_config(tmp_path: Path, *, port: int = 9829, smartctl: Path, smart: str = "",
                dmidecode: str = "/bin/true", zpool: Path | None = None) -> Path:
    """A test host with nothing on it but the programs given: no NICs, no PCIe, no UPS, no ZFS pools.
    Every program exists, so check-config has nothing to warn about and stderr holds only what a fault
    causes."""
    sysfs = empty_sysfs(tmp_path / "sys")
    procfs = tmp_path / "proc"
    procfs.mkdir()
    zpool = zpool or program(tmp_path / "bin" / "zpool", 'echo "no pools available"')
    dev = tmp_path / "dev"  # no /dev/ipmi0: this machine's own BMC or /dev/mem is not the test's business
    dev.mkdir()
    path = tmp_path / "physgap.toml"
    path.write_text(
        f'[daemon]\nhost = "faulthost"\ninterval = "1s"\nsysfs = "{sysfs}"\nprocfs = "{procfs}"\n'
        f'state_dir = "{tmp_path / "state"}"\n\n'
        f'[prometheus]\nlisten = "127.0.0.1:{port}"\n\n'
        f'[smart]\nsmartctl = "{smartctl}"\ninterval = "1s"\n{smart}\n'
        f'[storage]\nzpool = "{zpool}"\n\n'
        f'[ups]\nautodetect = false\nupsmon_conf = ""\n\n'
        f'[pcie]\ndmidecode = "{dmidecode}"\n\n'
        f'[oob]\ndmidecode = "{dmidecode}"\ndev = "{dev}"\n')
    return path


def no_drives(tmp_path: Path) -> Path:
    """A smartctl whose scan finds nothing: the smart collector succeeds with no readings."""
    return program(tmp_path / "bin" / "smartctl",
                   'echo \'{"smartctl": {"version": [7, 3], "exit_status": 0}, "devices": []}\'')


def cmdlines(pids: list[int]) -> list[str]:
    found = []
    for pid in pids:
        try:
            found.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found


# --- output caps (item 2) ---------------------------------------------------------------------------------


def once_with_peak_rss(config: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], int]:
    """`physgap once --format json` in a fresh interpreter whose only child is physgap: the peak RSS of its
    children is physgap's own (its flooding programs are a few hundred KB)."""
    runner = ("import resource, subprocess, sys\n"
              "result = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=60)\n"
              "sys.stdout.write(result.stdout)\n"
              "sys.stderr.write(result.stderr)\n"
              "sys.stderr.write('peak-rss-kb %d\\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
              "sys.exit(result.returncode)\n")
    result = subprocess.run([sys.executable, "-c", runner, *physgap_argv("once", "--config", str(config),
                                                                         "--format", "json")],
                            cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT, env=env, check=False)
    match = re.search(r"^peak-rss-kb (\d+)$", result.stderr, re.MULTILINE)
    assert match, result.stderr
    return result, int(match.group(1))


@pytest.mark.parametrize(("flood", "stream", "cap"), [("exec yes", "stdout", "4 MiB"),
                                                      ("exec yes >&2", "stderr", "64 KiB")])
def test_a_flooding_smartctl_is_killed_at_its_cap(tmp_path: Path, flood: str, stream: str, cap: str) -> None:
    smartctl = program(tmp_path / "bin" / "smartctl", flood)
    config = host_config(tmp_path, smartctl=smartctl, smart='timeout = "20s"')
    with marked_env() as (mark, env):
        result, peak_kb = once_with_peak_rss(config, env)
        assert result.returncode == 0, result.stderr
        smart = json.loads(result.stdout)["collectors"]["smart"]
        assert smart["success"] is False
        assert smart["error"] == (f"{smartctl}: wrote more than {cap} to {stream}; killed (output cap {cap})")
        assert peak_kb < PEAK_RSS_LIMIT_KB, f"physgap once peaked at {peak_kb} KB"
        assert marked_processes(mark) == []
        # Every other collector still reported.
        others = {name: c["success"] for name, c in json.loads(result.stdout)["collectors"].items()}
        assert others == {"hosts": True, "nic": True, "oob_local": True, "pcie": True, "smart": False,
                          "storage": True, "ups": True}


def test_the_daemon_survives_every_program_flooding(tmp_path: Path,
                                                     daemon_factory: list[DaemonProcess]) -> None:
    """smartctl, dmidecode and zpool all write without end, every second: the daemon's peak memory stays
    near its own size, /metrics keeps answering, and the log names the program and the cap."""
    flood = program(tmp_path / "bin" / "flood", "exec yes")
    port = free_port()
    config = host_config(tmp_path, port=port, smartctl=flood, dmidecode=str(flood), zpool=flood)
    daemon = start_daemon(config, port)
    daemon_factory.append(daemon)
    started = time.monotonic()
    body = ""
    while time.monotonic() - started < 6:  # several runs of every collector, each one flooded
        body = scrape(daemon)
        time.sleep(0.5)
    status = Path(f"/proc/{daemon.proc.pid}/status").read_text()
    peak_kb = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
    assert peak_kb < PEAK_RSS_LIMIT_KB, f"the daemon peaked at {peak_kb} KB"
    assert series(body, "physgap_collector_success")[(("collector", "smart"),)] == 0.0
    assert series(body, "physgap_collector_success")[(("collector", "nic"),)] == 1.0
    assert daemon.stop() == 0
    log = daemon.stderr()
    assert f"{flood}: wrote more than 4 MiB to stdout; killed (output cap 4 MiB)" in log
    assert "Traceback" not in log


# --- Ctrl-C and SIGTERM on the one-shot commands (item 3) -------------------------------------------------


@pytest.mark.parametrize(("command", "sig", "status"), [
    ("once", signal.SIGINT, 130), ("once", signal.SIGTERM, 143),
    ("report", signal.SIGINT, 130), ("report", signal.SIGTERM, 143),
])
def test_a_signal_stops_a_hung_collection_at_once_and_leaves_nothing(tmp_path: Path, command: str,
                                                                    sig: signal.Signals, status: int) -> None:
    # The case: smartctl hangs (here: a wrapper script and its `sleep`), the timeout is a minute.
    hung = program(tmp_path / "bin" / "smartctl", "sleep 600")
    config = host_config(tmp_path, smartctl=hung,
                         smart='devices = [{ device = "/dev/sda", type = "sat" }]\ntimeout = "60s"')
    with marked_env() as (mark, env):
        proc = popen_physgap(command, "--config", str(config), env=env)
        try:
            assert wait_until(lambda: any("sleep 600" in c for c in cmdlines(marked_processes(mark))),
                              timeout=TIMEOUT), "smartctl never started"
            sent = time.monotonic()
            proc.send_signal(sig)
            proc.wait(TIMEOUT)
            elapsed = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.stderr is not None
        stderr = proc.stderr.read()
        assert proc.returncode == status, stderr
        assert elapsed < 2.0, f"{command} took {elapsed:.1f}s to stop"
        assert stderr == f"physgap: stopped by {sig.name}\n"
        # smartctl and its sleep were killed with their process group, not orphaned under PID 1.
        assert wait_until(lambda: marked_processes(mark) == [], timeout=1.0), cmdlines(marked_processes(mark))


def test_a_second_ctrl_c_does_not_cut_the_cleanup_short(tmp_path: Path) -> None:
    hung = program(tmp_path / "bin" / "smartctl", "sleep 600")
    config = host_config(tmp_path, smartctl=hung,
                         smart='devices = [{ device = "/dev/sda", type = "sat" }, '
                               '{ device = "/dev/sdb", type = "sat" }]\ntimeout = "60s"')
    with marked_env() as (mark, env):
        proc = popen_physgap("once", "--config", str(config), env=env)
        try:
            assert wait_until(lambda: sum("sleep 600" in c for c in cmdlines(marked_processes(mark))) == 2,
                              timeout=TIMEOUT)
            proc.send_signal(signal.SIGINT)
            time.sleep(0.01)
            proc.send_signal(signal.SIGINT)
            proc.wait(TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.stderr is not None
        assert (proc.returncode, proc.stderr.read()) == (130, "physgap: stopped by SIGINT\n")
        assert wait_until(lambda: marked_processes(mark) == [], timeout=1.0), cmdlines(marked_processes(mark))


# --- a collector thread that dies (item 6) ----------------------------------------------------------------


def _vm_size(pid: int) -> int:
    match = re.search(r"VmSize:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    assert match
    return int(match.group(1)) * 1024


def test_collectors_whose_threads_cannot_start_read_failed_and_come_back(
        tmp_path: Path, daemon_factory: list[DaemonProcess], monkeypatch: pytest.MonkeyPatch) -> None:
    """An address-space limit lowered under the running daemon: no thread stack fits, so no collector run
    can start. Each collector says so (success 0 with the reason in the log) and runs again once the
    limit is lifted. Before, the first failure killed the collector's scheduler thread: it never ran again
    while /metrics went on serving its last reading with success 1 and the watchdog stayed fed."""
    # glibc reuses the stacks of finished threads; without that cache every new thread needs a new mapping.
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.pthread.stack_cache_size=0")
    port = free_port()
    daemon = start_daemon(host_config(tmp_path, port=port, smartctl=no_drives(tmp_path)), port)
    daemon_factory.append(daemon)
    pid = daemon.proc.pid

    def successes() -> dict[str, float]:
        found = series(scrape(daemon), "physgap_collector_last_success_timestamp_seconds")
        return {dict(labels)["collector"]: stamp for labels, stamp in found.items()}

    assert wait_until(lambda: set(successes()) == set(COLLECTORS), timeout=TIMEOUT)
    soft, hard = resource.prlimit(pid, resource.RLIMIT_AS)
    # Room for small allocations, none for an 8 MiB thread stack.
    resource.prlimit(pid, resource.RLIMIT_AS, (_vm_size(pid) + 4 * 1024 * 1024, hard))
    try:
        time.sleep(4)  # four intervals without a thread to spare
    finally:
        resource.prlimit(pid, resource.RLIMIT_AS, (soft, hard))
    lifted = time.time()
    assert daemon.proc.poll() is None
    assert wait_until(lambda: all(stamp > lifted for stamp in successes().values()), timeout=TIMEOUT), \
        f"collectors that never ran again after the limit was lifted at {lifted}: {successes()}"
    assert daemon.stop() == 0
    log = daemon.stderr()
    assert re.search(r"collector \w+ failed: could not start a run: can't start new thread", log), log
    assert "recovered" in log
