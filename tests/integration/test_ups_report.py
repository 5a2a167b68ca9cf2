"""UPS end to end: the real CLI against a real upsd with dummy-ups drivers and a real SNMP agent.

P1 as an operator sees it: resolved with a protected UPS on mains, high without shutdown protection,
critical on battery with low battery; UPS metrics promtool-clean.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from tests import nut_devs
from tests.conftest import empty_sysfs, require_binary, run_physgap, write_config
from tests.nut_fixture import nut_server
from tests.snmp_agent import free_udp_port, require_snmpsim, start_agent

SNMP_DATA = Path(__file__).resolve().parents[1] / "snmp_data"


def configure(tmp_path: Path, ups_section: str) -> Path:
    config = write_config(tmp_path / "c.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", 9829)
    text = config.read_text().replace('[ups]\nautodetect = false\nupsmon_conf = ""\n', ups_section)
    config.write_text(text)
    return config


def p1_of(config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_physgap("report", "--config", str(config), "--format", "json", *args)
    gaps = {g["id"]: g for g in json.loads(result.stdout)["gaps"]}
    return result.returncode, dict(gaps["P1"])


def test_p1_follows_a_real_upsd(tmp_path: Path) -> None:
    with nut_server(tmp_path / "nut", {"ups1": nut_devs.ONLINE}) as server:
        config = configure(tmp_path, f'[ups]\nupsmon_conf = ""\n\n[[ups.nut]]\nhost = "127.0.0.1"\n'
                                     f"port = {server.port}\n")
        # On mains, but nothing would shut this host down: high.
        code, p1 = p1_of(config, "--fail-on", "high")
        assert code == 1
        assert (p1["status"], p1["severity"]) == ("open", "high")
        (line,) = p1["evidence"]
        assert line.startswith(f"ups1@127.0.0.1:{server.port} OL") and line.endswith(": no upsmon attached")
        # what the dump says: on line, charge 100 %, runtime 2580 s
        assert "on line" in line and "charge 100 %" in line and "runtime 43 min" in line

        # A real upsmon logs in: shutdown protection, P1 resolved.
        server.start_upsmon("ups1")
        server.wait_logins("ups1")
        code, p1 = p1_of(config, "--fail-on", "info")
        assert code == 0 and p1["status"] == "resolved"
        (line,) = p1["evidence"]
        assert line.startswith(f"ups1@127.0.0.1:{server.port} OL") and line.endswith("1 upsmon attached")

        # The power fails and the battery runs low: critical.
        server.update_dev("ups1", nut_devs.LOW_BATTERY)
        deadline = time.monotonic() + 15
        while "LB" not in (server.status("ups1") or "") and time.monotonic() < deadline:
            time.sleep(0.1)
        # upsmon reacts too (it sets FSD and runs its stand-in SHUTDOWNCMD): either way P1 is critical.
        code, p1 = p1_of(config, "--fail-on", "critical")
        assert code == 1 and p1["severity"] == "critical"
        assert any("LB" in line and ("battery low" in line or "forced shutdown" in line) for line in p1["evidence"]), p1
        # the report says it is on battery, and how much charge and runtime are left (LOW_BATTERY: 9 %, 120 s)
        assert any("on battery" in line and "charge 9 %" in line and "runtime 2 min" in line
                   for line in p1["evidence"]), p1


def test_ups_metrics_are_promtool_clean(tmp_path: Path) -> None:
    promtool = require_binary("promtool")
    with nut_server(tmp_path / "nut", {"ups1": nut_devs.ON_BATTERY, "ups2": nut_devs.HE_ALARM}) as server:
        config = configure(tmp_path, f'[ups]\nupsmon_conf = ""\n\n[[ups.nut]]\nhost = "127.0.0.1"\n'
                                     f"port = {server.port}\n")
        text = run_physgap("once", "--config", str(config)).stdout
    name = f"ups1@127.0.0.1:{server.port}"
    assert f'physgap_ups_up{{ups="{name}"}} 1.0' in text
    assert f'physgap_ups_on_battery{{ups="{name}"}} 1.0' in text
    assert f'physgap_ups_status{{flag="OB",ups="{name}"}} 1.0' in text
    assert f'physgap_ups_status{{flag="LB",ups="{name}"}} 0.0' in text  # explicit zeros for known flags
    assert f'physgap_ups_status{{flag="HE",ups="ups2@127.0.0.1:{server.port}"}} 1.0' in text  # kept unknown token
    assert f'physgap_ups_battery_charge_ratio{{ups="{name}"}} 0.8' in text
    assert f'physgap_ups_battery_runtime_seconds{{ups="{name}"}} 1500.0' in text
    lint = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")


def test_snmp_ups_through_the_daemon_config(tmp_path: Path) -> None:
    require_snmpsim()
    data = tmp_path / "snmp"
    data.mkdir()
    shutil.copy(SNMP_DATA / "apc-smart-ups-onbattery.snmprec", data)
    agent = start_agent(data, tmp_path / "agent", probe_community="apc-smart-ups-onbattery")
    try:
        config = configure(tmp_path, f'[ups]\nautodetect = false\nupsmon_conf = ""\n\n[[ups.snmp]]\n'
                                     f'host = "127.0.0.1"\nport = {agent.port}\nname = "rack-ups"\n'
                                     f'community = "apc-smart-ups-onbattery"\n')
        result = run_physgap("once", "--config", str(config), "--format", "json")
    finally:
        agent.stop()
    document = json.loads(result.stdout)
    readings = document["collectors"]["ups_snmp"]["readings"]
    assert [(r["ups"], r["source"], r["up"]) for r in readings] == [("rack-ups", "snmp", True)]
    assert "OB" in readings[0]["flags"]
    p1 = next(g for g in document["gaps"] if g["id"] == "P1")
    assert p1["status"] == "open"  # SNMP cannot show an attached upsmon


def test_a_silent_snmp_ups_has_its_up_series_and_p1_names_it(tmp_path: Path) -> None:
    """A configured [[ups.snmp]] target that never answers: physgap_ups_up 0 for it (an alert can fire), the
    collector itself succeeded, and P1 says which UPS did not answer."""
    port = free_udp_port()  # nothing listens there
    config = configure(tmp_path, f'[ups]\nautodetect = false\nupsmon_conf = ""\ntimeout = "2s"\n\n[[ups.snmp]]\n'
                                 f'host = "127.0.0.1"\nport = {port}\nname = "rack-ups"\ntimeout = "500ms"\n')
    text = run_physgap("once", "--config", str(config)).stdout
    assert 'physgap_ups_up{ups="rack-ups"} 0.0' in text
    assert 'physgap_collector_success{collector="ups_snmp"} 1.0' in text
    assert 'physgap_ups_on_battery{ups="rack-ups"}' not in text  # no state invented for a silent UPS
    code, p1 = p1_of(config)
    assert (code, p1["status"], p1["severity"]) == (0, "open", "high")
    assert "rack-ups" in p1["evidence"][0] and "no SNMP answer" in p1["evidence"][0]
