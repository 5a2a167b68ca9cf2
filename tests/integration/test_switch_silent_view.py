"""A switch agent that answers but shows no IF-MIB rows (a read view without IF-MIB, as Debian snmpd's default
"systemonly" view, or an agent error on the ifTable) is down with the reason, never up with no ports: P3 would
otherwise read "switch usw has no port te1" as a measured fact. Real snmpsim agent, the project's recordings."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import pytest

from collectors.kit.context import RunContext
from collectors.kit.snmp_target import SnmpTarget
from collectors.model.readings import SwitchPortReading, SwitchReading
from collectors.switch.collector import SwitchCollector
from collectors.switch.config import PortRef, SwitchTarget
from tests.conftest import REPO
from tests.snmp_agent import SnmpAgent, serving

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler")

VIEWS = REPO / "tests" / "snmp_data" / "switch-views"


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpAgent]:
    with serving(VIEWS.glob("*.snmprec"), tmp_path_factory.mktemp("snmpsim-views"), "systemonly") as started:
        yield started


def collect(agent: SnmpAgent, community: str, version: str) -> tuple[SwitchReading, list[SwitchPortReading]]:
    target = SwitchTarget(SnmpTarget(host=agent.host, port=agent.port, community=community, version=version,
                                     name="usw"), MappingProxyType({"enp87s0": PortRef(name="te1")}), "")
    readings = SwitchCollector([target]).collect(RunContext(deadline=time.monotonic() + 5,
                                                            state_dir=Path("/nonexistent")))
    switches = [r for r in readings if isinstance(r, SwitchReading)]
    assert len(switches) == 1
    return switches[0], [r for r in readings if isinstance(r, SwitchPortReading)]


@pytest.mark.parametrize("version", ["2c", "1"])
def test_a_view_without_if_mib_is_down_with_the_reason(agent: SnmpAgent, version: str) -> None:
    switch, ports = collect(agent, "systemonly", version)
    assert not switch.up and ports == []
    assert switch.reason == ("the agent answers sysName 'usw' but returns no IF-MIB ifTable rows; does its SNMP "
                             "view include IF-MIB?")
    assert switch.unmatched == ()  # no "switch lists no port te1": its ports are unknown


@pytest.mark.parametrize("version", ["2c", "1"])
def test_an_agent_error_on_the_first_table_request_is_down_with_the_error(agent: SnmpAgent, version: str) -> None:
    switch, ports = collect(agent, "generror", version)
    assert not switch.up and ports == []
    assert "genErr" in switch.reason and "1.3.6.1.2.1.2.2.1.2" in switch.reason
