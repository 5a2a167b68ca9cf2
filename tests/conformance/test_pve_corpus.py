"""Real /etc/pve/.members files (../shared/corpus/pve) through the parser and the real HostsCollector.

What each file must read as comes from the corpus's own SOURCES.md table ("notable / what a monitor should
read"): both captures are standalone nodes, which must read "standalone", never "quorum lost" or "0 of 0
nodes online". A per-file summary is written to the terminal at the end of the module.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.hosts.collector import HostsCollector
from collectors.hosts.config import HostsConfig
from collectors.hosts.members import parse_members
from collectors.kit.context import RunContext
from collectors.model.gaps import RuleContext
from collectors.model.readings import ComputeScan, HostReading
from daemon.gaps import p4_hosts
from tests.conformance.report import emit_lines
from tests.conftest import CORPUS as SHARED_CORPUS
from tests.unit.test_hosts_p4 import snapshot

CORPUS = SHARED_CORPUS / "pve"
MISSING = f"PVE corpus {CORPUS} not present (the project's own tests do not need it; CI always has it)"
FILES = sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []

pytestmark = pytest.mark.conformance


def _params() -> list[object]:
    if not FILES:
        return [pytest.param(None, id="no-corpus", marks=pytest.mark.skip(reason=MISSING))]
    return [pytest.param(path, id=path.name) for path in FILES]


def expected_rows() -> dict[str, str]:
    """SOURCES.md's table: file name -> what a monitor should read (its last column)."""
    rows = {}
    for line in (CORPUS / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 2:
            rows[cells[0].strip("`")] = cells[-1]
    return rows


@pytest.fixture(scope="module")
def summary(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    results: dict[str, str] = {}
    yield results
    if results:
        lines = ["", f"PVE .members conformance ({CORPUS}):"]
        lines += [f"  {name:<44} {verdict}" for name, verdict in sorted(results.items())]
        emit_lines(request, lines)


def test_corpus_present_in_ci() -> None:
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{MISSING} -- but CI is set: the corpus must be checked out next to the repo")
        pytest.skip(MISSING)
    assert FILES, f"{CORPUS} holds no .members captures"
    assert sorted(expected_rows()) == [path.name for path in FILES]


@pytest.mark.parametrize("path", _params())
def test_each_capture_reads_as_its_sources_row_says(path: Path, summary: dict[str, str]) -> None:
    expectation = expected_rows()[path.name]
    members = parse_members(path.read_bytes())
    if "standalone" in expectation.lower():
        assert members.cluster is None and members.nodes == ()
    # Through the production path: the file read from where it lies, as the collector reads /etc/pve.
    ctx = RunContext(deadline=time.monotonic() + 10, state_dir=Path("/nonexistent"))
    readings = tuple(HostsCollector(HostsConfig(members=path)).collect(ctx))
    scan = readings[-1]
    assert isinstance(scan, ComputeScan) and (scan.source, scan.complete) == ("pve", True)
    hosts = [r for r in readings if isinstance(r, HostReading)]
    assert [(h.host, h.online, h.local) for h in hosts] == [(members.nodename, True, True)]
    finding = p4_hosts.evaluate(snapshot(readings), RuleContext(role="compute"))
    assert finding.open is True  # one compute host: the assessment's P4
    evidence = " ".join(finding.evidence)
    assert "standalone" in evidence and "0 of 0" not in evidence and "quorum" not in evidence
    summary[path.name] = f"{members.nodename}: {evidence}"
