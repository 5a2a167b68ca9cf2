"""UPS faults through the real daemon: the NUT server dies, stalls, was never up, or lies about names.

Issue 8, item 10. A real upsd with dummy-ups drivers (tests/nut_fixture.py) is stopped mid-run; a UPS that was
seen, or is configured by name, must keep a physgap_ups_up 0 series with the reason (so an alert on
`physgap_ups_up == 0` can fire), and P1 must stay open naming it. A name with bytes that are not UTF-8 can only
come from a peer that is not upsd (upsd drops non-ASCII bytes from names), so that one is a small stand-in
server on a loopback port.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests import nut_devs
from tests.conftest import (
    DaemonProcess,
    empty_sysfs,
    free_port,
    http_get,
    run_physgap,
    start_daemon,
    write_config,
)
from tests.faults.harness import scrape, series, value, wait_until
from tests.nut_fixture import nut_server

TIMEOUT = 30


def configure(tmp_path: Path, nut: str, ups_timeout: str = "10s") -> tuple[Path, int]:
    port = free_port()
    config = write_config(tmp_path / "physgap.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", port,
                          nut)
    text = config.read_text().replace('[ups]\nautodetect = false\n', f'[ups]\nautodetect = false\n'
                                                                      f'timeout = "{ups_timeout}"\n')
    assert f'timeout = "{ups_timeout}"' in text  # write_config's [ups] section changed: fix this setup
    config.write_text(text)
    return config, port


def nut_entry(port: int, ups: str = "", timeout: str = "1s") -> str:
    name = f'ups = "{ups}"\n' if ups else ""
    return f'[[ups.nut]]\nhost = "127.0.0.1"\nport = {port}\ntimeout = "{timeout}"\n{name}\n'


def p1(daemon: DaemonProcess) -> dict[str, Any]:
    status, body = http_get(daemon.url + "/api/v1/view")
    assert status == 200, body
    return next(gap for gap in json.loads(body)["gaps"] if gap["id"] == "P1")


def ups_up(daemon: DaemonProcess) -> dict[str, float]:
    return {dict(labels)["ups"]: v for labels, v in series(scrape(daemon), "physgap_ups_up").items()}


def wait_ups(daemon: DaemonProcess, wanted: dict[str, float]) -> None:
    seen: dict[str, float] = {}

    def reached() -> bool:
        nonlocal seen
        seen = ups_up(daemon)
        return seen == wanted

    assert wait_until(reached, timeout=TIMEOUT, step=0.2), f"physgap_ups_up {seen}, wanted {wanted}"


def test_upsd_killed_mid_run_keeps_every_seen_ups_at_up_0(tmp_path: Path,
                                                           daemon_factory: list[DaemonProcess]) -> None:
    with nut_server(tmp_path / "nut", {"ups1": nut_devs.ONLINE, "ups2": nut_devs.ON_BATTERY}) as server:
        config, port = configure(tmp_path, nut_entry(server.port))  # ups = "": every UPS the server lists
        daemon = start_daemon(config, port)
        daemon_factory.append(daemon)
        ups1, ups2 = f"ups1@127.0.0.1:{server.port}", f"ups2@127.0.0.1:{server.port}"
        wait_ups(daemon, {ups1: 1.0, ups2: 1.0})

        server.kill_upsd()  # the only server: before, the collector failed and both series vanished
        wait_ups(daemon, {ups1: 0.0, ups2: 0.0})
        body = scrape(daemon)
        assert value(body, "physgap_ups_on_battery", ups=ups2) is None  # no stale numbers while it is down
        gap = p1(daemon)
        assert (gap["status"], gap["severity"]) == ("open", "high")
        assert gap["evidence"] == [f"no reachable UPS ({ups1}: connection refused; {ups2}: connection refused)"]

        server.start_upsd()
        server.wait_ready()
        wait_ups(daemon, {ups1: 1.0, ups2: 1.0})
        assert daemon.stop() == 0


def test_ups_configured_by_name_is_down_from_the_first_poll(tmp_path: Path,
                                                            daemon_factory: list[DaemonProcess]) -> None:
    """`ups = "rack"` on a server that never answered: the name alone keeps a series, in the daemon and in a
    one-shot `report`, and P1 says which UPS is unreachable."""
    dead = free_port()
    config, port = configure(tmp_path, nut_entry(dead, ups="rack"))
    rack = f"rack@127.0.0.1:{dead}"
    daemon = start_daemon(config, port)
    daemon_factory.append(daemon)
    wait_ups(daemon, {rack: 0.0})
    assert p1(daemon)["evidence"] == [f"no reachable UPS ({rack}: connection refused)"]
    assert daemon.stop() == 0

    report = run_physgap("report", "--config", str(config), "--format", "json", "--fail-on", "high",
                         timeout=TIMEOUT)
    assert report.returncode == 1, report.stderr  # P1 open (high): never resolved while no UPS answers
    gap = next(g for g in json.loads(report.stdout)["gaps"] if g["id"] == "P1")
    assert gap["evidence"] == [f"no reachable UPS ({rack}: connection refused)"]


def test_stalled_upsd_keeps_the_series_with_a_timeout(tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    """upsd frozen (SIGSTOP: connections are accepted, nothing is answered) with a per-request timeout longer
    than the collector's: the UPS still reads up 0 "timed out" instead of vanishing with an abandoned run."""
    with nut_server(tmp_path / "nut", {"ups1": nut_devs.ONLINE}) as server:
        config, port = configure(tmp_path, nut_entry(server.port, timeout="30s"), ups_timeout="2s")
        daemon = start_daemon(config, port)
        daemon_factory.append(daemon)
        ups1 = f"ups1@127.0.0.1:{server.port}"
        wait_ups(daemon, {ups1: 1.0})
        assert server.upsd is not None
        server.upsd.send_signal(signal.SIGSTOP)
        try:
            wait_ups(daemon, {ups1: 0.0})
            assert any("timed out" in line for line in p1(daemon)["evidence"])
            assert value(scrape(daemon), "physgap_collector_success", collector="ups") == 1.0
        finally:
            server.upsd.send_signal(signal.SIGCONT)
        wait_ups(daemon, {ups1: 1.0})
        assert daemon.stop() == 0


