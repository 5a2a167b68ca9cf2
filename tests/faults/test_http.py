"""The daemon's HTTP server under connection floods and descriptor exhaustion (issue 8, item 9).

Before: every connection was a thread (1,500 idle connections made 1,508 threads and +37 MB RSS), and with
RLIMIT_NOFILE at 64 and 80 connections the accept loop spun at 100 % CPU on EMFILE while every scrape timed
out. Each test drives the real daemon process and asserts what an operator relies on: a scrape is answered
within a second, the daemon's threads, descriptors and CPU stay bounded, and collection goes on.
"""

from __future__ import annotations

import http.client
import os
import re
import resource
import socket
import ssl
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from tests.conftest import (
    DaemonProcess,
    empty_sysfs,
    free_port,
    http_get,
    start_daemon,
    strict,
    write_config,
)
from tests.faults.harness import value, wait_until
from tests.pki import make_pki

# The promise of issue 8: a normal scrape is answered within a second, whatever else is connected.
SCRAPE_BUDGET = 1.0
# CPU the daemon may spend over a few seconds of held connections: generous, and far below the full core
# (3 s of CPU in 3 s) that the EMFILE busy loop burnt.
CPU_BUDGET_SHARE = 0.25
CPU_WINDOW = 3.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _cpu_share(pid: int, window: float = CPU_WINDOW) -> float:
    before, started = _cpu_seconds(pid), time.monotonic()
    time.sleep(window)
    return (_cpu_seconds(pid) - before) / (time.monotonic() - started)


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _nofile_of(pid: int) -> int:
    limits = Path(f"/proc/{pid}/limits").read_text()
    found = re.search(r"^Max open files\s+(\d+)", limits, re.MULTILINE)
    assert found, limits
    return int(found.group(1))


