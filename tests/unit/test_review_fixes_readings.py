"""What operators read from the OOB, UPS, switch-port and compute-host paths where a value was not measured:
it must read unknown (no sample, present None, P4 unknown), never down, absent or 0 V."""

from __future__ import annotations

import time
from pathlib import Path
from types import MappingProxyType

from collectors.hosts.collector import HostsCollector
from collectors.hosts.config import HostsConfig
from collectors.kit.context import RunContext
from collectors.model.gaps import RuleContext
from collectors.model.readings import ComputeScan, OobLocalReading, SwitchPortReading
from collectors.model.snapshot import CollectorStatus, Snapshot, View
from collectors.oob import http
from collectors.oob.local import OobLocalCollector
from collectors.oob.probe import Credentials
from collectors.ups.snmp import (
    UPS_BATTERY_STATUS,
    UPS_INPUT_NUM_LINES,
    UPS_INPUT_VOLTAGE,
    UPS_OUTPUT_SOURCE,
    UPS_OUTPUT_VOLTAGE,
    map_ups_mib,
)
from daemon.gaps import RULES
from daemon.gaps.engine import evaluate
from exporters.prometheus import render
from tests.faults.harness import series, value
from tests.oob_fixtures import AMT_SERVER, host_tree, standin_dmidecode


def render_readings(collector: str, *readings: OobLocalReading | SwitchPortReading) -> str:
    status = CollectorStatus(collector, True, readings=readings)
    return render(View(Snapshot("pve1", 0.0, MappingProxyType({collector: status})), ())).decode()


# --- switch ports -----------------------------------------------------------------------------------------


def test_a_port_whose_status_is_unknown_exports_no_up_sample() -> None:
    def port(name: str, status: str, index: int) -> SwitchPortReading:
        return SwitchPortReading(switch="usw", if_index=index, port=name, alias="", oper_status=status,
                                 speed_mbps=None, interface="", mapped_by="")

    text = render_readings("switch", port("te1", "unknown", 1), port("te2", "down", 2),
                           port("te3", "lowerLayerDown", 3))
    assert value(text, "physgap_switch_port_up", switch="usw", port="te1") is None  # not measured: not down
    assert value(text, "physgap_switch_port_up", switch="usw", port="te2") == 0
    assert value(text, "physgap_switch_port_up", switch="usw", port="te3") == 0
    assert value(text, "physgap_switch_port_info", switch="usw", port="te1", if_index="1", alias="",
                 interface="", mapped_by="") == 1  # the port itself is still listed


# --- this host's OOB hardware -----------------------------------------------------------------------------


def test_an_me_without_sol_and_unread_smbios_leaves_amt_unknown_and_p6_undecided(tmp_path: Path) -> None:
    root = host_tree(tmp_path / "host", "nuc11-i5")  # an ME, no AMT SOL function
    program = standin_dmidecode(tmp_path / "bin", "", exit_code=1, stderr="/dev/mem: Permission denied")
    collector = OobLocalCollector(sysfs=root / "sys", dev=root / "dev", dmidecode=str(program))
    readings = collector.collect(RunContext(deadline=time.monotonic() + 10, state_dir=tmp_path))
    found = {r.capability: r for r in readings if isinstance(r, OobLocalReading)}
    assert found["mei"].present is True
    # SOL may be switched off in the firmware setup: without the $AMT record, AMT may still be there.
    assert found["amt"].present is None
    assert "SOL may be disabled" in found["amt"].evidence and "Permission denied" in found["amt"].evidence
    status = CollectorStatus("oob_local", True, readings=tuple(found.values()))
    snapshot = Snapshot("pve1", 0.0, MappingProxyType({"oob_local": status}))
    p6 = next(g for g in evaluate(snapshot, RULES, {}, RuleContext(role="compute")) if g.id == "P6")
    assert p6.status == "unknown"  # not "no OOB hardware" at info severity


