"""Real dmidecode dumps (../shared/corpus/dmi) through the parser and through the real PcieCollector.

Expected counts come from the corpus's own SOURCES.md table, parsed here, so the numbers are the ones the
people who collected the dumps wrote down. One test per file (pytest -v lists them); a per-file summary
table is written to the terminal at the end of the module, with or without -s.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collectors.kit.context import RunContext
from collectors.model.readings import PcieLinkReading, SlotReading
from collectors.pcie.collector import PcieCollector
from collectors.pcie.config import PcieConfig
from collectors.pcie.dmi import parse_slots
from tests.conformance.report import emit_lines
from tests.conftest import CORPUS as SHARED_CORPUS
from tests.pcie_tree import MS01_SLOT_PORTS, microserver_gen10_plus, ms01, zimaboard_832

CORPUS = SHARED_CORPUS / "dmi"
MISSING = f"DMI corpus {CORPUS} not present (the project's own tests do not need it; CI always has it)"
FILES = sorted(CORPUS.glob("*.txt")) if CORPUS.is_dir() else []
COUNT_COLUMNS = ("slots", "in_use", "avail", "unavail", "other", "unknown", "oos")
USAGE_COLUMN = {"In Use": "in_use", "Available": "avail", "Unavailable": "unavail", "Other": "other",
                "Unknown": "unknown", "": "oos"}  # fmt: skip

pytestmark = pytest.mark.conformance


def _params() -> list[object]:
    if not FILES:
        return [pytest.param(None, id="no-corpus", marks=pytest.mark.skip(reason=MISSING))]
    return [pytest.param(path, id=path.name.split("__")[0] + "__" + path.name.split("__")[1][:40]) for path in FILES]


def expected_rows() -> dict[str, dict[str, str]]:
    """SOURCES.md's markdown table: file name -> {column: cell}."""
    lines = (CORPUS / "SOURCES.md").read_text(encoding="utf-8").splitlines()
    table = [line for line in lines if line.startswith("|")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    rows: dict[str, dict[str, str]] = {}
    for line in table[2:]:  # skip the |---| separator
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        row = dict(zip(header, cells, strict=True))
        rows[row["file"]] = row
    return rows


@dataclass
class Result:
    name: str
    checked: int
    failed: int
    detail: str


@pytest.fixture(scope="module")
def summary(request: pytest.FixtureRequest) -> Iterator[dict[str, Result]]:
    results: dict[str, Result] = {}
    yield results
    if not results:
        return
    lines = [
        "",
        f"DMI corpus conformance ({CORPUS}):",
        f"  {'file':<92} {'checks':>6} {'failed':>6}  records (use/avail/unavail/other/unk/oos)",
    ]
    for result in sorted(results.values(), key=lambda r: r.name):
        lines.append(f"  {result.name:<92} {result.checked:>6} {result.failed:>6}  {result.detail}")
    failed_files = sum(1 for r in results.values() if r.failed)
    lines.append(f"  {len(results)} files, {len(results) - failed_files} pass, {failed_files} fail")
    emit_lines(request, lines)


def test_corpus_present_in_ci() -> None:
    """CI must never go green by skipping the corpus."""
    if not CORPUS.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"{MISSING} -- but CI is set: the corpus must be checked out next to the repo")
        pytest.skip(MISSING)
    assert FILES, f"{CORPUS} holds no *.txt dumps"


def test_every_dump_has_a_sources_row() -> None:
    if not FILES:
        pytest.skip(MISSING)
    rows = expected_rows()
    assert sorted(rows) == sorted(path.name for path in FILES)


@pytest.mark.parametrize("path", _params())
def test_type9_counts_match_sources(path: Path, summary: dict[str, Result]) -> None:
    row = expected_rows()[path.name]
    records = parse_slots(path.read_text(encoding="utf-8", errors="replace"))
    usage = Counter(USAGE_COLUMN[record.usage] for record in records)
    got = {"slots": len(records), **{column: usage.get(column, 0) for column in COUNT_COLUMNS[1:]}}
    want = {column: int(row[column]) for column in COUNT_COLUMNS}
    mismatched = [c for c in COUNT_COLUMNS if got[c] != want[c]]
    summary[path.name] = Result(
        path.name, len(COUNT_COLUMNS), len(mismatched),
        f"{got['slots']} ({'/'.join(str(got[c]) for c in COUNT_COLUMNS[1:])})"
        + (f" expected {want}" if mismatched else ""),
    )  # fmt: skip
    assert got == want

    lengths = {str(record.record_length) for record in records}
    assert lengths == set(row["rec_len"].split(","))
    flags = set(filter(None, row["flags"].split(",")))
    if "nobus" in flags:
        assert all(record.bus_address is None for record in records)
    if "badidx" in flags:
        assert not any(record.sane for record in records if record.designation == "")
    if not path.name.startswith("edge__"):
        # Ordinary boards keep their labels: sanity checks must not throw away good records (the HP Elite
        # Mini 800 G9's garbage peer count, Lenovo's padded 34-byte records).
        assert [r.handle for r in records if not r.sane] == []