# -- a peer that is not upsd ------------------------------------------------------------------------------

_REPLIES = {
    b"LIST UPS": b'BEGIN LIST UPS\nUPS ups\xff1 "bytes that are not UTF-8"\nUPS ups1 "fine"\nEND LIST UPS\n',
    b"LIST VAR ups1": b'BEGIN LIST VAR ups1\nVAR ups1 ups.status "OL"\nVAR ups1 ups.serial "AB\xe9C"\n'
                      b'END LIST VAR ups1\n',
    b"GET NUMLOGINS ups1": b"NUMLOGINS ups1 " + b"9" * 400 + b"\n",  # once made every /metrics answer 500
}


@contextlib.contextmanager
def lying_upsd() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback server answering a fixed script, recording every request line."""
    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            for line in lines:
                requests.append(line.rstrip(b"\n"))
                conn.sendall(_REPLIES.get(line.rstrip(b"\n"), b"ERR UNKNOWN-UPS\n"))

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield listener.getsockname()[1], requests
    finally:
        stop.set()
        listener.close()


def test_a_name_that_is_not_utf8_is_refused_and_shown_escaped(tmp_path: Path,
                                                               daemon_factory: list[DaemonProcess]) -> None:
    """`ups\\xff1` is never queried and never exported as `ups\\ufffd1`; the UPS next to it is read as usual, and
    its absurd NUMLOGINS costs only that count."""
    with lying_upsd() as (nut_port, requests):
        config, port = configure(tmp_path, nut_entry(nut_port))
        daemon = start_daemon(config, port)
        daemon_factory.append(daemon)
        escaped, fine = f"ups\\xff1@127.0.0.1:{nut_port}", f"ups1@127.0.0.1:{nut_port}"
        wait_ups(daemon, {escaped: 0.0, fine: 1.0})
        body = scrape(daemon)
        assert 'ups="ups\\\\xff1@' in body  # the exposition's own escaping of the backslash
        assert value(body, "physgap_ups_status", ups=fine, flag="OL") == 1.0
        assert value(body, "physgap_ups_shutdown_clients", ups=fine) is None  # 400 digits are no count
        assert not any(b"\xff" in request for request in requests)  # refused: never queried
        assert any(f"{escaped} unreachable: invalid UPS name" in line for line in p1(daemon)["evidence"])
        assert daemon.stop() == 0
