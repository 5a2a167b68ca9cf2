"""run_program: hard caps on what a program may write, counted while reading; deadlines and process-group
kills as before; program lookup as check-config does it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from collectors.kit.command import OutputTooLarge, ProgramNotFound, find_program, program_problem, run_program
from collectors.kit.context import Cancelled, CollectorError, RunContext
from tests.faults.harness import marked_env, marked_processes, program


def ctx(tmp_path: Path, seconds: float = 20.0) -> RunContext:
    return RunContext(deadline=time.monotonic() + seconds, state_dir=tmp_path)


@pytest.mark.parametrize(("body", "stream", "cap"), [("exec yes", "stdout", "4 MiB"),
                                                     ("exec yes >&2", "stderr", "64 KiB")])
def test_a_flood_is_killed_at_the_cap_with_its_helpers(tmp_path: Path, body: str, stream: str, cap: str) -> None:
    flood = program(tmp_path / "flood", f"sleep 600 &\n{body}")  # a helper in the same process group
    with marked_env() as (mark, env):
        with pytest.raises(OutputTooLarge) as info:
            run_program([str(flood)], ctx(tmp_path), env=env)
        assert str(info.value) == f"{flood}: wrote more than {cap} to {stream}; killed (output cap {cap})"
        assert marked_processes(mark) == []


def test_output_up_to_the_cap_is_kept_whole(tmp_path: Path) -> None:
    result = run_program(["printf", "0123456789"], ctx(tmp_path), max_stdout=10)
    assert result.stdout == b"0123456789"
    with pytest.raises(OutputTooLarge, match=r"printf: wrote more than 10 bytes to stdout"):
        run_program(["printf", "0123456789X"], ctx(tmp_path), max_stdout=10)


def test_both_streams_and_the_exit_status_are_returned(tmp_path: Path) -> None:
    script = program(tmp_path / "both", "echo out; echo err >&2; exit 3")
    result = run_program([str(script)], ctx(tmp_path))
    assert (result.returncode, result.stdout, result.stderr) == (3, b"out\n", b"err\n")


def test_the_deadline_still_kills_a_silent_program(tmp_path: Path) -> None:
    with marked_env() as (mark, env):
        started = time.monotonic()
        with pytest.raises(Cancelled):
            run_program(["sleep", "600"], ctx(tmp_path, 0.3), env=env)
        assert time.monotonic() - started < 5
        assert marked_processes(mark) == []


def test_a_script_without_an_interpreter_line_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    script = tmp_path / "smartctl"
    script.write_bytes(b"\x7fELF garbage, not a program")
    script.chmod(0o755)
    with pytest.raises(CollectorError, match=r"smartctl: cannot run: Exec format error"):
        run_program([str(script)], ctx(tmp_path))


def test_bare_names_are_also_found_in_sbin(tmp_path: Path) -> None:
    """`su` without `-` leaves /usr/sbin off PATH, where smartctl, dmidecode and zpool live."""
    if not Path("/usr/sbin/nologin").exists():
        pytest.skip("no /usr/sbin/nologin on this host")
    env = {**os.environ, "PATH": str(tmp_path)}
    assert find_program("nologin", env["PATH"]) == Path("/usr/sbin/nologin")
    result = run_program(["nologin"], ctx(tmp_path), env=env)
    assert result.returncode != 0 and b"not available" in result.stdout + result.stderr
    with pytest.raises(ProgramNotFound, match=r"^no-such-program-here: program not found$"):
        run_program(["no-such-program-here"], ctx(tmp_path), env=env)


def test_program_problems_say_what_is_wrong(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("x")
    assert program_problem("/bin/sh") is None
    assert program_problem(str(tmp_path)) == f"{tmp_path}: is a directory, not a program"
    assert program_problem(str(plain)) == f"{plain}: not executable"
    assert program_problem(str(tmp_path / "absent")) == f"{tmp_path / 'absent'}: not found"
    assert program_problem("absent-here", "") == "absent-here: not found on PATH, /usr/sbin, /sbin"
