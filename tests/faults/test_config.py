"""Hostile and mistaken configuration files through the real CLI and daemon (issue 8, items 6, 7 and 8).

Each case runs `physgap check-config`, `physgap run` or a SIGHUP reload as an operator would, bounded in
time, and asserts the exit status and exactly what is said: every problem once, with its file, line and
key, never a traceback.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, free_port, http_get, run_physgap, start_daemon
from tests.faults.test_runtime import host_config, no_drives

TIMEOUT = 30


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "physgap.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("command", ["check-config", "run"])
@pytest.mark.parametrize("nested", ["a = " + "[" * 1000 + "]" * 1000,  # the 4 KB file, give or take
                                    "[daemon]\nhost = " + "{ a = " * 1000 + "1" + " }" * 1000])
def test_deep_toml_is_exit_2_with_one_line(tmp_path: Path, command: str, nested: str) -> None:
    path = write(tmp_path, nested + "\n")
    args = ["check-config", str(path)] if command == "check-config" else [
        "run", "--config", str(path), "--web.listen-address", f"127.0.0.1:{free_port()}"]
    result = run_physgap(*args, timeout=TIMEOUT)
    assert result.returncode == 2, result.stderr
    line = (f"{path}: -: arrays or inline tables nested more than 32 deep (line {nested.count(chr(10)) + 1}); "
            "no physgap setting nests more than 3")
    assert line in result.stderr.splitlines() or result.stderr.rstrip().endswith(line), result.stderr
    assert "Traceback" not in result.stderr and "RecursionError" not in result.stderr


def test_a_dotted_key_bomb_is_refused_before_parsing(tmp_path: Path) -> None:
    """200 KB of `k.k.k...`: tomllib needs minutes for it (quadratic), so check-config or a SIGHUP reload
    would hang that long."""
    path = write(tmp_path, ".".join(["k"] * 100_000) + " = 1\n")
    result = run_physgap("check-config", str(path), timeout=TIMEOUT)
    assert result.returncode == 2
    assert result.stderr == (f"{path}: -: a dotted key with more than 32 parts (line 1); no physgap key has "
                             "more than 3\n")


@pytest.mark.parametrize(("setting", "problem"), [
    ('interval = "200000d"', "daemon.interval: '200000d' is longer than 1d, the most this key allows (1s..1d)"),
    ('interval = "1ms"', "daemon.interval: '1ms' is shorter than 1s, the least this key allows (1s..1d)"),
])
@pytest.mark.parametrize("command", ["check-config", "run"])
def test_unbounded_durations_are_refused_before_anything_runs(tmp_path: Path, command: str, setting: str,
                                                              problem: str) -> None:
    """"200000d" used to pass check-config and then kill four collector threads with OverflowError while
    /metrics kept serving their first reading; "1ms" cost 125 % CPU."""
    path = write(tmp_path, f'[daemon]\n{setting}\n')
    args = ["check-config", str(path)] if command == "check-config" else [
        "run", "--config", str(path), "--web.listen-address", f"127.0.0.1:{free_port()}"]
    result = run_physgap(*args, timeout=TIMEOUT)
    assert result.returncode == 2
    assert f"{path}:2: {problem}" in result.stderr
    assert "Traceback" not in result.stderr


MISTAKES = """\
[daemon]
interval = "30x"
role = "storage"

[prometheus]
listen = "nowhere"

[smart]
smartctl = "/nonexistent/smartctl"
concurrency = 0
interval = "1ms"

[nics]
expected = { eth0 = "fast" }
frobnicate = true

[[ups.nut]]
host = "127.0.0.1"
ups = "my ups"

[[oob.targets]]
host = "h"

[gaps.P7]
enabled = false

[gaps.P5]
severity = "urgent"

