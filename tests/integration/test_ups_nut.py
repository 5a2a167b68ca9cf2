"""NutUpsCollector against real upsd + dummy-ups processes (tests/nut_fixture.py), no mocks.

Covers each UPS situation of tests/nut_devs.py, values changing at runtime, DATA-STALE (a SIGSTOPped
driver, MAXAGE 3 s), DRIVER-NOT-CONNECTED (a killed driver), a stalled and a killed upsd next to a healthy
one, reconnection after an upsd restart, and a real upsmon attached as a shutdown client.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from collectors.kit.context import CollectorError, RunContext
from collectors.model.readings import UpsReading
from collectors.ups.config import NutServerConfig
from collectors.ups.nut import NutUpsCollector
from tests import nut_devs
from tests.nut_fixture import NutServer, nut_binaries

NUT_LOGGER = "collectors.ups.nut"


@pytest.fixture(scope="module")
def scenario_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NutServer]:
    nut_binaries()
    server = NutServer.start(tmp_path_factory.mktemp("nut-scenarios"),
                             {name: dev for name, (dev, _, _) in nut_devs.SCENARIOS.items()})
    yield server
    server.close()


@pytest.fixture
def started() -> Iterator[list[NutServer]]:
    servers: list[NutServer] = []
    yield servers
    for server in servers:
        server.close()


def start(started: list[NutServer], root: Path, devs: dict[str, str], maxage: int = 15) -> NutServer:
    nut_binaries()
    server = NutServer.start(root, devs, maxage=maxage)
    started.append(server)
    return server


def ctx(tmp_path: Path, seconds: float = 10) -> RunContext:
    return RunContext(deadline=time.monotonic() + seconds, state_dir=tmp_path)


def by_ups(readings: Sequence[object]) -> dict[str, UpsReading]:
    result = {}
    for reading in readings:
        assert isinstance(reading, UpsReading)
        result[reading.ups] = reading
    return result


def entry(server: NutServer, **extra: Any) -> NutServerConfig:
    return NutServerConfig(host="127.0.0.1", port=server.port, **extra)


def poll_until(collector: NutUpsCollector, tmp_path: Path, ups: str, predicate: Callable[[UpsReading], bool],
               timeout: float = 10) -> UpsReading:
    deadline = time.monotonic() + timeout
    reading: UpsReading | None = None
    while time.monotonic() < deadline:
        reading = by_ups(collector.collect(ctx(tmp_path))).get(ups)
        if reading is not None and predicate(reading):
            return reading
        time.sleep(0.2)
    raise AssertionError(f"{ups}: condition not met within {timeout}s; last reading {reading}")


@pytest.mark.parametrize("name", list(nut_devs.SCENARIOS))
def test_scenario_flags_and_numbers(scenario_server: NutServer, tmp_path: Path, name: str) -> None:
    _, flags, expected = nut_devs.SCENARIOS[name]
    collector = NutUpsCollector([entry(scenario_server)], upsmon_conf=tmp_path / "absent.conf")
    readings = by_ups(collector.collect(ctx(tmp_path)))
    assert len(readings) == len(nut_devs.SCENARIOS)  # every UPS on the server, not just the first
    reading = readings[f"{name}@127.0.0.1:{scenario_server.port}"]
    assert reading.up and reading.reason == ""
    assert reading.source == "nut"
    assert reading.flags == flags
    for field, value in expected.items():
        if value is None:
            assert getattr(reading, field) is None, field
        else:
            assert getattr(reading, field) == pytest.approx(value), field
    assert reading.driver == "dummy-ups"
    assert reading.shutdown_clients == 0
    assert reading.local_upsmon is None  # no upsmon.conf on this "host"


def test_an_upsmon_conf_that_is_a_fifo_is_refused_without_blocking(scenario_server: NutServer,
                                                                     tmp_path: Path) -> None:
    fifo = tmp_path / "upsmon.conf"
    os.mkfifo(fifo)
    collector = NutUpsCollector([entry(scenario_server)], upsmon_conf=fifo)
    readings = collector.collect(ctx(tmp_path))  # a plain open() would wait for a writer forever
    assert readings and all(r.up for r in readings)
    assert all(r.local_upsmon is None for r in readings)  # local protection unknown, not "none"


@pytest.mark.parametrize("name", list(nut_devs.PHASES))
def test_three_phase_ups_keeps_every_phase(scenario_server: NutServer, tmp_path: Path, name: str) -> None:
    reading = by_ups(NutUpsCollector([entry(scenario_server)], upsmon_conf=None).collect(ctx(tmp_path)))[
        f"{name}@127.0.0.1:{scenario_server.port}"]
    assert (reading.input_phase_volts, reading.output_phase_volts) == nut_devs.PHASES[name]


def test_identity_alarm_and_unescaped_strings(scenario_server: NutServer, tmp_path: Path) -> None:
    collector = NutUpsCollector([entry(scenario_server)], upsmon_conf=None)
    readings = by_ups(collector.collect(ctx(tmp_path)))
    suffix = f"@127.0.0.1:{scenario_server.port}"
    escaped = readings["escaped" + suffix]
    assert escaped.model == nut_devs.ESCAPED_MODEL
    assert escaped.manufacturer == nut_devs.ESCAPED_MFR
    online = readings["online" + suffix]
    assert (online.manufacturer, online.model, online.serial) == (
        "American Power Conversion", "Back-UPS XS 1000M", "3B1234X56789")
    alarm = readings["healarm" + suffix]
    assert alarm.alarm == "Internal UPS fault!"
    assert readings["fsd" + suffix].critical and readings["lowbatt" + suffix].critical
    assert readings["replbatt" + suffix].replace_battery
    assert not readings["onbattery" + suffix].critical and readings["onbattery" + suffix].on_battery


def test_bogus_numbers_are_logged_once(scenario_server: NutServer, tmp_path: Path,
                                       caplog: pytest.LogCaptureFixture) -> None:
    collector = NutUpsCollector([entry(scenario_server, ups="bogus")], upsmon_conf=None)
    with caplog.at_level(logging.WARNING, logger=NUT_LOGGER):
        for _ in range(3):
            (reading,) = collector.collect(ctx(tmp_path))
    assert isinstance(reading, UpsReading)
    assert reading.battery_runtime_seconds is None and reading.battery_charge_ratio is None
    messages = [record.getMessage() for record in caplog.records]
    assert sum("battery.runtime" in message for message in messages) == 1
    assert sum("battery.charge" in message for message in messages) == 1


def test_configured_ups_that_does_not_exist(scenario_server: NutServer, tmp_path: Path) -> None:
    collector = NutUpsCollector([entry(scenario_server, ups="nosuch")], upsmon_conf=None)
    (reading,) = collector.collect(ctx(tmp_path))
    assert isinstance(reading, UpsReading)
    assert (reading.ups, reading.up, reading.reason) == (f"nosuch@127.0.0.1:{scenario_server.port}", False,
                                                         "UNKNOWN-UPS")


def test_value_changes_are_seen_on_the_next_poll(started: list[NutServer], tmp_path: Path) -> None:
    server = start(started, tmp_path / "nut", {"ups1": nut_devs.ONLINE})
    collector = NutUpsCollector([entry(server)], upsmon_conf=None)
    ups = f"ups1@127.0.0.1:{server.port}"
    assert by_ups(collector.collect(ctx(tmp_path)))[ups].flags == ("OL",)
    server.update_dev("ups1", nut_devs.LOW_BATTERY)
    reading = poll_until(collector, tmp_path, ups, lambda r: r.flags == ("OB", "LB", "DISCHRG"))
    assert reading.battery_charge_ratio == pytest.approx(0.09)
    assert reading.critical


def test_stale_and_disconnected_drivers_are_states_not_failures(started: list[NutServer], tmp_path: Path) -> None:
    server = start(started, tmp_path / "nut", {"ups1": nut_devs.ONLINE, "ups2": nut_devs.ON_BATTERY,
                                               "ups3": nut_devs.ONLINE}, maxage=3)
    collector = NutUpsCollector([entry(server)], upsmon_conf=None)
    suffix = f"@127.0.0.1:{server.port}"
    assert all(reading.up for reading in by_ups(collector.collect(ctx(tmp_path))).values())

    server.stop_driver("ups1")
    server.kill_driver("ups2")
    stale = poll_until(collector, tmp_path, "ups1" + suffix, lambda r: not r.up, timeout=10)
    assert (stale.reason, stale.flags) == ("DATA-STALE", ())
    readings = by_ups(collector.collect(ctx(tmp_path)))
    assert (readings["ups2" + suffix].up, readings["ups2" + suffix].reason) == (False, "DRIVER-NOT-CONNECTED")
    assert readings["ups2" + suffix].flags == ()
    assert readings["ups3" + suffix].up  # the healthy UPS on the same server is unaffected

    server.cont_driver("ups1")
    recovered = poll_until(collector, tmp_path, "ups1" + suffix, lambda r: r.up, timeout=10)
    assert recovered.flags == ("OL",)


def _refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_dead_server_never_hides_another(started: list[NutServer], tmp_path: Path) -> None:
    nut_binaries()
    # Start both servers' processes first and wait once: the slow part (driver start) overlaps.
    a = NutServer.start(tmp_path / "a", {"upsa": nut_devs.ONLINE}, wait=False)
    started.append(a)
    b = NutServer.start(tmp_path / "b", {"upsb": nut_devs.ON_BATTERY}, wait=False)
    started.append(b)
    a.wait_ready()
    b.wait_ready()
    collector = NutUpsCollector([entry(a, timeout=1.0), entry(b, timeout=1.0)], upsmon_conf=None)
    ups_a, ups_b = f"upsa@127.0.0.1:{a.port}", f"upsb@127.0.0.1:{b.port}"
    first = by_ups(collector.collect(ctx(tmp_path)))
    assert first[ups_a].up and first[ups_b].up

    # A stalled upsd (accepts, never answers) costs its own timeout, not the other server's readings.
    assert a.upsd is not None
    a.upsd.send_signal(signal.SIGSTOP)
    began = time.monotonic()
    stalled = by_ups(collector.collect(ctx(tmp_path)))
    assert time.monotonic() - began < 3
    assert not stalled[ups_a].up and "timed out" in stalled[ups_a].reason
    assert stalled[ups_b].up and stalled[ups_b].flags == ("OB", "DISCHRG")

    # upsd killed while a poll waits on it: readings say why, nothing escapes, the other server is read.
    results: list[Sequence[object]] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(collector.collect(ctx(tmp_path)))
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.3)
    a.kill_upsd()
    worker.join(10)
    assert not errors, errors
    killed = by_ups(results[0])
    assert not killed[ups_a].up and killed[ups_a].reason
    assert killed[ups_b].up

    # Down between polls: still reported by name (remembered from earlier polls).
    down = by_ups(collector.collect(ctx(tmp_path)))
    assert not down[ups_a].up and "refused" in down[ups_a].reason and down[ups_b].up

    # upsd back: the next poll reconnects.
    a.start_upsd()
    a.wait_ready()
    back = by_ups(collector.collect(ctx(tmp_path)))
    assert back[ups_a].up and back[ups_a].flags == ("OL",)


def test_every_server_failed_keeps_the_known_ups_down(started: list[NutServer], tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """The only server dead: its UPS stays reported, down with the reason, instead of the whole run failing
    and every UPS series vanishing (an alert on physgap_ups_up == 0 could never fire)."""
    server = start(started, tmp_path / "nut", {"ups1": nut_devs.ONLINE})
    ups1 = f"ups1@127.0.0.1:{server.port}"
    seen = NutUpsCollector([entry(server, timeout=1.0)], upsmon_conf=None)
    named = NutUpsCollector([entry(server, ups="ups1", timeout=1.0)], upsmon_conf=None)
    assert by_ups(seen.collect(ctx(tmp_path)))[ups1].up
    server.kill_upsd()
    for collector in (seen, named):  # seen in an earlier poll, or configured by name and never seen up
        down = by_ups(collector.collect(ctx(tmp_path)))
        assert list(down) == [ups1]
        assert not down[ups1].up and down[ups1].reason == "connection refused"
    server.start_upsd()
    server.wait_ready()
    assert by_ups(seen.collect(ctx(tmp_path)))[ups1].up

    # A server never seen answering, with no UPS named: nothing is invented for it; the run fails, one
    # warning, and the error names the server and why.
    never = NutUpsCollector([NutServerConfig(port=_refused_port(), timeout=1.0)], upsmon_conf=None)
    with caplog.at_level(logging.WARNING, logger=NUT_LOGGER):
        for _ in range(2):
            with pytest.raises(CollectorError, match="refused"):
                never.collect(ctx(tmp_path))
    assert sum("no UPS on it is known" in r.getMessage() for r in caplog.records) == 1


def test_stalled_server_hands_back_its_down_reading_before_the_run_deadline(
        started: list[NutServer], tmp_path: Path) -> None:
    """A server that accepts and never answers, with a per-request timeout longer than the run's: the poll
    ends before the run's deadline, so the scheduler gets the down reading instead of abandoning the run."""
    server = start(started, tmp_path / "nut", {"ups1": nut_devs.ONLINE})
    collector = NutUpsCollector([entry(server, timeout=30.0)], upsmon_conf=None)
    assert collector.collect(ctx(tmp_path))
    assert server.upsd is not None
    server.upsd.send_signal(signal.SIGSTOP)
    try:
        run = ctx(tmp_path, seconds=2)
        readings = by_ups(collector.collect(run))
        assert time.monotonic() < run.deadline
    finally:
        server.upsd.send_signal(signal.SIGCONT)
    reading = readings[f"ups1@127.0.0.1:{server.port}"]
    assert not reading.up and "timed out" in reading.reason


