"""The SNMP kit on its own, against the real snmpsim agent serving switch recordings (PyPI snmpsim-data): what
a collector other than the UPS one (IF-MIB port speeds for [[switch]]) gets from it, with no UPS code involved."""

from __future__ import annotations

import bz2
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collectors.kit.context import RunContext
from collectors.kit.snmp import Agent, Engine, Value, poll_all
from tests.snmp_agent import SnmpAgent, free_udp_port, snmpsim_data_dir, start_agent

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler")

SWITCHES = ("network/switch/cts-media-converter", "network/switch/dlink-des3038")
SYS_DESCR = "1.3.6.1.2.1.1.1.0"
IF_SPEED = "1.3.6.1.2.1.2.2.1.5"  # ifSpeed column, bits per second
ABSENT = "1.3.6.1.2.1.1.99.0"
FAST = 0.3


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpAgent]:
    packaged = snmpsim_data_dir()
    work = tmp_path_factory.mktemp("snmpsim-kit")
    data = work / "data"
    for community in SWITCHES:
        (source,) = packaged.glob(f"{community}.snmprec*")
        (data / community).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, data / community.rsplit("/", 1)[0] / source.name)
    started = start_agent(data, work, probe_community=SWITCHES[0])
    yield started
    started.stop()


def recorded(community: str, prefix: str) -> dict[str, str]:
    """`oid -> raw value` of the recording's rows below `prefix`: what the agent should hand back."""
    (path,) = snmpsim_data_dir().glob(f"{community}.snmprec*")
    text = bz2.decompress(path.read_bytes()).decode() if path.suffix == ".bz2" else path.read_text()
    rows = (line.split("|", 2) for line in text.splitlines() if line.count("|") >= 2)
    return {oid: raw for oid, _kind, raw in rows if oid.startswith(prefix + ".")}


@dataclass(frozen=True)
class Switch:
    name: str
    agent: Agent


@dataclass(frozen=True)
class Answer:
    name: str
    descr: str = ""
    speeds: dict[str, Value] | None = None
    reason: str = ""


def ctx(seconds: float = 5.0) -> RunContext:
    return RunContext(deadline=time.monotonic() + seconds, state_dir=Path("/nonexistent"))


def switch(agent: SnmpAgent, community: str, version: str = "2c", name: str = "") -> Switch:
    return Switch(name or community, Agent(agent.host, agent.port, community, version, FAST))


async def port_speeds(engine: Engine, target: Switch) -> Answer:
    session = await engine.session(target.agent)
    described = await session.get([SYS_DESCR, ABSENT])
    return Answer(target.name, descr=str(described.get(SYS_DESCR, "")), speeds=await session.walk(IF_SPEED))


def failed(target: Switch, reason: str) -> Answer:
    return Answer(target.name, reason=reason)


@pytest.mark.parametrize("version", ["2c", "1"])
def test_port_speeds_of_two_switches_and_a_silent_one(agent: SnmpAgent, version: str) -> None:
    targets = [switch(agent, SWITCHES[0], version), switch(agent, "wrong", version, name="silent"),
               switch(agent, SWITCHES[1], version)]
    started = time.monotonic()
    answers = poll_all(ctx(), targets, port_speeds, failed)
    assert time.monotonic() - started < 2 * FAST + 1.0  # concurrently: the silent one costs its own timeout
    assert [answer.name for answer in answers] == [SWITCHES[0], "silent", SWITCHES[1]]  # target order

    converter, silent, dlink = answers
    assert converter.descr == "10/100 Media Converter"  # OCTET STRING as text
    assert converter.speeds == {f"{IF_SPEED}.{port}": 100_000_000 for port in (1, 2, 3)}
    assert dlink.descr == "D-Link DES-3028 Fast Ethernet Switch"
    # Every row the recording has (an absent object in the same GET cost nothing, SNMPv1 included).
    assert dlink.speeds == {oid: int(raw) for oid, raw in recorded(SWITCHES[1], IF_SPEED).items()}
    assert (silent.speeds, silent.reason) == (
        None, "no SNMP answer (request timed out: host down, port closed or wrong community)")


def test_walks_are_bounded(agent: SnmpAgent) -> None:
    async def first_rows(engine: Engine, target: Switch) -> dict[str, Value]:
        session = await engine.session(target.agent)
        return await session.walk(IF_SPEED, max_rows=4)

    (rows,) = poll_all(ctx(), [switch(agent, SWITCHES[1])], first_rows, lambda target, reason: {})
    assert len(recorded(SWITCHES[1], IF_SPEED)) > 4
    assert list(rows) == [f"{IF_SPEED}.{port}" for port in (1, 2, 3, 4)]


def test_a_closed_port_and_an_unresolvable_name_are_reasons() -> None:
    targets = [Switch("closed", Agent("127.0.0.1", free_udp_port(), "public", "2c", FAST)),
               Switch("nowhere", Agent("no-such-switch.invalid", 161, "public", "2c", FAST))]
    closed, nowhere = poll_all(ctx(), targets, port_speeds, failed)
    assert closed.reason.startswith("no SNMP answer")
    assert nowhere.reason.startswith("cannot resolve no-such-switch.invalid")
