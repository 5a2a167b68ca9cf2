"""Gap rules P3 and P5 and the engine, on snapshots built from readings shaped after real machines."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from collectors.readings import AnyReading, LinkReading, PcieLinkReading, SlotReading, SlotScan
from daemon.config import GapOverride
from daemon.gaps import RULES
from daemon.gaps.engine import evaluate
from daemon.gaps.model import Finding, Gap, GapRule, RuleContext
from daemon.report import failing, markdown
from daemon.snapshot import CollectorStatus, Snapshot, View

CTX = RuleContext(role="compute")


def link(name: str, speed: int | None, max_speed: int | None, carrier: bool | None = True,
         expected: int | None = None, bond_master: str | None = None) -> LinkReading:
    return LinkReading(
        interface=name, physical=True, kind="ethernet", operstate="up" if carrier else "down",
        admin_up=True, carrier=carrier, speed_mbps=speed if carrier else None, full_duplex=True if carrier else None,
        max_speed_mbps=max_speed, supported_modes=(), expected_speed_mbps=expected, carrier_changes=1,
        bond_master=bond_master,
    )


def snapshot(**collectors: tuple[AnyReading, ...] | str | None) -> Snapshot:
    statuses = {}
    for name, value in collectors.items():
        if value is None:
            statuses[name] = CollectorStatus(name, None)
        elif isinstance(value, str):
            statuses[name] = CollectorStatus(name, False, error=value)
        else:
            statuses[name] = CollectorStatus(name, True, readings=value)
    return Snapshot("pve1", 0.0, MappingProxyType(statuses))


def gap(snap: Snapshot, gap_id: str, overrides: dict[str, GapOverride] | None = None) -> Gap:
    return next(g for g in evaluate(snap, RULES, overrides or {}, CTX) if g.id == gap_id)


PCIE_OK = (SlotScan(True, "config space read"),)


def test_ms01_sfp_at_1g_opens_p3_with_operator_evidence() -> None:
    snap = snapshot(nic=(link("enp2s0f0np0", 1000, 10_000), link("enp87s0", 2500, 2500)), pcie=PCIE_OK)
    p3 = gap(snap, "P3")
    assert p3.open and p3.evaluated and p3.severity == "low"
    assert p3.evidence == ("enp2s0f0np0 1G of 10G",)


def test_links_at_full_speed_resolve_p3() -> None:
    snap = snapshot(nic=(link("enp2s0f0np0", 10_000, 10_000), link("enp87s0", 2500, 2500)), pcie=PCIE_OK)
    p3 = gap(snap, "P3")
    assert p3.status == "resolved"
    assert p3.evidence == ("enp2s0f0np0 10G of 10G", "enp87s0 2.5G of 2.5G")


def test_links_of_unknown_capability_leave_p3_unknown() -> None:
    """A virtio NIC (no link modes, no expected speed) proves nothing: unknown, never resolved."""
    snap = snapshot(nic=(link("eth0", 10_000, None), link("eth1", None, None, carrier=False)), pcie=PCIE_OK)
    p3 = gap(snap, "P3")
    assert p3.status == "unknown" and not p3.open
    assert "set [nics].expected" in p3.reason


def test_faster_port_down_while_slower_carries_traffic() -> None:
    snap = snapshot(nic=(link("enp2s0f0np0", None, 10_000, carrier=False), link("enp87s0", 2500, 2500)),
                    pcie=PCIE_OK)
    p3 = gap(snap, "P3")
    assert p3.open
    assert p3.evidence == ("enp2s0f0np0 (10G) down while enp87s0 carries traffic at 2.5G",)


def test_slower_port_down_next_to_a_fast_one_is_fine() -> None:
    snap = snapshot(nic=(link("enp2s0f0np0", 10_000, 10_000), link("enp87s0", None, 2500, carrier=False)),
                    pcie=PCIE_OK)
    p3 = gap(snap, "P3")
    assert p3.status == "resolved" and p3.evidence == ("enp2s0f0np0 10G of 10G",)


def test_expected_speed_is_checked_even_without_link_modes() -> None:
    snap = snapshot(nic=(link("eno1", 1000, None, expected=10_000), link("eno2", None, None, carrier=False,
                                                                        expected=2500)), pcie=PCIE_OK)
    p3 = gap(snap, "P3")
    assert p3.evidence == ("eno1 1G, expected 10G", "eno2 down, expected 2.5G")


def test_p3_unknown_without_nics_or_when_collector_failed() -> None:
    assert gap(snapshot(nic=(), pcie=PCIE_OK), "P3").reason == "no network interface found"
    failed = gap(snapshot(nic="sysfs unreadable", pcie=PCIE_OK), "P3")
    assert failed.status == "unknown" and not failed.open
    assert failed.reason == "nic collector failed: sysfs unreadable"
    waiting = gap(snapshot(nic=None, pcie=PCIE_OK), "P3")
    assert waiting.reason == "waiting for the first nic collection"


def slot(name: str, occupied: bool, port: str, width: str = "x4") -> SlotReading:
    return SlotReading(slot=name, port=port, designation="", slot_type="", width=width, occupied=occupied,
                       device="0000:07:00.0" if occupied else None, evidence="test")


def test_empty_slot_opens_p5_as_informational() -> None:
    snap = snapshot(nic=(), pcie=(*PCIE_OK, slot("port 0000:00:13.0", False, "0000:00:13.0"),
                                  slot("PCIe Slot 1", True, "0000:00:1c.0", "x16")))
    p5 = gap(snap, "P5")
    assert p5.open and p5.severity == "info"
    assert p5.evidence == ("port 0000:00:13.0 (x4, port 0000:00:13.0) empty",)


def test_downgraded_link_is_listed_but_occupied_slots_resolve_p5() -> None:
    x710 = PcieLinkReading("0000:02:00.0", "8086:1572", "0x020000", "endpoint", 8.0, 8.0, 2, 4, 8.0, 4, True)
    snap = snapshot(nic=(), pcie=(*PCIE_OK, slot("PCIe Slot 1", True, "0000:00:1c.0"), x710))
    p5 = gap(snap, "P5")
    assert p5.status == "resolved"
    assert p5.evidence == ("0000:02:00.0 8086:1572 trained 8GT/s x2, below its baseline 8GT/s x4",)


def test_p5_unknown_when_slot_presence_cannot_be_read() -> None:
    snap = snapshot(nic=(), pcie=(SlotScan(False, "PCIe config space needs root"),))
    p5 = gap(snap, "P5")
    assert p5.status == "unknown" and p5.reason == "PCIe config space needs root"


def test_overrides_change_severity_title_and_can_disable() -> None:
    snap = snapshot(nic=(link("eth0", 1000, 10_000),), pcie=PCIE_OK)
    p3 = gap(snap, "P3", {"P3": GapOverride(severity="high", title="Slow uplink")})
    assert (p3.severity, p3.title) == ("high", "Slow uplink")
    gaps = evaluate(snap, RULES, {"P5": GapOverride(enabled=False)}, CTX)
    assert [g.id for g in gaps] == ["P3"]


def test_a_rule_that_escalates_and_a_rule_that_crashes() -> None:
    def escalate(s: Snapshot, c: RuleContext) -> Finding:
        return Finding(open=True, evidence=("ups1 OB LB",), severity="critical")

    def crash(s: Snapshot, c: RuleContext) -> Finding:
        raise KeyError("boom")

    rules = (GapRule("P1", "No UPS", "power", "high", (), escalate),
             GapRule("P9", "Broken", "r", "low", (), crash))
    gaps = evaluate(snapshot(), rules, {}, CTX)
    assert gaps[0].severity == "critical" and gaps[0].open
    assert gaps[1].status == "unknown" and gaps[1].reason == "rule error: KeyError: 'boom'"


def test_report_markdown_and_fail_on() -> None:
    snap = snapshot(nic=(link("enp2s0f0np0", 1000, 10_000),), pcie=(SlotScan(False, "no | root"),))
    view = View(snap, evaluate(snap, RULES, {}, CTX))
    text = markdown(view)
    assert "| # | Gap | Risk | Severity | Status | Evidence |" in text
    assert "| P3 | Running at GbE when 10G is available |" in text
    assert "| Low | open | enp2s0f0np0 1G of 10G |" in text
    assert "| Unknown | unknown | no \\| root |" in text  # an unknown gap never prints Resolved
    assert [g.id for g in failing(view, "low")] == ["P3"]
    assert failing(view, "medium") == []
    resolved = replace(view, gaps=tuple(replace(g, open=False) for g in view.gaps))
    assert "| Resolved | resolved |" in markdown(resolved)