def test_asus_b360m_a_corrupt_records_are_all_rejected() -> None:
    matches = sorted(CORPUS.glob("edge__ASUSTek-Computer_PRIME_PRIME-B360M-A_*.txt")) if FILES else []
    if not matches:
        pytest.skip(MISSING)
    records = parse_slots(matches[0].read_text(encoding="utf-8", errors="replace"))
    assert [(r.record_length, r.sane) for r in records] == [(147, False), (59, False), (66, False)]


@pytest.mark.parametrize("path", _params())
def test_real_collector_survives_every_dump(path: Path, tmp_path: Path) -> None:
    """Each dump through a stand-in dmidecode and the production code path, over the MS-01 tree."""
    tree = ms01(tmp_path / "sys")
    program = tmp_path / "dmidecode"
    program.write_text(f"#!/bin/sh\ncat '{path}'\n")
    program.chmod(0o755)
    ctx = RunContext(deadline=time.monotonic() + 10, state_dir=tmp_path / "state")
    readings = PcieCollector(PcieConfig(dmidecode=str(program)), tree.root).collect(ctx)
    assert len([r for r in readings if isinstance(r, PcieLinkReading)]) == 16
    slot_readings = [r for r in readings if isinstance(r, SlotReading)]
    assert sorted(r.port for r in slot_readings) == sorted(MS01_SLOT_PORTS)
    assert all(r.occupied for r in slot_readings)


def _collect_with_dump(tmp_path: Path, tree_root: Path, dump: str) -> dict[str, SlotReading]:
    matches = sorted(CORPUS.glob(f"{dump}*.txt")) if CORPUS.is_dir() else []
    if not matches:
        pytest.skip(MISSING)
    program = tmp_path / "dmidecode"
    program.write_text(f"#!/bin/sh\ncat '{matches[0]}'\n")
    program.chmod(0o755)
    ctx = RunContext(deadline=time.monotonic() + 10, state_dir=tmp_path / "state")
    readings = PcieCollector(PcieConfig(dmidecode=str(program)), tree_root).collect(ctx)
    return {r.port: r for r in readings if isinstance(r, SlotReading)}


def test_ms01_placeholder_slots_label_no_port(tmp_path: Path) -> None:
    """The MS-01's five "Slot N" x1 records at 0000:00:00.0 describe nothing real: no designation sticks."""
    found = _collect_with_dump(tmp_path, ms01(tmp_path / "sys").root, "ms01__")
    assert sorted(found) == sorted(MS01_SLOT_PORTS)
    assert all(slot.designation == "" and slot.slot.startswith("port ") for slot in found.values())


def test_microserver_slot_1_is_labelled_from_its_own_dump(tmp_path: Path) -> None:
    tree = microserver_gen10_plus(tmp_path / "sys")
    found = _collect_with_dump(tmp_path, tree.root, "nas__HPE_ProLiant_ProLiant-MicroServer-Gen10-Plus_")
    slot = found["0000:00:01.0"]
    assert (slot.designation, slot.width, slot.occupied, slot.device) == (
        "PCI-E Slot 1", "x16", True, "0000:07:00.0",
    )  # fmt: skip


def test_zimaboard_two_records_on_one_port_label_nothing(tmp_path: Path) -> None:
    tree = zimaboard_832(tmp_path / "sys")
    found = _collect_with_dump(tmp_path, tree.root, "nas__IceWhale-Technology_ZimaBoard_")
    assert [s.designation for s in found.values()] == ["", "", ""]
    assert [s.port for s in found.values() if not s.occupied] == ["0000:00:13.0"]