[bogus]
x = 1
"""


def test_check_config_says_everything_in_one_pass_in_file_order(tmp_path: Path) -> None:
    path = write(tmp_path, MISTAKES)
    result = run_physgap("check-config", str(path), timeout=TIMEOUT)
    assert result.returncode == 2
    said = [line.removeprefix(f"{path}:") for line in result.stderr.splitlines()]
    assert [line.split(": ", 2)[:2] for line in said] == [
        ["2", "daemon.interval"], ["3", "daemon.role"], ["6", "prometheus.listen"],
        ["9", "smart.smartctl"], ["10", "smart.concurrency"], ["11", "smart.interval"],
        ["14", "nics.expected"], ["15", "nics.frobnicate"], ["19", "ups.nut[0].ups"],
        ["21", "oob.targets[0].name"], ["24", "gaps.P7"], ["28", "gaps.P5.severity"], ["30", "bogus"]]
    assert "9: smart.smartctl: warning: /nonexistent/smartctl: not found; drives cannot be read" in said[3]
    assert "24: gaps.P7: no such gap (known: P1, P2, P3, P4, P5, P6)" in said


def test_a_syntax_error_names_the_line_and_the_usual_cause(tmp_path: Path) -> None:
    path = write(tmp_path, '[daemon]\nhost = pve1\n')
    result = run_physgap("check-config", str(path), timeout=TIMEOUT)
    assert result.returncode == 2
    assert result.stderr == (
        f"{path}:2: daemon.host: not valid TOML: Invalid value at column 8; the usual cause is a string value "
        'without quotes: write host = "..." (only true, false, numbers, [lists] and { tables } go without)\n')


def test_a_missing_program_is_a_warning_and_the_file_stays_valid(tmp_path: Path) -> None:
    """Exit 0: the file is right for a host that installs smartmontools later, and the collector reports
    the same reason at run time. A warning still says it now, with the line to look at."""
    config = host_config(tmp_path, smartctl=tmp_path / "no-smartctl", dmidecode="no-such-dmidecode")
    lines = config.read_text().splitlines()
    smartctl = 1 + next(i for i, line in enumerate(lines) if line.startswith("smartctl ="))
    # Both [pcie] and [oob] read SMBIOS, and the test host names the missing program for both.
    dmidecode, oob_dmidecode = (1 + i for i, line in enumerate(lines) if line.startswith("dmidecode ="))
    result = run_physgap("check-config", str(config), timeout=TIMEOUT)
    assert result.returncode == 0
    assert result.stderr.splitlines() == [
        f"{config}:{smartctl}: smart.smartctl: warning: {tmp_path / 'no-smartctl'}: not found; drives cannot be "
        "read (smartctl comes with smartmontools)",
        f"{config}:{dmidecode}: pcie.dmidecode: warning: no-such-dmidecode: not found on PATH, /usr/sbin, /sbin; "
        "PCIe slots will have no SMBIOS labels",
        f"{config}:{oob_dmidecode}: oob.dmidecode: warning: no-such-dmidecode: not found on PATH, /usr/sbin, "
        "/sbin; SMBIOS records ($AMT, IPMI type 38) will not be read"]
    assert result.stdout == f"{config}: OK\n"


def test_check_config_on_a_fifo_does_not_hang(tmp_path: Path) -> None:
    path = tmp_path / "physgap.toml"
    os.mkfifo(path)
    result = run_physgap("check-config", str(path), timeout=TIMEOUT)
    assert result.returncode == 2
    assert result.stderr == f"{path}: -: not a regular file (a FIFO, device or socket cannot hold a configuration)\n"


def test_a_fifo_in_the_configs_place_on_sighup_is_refused(tmp_path: Path,
                                                          daemon_factory: list[DaemonProcess]) -> None:
    """Reading it would block the daemon's main loop for good: no more reloads, no watchdog, and SIGTERM
    could not stop it. The reload is refused; the daemon serves on and stops on time."""
    port = free_port()
    config = host_config(tmp_path, port=port, smartctl=no_drives(tmp_path))
    daemon = start_daemon(config, port)
    daemon_factory.append(daemon)
    config.unlink()
    os.mkfifo(config)
    daemon.proc.send_signal(signal.SIGHUP)
    time.sleep(1.0)
    assert http_get(daemon.url + "/metrics")[0] == 200
    started = time.monotonic()
    assert daemon.stop(timeout=TIMEOUT) == 0
    assert time.monotonic() - started < 2.0
    log = daemon.stderr()
    assert "reload refused" in log and "not a regular file" in log
