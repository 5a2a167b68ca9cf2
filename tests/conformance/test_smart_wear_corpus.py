"""SATA and SAS SSD endurance captures (../shared/corpus/smart-wear) through the parser and physgap's verdict.

Each JSON capture maps to the verdict and the wear SOURCES.md's row asks for, quoting the row's words (the
test checks they are still there). Wear is the share of rated endurance used, whatever convention the drive
uses to say it (collectors.smart.wear); `source` is a substring of the field physgap names in its evidence.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collectors.smart.parse import parse_smartctl_json
from collectors.smart.verdict import Limits, judge
from tests.conformance.report import emit_lines
from tests.conformance.test_smart_corpus import HEALTH_OUTCOMES, sources_rows
from tests.conftest import CORPUS as SHARED_CORPUS
from tests.conftest import corpus_dir

CORPUS = SHARED_CORPUS / "smart-wear"
FILES = sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []

pytestmark = pytest.mark.conformance


@dataclass(frozen=True)
class Expect:
    outcome: str  # ok | warning | failing
    used: int  # percent of rated endurance used
    source: str  # substring of the wear source physgap reports
    phrase: str  # the SOURCES.md words this rests on


EXPECTED: dict[str, Expect] = {
    "ata-ssd-intel-s3500-240g-mwi-22.json": Expect(
        "warning", 78, "233 Media_Wearout_Indicator normalized 22", "Expect a wear WARN, not failure."),
    "ata-ssd-samsung-sm843t-240g-wlc-90.json": Expect(
        "ok", 10, "177 Wear_Leveling_Count normalized 90", "Wear ~10 %: informational."),
    # Raw as used (1; the normalized 99 left agrees), never "1 % remaining".
    "ata-ssd-micron-5300-960g-202-raw-1pct.json": Expect(
        "ok", 1, "202 Percent_Lifetime_Remain raw 1", 'never treat raw 1 as "1 % remaining"'),
    "ata-ssd-crucial-m4-202-used-2-devstat-3.json": Expect(
        "ok", 3, "ATA device statistics", "prefer device statistics when present"),
    "ata-ssd-transcend-mts400-169-remaining-96.json": Expect(
        "ok", 4, "169 Remaining_Lifetime_Perc raw 96", "Expect ~4 % used."),
    # The trap: 233 SandForce_Internal and 177 Wear_Range_Delta at normalized 0 must not read as worn out.
    "ata-ssd-ocz-vertex2-sandforce-231-233-trap.json": Expect(
        "ok", 0, "231 SSD_Life_Left normalized 100", "**231 SSD_Life_Left normalized 100** is the wear value."),
    "ata-ssd-p3-2tb-endurance-used-7.5.json": Expect(
        "ok", 0, "smartctl endurance_used", "Parser must read the top-level fields when present (0 % used = healthy)"),
    "scsi-sas-ssd-hgst-husmr3280-pu-0.json": Expect(
        "ok", 0, "SCSI percentage used endurance indicator", "`scsi_percentage_used_endurance_indicator`: 0"),
    "scsi-sas-ssd-toshiba-kpm5xmug400g-pu-0.json": Expect(
        "ok", 0, "SCSI percentage used endurance indicator", "`scsi_percentage_used_endurance_indicator`: 0"),
}


def _params() -> list[object]:
    if not FILES:
        return [pytest.param(None, id="no-corpus")]
    return [pytest.param(path, id=path.name) for path in FILES]


@pytest.fixture(scope="module")
def summary(request: pytest.FixtureRequest) -> Iterator[dict[str, tuple[str, str, str]]]:
    results: dict[str, tuple[str, str, str]] = {}
    yield results
    if not results:
        return
    lines = ["", f"SSD wear corpus conformance ({CORPUS}):", f"  {'file':<50} {'expected':<20} {'got':<20} detail"]
    for name in sorted(results):
        expected, got, detail = results[name]
        lines.append(f"  {name:<50} {expected:<20} {got:<20} {detail}")
    failed = sum(1 for expected, got, _ in results.values() if expected != got)
    lines.append(f"  {len(results)} files, {len(results) - failed} pass, {failed} fail")
    emit_lines(request, lines)


def test_every_capture_has_a_sources_row_and_an_expectation() -> None:
    corpus_dir("smart-wear")
    assert FILES, f"{CORPUS} holds no *.json captures"
    rows = sources_rows(CORPUS)
    names = sorted(path.name for path in FILES)
    assert [name for name in names if name not in rows] == []
    assert sorted(EXPECTED) == names, "a capture was added or removed: read its SOURCES.md row and add it here"


@pytest.mark.parametrize("path", _params())
def test_capture_wear_and_verdict_match_sources(path: Path | None, summary: dict[str, tuple[str, str, str]]) -> None:
    corpus_dir("smart-wear")
    assert path is not None
    expect = EXPECTED[path.name]
    row = sources_rows(CORPUS)[path.name]
    assert expect.phrase in row, f"SOURCES.md row for {path.name} changed; re-read it: {row}"
    facts = parse_smartctl_json(path.read_bytes())
    verdict = judge(facts, None)
    wear = facts.wear
    got = f"{HEALTH_OUTCOMES[verdict.health]} {wear.percent_used if wear else '-'}%"
    summary[path.name] = (f"{expect.outcome} {expect.used}%", got,
                          f"{wear.source if wear else 'no wear'}; " + "; ".join(verdict.evidence)[:100])
    assert wear is not None, facts.implausible
    assert (wear.percent_used, HEALTH_OUTCOMES[verdict.health]) == (expect.used, expect.outcome), verdict.evidence
    assert expect.source in wear.source
    wear_lines = [line for line in verdict.evidence if "rated endurance" in line]
    assert bool(wear_lines) == (expect.outcome != "ok"), verdict.evidence


def test_sandforce_233_is_not_read_as_wear_even_when_it_is_the_only_candidate() -> None:
    """Without 231, the OCZ Vertex 2 has no wear reading at all: its 233 (SandForce_Internal, normalized 0)
    and 177 (Wear_Range_Delta, normalized 0) would read 100 % used if keyed on the ID."""
    document = json.loads((corpus_dir("smart-wear") / "ata-ssd-ocz-vertex2-sandforce-231-233-trap.json").read_text())
    table = document["ata_smart_attributes"]["table"]
    document["ata_smart_attributes"]["table"] = [row for row in table if row["id"] != 231]
    facts = parse_smartctl_json(json.dumps(document))
    assert facts.wear is None
    assert judge(facts, None).health == 0


def test_of_two_wear_sources_the_higher_reading_wins() -> None:
    """The healthy m4: attribute 202 says 2 %, device statistics 3 % ("either is fine"): 3. Lowered to 1, the
    device statistics lose to the attribute's 2."""
    path = corpus_dir("smart-wear") / "ata-ssd-crucial-m4-202-used-2-devstat-3.json"
    facts = parse_smartctl_json(path.read_bytes())
    assert facts.attributes[202].raw_value == 2
    assert facts.wear is not None and (facts.wear.percent_used, facts.wear.source.startswith("ATA device")) == (3, True)
    document = json.loads(path.read_text())
    for page in document["ata_device_statistics"]["pages"]:
        for entry in page.get("table", []):
            if entry["name"] == "Percentage Used Endurance Indicator":
                entry["value"] = 1
    lowered = parse_smartctl_json(json.dumps(document)).wear
    assert lowered is not None and (lowered.percent_used, lowered.source) == (2, "202 Perc_Rated_Life_Used raw 2")


def test_intel_s3500_wear_warning_point_is_configurable() -> None:
    facts = parse_smartctl_json((corpus_dir("smart-wear") / "ata-ssd-intel-s3500-240g-mwi-22.json").read_bytes())
    assert judge(facts, None, limits=Limits(wear_warning=80)).health == 0
    assert judge(facts, None, limits=Limits(wear_failing=78)).health == 2
