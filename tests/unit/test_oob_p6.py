"""Gap P6 through the engine (severity and overrides included), on readings of the shapes the OOB collectors
produce, and the local capability collector on host trees shaped after real machines (sysfs, /dev and a
stand-in dmidecode printing real-shaped records)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from collectors.kit.context import RunContext
from collectors.model.gaps import GapOverride
from collectors.model.readings import OobLocalReading, OobReading
from collectors.model.snapshot import Gap, Snapshot, View
from collectors.oob.local import OobLocalCollector
from daemon.gaps import RULES
from daemon.gaps.engine import evaluate
from exporters.prometheus import render
from tests.gap_fixtures import CTX, gap, snapshot
from tests.oob_fixtures import DMIDECODE, host_tree, standin_dmidecode


def p6(snap: Snapshot, overrides: dict[str, GapOverride] | None = None) -> Gap:
    return gap(snap, "P6", overrides)


def target(name: str, state: str, detail: str = "", kind: str = "amt", port: int = 16992) -> OobReading:
    return OobReading(target=name, kind=kind, host="10.0.10.5", port=port, state=state, detail=detail,
                      duration_seconds=0.01, product="Intel AMT" if state == "answering" else "")


def local(amt: bool | None, ipmi: bool | None, mei: bool | None = True) -> tuple[OobLocalReading, ...]:
    return (OobLocalReading("mei", mei, "PCI 0000:00:16.0 8086:a2ba (Intel ME HECI)", "11.6.12.3202"),
            OobLocalReading("amt", amt, "PCI 0000:00:16.3 8086:a2bd (AMT SOL)" if amt else "no AMT SOL function"
                            if amt is False else "PCI functions not readable"),
            OobLocalReading("ipmi", ipmi, "BMC: /dev/ipmi0" if ipmi else "no /dev/ipmi0, no SMBIOS type 38 record"
                            if ipmi is False else "SMBIOS not readable"))


AMT_ANSWERING = target("ms01-amt", "answering", "Intel AMT 16.1.27 (HTTP 401, Digest realm Digest:ABCDEF0123)")


def test_a_configured_amt_endpoint_that_answers_resolves_p6() -> None:
    gap = p6(snapshot(oob=(AMT_ANSWERING,), oob_local=local(False, False)))
    assert gap.status == "resolved"
    assert gap.evidence[0].startswith("ms01-amt (amt 10.0.10.5:16992) answering: Intel AMT 16.1.27")


@pytest.mark.parametrize("state", ["timeout", "refused", "not_oob", "unresolvable", "unreachable"])
def test_a_configured_endpoint_that_does_not_answer_opens_p6_high_naming_it(state: str) -> None:
    down = target("nas-bmc", state, "no answer on port 623 before the deadline", kind="ipmi", port=623)
    gap = p6(snapshot(oob=(AMT_ANSWERING, down), oob_local=local(False, False)))
    assert gap.status == "open" and gap.severity == "high"
    assert gap.evidence[0] == (f"nas-bmc (ipmi 10.0.10.5:623) {state.replace('_', ' ')}: "
                               "no answer on port 623 before the deadline")
    assert any(e.startswith("ms01-amt") for e in gap.evidence[1:])


def test_vpro_host_with_nothing_configured_reads_as_the_assessment_says() -> None:
    gap = p6(snapshot(oob_local=local(True, False)))
    assert gap.status == "open" and gap.severity == "high"
    assert gap.evidence[0].startswith("this host supports Intel vPro AMT but it is not configured")
    assert "ME firmware 11.6.12.3202" in gap.evidence[0]


def test_a_bmc_with_nothing_configured_opens_p6_high() -> None:
    gap = p6(snapshot(oob_local=local(False, True, mei=False)))
    assert gap.status == "open" and gap.severity == "high"
    assert "has a BMC (IPMI) but it is not configured" in gap.evidence[0]


def test_a_board_without_oob_hardware_is_open_but_informational_so_no_standing_alert() -> None:
    gap = p6(snapshot(oob_local=local(False, False)))
    assert gap.status == "open"
    assert gap.severity == "info"  # the alert rules page on high/critical only
    assert gap.evidence[0] == ("board has no OOB hardware (Intel ME without AMT; no BMC): a hung host needs "
                               "physical access")


def test_an_operator_can_make_the_no_hardware_gap_page() -> None:
    gap = p6(snapshot(oob_local=local(False, False)), {"P6": GapOverride(severity="high")})
    assert (gap.status, gap.severity) == ("open", "high")


def test_nothing_configured_and_unreadable_hardware_is_unknown_with_what_would_decide_it() -> None:
    gap = p6(snapshot(oob_local=local(False, None)))
    assert gap.status == "unknown"
    assert "SMBIOS not readable" in gap.reason and "[[oob.targets]]" in gap.reason


def test_waiting_for_the_first_probe_round_is_not_news() -> None:
    gap = p6(snapshot(oob=None, oob_local=local(False, False)))
    assert gap.status == "unknown" and gap.waiting


def test_a_failed_probe_round_is_unknown_not_resolved() -> None:
    gap = p6(snapshot(oob="killed after the collector's timeout", oob_local=local(True, False)))
    assert gap.status == "unknown"
    assert "killed after" in gap.reason


def test_local_capability_turned_off_and_no_targets_is_unknown() -> None:
    gap = p6(snapshot())
    assert gap.status == "unknown"
    assert "local = false" in gap.reason


def test_oob_metrics_are_rendered_with_state_and_identity() -> None:
    snap = snapshot(oob=(AMT_ANSWERING, target("nas-bmc", "timeout", kind="ipmi", port=623)),
                    oob_local=local(True, False))
    text = render(View(snap, evaluate(snap, RULES, {}, CTX))).decode()
    assert 'physgap_oob_up{kind="amt",target="ms01-amt"} 1.0' in text
    assert 'physgap_oob_up{kind="ipmi",target="nas-bmc"} 0.0' in text
    assert 'physgap_oob_probe_state{target="nas-bmc"} 3.0' in text  # 3 = timeout
    assert 'physgap_oob_local_present{capability="amt"} 1.0' in text
    assert 'physgap_gap_open{gap="P6",severity="high",title="No IPMI/remote management"} 1.0' in text


# --- local capability, through the collector --------------------------------------------------------------


def collect_local(tmp_path: Path, machine: str, dmidecode: str | None) -> dict[str, OobLocalReading]:
    root = host_tree(tmp_path / "host", machine)
    program = (str(standin_dmidecode(tmp_path / "bin", dmidecode)) if dmidecode is not None
               else str(tmp_path / "no-such-dmidecode"))
    collector = OobLocalCollector(sysfs=root / "sys", dev=root / "dev", dmidecode=program)
    readings = collector.collect(RunContext(deadline=time.monotonic() + 10, state_dir=tmp_path))
    return {r.capability: r for r in readings if isinstance(r, OobLocalReading)}


def test_elitedesk_vpro_has_amt_from_the_sol_function_and_smbios(tmp_path: Path) -> None:
    found = collect_local(tmp_path, "elitedesk-800-g3", DMIDECODE["elitedesk-800-g3"])
    assert found["amt"].present is True
    assert "0000:00:16.3 8086:a2bd (AMT SOL)" in found["amt"].evidence
    assert "flags 01 01 01 01 01" in found["amt"].evidence
    assert (found["mei"].present, found["mei"].version) == (True, "11.6.12.3202")
    assert found["ipmi"].present is False


def test_nuc11_i5_has_an_me_but_no_amt(tmp_path: Path) -> None:
    found = collect_local(tmp_path, "nuc11-i5", DMIDECODE["nuc11-i5"])
    assert found["mei"].present is True and found["mei"].version == "15.0.35.1898"
    assert found["amt"].present is False
    assert found["amt"].evidence.startswith("Intel ME without the AMT SOL PCI function")


def test_an_all_zero_amt_record_is_not_amt(tmp_path: Path) -> None:
    # NUC7i5BNH: the $AMT record is there with its flags zero, and there is no SOL function.
    found = collect_local(tmp_path, "nuc11-i5", DMIDECODE["nuc7-zero-record"])
    assert found["amt"].present is False
    assert "all zero: no AMT" in found["amt"].evidence


def test_a_server_bmc_is_seen_from_dev_acpi_and_smbios(tmp_path: Path) -> None:
    found = collect_local(tmp_path, "poweredge", DMIDECODE["poweredge"])
    assert found["ipmi"].present is True
    assert "ipmi0" in found["ipmi"].evidence and "ACPI IPI0001" in found["ipmi"].evidence
    assert "SMBIOS type 38 (KCS (Keyboard Control Style))" in found["ipmi"].evidence
    assert found["mei"].present is False and found["amt"].present is False


def test_without_dmidecode_pci_and_acpi_still_decide(tmp_path: Path) -> None:
    found = collect_local(tmp_path, "vm", None)
    assert found["amt"].present is False and found["ipmi"].present is False
    assert "no-such-dmidecode" in found["ipmi"].evidence


def test_a_dmidecode_that_fails_is_said_and_an_unreadable_tree_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    program = standin_dmidecode(tmp_path / "bin", "", exit_code=1, stderr="/dev/mem: Permission denied")
    collector = OobLocalCollector(sysfs=tmp_path / "empty", dev=tmp_path / "empty", dmidecode=str(program))
    readings = collector.collect(RunContext(deadline=time.monotonic() + 10, state_dir=tmp_path))
    found = {r.capability: r for r in readings if isinstance(r, OobLocalReading)}
    assert found["amt"].present is None and found["ipmi"].present is None and found["mei"].present is None
    assert "Permission denied" in found["ipmi"].evidence
    assert p6(snapshot(oob_local=tuple(found.values()))).status == "unknown"