def test_autodetect_with_nothing_listening_reports_nothing(tmp_path: Path) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 3493)) == 0:
            pytest.skip("something listens on 127.0.0.1:3493 here")
    assert NutUpsCollector([], upsmon_conf=None, autodetect=True).collect(ctx(tmp_path)) == []
    assert NutUpsCollector([], upsmon_conf=None).collect(ctx(tmp_path)) == []


def test_attached_upsmon_is_shutdown_protection(started: list[NutServer], tmp_path: Path) -> None:
    server = start(started, tmp_path / "nut", {"ups1": nut_devs.ONLINE, "ups2": nut_devs.ONLINE})
    upsmon_conf = server.start_upsmon("ups1")
    server.wait_logins("ups1")
    collector = NutUpsCollector([entry(server)], upsmon_conf=upsmon_conf)
    readings = by_ups(collector.collect(ctx(tmp_path)))
    protected, unprotected = readings[f"ups1@127.0.0.1:{server.port}"], readings[f"ups2@127.0.0.1:{server.port}"]
    assert protected.shutdown_clients is not None and protected.shutdown_clients >= 1
    assert protected.local_upsmon is True
    assert (unprotected.shutdown_clients, unprotected.local_upsmon) == (0, False)
    # The collector itself never logs in: the count is upsmon's alone.
    assert protected.shutdown_clients == 1

    # Same file reached through "localhost" and the default-port spelling still matches loosely.
    conf_text = upsmon_conf.read_text().replace(f"@127.0.0.1:{server.port}", f"@localhost:{server.port}")
    alias = tmp_path / "upsmon-alias.conf"
    alias.write_text(conf_text)
    via_alias = by_ups(NutUpsCollector([entry(server)], upsmon_conf=alias).collect(ctx(tmp_path)))
    assert via_alias[f"ups1@127.0.0.1:{server.port}"].local_upsmon is True


