"""Real UPS dumps (../shared/corpus/nut, from nut-ddl) served by real dummy-ups + upsd, read by NutUpsCollector.

Every dump is loaded into dummy-ups (12 drivers per upsd, all servers started at once), collected once through
the production collector, and checked per file: the UPS is served and up, its flags equal the dump's own
`ups.status` line, and each number of the fixed table equals what the dump says or, when the value is out of
range or a sentinel (Riello's charge 255 and runtime 3932100), is refused. Three-phase dumps: every
`input|output.Lx-N|Lx-Ly.voltage` is kept per phase, the single voltage is the lowest phase-to-neutral one
(else `input.voltage`), and without `ups.load` the load is the busiest `output.Lx.power.percent`, as the README
states. Known dummy-ups 2.8.0 artefacts
(corpus SOURCES.md) are listed in ARTEFACTS with the reason; they are fixture behaviour, not device behaviour.
A per-file table is written to the terminal at the end of the module.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collectors.kit.context import RunContext
from collectors.model.readings import UpsReading
from collectors.ups.config import NutServerConfig
from collectors.ups.nut import NUMBER_TABLE, NutUpsCollector, numbers, parse_status
from tests.conformance.report import emit_lines
from tests.conftest import CORPUS as SHARED_CORPUS
from tests.conftest import corpus_dir
from tests.nut_fixture import NutServer, nut_binaries

CORPUS = SHARED_CORPUS / "nut"
MISSING = f"NUT corpus {CORPUS} not present (the project's own tests do not need it; CI always has it)"
FILES = sorted(CORPUS.glob("*.dev")) if CORPUS.is_dir() else []
BATCH = 12

# file -> {variable: why the served value differs from the dump}. Checked to exist, so a stale entry shows.
ARTEFACTS: dict[str, dict[str, str]] = {
    "APC__Matrix-UPS_3000__apcsmart__1.4.0__01.dev": {
        "ups.load": "ups.id ends in a backslash, and NUT's parser then swallows the next line (ups.load)"},
    # dummy-ups 2.8.0 serves only battery.*, ups.model/power/serial/status of this dump: the unbalanced `"` in
    # `ups.mfr: "Exide` (and the empty ups.alarm) make its parser lose every input.*, output.* and ups.load line.
    "Exide__NetUPS_SE_PRC2400a__upscode2__2.0.2__01.dev": dict.fromkeys(
        ("input.voltage", "output.voltage", "ups.load"), "lost by dummy-ups: unbalanced quote in ups.mfr"),
}
SHORT = {"battery.charge": "chg", "battery.runtime": "rt", "ups.load": "load", "input.voltage": "inV",
         "output.voltage": "outV"}
# A dump without any ups.status line is served as "OL" by dummy-ups (its default), not as no flags.
MISSING_STATUS_SERVED_AS = ("OL",)

pytestmark = pytest.mark.conformance

PHASE_VOLTAGE = re.compile(r"(input|output)\.(L\d-(?:N|L\d))\.voltage")
PHASE_LOAD = re.compile(r"output\.L\d\.power\.percent")


def dump_phases(dump: dict[str, str]) -> dict[str, dict[str, float]]:
    """{"input"|"output": {phase: volts}} as the dump writes them."""
    found: dict[str, dict[str, float]] = {"input": {}, "output": {}}
    for var, value in dump.items():
        if match := PHASE_VOLTAGE.fullmatch(var):
            found[match[1]][match[2]] = float(value)
    return found


def expected_numbers(dump: dict[str, str]) -> tuple[dict[str, float], list[str], str]:
    """What the reading must carry by the README's rules: ({field: value}, refused, phases column)."""
    single, invalid = numbers(dump)
    per_phase = dump_phases(dump)
    for direction in ("input", "output"):
        neutral = [volts for phase, volts in per_phase[direction].items() if phase.endswith("-N")]
        if neutral:
            single[f"{direction}_voltage_volts"] = min(neutral)
    loads = [float(value) for var, value in dump.items() if PHASE_LOAD.fullmatch(var)]
    if "load_ratio" not in single and loads:
        single["load_ratio"] = max(loads) / 100
    column = " ".join(f"{direction[:2]}:{','.join(sorted(per_phase[direction]))}" for direction in per_phase
                      if per_phase[direction])
    return single, [f"{bad.var}={bad.value}" for bad in invalid], column or "-"


def parse_dump(path: Path) -> dict[str, str]:
    """A `.dev` dump as upsc wrote it: `name: value`, `#` after whitespace starts a comment, bytes lenient."""
    variables: dict[str, str] = {}
    for raw in path.read_bytes().decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, _, value = line.partition(":")
        for marker in (" #", "\t#"):
            if marker in value:
                value = value[: value.index(marker)]
        variables[name.strip()] = value.strip()
    return variables


@dataclass
class Row:
    file: str
    served: str
    flags_ok: bool
    numbers: str
    refused: str
    notes: str
    failed: bool
    phases: str = ""


