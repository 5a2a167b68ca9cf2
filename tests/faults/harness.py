"""Tools for driving the real daemon process through faults: stand-in programs that hang, flood, lie or
vanish; reading /metrics as numbers; finding processes a run left behind.

Every fault test runs the real `physgap` CLI or daemon as a subprocess, bounded in time, and asserts what an
operator would see: the faulty reading marked as such, every other reading still flowing.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, DaemonProcess, http_get, physgap_argv

MARK_ENV = "PHYSGAP_FAULT_MARK"


def program(path: Path, body: str) -> Path:
    """An executable shell script at `path` with `body` (no shebang needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Exposition text -> {(sample name, sorted labels): value}."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def series(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    return {labels: v for (sample, labels), v in samples(text).items() if sample == name}


def scrape(daemon: DaemonProcess) -> str:
    status, body = http_get(daemon.url + "/metrics")
    assert status == 200, body
    return body


def marked_processes(mark: str) -> list[int]:
    """PIDs whose environment carries `mark`: the daemon's children and their children inherit it."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if f"{MARK_ENV}={mark}".encode() in environ.split(b"\0"):
            found.append(int(entry))
    return found


@contextmanager
def marked_env() -> Iterator[tuple[str, dict[str, str]]]:
    """An environment whose processes can be found again; on exit, anything left is killed (and the test
    that cared has already asserted there was nothing)."""
    mark = uuid.uuid4().hex
    env = {**os.environ, MARK_ENV: mark}
    try:
        yield mark, env
    finally:
        for pid in marked_processes(mark):
            with suppress(OSError):
                os.kill(pid, 9)


def popen_physgap(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(physgap_argv(*args), cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
