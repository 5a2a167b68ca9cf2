"""Real `smartctl --json` captures (../shared/corpus/smart) through the parser and physgap's verdict.

What a monitor should do with each capture is written in SOURCES.md's "notable" column as free text, so
EXPECTED maps every JSON capture to an outcome and quotes the SOURCES.md phrase it rests on; the test checks
that the phrase is still in that file's row (a changed row must be re-read, not silently trusted). Text
captures (`*.txt`) are reference material for humans and are not parsed here. One test per file; a per-file
summary table is written to the terminal at the end of the module, with or without -s.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collectors.smart.parse import drive_identity, parse_scan, parse_smartctl_json
from collectors.smart.verdict import Limits, counters, judge
from tests.conformance.report import emit_lines
from tests.conftest import CORPUS as SHARED_CORPUS
from tests.conftest import corpus_dir

CORPUS = SHARED_CORPUS / "smart"
FILES = sorted(CORPUS.glob("*.json")) if CORPUS.is_dir() else []
HEALTH_OUTCOMES = {0: "ok", 1: "warning", 2: "failing"}

pytestmark = pytest.mark.conformance


@dataclass(frozen=True)
class Expect:
    outcome: str  # ok | warning | failing (physgap's verdict) | unsupported | open_failed | standby | no_data | scan
    phrase: str  # the SOURCES.md words this expectation rests on
    evidence: tuple[str, ...] = ()  # substrings some evidence line must contain
    never: tuple[str, ...] = ()  # substrings no evidence line may contain


EXPECTED: dict[str, Expect] = {
    # --- healthy drives: no warning -------------------------------------------------------------------------
    "ata-hdd-wdc-wd20efrx-ok.json": Expect("ok", "Baseline healthy NAS HDD; flag nothing."),
    "ata-hdd-toshiba-mg08-16tb-ok.json": Expect("ok", "Healthy large NAS HDD."),
    "ata-hdd-wdc-wd140edfz-ok.json": Expect("ok", "healthy baseline with SCT temperature history"),
    # The row points at its .txt twin, whose row says "PASSED"; nothing in the JSON is degraded.
    "ata-hdd-wdc-hc550-16tb-ok.json": Expect("ok", "Same drive as the .txt above"),
    "ata-ssd-samsung-pm883-ok.json": Expect("ok", "Healthy SSD baseline."),
    "ata-ssd-samsung-860evo-xall.json": Expect("ok", "Healthy; large-schema coverage."),
    "nvme-samsung-970evoplus-250gb-ok.json": Expect("ok", "Healthy NVMe baseline."),
    "nvme-crucial-p2-ok.json": Expect("ok", "Healthy; shows per-model spare threshold"),
    "nvme-wd-sn770-ok.json": Expect("ok", "Same NVMe as the .txt"),  # the .txt twin's row: "PASSED"
    "scsi-sas-hdd-hitachi-h109060-ok.json": Expect("ok", "Healthy SAS baseline."),
    "ata-health-only-jH-passed.json": Expect("ok", "Parser must tolerate missing sections."),
    # --- traps that must not raise the verdict ----------------------------------------------------------------
    "ata-hdd-seagate-exos-x16-packed-188-raw.json": Expect(
        "ok", "Trap: do NOT alert on raw.value of Seagate 188", never=("188", "51540393996", "Command_Timeout"),
    ),
    "ata-ssd-kingston-sa400-exit4.json": Expect("ok", "exit 4 must not be treated as a failed read."),
    # Bit 6 is a note (health 0); the 12 CRC errors are reported as a cable note, not as disk health.
    "ata-hdd-hgst-hus724020ale640-errorlog-exit64.json": Expect(
        "ok", "Exit bit6 alone = info/warn, not failure.", evidence=("error log", "cable or backplane"),
    ),
    # "warn as link errors, separate from media health": media health stays ok, the link problem is evidence.
    "ata-hdd-wdc-re4-udma-crc-3m.json": Expect(
        "ok", "Interface/cable problem, not media", evidence=("3118119 (cable or backplane, not the disk)",),
    ),
    "ata-ssd-samsung-840-udma-crc-108.json": Expect(
        "ok", "daemon should warn only on CRC increase.", evidence=("199 UDMA CRC errors: 108",),
    ),
    # --- degrading while PASSED: warning --------------------------------------------------------------------
    "ata-hdd-seagate-st3500418as-reallocated-304.json": Expect(
        "warning", "Monitor should WARN (reallocations present) despite PASSED.",
        evidence=("304 reallocated sectors",),
    ),
    "megaraid-sat-hdd-wd4000fyyx-reallocated-387.json": Expect(
        "warning", "attr5 raw=387", evidence=("387 reallocated sectors",),
    ),
    "nvme-samsung-970evo-media-errors-7.json": Expect(
        "warning", "Daemon should WARN: media_errors>0 is degradation even when PASSED.",
        evidence=("7 NVMe media and data integrity errors",),
    ),
    "scsi-hdd-seagate-st373453lc-grown-defects-260.json": Expect(
        "warning", "grown defect list is the reallocation analogue: WARN.", evidence=("260 grown defects",),
    ),
    "scsi-sas-hdd-seagate-st4000nm0043-grown-defects-56.json": Expect(
        "warning", "scsi_grown_defect_list=56. WARN.", evidence=("56 grown defects",),
    ),
    # P4500 at 75 % used: a warning at the default 75 % point (Limits: the last quarter of rated endurance);
    # test_p4500_wear_warning_is_configurable covers "configurable".
    "nvme-intel-p4500-2tb-75pct-used.json": Expect(
        "warning", "should WARN at a configurable percentage_used (e.g. >=70-80)",
        evidence=("wear 75% of rated endurance used, from NVMe percentage used",),
    ),
    # The row speaks about 188 and 199 only ("WARN on increase not absolute"): those stay notes (188 is never
    # judged, 199 is a cable note). The capture also has 184 End-to-End_Error raw 1 (normalised 99), which the
    # row does not mention and physgap warns on like smart.md §1.7 does ("187, 184 ... warn >0").
    "ata-ssd-micron-5300-crc-cmdtimeout-nonzero.json": Expect(
        "warning", "Small CRC/timeout counts = cabling/backplane hint, WARN on increase not absolute.",
        evidence=("1 end-to-end errors", "199 UDMA CRC errors: 24 (cable or backplane"),
        never=("188", "Command_Timeout"),
    ),
    # --- failing ----------------------------------------------------------------------------------------------
    "nvme-samsung-mzwll3t2-critical-warning-16-failed.json": Expect(
        "failing", "Must be CRITICAL from critical_warning alone.",
        evidence=("NVMe critical warning: volatile memory backup failed",),
    ),
    "usb-jmicron-hdd-hitachi-hds721050-failed-reallocated.json": Expect(
        "failing", "attr5 raw=1975 when_failed FAILING_NOW, attr197=8. CRITICAL.",
        evidence=("SMART overall-health FAILED", "5 Reallocated_Sector_Ct failing now"),
    ),
    # --- no verdict: a state instead --------------------------------------------------------------------------
    "error-windows-open-failed-exit2.json": Expect(
        "open_failed", 'Daemon must report "unreadable" (exit bit1) distinct from standby and from FAILED.',
    ),
    "scsi-intel-raid-volume-nosmart-exit4.json": Expect("unsupported", 'must be "unsupported", not failed.'),
    # `--info` only: identity without health; the drive id falls back to model_serial (no WWN, no namespaces).
    "info-nvme-kioxia-cd6.json": Expect("no_data", "identity fields only"),
    "scan-megaraid.json": Expect("scan", "several physical disks share one device name"),
    "scan-simple.json": Expect("scan", "`smartctl --scan --json` (7.0) simple SATA host."),
}


def _params() -> list[object]:
    if not FILES:
        return [pytest.param(None, id="no-corpus")]
    return [pytest.param(path, id=path.name) for path in FILES]


def sources_rows(folder: Path = CORPUS) -> dict[str, str]:
    """SOURCES.md's markdown table: file name -> its "notable" cell (the last column)."""
    lines = (folder / "SOURCES.md").read_text(encoding="utf-8").splitlines()
    table = [line for line in lines if line.startswith("| `")]
    rows: dict[str, str] = {}
    for line in table:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        # file | origin repo | path | commit | bytes | sha256 | notable (notable may itself contain "|")
        rows[cells[0].strip("`")] = "|".join(cells[6:]).strip()
    return rows


