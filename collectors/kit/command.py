"""Running external programs (dmidecode, smartctl, zpool) with a hard deadline.

Each program runs in its own session so that a timeout kills the whole process group, including helpers
a wrapper script may have forked; the deadline comes from the collector's RunContext.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from collectors.kit.context import Cancelled, CollectorError, RunContext

# A garbled or runaway program must not exhaust memory; real dmidecode/smartctl output is far below this.
MAX_OUTPUT_BYTES = 8 * 1024 * 1024
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class ProgramResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes


class ProgramNotFound(CollectorError):
    pass


def run_program(
    argv: Sequence[str], ctx: RunContext, env: Mapping[str, str] | None = None
) -> ProgramResult:
    """Run argv until it exits, the context's deadline passes, or the daemon cancels the run."""
    ctx.check()
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=dict(env) if env is not None else None,
        )
    except FileNotFoundError as exc:
        raise ProgramNotFound(f"{argv[0]}: program not found") from exc
    except PermissionError as exc:
        raise CollectorError(f"{argv[0]}: not executable") from exc
    try:
        while True:
            wait = min(_POLL_SECONDS, ctx.remaining())
            try:
                stdout, stderr = proc.communicate(timeout=max(wait, 0.001))
                break
            except subprocess.TimeoutExpired:
                if ctx.cancel.is_set() or ctx.remaining() <= 0:
                    _kill_group(proc)
                    raise Cancelled(f"{argv[0]}: killed after the collector's timeout") from None
    finally:
        if proc.poll() is None:
            _kill_group(proc)
    if len(stdout) > MAX_OUTPUT_BYTES:
        raise CollectorError(f"{argv[0]}: output larger than {MAX_OUTPUT_BYTES} bytes, refused")
    return ProgramResult(tuple(argv), proc.returncode, stdout, stderr)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    # Reap, but never block on pipes a grandchild may still hold open.
    deadline = time.monotonic() + 1.0
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