@dataclass
class Corpus:
    readings: dict[str, UpsReading]  # by file name
    names: dict[str, str]  # file name -> UPS id


def _params() -> list[object]:
    if not FILES:
        return [pytest.param(None, id="no-corpus", marks=pytest.mark.skip(reason=MISSING))]
    return [pytest.param(path, id=path.stem[:60]) for path in FILES]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    corpus_dir("nut")
    nut_binaries()
    root = tmp_path_factory.mktemp("nut-corpus")
    servers: list[NutServer] = []
    names: dict[str, str] = {}
    try:
        for start in range(0, len(FILES), BATCH):
            batch = FILES[start:start + BATCH]
            devs: dict[str, str | bytes] = {f"c{start + i:03d}": path.read_bytes() for i, path in enumerate(batch)}
            server = NutServer.start(root / f"batch{start // BATCH}", devs, wait=False)
            servers.append(server)
            for (name, _), path in zip(devs.items(), batch, strict=True):
                names[path.name] = f"{name}@127.0.0.1:{server.port}"
        for server in servers:
            server.wait_ready(timeout=30)
        collector = NutUpsCollector([NutServerConfig(port=s.port) for s in servers], upsmon_conf=None)
        run = RunContext(deadline=time.monotonic() + 30, state_dir=root)
        by_id = {r.ups: r for r in collector.collect(run) if isinstance(r, UpsReading)}
        yield Corpus({file: by_id[ups] for file, ups in names.items() if ups in by_id}, names)
    finally:
        for server in servers:
            server.close()


@pytest.fixture(scope="module")
def table(request: pytest.FixtureRequest) -> Iterator[dict[str, Row]]:
    rows: dict[str, Row] = {}
    yield rows
    if not rows:
        return
    lines = ["", f"NUT corpus conformance ({CORPUS}):",
             f"  {'file':<74} {'served status':<22} {'flags':<5} {'numbers':<24} {'phases':<28} "
             f"{'refused':<40} notes"]
    for row in sorted(rows.values(), key=lambda r: r.file):
        lines.append(f"  {row.file[:74]:<74} {row.served[:22]:<22} {'ok' if row.flags_ok else 'FAIL':<5} "
                     f"{row.numbers:<24} {row.phases[:28]:<28} {row.refused[:40]:<40} {row.notes}")
    failed = sum(row.failed for row in rows.values())
    lines.append(f"  {len(rows)} files, {len(rows) - failed} pass, {failed} fail")
    emit_lines(request, lines)


@pytest.mark.parametrize("path", _params())
def test_dump(path: Path, served: Corpus, table: dict[str, Row]) -> None:
    dump = parse_dump(path)
    reading = served.readings.get(path.name)
    row = Row(path.name, "", False, "", "", "", True)
    table[path.name] = row
    assert reading is not None, f"{path.name} was not served (no reading for {served.names.get(path.name)})"
    assert reading.up, f"{path.name}: {reading.reason}"

    notes: list[str] = []
    if "ups.status" in dump:
        expected_flags = parse_status(dump["ups.status"])
    else:
        expected_flags = MISSING_STATUS_SERVED_AS
        notes.append("no ups.status in dump: served OL")
    row.served = " ".join(reading.flags) or "(empty)"
    row.flags_ok = reading.flags == expected_flags
    assert reading.flags == expected_flags

    artefacts = ARTEFACTS.get(path.name, {})
    for var in artefacts:
        assert var in dump, f"stale ARTEFACTS entry: {path.name} has no {var}"
    expected, refused, row.phases = expected_numbers({var: value for var, value in dump.items()
                                                      if var not in artefacts})
    per_phase = dump_phases(dump)
    for direction, kept in (("input", reading.input_phase_volts), ("output", reading.output_phase_volts)):
        want_phases = per_phase[direction] if len(per_phase[direction]) >= 2 else {}
        assert dict(kept) == pytest.approx(want_phases), f"{direction} phases"
    shown: list[str] = []
    for spec in NUMBER_TABLE:
        value = getattr(reading, spec.field)
        want = expected.get(spec.field)
        if want is None:
            assert value is None, f"{spec.var}: {value} served although the dump has no valid value"
        else:
            assert value == pytest.approx(want), spec.var
            shown.append(SHORT[spec.var])
    row.numbers = ",".join(shown) or "-"
    row.refused = ", ".join(refused) or "-"
    if artefacts:
        notes.append(f"{', '.join(artefacts)}: {next(iter(artefacts.values()))}")
    row.notes = "; ".join(notes)
    row.failed = False


def test_riello_garbage_is_refused(served: Corpus) -> None:
    name = "Riello__iDialog_800_IDG_800__riello_usb__2.7.1__01.dev"
    if name not in served.names:
        pytest.skip(f"{name} not in the corpus")
    reading = served.readings[name]
    assert reading.battery_charge_ratio is None and reading.battery_runtime_seconds is None
    assert reading.input_voltage_volts == pytest.approx(232)
