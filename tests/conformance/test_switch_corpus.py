"""Real switch recordings (../shared/corpus/snmp, LibreNMS captures of a UniFi USW-Flex-XG, a MikroTik CRS317 and a
Cisco CBS350) served by the real snmpsim agent and read by the production SwitchCollector over SNMPv2c (GETBULK) and
SNMPv1 (GETNEXT). Per file: the front ports and their states are what the corpus's SOURCES.md says the device
reported, down ports carry no speed whatever ifHighSpeed they claim (nominal 10000 on UniFi, 1000 on Cisco, 0 on
MikroTik), and LAGs, bridges, VLANs and loopbacks are not ports. A per-file table is written at the end."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import pytest

from collectors.kit.context import RunContext
from collectors.kit.snmp_target import SnmpTarget
from collectors.model.readings import SwitchPortReading, SwitchReading
from collectors.switch.collector import SwitchCollector
from collectors.switch.config import SwitchTarget
from tests.conformance.report import emit_lines
from tests.conftest import corpus_dir
from tests.snmp_agent import SnmpAgent, start_agent

pytestmark = [pytest.mark.conformance,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler")]

Expected = dict[str, tuple[str, int | None]]  # port -> (oper status, speed Mbit/s)


def _unifi() -> Expected:
    return {"gi1": ("up", 1000), "te1": ("down", None), "te2": ("up", 10000), "te3": ("up", 100),
            "te4": ("up", 10000)}


def _mikrotik() -> Expected:
    ports: Expected = {f"sfp-sfpplus{n}": ("down", None) for n in range(1, 9)}
    ports.update({f"sfp-sfpplus{n}": ("up", 10000) for n in range(9, 17)})
    ports["ether1"] = ("up", 1000)
    return ports


def _cisco() -> Expected:
    up_at_100 = {1, 5, 17, 19, 20, 21, 22, 24}
    ports: Expected = {f"gi{n}": ("up", 100) if n in up_at_100 else ("down", None) for n in range(1, 29)}
    ports["gi23"] = ("up", 10)
    return ports


# From SOURCES.md ("monitor should read" / "notable") for each recording.
EXPECTED: dict[str, Expected] = {
    "switch-unifi-usw-flex-xg-10g": _unifi(),
    "switch-mikrotik-crs317-16sfpp": _mikrotik(),
    "switch-cisco-cbs350-24p-4g": _cisco(),
}
ALIASES = {
    ("switch-mikrotik-crs317-16sfpp", "sfp-sfpplus11"): "nas.jason.corp.local - iSCSI",
    ("switch-mikrotik-crs317-16sfpp", "ether1"): "to port 8 on router.jason.corp.local",
    ("switch-cisco-cbs350-24p-4g", "gi24"): "XXXXX",
}

RESULTS: list[str] = []


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[SnmpAgent]:
    corpus = corpus_dir("snmp")
    work = tmp_path_factory.mktemp("snmpsim-switch-corpus")
    data = work / "data"
    data.mkdir()
    for stem in EXPECTED:
        # snmpsim indexes beside its data; the corpus is read-only, so the agent serves a copy in tmp.
        shutil.copy(corpus / f"{stem}.snmprec", data / f"{stem}.snmprec")
    started = start_agent(data, work, probe_community=next(iter(EXPECTED)))
    yield started
    started.stop()
    emit_lines(request, ["", "switch corpus: file | version | ports | up | down | speeds", *RESULTS])


@pytest.mark.parametrize("version", ["2c", "1"])
@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_switch_recording(agent: SnmpAgent, stem: str, version: str) -> None:
    target = SwitchTarget(SnmpTarget(host=agent.host, port=agent.port, community=stem, version=version, name=stem),
                          MappingProxyType({}), "")
    readings = SwitchCollector([target]).collect(RunContext(deadline=time.monotonic() + 15,
                                                            state_dir=Path("/nonexistent")))
    (switch,) = [r for r in readings if isinstance(r, SwitchReading)]
    ports = [r for r in readings if isinstance(r, SwitchPortReading)]
    speeds = sorted({p.speed_mbps for p in ports if p.speed_mbps is not None})
    RESULTS.append(f"{stem} | v{version} | {len(ports)} | {sum(p.up for p in ports)} | "
                   f"{sum(p.oper_status == 'down' for p in ports)} | {speeds}")
    assert switch.up and switch.reason == ""
    assert {p.port: (p.oper_status, p.speed_mbps) for p in ports} == EXPECTED[stem]
    for (recording, port), alias in ALIASES.items():
        if recording == stem:
            assert next(p.alias for p in ports if p.port == port) == alias
    # Down ports never carry a speed, whatever ifHighSpeed said about them.
    assert all(p.speed_mbps is None for p in ports if not p.up)