@contextmanager
def _own_soft_nofile(limit: int) -> Iterator[None]:
    """This test process's soft RLIMIT_NOFILE set to `limit` (within the hard limit), restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and limit > hard:
        message = f"the test needs {limit} file descriptors, the hard limit is {hard}"
        if strict():
            pytest.fail(message)
        pytest.skip(message)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _hold(port: int, count: int, opening: bytes = b"") -> list[socket.socket]:
    """`count` connections to the daemon that send `opening` (maybe nothing) and then nothing more."""
    held = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if opening:
                sock.sendall(opening)
            held.append(sock)
    except BaseException:
        _close_all(held)
        raise
    return held


def _close_all(held: list[socket.socket]) -> None:
    for sock in held:
        sock.close()


def _scrape_promptly(daemon: DaemonProcess, context: ssl.SSLContext | None = None) -> str:
    started = time.monotonic()
    if context is None:
        status, body = http_get(daemon.url + "/metrics", timeout=SCRAPE_BUDGET)
    else:
        conn = http.client.HTTPSConnection("localhost", daemon.port, timeout=SCRAPE_BUDGET, context=context)
        try:
            conn.request("GET", "/metrics")
            response = conn.getresponse()
            status, body = response.status, response.read().decode()
        finally:
            conn.close()
    elapsed = time.monotonic() - started
    assert status == 200, body
    assert elapsed < SCRAPE_BUDGET, f"the scrape took {elapsed:.2f} s"
    return body


def _answers(daemon: DaemonProcess) -> bool:
    try:
        return http_get(daemon.url + "/metrics", timeout=SCRAPE_BUDGET)[0] == 200
    except OSError:
        return False


def _daemon(tmp_path: Path, *extra: str, scheme: str = "http") -> DaemonProcess:
    port = free_port()
    config = write_config(tmp_path / "physgap.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", port)
    return start_daemon(config, port, *extra, scheme=scheme)


def _stops_cleanly(daemon: DaemonProcess) -> str:
    assert daemon.stop() == 0
    log = daemon.stderr()
    assert "Traceback" not in log, log
    return log


@pytest.mark.parametrize(
    "opening",
    [pytest.param(b"", id="silent"), pytest.param(b"GET /metrics HTTP/1.1\r\nHost: x\r\n", id="half-a-request")],
)
def test_scrapes_are_answered_within_a_second_while_1500_connections_are_held(
    tmp_path: Path, daemon_factory: list[DaemonProcess], opening: bytes
) -> None:
    with ExitStack() as stack:
        stack.enter_context(_own_soft_nofile(1500 + 256))
        daemon = _daemon(tmp_path)
        daemon_factory.append(daemon)
        pid = daemon.proc.pid
        _scrape_promptly(daemon)
        threads = _threads(pid)
        held = _hold(daemon.port, 1500, opening)
        stack.callback(_close_all, held)
        for _ in range(5):
            _scrape_promptly(daemon)
        # Before: one thread per connection (1,508). Now a fixed pool; collectors may start a helper or two.
        assert _threads(pid) <= threads + 4
        # The server holds at most 512 connections: the longest idle make room for new ones.
        assert _open_fds(pid) < 600
        assert _cpu_share(pid) < CPU_BUDGET_SHARE
        _scrape_promptly(daemon)
    _scrape_promptly(daemon)
    log = _stops_cleanly(daemon)
    # The operator is told once why connections were closed, not once per connection.
    assert log.count("closing the longest idle ones to make room") == 1, log


def test_1500_silent_tls_connections_do_not_keep_an_https_scrape_out(
    tmp_path: Path, daemon_factory: list[DaemonProcess]
) -> None:
    pki = make_pki(tmp_path)
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config:\n  cert_file: {pki.server_cert}\n  key_file: {pki.server_key}\n")
    context = ssl.create_default_context(cafile=str(pki.ca))
    with ExitStack() as stack:
        stack.enter_context(_own_soft_nofile(1500 + 256))
        daemon = _daemon(tmp_path, "--web.config.file", str(web), scheme="https")
        daemon_factory.append(daemon)
        pid = daemon.proc.pid
        _scrape_promptly(daemon, context)
        threads = _threads(pid)
        held = _hold(daemon.port, 1500)
        stack.callback(_close_all, held)
        for _ in range(3):
            _scrape_promptly(daemon, context)
        assert _threads(pid) <= threads + 4
        assert _open_fds(pid) < 600
    _stops_cleanly(daemon)


def test_under_nofile_64_80_connections_cost_no_cpu_and_scrapes_and_collection_go_on(
    tmp_path: Path, daemon_factory: list[DaemonProcess]
) -> None:
    # The daemon inherits the limit, as under `prlimit --nofile=64` or a unit's LimitNOFILE=64.
    with _own_soft_nofile(64):
        daemon = _daemon(tmp_path)
    daemon_factory.append(daemon)
    pid = daemon.proc.pid
    assert _nofile_of(pid) == 64
    body = _scrape_promptly(daemon)
    held = _hold(daemon.port, 80)
    try:
        flooded_at = time.time()
        # Before: 95-100 % of a core, spinning on EMFILE in the accept loop.
        assert _cpu_share(pid) < CPU_BUDGET_SHARE
        for _ in range(5):
            body = _scrape_promptly(daemon)
        # The connections did not take the descriptors the collectors need: smartctl still runs (1 s interval).
        assert wait_until(lambda: (value(_scrape_promptly(daemon),
                                         "physgap_collector_last_success_timestamp_seconds",
                                         collector="smart") or 0) > flooded_at, timeout=10)
        assert value(body, "physgap_collector_success", collector="smart") == 1
    finally:
        _close_all(held)
    _scrape_promptly(daemon)
    _stops_cleanly(daemon)


def test_out_of_descriptors_accept_backs_off_instead_of_spinning_and_recovers(
    tmp_path: Path, daemon_factory: list[DaemonProcess]
) -> None:
    daemon = _daemon(tmp_path)
    daemon_factory.append(daemon)
    pid = daemon.proc.pid
    _scrape_promptly(daemon)
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    # No new descriptor at all: every accept() fails with EMFILE while connections queue in the backlog.
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (0, hard))
    held = _hold(daemon.port, 20)
    try:
        assert _cpu_share(pid) < CPU_BUDGET_SHARE
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    # The back-off is at most a second: the queued connections are taken and a scrape gets through. Before, the
    # accept thread had died (EINVAL from poll() at RLIMIT_NOFILE 0) and the port never answered again.
    assert wait_until(lambda: _answers(daemon), timeout=5)
    _close_all(held)
    _scrape_promptly(daemon)
    log = _stops_cleanly(daemon)
    # One warning that says why, not one per failed accept.
    assert log.count("cannot accept connections") == 1, log
    assert "Too many open files" in log