def test_password_file_is_used_and_never_logged(started: list[NutServer], tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    server = start(started, tmp_path / "nut", {"ups1": nut_devs.ONLINE})
    secret_file = tmp_path / "nut.pass"
    secret_file.write_text("adminpass\n")
    os.chmod(secret_file, 0o644)
    with caplog.at_level(logging.DEBUG):
        collector = NutUpsCollector([entry(server, username="admin", password_file=secret_file)], upsmon_conf=None)
        readings = [collector.collect(ctx(tmp_path))[0] for _ in range(3)]
    assert all(isinstance(reading, UpsReading) and reading.up for reading in readings)
    assert all(reading.shutdown_clients == 0 for reading in readings)  # USERNAME/PASSWORD are not LOGIN
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name == NUT_LOGGER]
    assert warned == [f"ups: password file {secret_file} is world-readable; chmod o-r it"]  # once, not per poll
    assert "adminpass" not in caplog.text
    assert all("adminpass" not in repr(reading) for reading in readings)


def test_relative_password_file_is_a_systemd_credential(started: list[NutServer], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    server = start(started, tmp_path / "nut", {"ups1": nut_devs.ONLINE})
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "nut.pass").write_text("adminpass\n")
    os.chmod(credentials / "nut.pass", 0o644)  # so that the warning shows which file was read
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    monkeypatch.chdir(tmp_path)  # not where the file is: only $CREDENTIALS_DIRECTORY can find it
    with caplog.at_level(logging.WARNING, logger=NUT_LOGGER):
        collector = NutUpsCollector([entry(server, username="admin", password_file=Path("nut.pass"))],
                                    upsmon_conf=None)
        (reading,) = collector.collect(ctx(tmp_path))
    assert isinstance(reading, UpsReading) and reading.up
    assert [r.getMessage() for r in caplog.records] == [
        f"ups: password file {credentials / 'nut.pass'} is world-readable; chmod o-r it"]


def test_oversized_password_file_is_refused(started: list[NutServer], tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    # A password_file pointing at the wrong file (a log, a key bundle) must not be slurped and sent to upsd.
    server = start(started, tmp_path / "nut", {"ups1": nut_devs.ONLINE})
    wrong_file = tmp_path / "not-a-password"
    wrong_file.write_text("hunter2 " * 600)
    wrong_file.chmod(0o600)
    with caplog.at_level(logging.DEBUG):
        collector = NutUpsCollector([entry(server, username="admin", password_file=wrong_file)], upsmon_conf=None)
        readings = [collector.collect(ctx(tmp_path))[0] for _ in range(2)]
    assert all(isinstance(reading, UpsReading) and reading.up for reading in readings)  # polled without it
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name == NUT_LOGGER]
    assert len(warned) == 1
    assert str(wrong_file) in warned[0] and "larger than 4096 bytes" in warned[0]
    assert "hunter2" not in caplog.text
