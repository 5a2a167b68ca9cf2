"""The ATA text captures of ../shared/corpus/smart, judged by physgap's verdict.

physgap reads only `smartctl --json`, but most of the corpus' dying drives were published as text (`-x`,
`-a`, smartctl 5.x, Proxmox `-H -A -f brief`). Their attribute tables are the evidence for the verdict's
size rules (a PASSED ST3000DM001 with 5592 pending sectors, a PASSED ST2000DM006 with 618 reported
uncorrect), so this suite transcribes each table, field by field and without interpretation, into the JSON
shape smartctl 7.x prints for the same data (`ata_smart_attributes.table[]` with id, name, value, worst,
thresh, when_failed, flags.prefailure, raw.string; `smart_status.passed`; `rotation_rate`; `model_family`
and `in_smartctl_database`; device statistics page 7), and then runs the production parser and verdict.
What the text does not carry is left out: the exit status (so no self-test or error-log bits), the
temperature. Expected outcomes quote each file's SOURCES.md row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from collectors.smart.parse import parse_smartctl_json
from collectors.smart.verdict import Limits, judge
from tests.conformance.report import emit_lines
from tests.conformance.test_smart_corpus import CORPUS, HEALTH_OUTCOMES, sources_rows
from tests.conftest import corpus_dir

pytestmark = pytest.mark.conformance

# `-x`/`-f brief`: "  5 Reallocated_Sector_Ct   PO--CK   099   099   010    -    1616"
_BRIEF_ROW = re.compile(
    r"^\s*(?P<id>\d{1,3})\s+(?P<name>\S+)\s+(?P<flags>[A-Z-]{6})\s+(?P<value>\d{1,3})\s+(?P<worst>\d{1,3})\s+"
    r"(?P<thresh>\d{1,3}|---)\s+(?P<fail>-|NOW|Past)\s+(?P<raw>.*?)\s*$")
# `-a` and smartctl 5.x: "  5 Reallocated_Sector_Ct 0x0033 093 093 036 Pre-fail Always - 311"
_OLD_ROW = re.compile(
    r"^\s*(?P<id>\d{1,3})\s+(?P<name>\S+)\s+(?P<flags>0x[0-9a-fA-F]{4})\s+(?P<value>\d{1,3})\s+(?P<worst>\d{1,3})\s+"
    r"(?P<thresh>\d{1,3}|---)\s+(?P<type>Pre-fail|Old_age)\s+\S+\s+(?P<fail>-|FAILING_NOW|In_the_past)\s+"
    r"(?P<raw>.*?)\s*$")
_DEVSTAT_WEAR = re.compile(r"^0x07\s+0x008\s+\d+\s+(?P<value>\d+)\s+\S+\s+Percentage Used Endurance Indicator")
_WHEN = {"-": "", "NOW": "now", "FAILING_NOW": "now", "Past": "past", "In_the_past": "past"}


def transcribe(text: str) -> dict[str, Any]:
    """A text capture's health line, identity lines and attribute table in smartctl's JSON shape."""
    document: dict[str, Any] = {"smartctl": {"version": [7, 3], "exit_status": 0},
                                "device": {"name": "/dev/sdx", "type": "sat", "protocol": "ATA"}}
    table: list[dict[str, Any]] = []
    in_table = False
    for line in text.splitlines():
        if line.startswith("ID# ATTRIBUTE_NAME"):
            in_table = True
            continue
        if in_table and not line.strip():
            in_table = False
        if in_table and (row := _BRIEF_ROW.match(line) or _OLD_ROW.match(line)):
            table.append(_row(row))
        elif match := re.match(r"^SMART overall-health self-assessment test result:\s*(\S+)", line):
            document["smart_status"] = {"passed": match.group(1) == "PASSED"}
        elif match := re.match(r"^Model Family:\s+(.*\S)", line):
            document["model_family"] = match.group(1)
        elif match := re.match(r"^Device Model:\s+(.*\S)", line):
            document["model_name"] = match.group(1)
        elif match := re.match(r"^Rotation Rate:\s+(.*\S)", line):
            rpm = re.match(r"(\d+) rpm", match.group(1))
            document["rotation_rate"] = int(rpm.group(1)) if rpm else 0 if "Solid State" in match.group(1) else None
        elif match := _DEVSTAT_WEAR.match(line):
            document["ata_device_statistics"] = {"pages": [{"number": 7, "table": [
                {"offset": 8, "name": "Percentage Used Endurance Indicator", "value": int(match.group("value")),
                 "flags": {"valid": True}}]}]}
    if "model_name" in document:  # `-i` was asked: smartctl then says whether its database knows the drive
        document["in_smartctl_database"] = "model_family" in document
    if table:
        document["ata_smart_attributes"] = {"table": table}
    return document


def _row(row: re.Match[str]) -> dict[str, Any]:
    raw = row.group("raw")
    head = raw.split(maxsplit=1)[0] if raw else ""
    flags = row.group("flags")
    prefailure = flags.startswith("P") if not flags.startswith("0x") else row.group("type") == "Pre-fail"
    thresh = row.group("thresh")
    return {"id": int(row.group("id")), "name": row.group("name"), "value": int(row.group("value")),
            "worst": int(row.group("worst")), "thresh": int(thresh) if thresh.isdigit() else 0,
            "when_failed": _WHEN[row.group("fail")], "flags": {"prefailure": prefailure},
            "raw": {"value": int(head) if head.isdigit() else 0, "string": raw}}


@dataclass(frozen=True)
class Expect:
    outcome: str
    phrase: str  # the SOURCES.md words this rests on
    evidence: tuple[str, ...] = ()


# Before the size rules (issue 12), the four PASSED drives with unreadable sectors read "warning".
EXPECTED: dict[str, Expect] = {
    "ata-hdd-seagate-st3000dm001-passed-pending-5592.txt": Expect(
        "failing", "must be CRITICAL/WARN from attributes",
        ("5592 pending sectors (failing from 16)", "5592 offline uncorrectable sectors (failing from 16)",
         "97 reported uncorrectable errors (failing from 16)")),
    "ata-hdd-seagate-st2000dm006-passed-uncorrect-618.txt": Expect(
        "failing", "WARN/CRITICAL from 187/197/198",
        ("618 reported uncorrectable errors (failing from 16)", "5488 pending sectors (failing from 16)")),
    # 197/198 are saturated (4294967295) and ignored; 187 = 1654 alone fails the drive.
    "ata-hdd-seagate-st3160815as-passed-absurd-197-raw.txt": Expect(
        "failing", "daemon should flag but cap/sanity-check counts",
        ("1654 reported uncorrectable errors (failing from 16)", "raw value 4294967295 is not a plausible count")),
    "legacy-ata-hdd-st380011a-passed-pending-661.txt": Expect(
        "failing", "PASSED-but-dying", ("661 pending sectors (failing from 16)",)),
    # The drive's own FAILED, or an attribute failing now.
    "ata-hdd-samsung-hd103sj-failed-readerror-pending-8158.txt": Expect(
        "failing", "Failure not visible in attr 5.", ("1 Raw_Read_Error_Rate failing now",)),
    "ata-hdd-seagate-st3500418as-failed-realloc-4035.txt": Expect("failing", "attr5 raw 4035 FAIL=NOW. CRITICAL."),
    "ata-hdd-toshiba-mg05aca800e-failed-realloc-16336.txt": Expect("failing", "attr5=16336 FAIL=NOW"),
    "ata-hdd-wdc-wd20ears-failed-realloc-pending.txt": Expect("failing", "attr197 pending=609. CRITICAL."),
    # Its device statistics still say 3 %; attribute 202 (raw = percent used) says 355 %: the higher wins.
    "ata-ssd-crucial-m4-failed-realloc-4096.txt": Expect(
        "failing", "CRITICAL (SSD end of life).",
        ("wear 355% of rated endurance used, from 202 Perc_Rated_Life_Used raw 355 (limit 100%)",)),
    "ata-ssd-intel-s4510-failed-end-to-end-184.txt": Expect(
        "failing", "failure via 184 only", ("184 End-to-End_Error_Count failing now",)),
    "legacy-ata-hdd-st910021as-failed-16642-realloc.txt": Expect("failing", "187=65535 (saturated 16-bit)"),
    "legacy-ata-hdd-wd2500jb-failed.txt": Expect("failing", "attr FAILING_NOW"),
    # Healthy drives stay healthy.
    "ata-hdd-seagate-exos7e2-sg-device.txt": Expect("ok", "PASSED, self-test log entries."),
    "ata-hdd-seagate-ironwolf-st8000vn004-ok.txt": Expect("ok", "PASSED, healthy; Seagate packed raw values"),
    "ata-hdd-wdc-hc550-16tb-ok.txt": Expect("ok", "Pairs with the .json of the same drive."),
    "ata-hdd-wdc-wd40efrx-ok.txt": Expect("ok", "healthy NAS HDD."),
    "ata-ssd-samsung-870evo-ok.txt": Expect("ok", "PASSED, healthy."),
    "megaraid-sata-hdd-hgst-hus724040-ok.txt": Expect("ok", "text 7.1, PASSED."),
    "pve-ata-hdd-HA-brief.txt": Expect("ok", "This is exactly what the PVE GUI parses."),
    "pve-ata-ssd-HA-brief.txt": Expect("ok", "PASSED, wearout attribute."),
}


def _params() -> list[object]:
    if not CORPUS.is_dir():
        return [pytest.param(None, id="no-corpus")]
    return [pytest.param(name, id=name) for name in sorted(EXPECTED)]


@pytest.fixture(scope="module")
def summary(request: pytest.FixtureRequest) -> Iterator[dict[str, tuple[str, str, str]]]:
    results: dict[str, tuple[str, str, str]] = {}
    yield results
    if not results:
        return
    lines = ["", f"SMART text captures, attribute tables ({CORPUS}):",
             f"  {'file':<58} {'expected':<9} {'got':<9} detail"]
    for name in sorted(results):
        expected, got, detail = results[name]
        lines.append(f"  {name:<58} {expected:<9} {got:<9} {detail}")
    failed = sum(1 for expected, got, _ in results.values() if expected != got)
    lines.append(f"  {len(results)} files, {len(results) - failed} pass, {failed} fail")
    emit_lines(request, lines)


def test_every_ata_text_capture_with_an_attribute_table_has_an_expectation() -> None:
    corpus = corpus_dir("smart")
    with_table = sorted(p.name for p in corpus.glob("*.txt") if "\nID# ATTRIBUTE_NAME" in p.read_text(errors="replace"))
    assert with_table == sorted(EXPECTED)


@pytest.mark.parametrize("name", _params())
def test_text_capture_verdict_matches_sources(name: str | None, summary: dict[str, tuple[str, str, str]]) -> None:
    corpus = corpus_dir("smart")
    assert name is not None
    expect = EXPECTED[name]
    row = sources_rows()[name]
    assert expect.phrase in row, f"SOURCES.md row for {name} changed; re-read it: {row}"
    document = transcribe((corpus / name).read_text(encoding="utf-8", errors="replace"))
    assert document.get("ata_smart_attributes"), "no attribute row transcribed"
    verdict = judge(parse_smartctl_json(json.dumps(document)), None)
    got = HEALTH_OUTCOMES[verdict.health]
    summary[name] = (expect.outcome, got, "; ".join(verdict.evidence)[:150] or "-")
    assert got == expect.outcome, verdict.evidence
    text = "\n".join(verdict.evidence)
    for wanted in expect.evidence:
        assert wanted in text, f"{wanted!r} not in {verdict.evidence}"


def test_without_the_size_rule_the_passed_dying_drives_would_only_warn() -> None:
    """The size rule is what fails them: with the threshold out of reach they are back to warning (the
    verdict before issue 12), and growth against a baseline still fails them."""
    corpus = corpus_dir("smart")
    unreachable = Limits(unreadable_failing=10**9)
    for name in ("ata-hdd-seagate-st3000dm001-passed-pending-5592.txt",
                 "legacy-ata-hdd-st380011a-passed-pending-661.txt"):
        facts = parse_smartctl_json(json.dumps(transcribe((corpus / name).read_text(errors="replace"))))
        assert judge(facts, None, limits=unreachable).health == 1, name
