"""Real UPS agents' recordings (../shared/corpus/snmp, from LibreNMS) served by the real snmpsim agent and read by
SnmpUpsCollector, the daemon's own code path.

Each recording's expectations are the corpus SOURCES.md's "monitor should read" column, decided there from the
recording and the MIB, not from physgap's code: flags, charge, runtime, load, the single voltages (the lowest
line or phase on multi-line units) and the per-phase voltages. Values a recording does not carry must be absent,
not 0. The MGE Galaxy speaks only MG-SNMP-UPS-MIB (enterprise 705), which physgap does not read: it must say so
(up 0 with the reason), never report its tenths-of-a-volt UPS-MIB cells as 2363 V. A per-file table is written
to the terminal at the end of the module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from collectors.kit.context import RunContext
from collectors.kit.snmp_target import SnmpTarget
from collectors.model.readings import UpsReading
from collectors.ups.snmp import SnmpUpsCollector
from tests.conformance.report import emit_lines
from tests.conftest import CORPUS as SHARED_CORPUS
from tests.conftest import corpus_dir
from tests.snmp_agent import require_snmpsim, start_agent

CORPUS = SHARED_CORPUS / "snmp"
MISSING = f"SNMP corpus {CORPUS} not present (the project's own tests do not need it; CI always has it)"

pytestmark = [pytest.mark.conformance,
              pytest.mark.filterwarnings("ignore::DeprecationWarning:pysnmp.smi.compiler")]

_3 = ("L1", "L2", "L3")
# recording stem -> the reading's expected fields; None = absent. "down" = not readable, with the reason's words.
EXPECTED: dict[str, dict[str, Any]] = {
    "apc-surt3000xl-ap9619-no-load": {
        "driver": "PowerNet-MIB", "flags": ("OL",), "battery_charge_ratio": 1.0, "battery_runtime_seconds": 19526.0,
        "load_ratio": None, "input_voltage_volts": 223.0, "output_voltage_volts": 230.0},
    "apc-sua1500rmi2u-aos373-ap9512t": {
        "driver": "PowerNet-MIB", "flags": ("OL",), "battery_charge_ratio": 1.0, "battery_runtime_seconds": 3960.0,
        "load_ratio": 0.169, "input_voltage_volts": 239.0, "output_voltage_volts": 239.0},
    "eaton-5px3000-networkms-upsmib-mge": {
        "driver": "UPS-MIB", "flags": ("OL",), "battery_charge_ratio": 1.0, "battery_runtime_seconds": 2580.0,
        "load_ratio": 0.59, "input_voltage_volts": 229.0, "output_voltage_volts": 229.0},
    "eaton-93ps-20kw-3ph-upsmib": {
        "driver": "UPS-MIB", "flags": ("OL",), "battery_charge_ratio": 1.0, "battery_runtime_seconds": 8220.0,
        "load_ratio": 0.29, "input_voltage_volts": 238.0, "output_voltage_volts": 230.0,
        "input_phase_volts": tuple(zip(_3, (238.0, 239.0, 240.0), strict=True)),
        "output_phase_volts": tuple(zip(_3, (230.0,) * 3, strict=True))},
    "abb-powerscale-3ph-upsmib": {
        "driver": "UPS-MIB", "flags": ("OL",), "battery_charge_ratio": 1.0, "battery_runtime_seconds": 27120.0,
        "load_ratio": 0.06, "input_voltage_volts": 238.0, "output_voltage_volts": 230.0,
        "input_phase_volts": tuple(zip(_3, (239.0, 239.0, 238.0), strict=True)),
        "output_phase_volts": tuple(zip(_3, (230.0,) * 3, strict=True))},
    "rittal-pmc-cs121-3ph-output-only": {
        "driver": "UPS-MIB", "flags": ("OL",), "battery_charge_ratio": None, "battery_runtime_seconds": 3540.0,
        "load_ratio": 0.28, "input_voltage_volts": None, "output_voltage_volts": 227.0, "input_phase_volts": (),
        "output_phase_volts": tuple(zip(_3, (227.0,) * 3, strict=True))},
    "cyberpower-cp1000pfclcd-cps-mib": {
        "driver": "CPS-MIB", "flags": ("OL", "RB"), "battery_charge_ratio": 1.0, "battery_runtime_seconds": 1200.0,
        "load_ratio": 0.24, "input_voltage_volts": 123.0, "output_voltage_volts": 123.0},
    "apc-mge-galaxy7000-3ph-mgmib": {"down": "speaks none of"},
}


@dataclass
class Row:
    file: str
    outcome: str = ""
    detail: str = ""
    failed: bool = True
    notes: list[str] = field(default_factory=list)


def _params() -> list[object]:
    if not CORPUS.is_dir():
        return [pytest.param(None, id="no-corpus", marks=pytest.mark.skip(reason=MISSING))]
    return [pytest.param(stem, id=stem) for stem in EXPECTED]


@pytest.fixture(scope="module")
def readings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, UpsReading]]:
    corpus_dir("snmp")
    require_snmpsim()
    work = tmp_path_factory.mktemp("snmp-corpus")
    # Served in place: snmpsim reads the recordings and keeps its index in the cache directory under `work`.
    agent = start_agent(CORPUS, work, probe_community=next(iter(EXPECTED)))
    try:
        targets = [SnmpTarget(host=agent.host, port=agent.port, community=stem, name=stem, timeout=2.0)
                   for stem in EXPECTED if (CORPUS / f"{stem}.snmprec").exists()]
        run = RunContext(deadline=time.monotonic() + 30, state_dir=work)
        yield {r.ups: r for r in SnmpUpsCollector(targets).collect(run) if isinstance(r, UpsReading)}
    finally:
        agent.stop()


@pytest.fixture(scope="module")
def table(request: pytest.FixtureRequest) -> Iterator[dict[str, Row]]:
    rows: dict[str, Row] = {}
    yield rows
    if not rows:
        return
    lines = ["", f"SNMP UPS corpus conformance ({CORPUS}):",
             f"  {'recording':<36} {'result':<28} reading"]
    for row in sorted(rows.values(), key=lambda r: r.file):
        lines.append(f"  {row.file:<36} {('FAIL ' if row.failed else '') + row.outcome:<28} {row.detail}")
    failed = sum(row.failed for row in rows.values())
    lines.append(f"  {len(rows)} recordings, {len(rows) - failed} pass, {failed} fail")
    emit_lines(request, lines)


def _detail(reading: UpsReading) -> str:
    def pct(ratio: float | None) -> str:
        return "-" if ratio is None else f"{ratio * 100:g}%"

    def volts(value: float | None, phases: tuple[tuple[str, float], ...]) -> str:
        text = "-" if value is None else f"{value:g}V"
        return text + (f"[{'/'.join(f'{v:g}' for _, v in phases)}]" if phases else "")

    runtime = "-" if reading.battery_runtime_seconds is None else f"{reading.battery_runtime_seconds:g}s"
    return (f"{' '.join(reading.flags) or '(none)'} chg {pct(reading.battery_charge_ratio)} rt {runtime} "
            f"load {pct(reading.load_ratio)} in {volts(reading.input_voltage_volts, reading.input_phase_volts)} "
            f"out {volts(reading.output_voltage_volts, reading.output_phase_volts)}")


@pytest.mark.parametrize("stem", _params())
def test_recording(stem: str, readings: dict[str, UpsReading], table: dict[str, Row]) -> None:
    row = table.setdefault(stem, Row(stem))
    expected = EXPECTED[stem]
    reading = readings.get(stem)
    assert reading is not None, f"{stem}: no reading (recording missing from the corpus?)"
    if "down" in expected:
        row.outcome, row.detail = "not readable (up 0)", reading.reason
        assert not reading.up and expected["down"] in reading.reason
        assert reading.input_voltage_volts is None and reading.flags == ()
        row.failed = False
        return
    row.outcome, row.detail = f"up, {reading.driver}", _detail(reading)
    assert reading.up, reading.reason
    for name, want in expected.items():
        got = getattr(reading, name)
        if want is None:
            assert got is None, f"{name}: {got} read where the recording has nothing"
        elif isinstance(want, float):
            assert got == pytest.approx(want), name
        else:
            assert got == want, name
    row.failed = False
