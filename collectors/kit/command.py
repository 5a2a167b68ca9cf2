"""Running external programs (dmidecode, smartctl, zpool) with a hard deadline and hard output caps.

Each program runs in its own session so that a timeout kills the whole process group, including helpers
a wrapper script may have forked; the deadline comes from the collector's RunContext. Output is read as it
arrives and counted while reading: a program that floods stdout or stderr is killed the moment it passes
its cap, so a runaway program costs at most the cap in memory, never what it managed to write.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import stat
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from collectors.kit.context import Cancelled, CollectorError, RunContext

# The largest real answers are far below these: a `smartctl --json -a` of a drive with full logs is about
# 40 KB, `dmidecode -t slot` a few KB, `zpool status` about 100 bytes per vdev line. 4 MiB leaves room for
# a host with thousands of vdevs while bounding what `concurrency` parallel floods can cost.
MAX_STDOUT_BYTES = 4 * 1024 * 1024
# Only the last lines of stderr are ever shown (as a failure's reason); a program that writes more than
# this to stderr is looping, not reporting.
MAX_STDERR_BYTES = 64 * 1024
# Kept for callers that named the old single cap.
MAX_OUTPUT_BYTES = MAX_STDOUT_BYTES

# How soon a cancel is noticed while a program runs: a threading.Event cannot be waited on with select().
_POLL_SECONDS = 0.05
_CHUNK = 64 * 1024

# Where the programs physgap runs live on Debian; `su` without `-` and some cron jobs leave these off PATH
# (scripts/run adds them for the same reason).
SYSTEM_DIRS = (Path("/usr/sbin"), Path("/sbin"))


@dataclass(frozen=True)
class ProgramResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes


class ProgramNotFound(CollectorError):
    pass


class OutputTooLarge(CollectorError):
    """The program wrote more than its cap to stdout or stderr and was killed."""


def find_program(name: str, path_env: str | None = None) -> Path | None:
    """Where `name` would be run from: a name with a slash as given, a bare name on PATH, then in /usr/sbin
    and /sbin. None when no executable file is found."""
    if "/" in name:
        return Path(name) if _executable_file(Path(name)) else None
    search = path_env if path_env is not None else os.environ.get("PATH", os.defpath)
    folders = [Path(p) for p in search.split(os.pathsep) if p] + list(SYSTEM_DIRS)
    for folder in folders:
        candidate = folder / name
        if _executable_file(candidate):
            return candidate
    return None


def program_problem(name: str, path_env: str | None = None) -> str | None:
    """Why `name` cannot be run, in words, or None when it can (as this user: the service user may differ)."""
    if not name or "\0" in name:
        return "not a program name"
    if find_program(name, path_env) is not None:
        return None
    if "/" not in name:
        dirs = ", ".join(str(d) for d in SYSTEM_DIRS)
        return f"{name}: not found on PATH, {dirs}"
    try:
        info = os.stat(name)
    except OSError as exc:
        return f"{name}: {'not found' if isinstance(exc, FileNotFoundError) else exc.strerror or exc}"
    if stat.S_ISDIR(info.st_mode):
        return f"{name}: is a directory, not a program"
    if not stat.S_ISREG(info.st_mode):
        return f"{name}: not a regular file"
    return f"{name}: not executable"


def _executable_file(path: Path) -> bool:
    try:
        return path.is_file() and os.access(path, os.X_OK)
    except (OSError, ValueError):
        return False


def run_program(
    argv: Sequence[str],
    ctx: RunContext,
    env: Mapping[str, str] | None = None,
    *,
    max_stdout: int = MAX_STDOUT_BYTES,
    max_stderr: int = MAX_STDERR_BYTES,
) -> ProgramResult:
    """Run argv until it exits, the context's deadline passes, the daemon cancels the run, or it writes
    more than `max_stdout` / `max_stderr` bytes; in every case but the first its process group is killed."""
    ctx.check()
    name = argv[0]
    # A bare name is looked up as check-config looks it up (PATH, then /usr/sbin and /sbin); a path is
    # left to exec, whose errors say precisely what is wrong with it.
    executable: str | Path = name
    if "/" not in name:
        found = find_program(name, env.get("PATH", os.defpath) if env is not None else None)
        if found is None:
            raise ProgramNotFound(f"{name}: program not found")
        executable = found
    try:
        proc = subprocess.Popen(
            list(argv),
            executable=executable,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=dict(env) if env is not None else None,
        )
    except FileNotFoundError as exc:  # removed between the lookup and the exec
        raise ProgramNotFound(f"{name}: program not found") from exc
    except PermissionError as exc:
        raise CollectorError(f"{name}: not executable") from exc
    except (OSError, ValueError) as exc:
        # ENOEXEC (a script without #!), EAGAIN (process limit), a NUL in an argument: this run fails.
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CollectorError(f"{name}: cannot run: {detail}") from exc
    child = _Child(proc)
    try:
        if proc.stdout is None or proc.stderr is None:  # pragma: no cover - both are PIPE above
            raise CollectorError(f"{name}: no pipes")
        streams = {proc.stdout.fileno(): (max_stdout, "stdout"), proc.stderr.fileno(): (max_stderr, "stderr")}
        output = child.read(name, ctx, streams)
        stdout, stderr = (output[fd] for fd in streams)
    finally:
        # Killed already on a deadline, a cancel or a cap; this catches anything else (an exception while
        # reading). A process stuck in the kernel survives SIGKILL: waiting for it once is enough.
        if proc.poll() is None and not child.killed:
            child.kill()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
    return ProgramResult(tuple(argv), proc.returncode, stdout, stderr)


class _Child:
    """One running program: its pipes read under the run's deadline and the caps."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.killed = False

    def read(self, name: str, ctx: RunContext, caps: Mapping[int, tuple[int, str]]) -> dict[int, bytes]:
        """Every pipe (fd -> its cap and name) until EOF and the program's exit; a pipe never holds more
        than its cap plus one byte."""
        buffers = {fd: bytearray() for fd in caps}
        with selectors.DefaultSelector() as selector:
            for fd in buffers:
                os.set_blocking(fd, False)
                selector.register(fd, selectors.EVENT_READ)
            # A grandchild that keeps a pipe open keeps us reading until the deadline, as communicate() did.
            while selector.get_map():
                self._check(name, ctx)
                for key, _ in selector.select(min(_POLL_SECONDS, max(ctx.remaining(), 0.001))):
                    fd = int(key.fd)
                    cap, stream = caps[fd]
                    buffer = buffers[fd]
                    try:
                        chunk = os.read(fd, min(_CHUNK, cap + 1 - len(buffer)))
                    except BlockingIOError:
                        continue
                    if not chunk:
                        selector.unregister(fd)
                        continue
                    buffer += chunk
                    if len(buffer) > cap:
                        self.kill()
                        raise OutputTooLarge(f"{name}: wrote more than {_size(cap)} to {stream}; killed "
                                             f"(output cap {_size(cap)})")
        while True:
            self._check(name, ctx)
            try:
                self.proc.wait(timeout=min(_POLL_SECONDS, max(ctx.remaining(), 0.001)))
                break
            except subprocess.TimeoutExpired:
                continue
        return {fd: bytes(buffer) for fd, buffer in buffers.items()}

    def _check(self, name: str, ctx: RunContext) -> None:
        if ctx.cancel.is_set() or ctx.remaining() <= 0:
            self.kill()
            raise Cancelled(f"{name}: killed after the collector's timeout")

    def kill(self) -> None:
        self.killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        # Reap, but never block on pipes a grandchild may still hold open.
        deadline = time.monotonic() + 1.0
        while self.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)


def _size(count: int) -> str:
    if count >= 1024 * 1024 and count % (1024 * 1024) == 0:
        return f"{count // (1024 * 1024)} MiB"
    if count >= 1024 and count % 1024 == 0:
        return f"{count // 1024} KiB"
    return f"{count} bytes"
