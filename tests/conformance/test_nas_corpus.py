"""Real Synology DSM walks (../shared/corpus/snmp/synology-*.snmpwalk, from centreon-plugins) served in place by the
real snmpsim agent and read by the production NasCollector over SNMPv2c (GETBULK) and SNMPv1 (GETNEXT).

Expectations from the corpus SOURCES.md and the MIB: both walks list Disk 1 and Disk 2 (diskStatus Normal, 0 bad
sectors) and the volumes "Volume 1" and "Storage Pool 1" (raidStatus Normal); the critical walk differs only in
Disk 2's diskHealthStatus 3 (Critical), which must make that disk failing although its diskStatus is Normal. The
walks carry no diskModel or diskTemperature: those stay empty, never invented. A per-file table is written at the
end."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.kit.context import RunContext
from collectors.kit.snmp_target import SnmpTarget
from collectors.model.readings import ArrayReading, DriveReading
from collectors.nas.collector import NasCollector
from collectors.nas.config import NasTarget
from tests.conformance.report import emit_lines
from tests.conftest import corpus_dir
from tests.snmp_agent import SnmpAgent, start_agent

pytestmark = [pytest.mark.conformance,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler")]

# stem -> drive -> (health, evidence)
EXPECTED: dict[str, dict[str, tuple[int, tuple[str, ...]]]] = {
    "synology-disk-ok": {
        "corpus:Disk 1": (0, ("diskStatus Normal", "diskHealthStatus Normal")),
        "corpus:Disk 2": (0, ("diskStatus Normal", "diskHealthStatus Normal")),
    },
    "synology-disk-critical": {
        "corpus:Disk 1": (0, ("diskStatus Normal", "diskHealthStatus Normal")),
        "corpus:Disk 2": (2, ("diskStatus Normal", "diskHealthStatus 3 Critical")),
    },
}
VOLUMES = {"corpus:Volume 1": ("Normal", None, False), "corpus:Storage Pool 1": ("Normal", None, False)}

RESULTS: list[str] = []


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[SnmpAgent]:
    corpus = corpus_dir("snmp")
    for stem in EXPECTED:
        assert (corpus / f"{stem}.snmpwalk").is_file(), stem
    # Served in place (read-only): snmpsim keeps its index in the cache directory under tmp.
    started = start_agent(corpus, tmp_path_factory.mktemp("snmpsim-nas-corpus"), probe_community=next(iter(EXPECTED)))
    yield started
    started.stop()
    emit_lines(request, ["", "synology corpus: file | version | drives (health) | volumes", *RESULTS])


@pytest.mark.parametrize("version", ["2c", "1"])
@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_synology_walk(agent: SnmpAgent, stem: str, version: str) -> None:
    target = NasTarget(SnmpTarget(host=agent.host, port=agent.port, community=stem, version=version, name="corpus"))
    readings = NasCollector([target]).collect(RunContext(deadline=time.monotonic() + 15,
                                                         state_dir=Path("/nonexistent")))
    drives = {r.drive: r for r in readings if isinstance(r, DriveReading)}
    arrays = {r.array: (r.state, r.redundancy, r.degraded) for r in readings if isinstance(r, ArrayReading)}
    RESULTS.append(f"{stem} | v{version} | {', '.join(f'{d.device} ({d.health})' for d in drives.values())} | "
                   f"{', '.join(f'{name} {state}' for name, (state, _, _) in arrays.items())}")
    assert {drive: (r.health, r.evidence) for drive, r in drives.items()} == EXPECTED[stem]
    assert all((r.model, r.temperature_celsius, r.reallocated_sectors) == ("", None, 0) for r in drives.values())
    assert arrays == VOLUMES
    assert len(readings) == len(drives) + len(arrays)
