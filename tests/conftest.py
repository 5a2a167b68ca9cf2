"""Shared fixtures: free ports, the physgap CLI as a real subprocess, and strictness about missing parts.

Under CI (or PHYSGAP_REQUIRE_ALL=1, which scripts/test sets) a test that needs a missing binary fails
instead of skipping, so a green suite means every test ran.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")
CORPUS = REPO.parent / "shared" / "corpus"


def strict() -> bool:
    return bool(os.environ.get("CI")) or os.environ.get("PHYSGAP_REQUIRE_ALL") == "1"


def require_binary(name: str) -> str:
    path = shutil.which(name) or next(
        (str(p) for d in ("/usr/sbin", "/sbin", "/usr/lib/nut", "/lib/nut") if (p := Path(d, name)).exists()), None)
    if path is None:
        message = f"{name} is not installed (scripts/test installs it)"
        if strict():
            pytest.fail(message)
        pytest.skip(message)
    return path


def corpus_dir(name: str) -> Path:
    path = CORPUS / name
    if not path.is_dir():
        # The project's own tests pass without the shared corpus; CI always has it, so there it must exist.
        if os.environ.get("CI"):
            pytest.fail(f"corpus folder {path} is missing in CI")
        pytest.skip(f"corpus folder {path} not present")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def physgap_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "daemon.cli", *args]


_MODULES_PROBE = """\
import json
import sys
from pathlib import Path

from daemon.build import build_jobs
from daemon.config import load_config

config = load_config(Path(sys.argv[1]) if sys.argv[1] else None)
build_jobs(config)
if sys.argv[2] == "exporters":
    import daemon.runtime
    daemon.runtime.Daemon(None)._exporters(config)
print(json.dumps(sorted(sys.modules)))
"""


def modules_after_build(config: Path | None, exporters: bool = False) -> set[str]:
    """The modules a fresh interpreter holds after building the jobs (and with `exporters`, the exporters) for
    the physgap.toml `config` (None: the defaults): what a daemon so configured loads before its first poll."""
    argv = [sys.executable, "-c", _MODULES_PROBE, str(config or ""), "exporters" if exporters else "jobs"]
    result = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=True, timeout=60)
    return set(json.loads(result.stdout))


def run_physgap(*args: str, timeout: float = 60, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(physgap_argv(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=env, check=False)


def disks_sysfs(root: Path, *names: str) -> Path:
    """An empty sysfs plus the disks' block entries (rotational), as md members and smartctl devices are
    matched by them."""
    empty_sysfs(root)
    for name in names:
        queue = root / "block" / name / "queue"
        queue.mkdir(parents=True)
        (queue / "rotational").write_text("1\n")
    return root


def empty_sysfs(root: Path) -> Path:
    """A sysfs root with no NICs and no PCI devices: collectors succeed and report nothing."""
    (root / "class" / "net").mkdir(parents=True)
    (root / "bus" / "pci" / "devices").mkdir(parents=True)
    return root


@dataclass
class DaemonProcess:
    proc: subprocess.Popen[str]
    port: int
    config: Path
    scheme: str = "http"
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def stderr(self) -> str:
        """What the daemon logged: with a log file, everything so far (the daemon may still run); with the
        default pipe, everything until it closes (so after stop())."""
        if self.log is not None:
            return self.log.read_text(errors="replace")
        assert self.proc.stderr is not None
        return self.proc.stderr.read()


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def start_daemon(config: Path, port: int, *extra: str, ready_path: str = "/metrics",
                 scheme: str = "http", wait: float = 20, env: dict[str, str] | None = None,
                 log: Path | None = None) -> DaemonProcess:
    """`physgap run` once it listens. Its stderr goes to a pipe read after stop(), or, for a daemon whose log
    is read while it runs (or that logs more than a pipe holds), to the file `log`."""
    argv = physgap_argv("--log-format", "text", "run", "--config", str(config), *extra)
    if log is None:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    else:
        with log.open("wb") as sink:
            proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=sink, text=True)
    daemon = DaemonProcess(proc, port, config, scheme, log)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited {proc.returncode}: {daemon.stderr()}")
        if listening(port):
            return daemon
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"daemon did not listen on {port} within {wait}s: {daemon.stderr()}")


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def write_config(path: Path, sysfs: Path, state: Path, port: int, extra: str = "",
                 smart_scenario: dict[str, Any] | None = None, mdstat: str = "") -> Path:
    """A config for a test host: its own sysfs, procfs and /dev, a stand-in smartctl (no drives unless a
    scenario says so), no zpool, no dmidecode (so no test reads this machine's own SMBIOS or /dev/ipmi0)."""
    from tests.smartctl_standin import write_scenario, write_wrapper

    smart_dir = path.parent / "smartctl"
    smartctl = write_wrapper(smart_dir)
    write_scenario(smart_dir, smart_scenario or {"scan": {"smartctl": {"version": [7, 3], "exit_status": 0},
                                                           "devices": []}, "devices": {}})
    procfs = path.parent / "proc"
    procfs.mkdir(exist_ok=True)
    dev = path.parent / "dev"
    dev.mkdir(exist_ok=True)
    if mdstat:
        (procfs / "mdstat").write_text(mdstat)
    path.write_text(
        f'[daemon]\nhost = "testhost"\ninterval = "1s"\nsysfs = "{sysfs}"\nprocfs = "{procfs}"\n'
        f'state_dir = "{state}"\n\n'
        f'[prometheus]\nlisten = "127.0.0.1:{port}"\n\n'
        f'[smart]\nsmartctl = "{smartctl}"\ninterval = "1s"\n\n'
        f'[storage]\nzpool = "{path.parent / "no-zpool"}"\n\n'
        f'[ups]\nautodetect = false\nupsmon_conf = ""\n\n'
        f'[pcie]\ndmidecode = "/bin/true"\n\n'
        f'[oob]\ndmidecode = "/bin/true"\ndev = "{dev}"\n\n{extra}'
    )
    return path


@pytest.fixture
def daemon_factory() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(5)


def load_section(tmp_path: Path, text: str, name: str, kind: type[T]) -> T:
    """The typed config of one section, from a physgap.toml holding `text`."""
    from daemon.config import load_config

    path = tmp_path / "physgap.toml"
    path.write_text(text)
    config = load_config(path).sources[name]
    assert isinstance(config, kind)
    return config


def config_problems(tmp_path: Path, text: str) -> list[str]:
    """What loading a physgap.toml holding `text` refuses, each as "<line>: <key>: <problem>"."""
    from daemon.config import ConfigError, load_config

    path = tmp_path / "physgap.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return [str(problem).removeprefix(f"{path}:") for problem in info.value.problems]