def test_the_local_capability_info_series_does_not_change_with_the_evidence_text() -> None:
    first = render_readings("oob_local", OobLocalReading("amt", None, "SMBIOS not read (dmidecode: exit 1)"))
    second = render_readings("oob_local", OobLocalReading("amt", None, "SMBIOS not read (dmidecode: timed out)"))
    assert series(first, "physgap_oob_local_info") == series(second, "physgap_oob_local_info") == {
        (("capability", "amt"), ("version", "")): 1.0}


def test_an_oob_password_is_not_in_the_credentials_repr() -> None:
    assert "hunter2-amt" not in repr(Credentials("admin", "hunter2-amt"))


def test_a_hostile_digest_realm_is_cut_in_the_evidence() -> None:
    realm = "x" * 16000
    response = http.HttpResponse(401, (("server", AMT_SERVER),
                                       ("www-authenticate", f'Digest realm="{realm}", nonce="abc", qop="auth"')),
                                 b"")
    verdict = http.judge_wsman(response)
    assert not verdict.amt
    assert verdict.detail == (f"AMT banner but Digest realm {'x' * 80!r} is not AMT's (HTTP 401): a banner alone "
                              "is not proof")


def test_a_stale_nonce_is_told_apart_from_a_rejection() -> None:
    stale = http.HttpResponse(401, (("www-authenticate", 'Digest realm="Digest:AB12CD34", nonce="n2", stale=TRUE'),),
                              b"")
    fresh = http.HttpResponse(401, (("www-authenticate", 'Digest realm="Digest:AB12CD34", nonce="n1"'),), b"")
    assert [http.digest_challenge(r).stale for r in (stale, fresh)] == [True, False]  # type: ignore[union-attr]


# --- UPS lines ----------------------------------------------------------------------------------------------


def ups(inputs: dict[int, int], outputs: dict[int, int], num_lines: int | None = None) -> tuple[float | None,
                                                                                               float | None]:
    values: dict[str, int | str] = {UPS_OUTPUT_SOURCE: 3, UPS_BATTERY_STATUS: 2}
    values |= {f"{UPS_INPUT_VOLTAGE}.{line}": volts for line, volts in inputs.items()}
    values |= {f"{UPS_OUTPUT_VOLTAGE}.{line}": volts for line, volts in outputs.items()}
    if num_lines is not None:
        values[UPS_INPUT_NUM_LINES] = num_lines
    reading = map_ups_mib(values, "ups").reading
    return reading.input_voltage_volts, reading.output_voltage_volts


def test_unused_lines_at_0v_are_not_the_lowest_phase_without_a_line_count() -> None:
    # A single-phase unit listing three rows, the unused two at 0 V, and no upsInputNumLines.
    assert ups({1: 231, 2: 0, 3: 0}, {1: 230, 2: 0, 3: 0}) == (231.0, 230.0)


def test_a_dead_phase_is_kept_where_the_line_count_says_it_is_wired() -> None:
    assert ups({1: 231, 2: 0, 3: 229}, {1: 230}, num_lines=3)[0] == 0.0


def test_every_line_at_0v_is_a_real_outage() -> None:
    assert ups({1: 0, 2: 0, 3: 0}, {1: 230})[0] == 0.0


# --- compute hosts ------------------------------------------------------------------------------------------


def test_a_configured_members_path_that_does_not_exist_is_unknown_not_not_applicable(tmp_path: Path) -> None:
    path = tmp_path / "mnt" / "pve" / ".members"  # a typo or a share that is not mounted
    ctx = RunContext(deadline=time.monotonic() + 10, state_dir=tmp_path)
    readings = tuple(HostsCollector(HostsConfig(members=path)).collect(ctx))
    assert readings == (ComputeScan(source="pve", complete=False, reason=(
        f"{path}: the configured .members does not exist (check [hosts] members, and whether the file system "
        "holding it is mounted)")),)
    status = CollectorStatus("hosts", True, readings=readings)
    snapshot = Snapshot("pve1", 0.0, MappingProxyType({"hosts": status}))
    p4 = next(g for g in evaluate(snapshot, RULES, {}, RuleContext(role="compute")) if g.id == "P4")
    assert p4.status == "unknown"
