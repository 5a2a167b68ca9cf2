"""SnmpUpsCollector against the real snmpsim agent: recordings of real UPSes (PyPI snmpsim-data), the project's
own APC PowerNet recordings, and the ways an SNMP target fails (wrong community, closed port, unresolvable
name, a deadline shorter than the agent's silence, a stopping daemon)."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collectors.kit.context import Cancelled, RunContext
from collectors.kit.snmp_target import SnmpTarget
from collectors.model.readings import UpsReading
from collectors.ups.snmp import SnmpUpsCollector
from tests.conftest import REPO
from tests.snmp_agent import SnmpAgent, free_udp_port, snmpsim_data_dir, start_agent

# pysnmp hands MIB work to pysmi whenever pysmi is importable; here it is, pulled in by snmpsim-data (test-only),
# and its deprecated names warn on every engine. The daemon's environment has no pysmi.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler")

OWN_DATA = REPO / "tests" / "snmp_data"
# RFC 1628 recordings from snmpsim-data 1.0.1 (see shared/corpus/snmp/snmpsim-data-1.0.1-index.csv), plus an
# APC rack PDU, which speaks PowerNet but has no UPS subtree.
PACKAGED = ("UPS/eaton-93e-80", "UPS/phoenixtec-power", "UPS/huawei-gse200m", "UPS/ingrasys-power-switch",
            "UPS/eastpower-istars-swv053", "UPS/apc-7902b")
FAST = 0.3  # per-request timeout for targets expected to stay silent
SNMP_LOGGER = "collectors.ups.snmp"


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpAgent]:
    packaged = snmpsim_data_dir()
    work = tmp_path_factory.mktemp("snmpsim")
    data = work / "data"
    (data / "UPS").mkdir(parents=True)
    # Only the recordings used here: the agent indexes all of its data directory before it answers.
    for community in PACKAGED:
        matches = sorted(packaged.glob(f"{community}.snmprec*"))
        assert matches, f"snmpsim-data lacks {community}"
        shutil.copy(matches[0], data / "UPS" / matches[0].name)
    for recording in OWN_DATA.glob("*.snmprec"):
        shutil.copy(recording, data / recording.name)
    started = start_agent(data, work, probe_community="apc-smart-ups")
    yield started
    started.stop()


def ctx(seconds: float = 5.0) -> RunContext:
    return RunContext(deadline=time.monotonic() + seconds, state_dir=Path("/nonexistent"))


def target(agent: SnmpAgent, community: str, **extra: Any) -> SnmpTarget:
    return SnmpTarget(host=agent.host, port=agent.port, community=community, **extra)


def collect_one(agent: SnmpAgent, community: str, **extra: Any) -> UpsReading:
    readings = SnmpUpsCollector([target(agent, community, **extra)]).collect(ctx())
    assert len(readings) == 1
    assert isinstance(readings[0], UpsReading)
    return readings[0]


# --- real recordings, both protocol versions ---

@pytest.mark.parametrize("version", ["2c", "1"])
def test_eaton_three_phase_ups_mib(agent: SnmpAgent, version: str) -> None:
    reading = collect_one(agent, "UPS/eaton-93e-80", name="eaton", version=version)
    assert (reading.ups, reading.source, reading.up, reading.reason) == ("eaton", "snmp", True, "")
    assert reading.flags == ("OL",)
    assert (reading.manufacturer, reading.model, reading.driver) == ("EATON", "EATON 93E 80", "UPS-MIB")
    assert reading.battery_charge_ratio == 1.0
    assert reading.battery_runtime_seconds == 1092 * 60  # upsEstimatedMinutesRemaining is in minutes
    assert reading.load_ratio == 0.21  # the busiest of three output lines (21/16/12 %)
    assert reading.input_voltage_volts == 227.0  # the lowest of 227/227/233 V: a sagging phase shows
    assert reading.input_phase_volts == (("L1", 227.0), ("L2", 227.0), ("L3", 233.0))
    assert reading.output_voltage_volts == 220.0
    assert reading.output_phase_volts == (("L1", 220.0), ("L2", 220.0), ("L3", 220.0))
    assert reading.alarm == ""
    assert reading.shutdown_clients is None and reading.local_upsmon is None


def test_phoenixtec_empty_identity_and_unused_lines(agent: SnmpAgent) -> None:
    reading = collect_one(agent, "UPS/phoenixtec-power")
    assert reading.ups == "127.0.0.1"  # no name configured: the host
    assert reading.up and reading.flags == ("OL",)
    assert (reading.manufacturer, reading.model) == ("", "")
    assert reading.battery_charge_ratio == 1.0
    assert reading.battery_runtime_seconds is None  # 0 minutes while on mains: not estimated
    assert reading.input_voltage_volts == 238.0  # lines 2 and 3 report 0 V, past upsInputNumLines 1
    assert reading.output_voltage_volts == 231.0
    assert reading.input_phase_volts == () and reading.output_phase_volts == ()
    assert reading.load_ratio == 0.0


def test_huawei_minus_one_and_tenths_are_dropped(agent: SnmpAgent, caplog: pytest.LogCaptureFixture) -> None:
    collector = SnmpUpsCollector([target(agent, "UPS/huawei-gse200m", name="huawei")])
    with caplog.at_level(logging.WARNING, logger=SNMP_LOGGER):
        reading = collector.collect(ctx())[0]
        assert isinstance(reading, UpsReading)
        first = [r.getMessage() for r in caplog.records]
        caplog.clear()
        collector.collect(ctx())
        second = [r.getMessage() for r in caplog.records]
    assert reading.up and reading.flags == ("OL",)
    assert (reading.manufacturer, reading.model) == ("HUAWEI", "UPS5000")
    assert reading.battery_charge_ratio is None  # -1
    assert reading.battery_runtime_seconds is None  # -1
    assert reading.input_voltage_volts is None  # 2369: tenths of a volt where the MIB says volts
    assert reading.output_voltage_volts is None
    assert reading.load_ratio == 0.08  # Gauge32 where the MIB says INTEGER: still a number
    assert any("battery charge" in message for message in first)
    assert second == []  # invalid values are logged once, not every run


def test_santak_timeticks_typed_runtime(agent: SnmpAgent) -> None:
    reading = collect_one(agent, "UPS/ingrasys-power-switch")
    assert (reading.manufacturer, reading.model) == ("Santak", "Array-3A3")  # hex string, blank padded
    assert reading.up and reading.flags == ("OL",)
    assert reading.battery_charge_ratio == 1.0
    assert reading.battery_runtime_seconds is None
    assert reading.input_voltage_volts == 227.0  # lines 228/229/227 V: the lowest
    assert reading.load_ratio == 0.33


def test_eastpower_odd_table_indices(agent: SnmpAgent) -> None:
    reading = collect_one(agent, "UPS/eastpower-istars-swv053", version="1")
    assert (reading.manufacturer, reading.model) == ("EAST", "EA9080")
    assert reading.load_ratio == 0.30  # rows indexed N.0, walked all the same
    assert reading.input_voltage_volts == 234.0  # lines 236/236/234 V: the lowest
    assert reading.input_phase_volts == (("L1", 236.0), ("L2", 236.0), ("L3", 234.0))
    assert reading.output_voltage_volts == 219.0


def test_apc_pdu_is_not_a_ups(agent: SnmpAgent) -> None:
    (reading,) = SnmpUpsCollector([target(agent, "UPS/apc-7902b", name="pdu")]).collect(ctx())
    assert isinstance(reading, UpsReading)
    assert (reading.ups, reading.up) == ("pdu", False)
    assert "speaks none of UPS-MIB" in reading.reason


# --- the project's own APC PowerNet recordings ---

@pytest.mark.parametrize("version", ["2c", "1"])
def test_apc_smart_ups_on_line(agent: SnmpAgent, version: str) -> None:
    reading = collect_one(agent, "apc-smart-ups", name="rack", version=version)
    assert (reading.ups, reading.up, reading.flags) == ("rack", True, ("OL",))
    assert (reading.manufacturer, reading.model, reading.serial, reading.driver) == (
        "APC", "Smart-UPS 1500", "AS1924123456", "PowerNet-MIB")
    assert reading.battery_charge_ratio == 1.0
    assert reading.battery_runtime_seconds == 2520.0  # TimeTicks / 100
    assert reading.load_ratio == pytest.approx(0.234)  # high precision, tenths of a percent
    assert (reading.input_voltage_volts, reading.output_voltage_volts) == (230.4, 230.1)
    assert not reading.critical


def test_apc_smart_ups_on_battery(agent: SnmpAgent) -> None:
    reading = collect_one(agent, "apc-smart-ups-onbattery", name="closet")
    assert reading.flags == ("OB", "LB", "RB")
    assert reading.critical and reading.replace_battery
    assert reading.battery_charge_ratio == 0.18
    assert reading.battery_runtime_seconds == 180.0
    assert reading.load_ratio == 0.31
    assert reading.input_voltage_volts == 0.0


def test_apc_three_phase_reads_every_phase(agent: SnmpAgent) -> None:
    reading = collect_one(agent, "apc-symmetra-px-3ph", name="px")
    assert reading.up and reading.flags == ("OL",)
    assert reading.input_phase_volts == (("L1", 231.0), ("L2", 198.0), ("L3", 229.0))  # mains, not bypass
    assert reading.input_voltage_volts == 198.0
    assert reading.output_phase_volts == (("L1", 230.0), ("L2", 230.0))


# --- CyberPower CPS-MIB and UPS-MIB's output source other(1) ---

@pytest.mark.parametrize("version", ["2c", "1"])
def test_cyberpower_cps_mib(agent: SnmpAgent, version: str) -> None:
    reading = collect_one(agent, "cyberpower-cps", name="desk", version=version)
    assert (reading.up, reading.flags, reading.driver) == (True, ("OL", "RB"), "CPS-MIB")
    assert (reading.manufacturer, reading.model) == ("CyberPower", "CP1500PFCLCD")
    assert (reading.battery_charge_ratio, reading.battery_runtime_seconds, reading.load_ratio) == (1.0, 1860.0, 0.17)
    assert (reading.input_voltage_volts, reading.output_voltage_volts) == (120.8, 120.0)


def test_cyberpower_on_battery(agent: SnmpAgent) -> None:
    reading = collect_one(agent, "cyberpower-cps-onbattery", name="desk")
    assert reading.flags == ("OB", "LB") and reading.critical


def test_ups_mib_source_other_on_battery(agent: SnmpAgent) -> None:
    reading = collect_one(agent, "ups-mib-source-other-onbattery", name="card")
    assert reading.flags == ("OB", "ALARM")  # upsSecondsOnBattery 95 and the on-battery alarm
    assert reading.alarm == "on battery, input bad"


def test_community_file_wins_and_is_reread(agent: SnmpAgent, tmp_path: Path) -> None:
    secret = tmp_path / "community"
    secret.write_text("apc-smart-ups\n")
    secret.chmod(0o600)
    collector = SnmpUpsCollector([target(agent, "wrong", community_file=secret, name="rack", timeout=FAST)])
    assert collector.collect(ctx())[0].up
    secret.write_text("apc-smart-ups-onbattery\n")
    reading = collector.collect(ctx())[0]
    assert isinstance(reading, UpsReading)
    assert reading.on_battery


def test_missing_community_file(agent: SnmpAgent, tmp_path: Path) -> None:
    readings = SnmpUpsCollector([
        target(agent, "apc-smart-ups", name="good"),
        target(agent, "apc-smart-ups", name="bad", community_file=tmp_path / "absent"),
    ]).collect(ctx())
    by_name = {reading.ups: reading for reading in readings if isinstance(reading, UpsReading)}
    assert by_name["good"].up
    assert not by_name["bad"].up
    absent = tmp_path / "absent"
    assert by_name["bad"].reason == f"no community: cannot read secret file {absent} (No such file or directory)"


def test_relative_community_file_is_a_systemd_credential(agent: SnmpAgent, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    (credentials / "ups-community").write_text("apc-smart-ups-onbattery\n")
    (credentials / "ups-community").chmod(0o600)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    monkeypatch.chdir(tmp_path)  # not where the file is: only $CREDENTIALS_DIRECTORY can find it
    reading = collect_one(agent, "wrong", community_file=Path("ups-community"), name="closet", timeout=FAST)
    assert reading.up and reading.on_battery  # the agent answered the credential's community, not "wrong"


def test_oversized_community_file_is_refused(agent: SnmpAgent, tmp_path: Path,
                                             caplog: pytest.LogCaptureFixture) -> None:
    wrong_file = tmp_path / "not-a-community"
    wrong_file.write_text("apc-smart-ups\n" + "s3cret " * 600)
    wrong_file.chmod(0o600)
    collector = SnmpUpsCollector([target(agent, "apc-smart-ups", name="good"),
                                  target(agent, "public", name="bad", community_file=wrong_file)])
    with caplog.at_level(logging.DEBUG):
        readings = collector.collect(ctx())
    bad = next(reading for reading in readings if isinstance(reading, UpsReading) and reading.ups == "bad")
    assert not bad.up
    assert bad.reason == f"no community: secret file {wrong_file} is larger than 4096 bytes"
    assert "s3cret" not in caplog.text


def test_world_readable_community_file_warns_once(agent: SnmpAgent, tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    secret = tmp_path / "community"
    secret.write_text("apc-smart-ups\n")
    secret.chmod(0o644)
    collector = SnmpUpsCollector([target(agent, "public", community_file=secret, name="rack")])
    warning = f"community file {secret} is world-readable; chmod o-r it"

    def warnings_over(runs: int) -> list[str]:
        caplog.clear()
        with caplog.at_level(logging.DEBUG):
            for _ in range(runs):
                assert [reading.up for reading in collector.collect(ctx()) if isinstance(reading, UpsReading)] == [
                    True]
        assert "apc-smart-ups" not in caplog.text  # the community never appears, at any level
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and r.name == SNMP_LOGGER]

    assert warnings_over(3) == [warning]  # once, not every run
    secret.chmod(0o600)
    assert warnings_over(1) == []
    secret.chmod(0o644)
    assert warnings_over(1) == [warning]  # made world-readable again: worth saying again


# --- failures: one UPS down is a reading; all down are readings too, each configured by name ---

def test_wrong_community_is_a_down_reading_within_the_deadline(
        agent: SnmpAgent, caplog: pytest.LogCaptureFixture) -> None:
    collector = SnmpUpsCollector([
        target(agent, "apc-smart-ups", name="good"),
        target(agent, "s3cret-but-wrong", name="wrong", timeout=FAST),
    ])
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        readings = collector.collect(ctx(5))
    elapsed = time.monotonic() - started
    by_name = {reading.ups: reading for reading in readings if isinstance(reading, UpsReading)}
    assert by_name["good"].up
    assert not by_name["wrong"].up
    assert "timed out" in by_name["wrong"].reason
    assert by_name["wrong"].flags == ()
    assert elapsed < 2 * FAST + 1.0  # (retries + 1) x timeout, not pysnmp's default 6 s
    assert "s3cret-but-wrong" not in caplog.text
    assert all("s3cret-but-wrong" not in reading.reason for reading in by_name.values())


def test_every_target_failing_keeps_each_ups_down(agent: SnmpAgent) -> None:
    """Every agent silent: each configured UPS is still reported (physgap_ups_up 0 with the reason) rather than
    the run failing and all of them vanishing."""
    collector = SnmpUpsCollector([target(agent, "nope", name="wrong", timeout=FAST),
                                  SnmpTarget(host="127.0.0.1", port=free_udp_port(), name="closed", timeout=FAST)])
    started = time.monotonic()
    readings = collector.collect(ctx(5))
    assert time.monotonic() - started < 2 * FAST + 1.0  # targets are polled concurrently
    by_name = {reading.ups: reading for reading in readings if isinstance(reading, UpsReading)}
    assert sorted(by_name) == ["closed", "wrong"]
    assert all(not reading.up and "no SNMP answer" in reading.reason for reading in by_name.values())


def test_closed_port(agent: SnmpAgent) -> None:
    readings = SnmpUpsCollector([
        target(agent, "apc-smart-ups", name="good"),
        SnmpTarget(host="127.0.0.1", port=free_udp_port(), community="apc-smart-ups", name="closed", timeout=FAST),
    ]).collect(ctx())
    closed = next(reading for reading in readings if isinstance(reading, UpsReading) and reading.ups == "closed")
    assert not closed.up
    assert "no SNMP answer" in closed.reason


def test_unresolvable_host(agent: SnmpAgent) -> None:
    readings = SnmpUpsCollector([
        target(agent, "apc-smart-ups", name="good"),
        SnmpTarget(host="no-such-ups.invalid", timeout=FAST),
    ]).collect(ctx())
    bad = next(reading for reading in readings if isinstance(reading, UpsReading) and not reading.up)
    assert bad.ups == "no-such-ups.invalid"
    assert bad.reason.startswith("cannot resolve no-such-ups.invalid")


def test_deadline_shorter_than_the_silence(agent: SnmpAgent) -> None:
    collector = SnmpUpsCollector([target(agent, "apc-smart-ups", name="good"),
                                  target(agent, "wrong", name="slow", timeout=30)])
    run = ctx(1.0)
    readings = collector.collect(run)
    # Handed back before the run's deadline: past it the scheduler abandons the run and keeps none of it.
    assert time.monotonic() < run.deadline
    slow = next(reading for reading in readings if isinstance(reading, UpsReading) and reading.ups == "slow")
    assert not slow.up and "deadline" in slow.reason


def test_cancel_stops_the_run(agent: SnmpAgent) -> None:
    context = ctx(20)
    threading.Timer(0.3, context.cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        SnmpUpsCollector([target(agent, "wrong", timeout=10)]).collect(context)
    assert time.monotonic() - started < 1.5


def test_runs_leave_no_sockets_or_threads_behind(agent: SnmpAgent) -> None:
    collector = SnmpUpsCollector([target(agent, "apc-smart-ups"), target(agent, "UPS/eaton-93e-80")])
    collector.collect(ctx())  # first run loads pysnmp
    fds = len(os.listdir("/proc/self/fd"))
    threads = threading.active_count()
    for _ in range(3):
        assert [reading.up for reading in collector.collect(ctx()) if isinstance(reading, UpsReading)] == [True,
                                                                                                          True]
    assert len(os.listdir("/proc/self/fd")) == fds  # close_dispatcher() closed each run's sockets
    assert threading.active_count() <= threads + 1  # a resolver thread may still be finishing


def test_a_broken_snmp_client_still_reports_each_ups_down(tmp_path: Path) -> None:
    """pysnmp that cannot load (a broken or partial install) costs the readings, never the series: each
    configured UPS reads down with the reason."""
    shadow = tmp_path / "shadow" / "pysnmp"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('pysnmp is broken here')\n")
    code = ("import time\n"
            "from pathlib import Path\n"
            "from collectors.kit.context import RunContext\n"
            "from collectors.kit.snmp_target import SnmpTarget\n"
            "from collectors.ups.snmp import SnmpUpsCollector\n"
            "run = RunContext(deadline=time.monotonic() + 5, state_dir=Path('/nonexistent'))\n"
            "for r in SnmpUpsCollector([SnmpTarget('127.0.0.1', name='rack'), SnmpTarget('ups.lan')]).collect(run):\n"
            "    print(r.ups, r.up, r.reason)\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path / 'shadow'}{os.pathsep}{REPO}"}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                            check=False, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "rack False SNMP client failed: ImportError: pysnmp is broken here",
        "ups.lan False SNMP client failed: ImportError: pysnmp is broken here"]


# --- the lazy import ---

def test_importing_the_module_does_not_load_pysnmp() -> None:
    code = ("import sys\n"
            "import collectors.ups.snmp as m\n"
            "from collectors.kit.snmp_target import SnmpTarget\n"
            "m.SnmpUpsCollector([SnmpTarget('ups.lan')])\n"
            "print(sorted(n for n in sys.modules if n.split('.')[0] in ('pysnmp', 'pyasn1')))\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