@dataclass
class Result:
    name: str
    expected: str
    got: str
    detail: str


@pytest.fixture(scope="module")
def summary(request: pytest.FixtureRequest) -> Iterator[dict[str, Result]]:
    results: dict[str, Result] = {}
    yield results
    if not results:
        return
    lines = ["", f"SMART corpus conformance ({CORPUS}):", f"  {'file':<58} {'expected':<11} {'got':<11} detail"]
    for result in sorted(results.values(), key=lambda r: r.name):
        lines.append(f"  {result.name:<58} {result.expected:<11} {result.got:<11} {result.detail}")
    failed = sum(1 for r in results.values() if r.expected != r.got)
    lines.append(f"  {len(results)} files, {len(results) - failed} pass, {failed} fail")
    emit_lines(request, lines)


def outcome(path: Path) -> tuple[str, str, tuple[str, ...]]:
    """(outcome, detail for the table, evidence) of one capture through the production parser and verdict."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.name.startswith("scan-"):
        entries = parse_scan(text)
        return "scan", f"{len(entries)} devices: " + ", ".join(f"{e.name} {e.dev_type}" for e in entries), ()
    facts = parse_smartctl_json(text)
    if facts.state != "read":
        reason = facts.unsupported or "; ".join(facts.messages) or f"id {drive_identity(facts) or '-'}"
        return facts.state, reason, ()
    verdict = judge(facts, None)
    return HEALTH_OUTCOMES[verdict.health], "; ".join(verdict.evidence) or "-", verdict.evidence


def test_corpus_present_in_ci() -> None:
    """CI must never go green by skipping the corpus."""
    corpus = corpus_dir("smart")  # skips locally without the corpus, fails under CI
    assert FILES, f"{corpus} holds no *.json captures"


def test_every_json_capture_has_a_sources_row_and_an_expectation() -> None:
    corpus_dir("smart")
    rows = sources_rows()
    names = sorted(path.name for path in FILES)
    assert [name for name in names if name not in rows] == []
    assert sorted(EXPECTED) == names, "a capture was added or removed: read its SOURCES.md row and add it here"


@pytest.mark.parametrize("path", _params())
def test_capture_matches_what_sources_says(path: Path | None, summary: dict[str, Result]) -> None:
    corpus_dir("smart")
    assert path is not None
    expect = EXPECTED[path.name]
    row = sources_rows()[path.name]
    assert expect.phrase in row, f"SOURCES.md row for {path.name} changed; re-read it: {row}"
    got, detail, evidence = outcome(path)
    summary[path.name] = Result(path.name, expect.outcome, got, detail[:160])
    assert got == expect.outcome, detail
    text = "\n".join(evidence)
    for wanted in expect.evidence:
        assert wanted in text, f"{wanted!r} not in evidence: {evidence}"
    for unwanted in expect.never:
        assert all(unwanted not in line for line in evidence), f"{unwanted!r} in evidence: {evidence}"


def test_p4500_wear_warning_is_configurable() -> None:
    path = corpus_dir("smart") / "nvme-intel-p4500-2tb-75pct-used.json"
    facts = parse_smartctl_json(path.read_bytes())
    warned = judge(facts, None)
    assert warned.health == 1 and any("75%" in line for line in warned.evidence)
    assert judge(facts, None, limits=Limits(wear_warning=80)).health == 0


def test_megaraid_scan_keeps_disks_apart_by_type() -> None:
    entries = parse_scan((corpus_dir("smart") / "scan-megaraid.json").read_bytes())
    assert {entry.name for entry in entries} == {"/dev/bus/0"}
    assert [entry.dev_type for entry in entries] == ["megaraid,0", "megaraid,1"]


def test_identities_are_real_and_distinct_where_not_redacted() -> None:
    """WWNs format like /dev/disk/by-id; smartctl_exporter captures share a redacted WWN id, so skip those."""
    corpus = corpus_dir("smart")
    hc550 = parse_smartctl_json((corpus / "ata-hdd-wdc-hc550-16tb-ok.json").read_bytes())
    assert drive_identity(hc550) == "wwn-0x5000cca284e50e06"
    sn770 = parse_smartctl_json((corpus / "nvme-wd-sn770-ok.json").read_bytes())
    assert drive_identity(sn770) == "eui-001b448b45a3700d"
    kioxia = parse_smartctl_json((corpus / "info-nvme-kioxia-cd6.json").read_bytes())
    assert drive_identity(kioxia) == "KCD61LUL3T84_61Q0A05UT7B8"


def test_no_capture_reports_an_absurd_count() -> None:
    """Packed or saturated raw words must never surface as sector counts (scrutiny #522/#748/#836)."""
    corpus_dir("smart")
    for path in FILES:
        if path.name.startswith("scan-"):
            continue
        facts = parse_smartctl_json(path.read_bytes())
        if facts.state != "read":
            continue
        values = [v for v in vars(counters(facts)).values() if v is not None]
        assert all(v < 10_000_000 for v in values), f"{path.name}: {counters(facts)}"
