"""Gap rules P3 and P5 and the engine, on snapshots built from readings shaped after real machines."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from collectors.model.gaps import Finding, GapOverride, GapRule, RuleContext
from collectors.model.readings import (
    AnyReading,
    ArrayReading,
    DriveReading,
    LinkReading,
    PcieLinkReading,
    SlotReading,
    SlotScan,
    StorageScan,
    UpsReading,
)
from collectors.model.snapshot import Gap, Snapshot, View
from daemon.gaps import RULES
from daemon.gaps.engine import evaluate
from exporters.prometheus import render
from exporters.report import failing, markdown
from tests.gap_fixtures import CTX, gap, snapshot


def link(name: str, speed: int | None, max_speed: int | None, carrier: bool | None = True,
         expected: int | None = None, bond_master: str | None = None) -> LinkReading:
    return LinkReading(
        interface=name, physical=True, kind="ethernet", operstate="up" if carrier else "down",
        admin_up=True, carrier=carrier, speed_mbps=speed if carrier else None, full_duplex=True if carrier else None,
        max_speed_mbps=max_speed, supported_modes=(), expected_speed_mbps=expected, carrier_changes=1,
        bond_master=bond_master,
    )




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


def unknown_speed(name: str, max_speed: int | None = None, expected: int | None = None) -> LinkReading:
    """Up with carrier, but the driver gave no valid speed (sysfs -1, 4294967295, 65535)."""
    return link(name, None, max_speed, expected=expected)


def test_up_link_of_unknown_speed_is_neither_down_nor_resolved() -> None:
    """enp87s0 up at speed -1 / 4294967295 with an expected 2.5G: not "down", and no resolution on it."""
    p3 = gap(snapshot(nic=(unknown_speed("enp87s0", expected=2500),), pcie=PCIE_OK), "P3")
    assert p3.status == "unknown" and not p3.open
    assert p3.reason == ("enp87s0 is up but its driver reports no valid speed, so it cannot be judged against "
                         "the expected 2.5G")
    assert "down" not in p3.reason
    # Next to a link judged fine it still keeps P3 from resolving; the capability is named too.
    both = gap(snapshot(nic=(link("enp2s0f0np0", 10_000, 10_000), unknown_speed("eth0", 10_000, 10_000)),
                        pcie=PCIE_OK), "P3")
    assert both.status == "unknown"
    assert "eth0 is up" in both.reason and "its 10G capability or the expected 10G" in both.reason


def test_open_findings_stand_next_to_a_link_of_unknown_speed() -> None:
    p3 = gap(snapshot(nic=(link("enp2s0f0np0", 1000, 10_000), unknown_speed("enp87s0", expected=2500)),
                      pcie=PCIE_OK), "P3")
    assert p3.open
    assert p3.evidence == ("enp2s0f0np0 1G of 10G", "enp87s0 up, speed unknown")


def test_unknown_speed_without_anything_to_judge_it_against_proves_nothing() -> None:
    """A virtio NIC at speed -1 with no link modes and no expectation: ignored, as before."""
    p3 = gap(snapshot(nic=(link("enp2s0f0np0", 10_000, 10_000), unknown_speed("eth0")), pcie=PCIE_OK), "P3")
    assert p3.status == "resolved" and p3.evidence == ("enp2s0f0np0 10G of 10G",)


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


def test_p5_on_a_host_without_physical_slots_is_not_applicable_rather_than_resolved() -> None:
    # A VM: slot occupancy read completely, and SMBIOS lists no slot at all.
    snap = snapshot(nic=(), pcie=PCIE_OK)
    view = View(snap, evaluate(snap, RULES, {}, CTX))
    p5 = next(g for g in view.gaps if g.id == "P5")
    assert p5.status == "not applicable" and not p5.open and p5.evaluated
    assert "no physical PCIe slot" in p5.reason
    row = next(line for line in markdown(view).splitlines() if line.startswith("| P5 |"))
    assert "| Informational | not applicable | no physical PCIe slot" in row
    metrics = render(view).decode()
    # Evaluated (no "cannot be evaluated" alert on every VM), never open, and marked as not applicable.
    assert 'physgap_gap_evaluated{gap="P5"} 1.0' in metrics
    assert 'physgap_gap_applicable{gap="P5"} 0.0' in metrics
    assert 'physgap_gap_open{gap="P5",severity="info",title="Unused PCIe slot"} 0.0' in metrics
    assert 'physgap_gap_applicable{gap="P3"} 1.0' in metrics


def test_overrides_change_severity_title_and_can_disable() -> None:
    snap = snapshot(nic=(link("eth0", 1000, 10_000),), pcie=PCIE_OK)
    p3 = gap(snap, "P3", {"P3": GapOverride(severity="high", title="Slow uplink")})
    assert (p3.severity, p3.title) == ("high", "Slow uplink")
    gaps = evaluate(snap, RULES, {"P5": GapOverride(enabled=False)}, CTX)
    assert "P5" not in [g.id for g in gaps] and "P3" in [g.id for g in gaps]


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


def test_a_finding_names_its_own_severity_and_an_override_is_a_floor() -> None:
    def found(severity: str | None) -> GapRule:
        return GapRule("P2", "Single NAS drive", "data", "high", (),
                       lambda s, c: Finding(open=severity is not None, severity=severity))

    def severity(finding: str | None, override: str | None = None) -> str:
        overrides = {"P2": GapOverride(severity=override)} if override else {}
        return evaluate(snapshot(), (found(finding),), overrides, CTX)[0].severity

    assert severity("low") == "low"  # a degrading cache device, below the rule's default
    assert severity("critical") == "critical"
    assert severity(None) == "high"  # resolved: the rule's default labels it
    assert severity("low", override="medium") == "medium"  # the operator's floor
    assert severity("critical", override="medium") == "critical"  # an escalation still shows
    assert severity(None, override="info") == "info"


def test_report_markdown_and_fail_on() -> None:
    snap = snapshot(nic=(link("enp2s0f0np0", 1000, 10_000),), pcie=(SlotScan(False, "no | root"),))
    view = View(snap, evaluate(snap, RULES, {}, CTX))
    text = markdown(view)
    assert "| # | Gap | Risk | Severity | Status | Evidence |" in text
    assert "| P3 | Running at GbE when 10G is available |" in text
    assert "| Low | open | enp2s0f0np0 1G of 10G |" in text
    # The Severity column is the gap's severity whatever its status; Status alone says unknown or resolved.
    assert "| Informational | unknown | no \\| root |" in text
    assert [g.id for g in failing(view, "low")] == ["P3"]
    assert failing(view, "medium") == []
    resolved = replace(view, gaps=tuple(replace(g, open=False) for g in view.gaps))
    assert "| Low | resolved | enp2s0f0np0 1G of 10G |" in markdown(resolved)


# --- P2: redundancy and single-drive degradation -----------------------------------------------------------


def drive(kernel: str, health: int | None, evidence: tuple[str, ...] = (), state: str = "read") -> DriveReading:
    return DriveReading(
        drive=f"wwn-0x5000c500{kernel}", device=f"/dev/{kernel}", dev_type="sat", protocol="ATA",
        model="ST3000DM001", serial="Z1F0", rotational=True, state=state, health=health, evidence=evidence,
        smart_passed=True, exit_status=0, read_at=0.0, kernel_name=kernel)


def array(name: str, level: str, members: tuple[str, ...], redundancy: int,
          failed: tuple[str, ...] = ()) -> ArrayReading:
    return ArrayReading(array=name, kind="md", level=level, state="clean", members=members,
                        failed_members=failed, redundancy=redundancy, degraded=bool(failed))


def p2(arrays: tuple[AnyReading, ...], drives: tuple[AnyReading, ...] | str, role: str = "compute") -> Gap:
    snap = snapshot(nic=(), pcie=PCIE_OK, storage=arrays, smart=drives)
    return next(g for g in evaluate(snap, RULES, {}, RuleContext(role=role)) if g.id == "P2")


def test_arrays_not_fully_read_never_resolve_p2() -> None:
    mirror = array("md0", "raid1", ("sda", "sdb"), 1)
    unread = StorageScan(False, "zpool status exited 1")
    gap_p2 = p2((mirror, unread), (drive("sda", 0), drive("sdb", 0)))
    assert gap_p2.status == "unknown"
    assert gap_p2.reason == "arrays not fully read: zpool status exited 1"
    assert p2((mirror, StorageScan(True, "")), (drive("sda", 0), drive("sdb", 0))).status == "resolved"
    degraded = array("md0", "raid1", ("sda", "sdb"), 0, failed=("sdb",))
    assert p2((degraded, unread), (drive("sda", 0),)).status == "open"  # what was read still opens it


def test_degraded_mirror_is_critical() -> None:
    gap_p2 = p2((array("md0", "raid1", ("sda", "sdb"), 0, failed=("sdb",)),), (drive("sda", 0),))
    assert gap_p2.open and gap_p2.severity == "critical"
    assert gap_p2.evidence == ("md0 (md degraded, failed: sdb) survives no further drive failure",)


def test_failing_drive_inside_a_healthy_mirror_is_high_not_critical() -> None:
    gap_p2 = p2((array("md0", "raid1", ("sda", "sdb"), 1),),
                (drive("sda", 0), drive("sdb", 1, ("5592 pending sectors",))))
    assert gap_p2.open and gap_p2.severity == "high"
    assert gap_p2.evidence == ("/dev/sdb ST3000DM001 degrading inside a redundant array (md0 survives 1 more): "
                               "5592 pending sectors",)


def test_degrading_drive_without_redundancy_is_critical() -> None:
    gap_p2 = p2((), (drive("sda", 2, ("SMART overall-health FAILED",)),))
    assert gap_p2.severity == "critical"
    assert gap_p2.evidence == ("/dev/sda ST3000DM001 failing with no redundancy behind it: "
                               "SMART overall-health FAILED",)


def test_single_drive_nas_is_critical_even_when_healthy() -> None:
    gap_p2 = p2((), (drive("sda", 0),), role="nas")
    assert gap_p2.open and gap_p2.severity == "critical"
    assert gap_p2.evidence == ("this NAS has no redundant array or pool: its data sits on single drives",)


def test_healthy_mirror_resolves_p2_with_a_summary() -> None:
    gap_p2 = p2((array("md0", "raid1", ("sda", "sdb"), 1),), (drive("sda", 0), drive("sdb", 0)), role="nas")
    assert gap_p2.status == "resolved"
    assert gap_p2.evidence == ("md0 (md raid1) survives 1 drive failure(s)", "2 drive(s) healthy")


def test_single_healthy_drive_on_a_compute_host_says_what_was_judged() -> None:
    gap_p2 = p2((), (drive("nvme0n1", 0),), role="compute")
    assert gap_p2.status == "resolved"
    assert gap_p2.evidence == ("1 drive(s) healthy",
                               'no md array or ZFS pool on this host (role "compute"; role "nas" requires one)')


def test_p2_unknown_when_smart_failed_or_nothing_is_known() -> None:
    failed = p2((array("md0", "raid1", ("sda", "sdb"), 1),), "smartctl: program not found")
    assert failed.status == "unknown" and failed.reason == "smart collector failed: smartctl: program not found"
    # Missing SMART cannot hide a stripe, though: that is known from the array alone.
    stripe = p2((array("md0", "raid0", ("sda", "sdb"), 0),), "smartctl: program not found")
    assert stripe.open and stripe.severity == "critical"
    vm = p2((), (drive("vda", None, state="unsupported"),))
    assert vm.status == "unknown" and vm.reason == "no array found and no drive reports SMART data"


def zfs(name: str, members: tuple[str, ...], redundancy: int = 1, spares: tuple[str, ...] = (),
        logs: tuple[str, ...] = (), caches: tuple[str, ...] = (), log_redundancy: int = 0) -> ArrayReading:
    return ArrayReading(array=name, kind="zfs", level="mirror", state="ONLINE", members=members, failed_members=(),
                        redundancy=redundancy, degraded=False, spares=spares, logs=logs, caches=caches,
                        log_redundancy=log_redundancy)


def test_failing_hot_spare_is_medium_and_a_degrading_one_low() -> None:
    pool = zfs("tank", ("sda", "sdb"), spares=("sdg",))
    failing = p2((pool,), (drive("sda", 0), drive("sdb", 0), drive("sdg", 2, ("SMART overall-health FAILED",))))
    assert (failing.status, failing.severity) == ("open", "medium")
    assert failing.evidence == ("/dev/sdg ST3000DM001 failing as a hot spare of tank (holds no data; the next "
                                "member failure would rebuild onto it): SMART overall-health FAILED",)
    degrading = p2((pool,), (drive("sda", 0), drive("sdb", 0), drive("sdg", 1, ("8 pending sectors",))))
    assert (degrading.status, degrading.severity) == ("open", "low")


def test_log_and_cache_devices_are_judged_for_what_they_risk() -> None:
    single_log = p2((zfs("tank", ("sda", "sdb"), logs=("nvme0n1",)),), (drive("nvme0n1", 2, ("worn out",)),))
    assert single_log.severity == "medium"
    assert single_log.evidence == ("/dev/nvme0n1 ST3000DM001 failing as a log device of tank (not mirrored: the "
                                   "last seconds of synchronous writes): worn out",)
    mirrored = p2((zfs("tank", ("sda", "sdb"), logs=("nvme0n1", "nvme1n1"), log_redundancy=1),),
                  (drive("nvme0n1", 2, ("worn out",)),))
    assert (mirrored.open, mirrored.severity) == (True, "low")
    cache = p2((zfs("tank", ("sda", "sdb"), caches=("nvme1n1",)),), (drive("nvme1n1", 2, ("worn out",)),))
    assert (cache.open, cache.severity) == (True, "low")
    assert "as a cache device of tank (every block is also in the pool" in cache.evidence[0]


def test_a_member_is_judged_as_a_member_even_if_also_listed_as_a_spare() -> None:
    """An INUSE hot spare stands in for a failed disk: it holds data now."""
    pool = zfs("tank", ("sda", "sdg"), redundancy=1, spares=("sdg",))
    gap_p2 = p2((pool,), (drive("sda", 0), drive("sdg", 2, ("SMART overall-health FAILED",))))
    assert gap_p2.severity == "high" and "inside a redundant array" in gap_p2.evidence[0]


def test_the_worst_finding_sets_the_severity_and_comes_first() -> None:
    gap_p2 = p2((zfs("tank", ("sda", "sdb"), spares=("sdg",)),),
                (drive("sdg", 2, ("FAILED",)), drive("sdh", 2, ("FAILED",))))
    assert gap_p2.severity == "critical"
    assert [e.split(" ", 1)[0] for e in gap_p2.evidence] == ["/dev/sdh", "/dev/sdg"]


def never_read(kernel: str, reason: str, state: str = "unreachable") -> DriveReading:
    return replace(drive(kernel, None, state=state), drive=f"dev-{kernel}", model="", reason=reason)


def test_a_drive_without_a_verdict_makes_p2_unknown_never_resolved() -> None:
    hung = never_read("sdb", "/dev/sdb: smartctl killed after 27.0s without an answer")
    asleep = never_read("sdc", "/dev/sdc: asleep at every check since physgap started", state="standby")
    mirror = array("md0", "raid1", ("sda", "sdb"), 1)
    gap_p2 = p2((mirror,), (drive("sda", 0), hung, asleep), role="nas")
    assert gap_p2.status == "unknown"
    assert gap_p2.reason == ("no verdict for 2 drive(s): /dev/sdb: smartctl killed after 27.0s without an answer; "
                             "/dev/sdc: asleep at every check since physgap started")
    many = p2((), tuple(never_read(f"sd{c}", f"/dev/sd{c}: hung") for c in "bcdefg"))
    assert many.reason == ("no verdict for 6 drive(s): /dev/sdb: hung; /dev/sdc: hung; /dev/sdd: hung; "
                           "/dev/sde: hung; and 2 more")
    # Unsupported drives (VM disks, RAID volumes) have no verdict by nature: not a reason for unknown.
    vm = p2((mirror,), (drive("sda", 0), drive("vda", None, state="unsupported")))
    assert vm.status == "resolved"


def test_other_evidence_still_opens_p2_while_a_drive_has_no_verdict() -> None:
    degraded = array("md0", "raid1", ("sda", "sdb"), 0, failed=("sdb",))
    gap_p2 = p2((degraded,), (drive("sda", 0), never_read("sdc", "/dev/sdc: hung")))
    assert (gap_p2.status, gap_p2.severity) == ("open", "critical")


# --- P1: UPS and shutdown protection ------------------------------------------------------------------------


def ups(name: str, flags: tuple[str, ...] = ("OL",), up: bool = True, clients: int | None = 1,
        local: bool | None = None, reason: str = "", **measured: Any) -> UpsReading:
    return UpsReading(ups=name, source="nut", up=up, reason=reason, flags=flags if up else (),
                      shutdown_clients=clients, local_upsmon=local, **measured)


def p1(*readings: AnyReading, error: str = "") -> Gap:
    snap = snapshot(nic=(), pcie=PCIE_OK, ups=error or readings)
    return next(g for g in evaluate(snap, RULES, {}, CTX) if g.id == "P1")


def test_protected_ups_on_mains_resolves_p1() -> None:
    gap_p1 = p1(ups("ups@127.0.0.1:3493"))
    assert gap_p1.status == "resolved"
    (line,) = gap_p1.evidence
    assert line.startswith("ups@127.0.0.1:3493 OL") and "on line" in line and "1 upsmon attached" in line


def test_p1_evidence_says_on_battery_charge_and_runtime() -> None:
    """What an operator reads first in the report, the page and the gap log: on battery, charge, runtime."""
    discharging = ups("ups@127.0.0.1:3493", flags=("OB", "DISCHRG"), battery_charge_ratio=0.8,
                      battery_runtime_seconds=1500.0)
    (line,) = p1(discharging).evidence
    assert line.startswith("ups@127.0.0.1:3493 OB DISCHRG")
    assert "on battery" in line and "charge 80 %" in line and "runtime 25 min" in line
    low = ups("ups@127.0.0.1:3493", flags=("OB", "LB"), battery_charge_ratio=0.09, battery_runtime_seconds=95.0)
    (critical,) = p1(low).evidence
    assert "charge 9 %" in critical and "runtime 95 s" in critical and critical.endswith("on battery, battery low")
    unmeasured = p1(ups("ups@127.0.0.1:3493", clients=0)).evidence[0]
    assert "charge" not in unmeasured and "runtime" not in unmeasured  # nothing said that was not measured


def test_p1_evidence_names_the_worst_phase() -> None:
    three_phase = ups("eaton@nas:3493", input_phase_volts=(("L1-N", 231.0), ("L2-N", 196.5), ("L3-N", 229.0)),
                      output_phase_volts=(("L1-N", 230.0), ("L2-N", 229.5), ("L3-N", 230.0)),
                      input_voltage_volts=196.5)
    (line,) = p1(three_phase).evidence
    assert "lowest input phase L2-N 196.5 V" in line and "lowest output phase L2-N 229.5 V" in line
    assert "phase" not in p1(ups("ups@127.0.0.1:3493")).evidence[0]  # single-phase: no phase talk


def test_a_ups_without_status_never_resolves_p1_nor_reads_on_line() -> None:
    blind = ups("ups@127.0.0.1:3493", flags=())
    gap_p1 = p1(blind)
    assert gap_p1.status == "unknown"
    assert "reports no status" in gap_p1.reason
    assert p1(blind, ups("rack@127.0.0.1:3493")).status == "resolved"  # another UPS's status decides
    text = render(View(snapshot(nic=(), ups=(blind,)), (), 1)).decode()
    assert "physgap_ups_up{" in text
    assert "physgap_ups_on_battery{" not in text and "physgap_ups_critical{" not in text


def test_no_ups_at_all_opens_p1_high() -> None:
    gap_p1 = p1()
    assert (gap_p1.status, gap_p1.severity) == ("open", "high")
    assert gap_p1.evidence == ("no reachable UPS (no NUT server answered on 127.0.0.1:3493 and none is configured)",)


def test_unreachable_or_stale_ups_opens_p1_with_the_reason() -> None:
    gap_p1 = p1(ups("ups@nas:3493", up=False, reason="DATA-STALE"))
    assert gap_p1.open and gap_p1.severity == "high"
    assert gap_p1.evidence == ("no reachable UPS (ups@nas:3493: DATA-STALE)",)
    failed = p1(error="every NUT server failed: connection refused")
    assert failed.open and "ups: every NUT server failed: connection refused" in failed.evidence[0]


def test_a_failed_ups_collector_is_named_next_to_a_reachable_ups() -> None:
    """SNMP answers, every NUT server is dead with no UPS known by name: P1 may resolve on the SNMP UPS, but
    the evidence says what did not answer."""
    snap = snapshot(nic=(), pcie=PCIE_OK, ups="no UPS server answered (127.0.0.1:3493: connection refused)",
                    ups_snmp=(ups("rack", clients=None, local=True),))
    gap_p1 = next(g for g in evaluate(snap, RULES, {}, CTX) if g.id == "P1")
    assert gap_p1.status == "resolved"
    rack, failed = gap_p1.evidence
    # SNMP cannot count upsmon logins: the evidence says what protects the host, not "0 upsmon attached".
    assert rack.startswith("rack OL") and "this host's upsmon.conf monitors it" in rack and "attached" not in rack
    assert failed == "ups: no UPS server answered (127.0.0.1:3493: connection refused) (collector failed)"


def test_every_ups_unreachable_is_open_and_names_each() -> None:
    gap_p1 = p1(ups("ups1@127.0.0.1:3493", up=False, reason="connection refused"),
                ups("ups2@127.0.0.1:3493", up=False, reason="connection refused"))
    assert (gap_p1.status, gap_p1.severity) == ("open", "high")
    assert gap_p1.evidence == ("no reachable UPS (ups1@127.0.0.1:3493: connection refused; "
                               "ups2@127.0.0.1:3493: connection refused)",)


def test_ups_without_upsmon_has_no_shutdown_protection() -> None:
    gap_p1 = p1(ups("ups@127.0.0.1:3493", clients=0, local=None))
    assert (gap_p1.status, gap_p1.severity) == ("open", "high")
    (line,) = gap_p1.evidence
    assert line.startswith("ups@127.0.0.1:3493 OL") and line.endswith(": no upsmon attached")
    assert p1(ups("ups@127.0.0.1:3493", clients=0, local=True)).status == "resolved"


def test_another_hosts_upsmon_does_not_protect_this_host() -> None:
    """NUMLOGINS counts every upsmon; when this host's upsmon.conf is readable, it decides."""
    gap_p1 = p1(ups("eaton@nas.lan:3493", clients=1, local=False))
    assert gap_p1.open
    (line,) = gap_p1.evidence
    assert line.startswith("eaton@nas.lan:3493 OL")
    assert line.endswith(": this host's upsmon.conf does not monitor it with a SHUTDOWNCMD")


def test_unreachable_drive_without_redundancy_is_never_resolved() -> None:
    silent = replace(drive("sda", 0), state="unreachable")
    gap_p2 = p2((), (silent,))
    assert gap_p2.status == "unknown"
    assert gap_p2.reason == "drive(s) without redundancy not answering SMART queries: /dev/sda ST3000DM001"


def test_on_battery_low_battery_fsd_and_replace_battery_are_critical() -> None:
    for flags, why in ((("OB", "LB", "DISCHRG"), "on battery, battery low"), (("FSD", "OB", "LB"), "forced shutdown"),
                       (("OL", "RB"), "asks for battery replacement")):
        gap_p1 = p1(ups("ups@127.0.0.1:3493", flags=flags))
        assert (gap_p1.open, gap_p1.severity) == (True, "critical")
        (line,) = gap_p1.evidence
        assert line.startswith(f"ups@127.0.0.1:3493 {' '.join(flags)}") and line.endswith(f": {why}")
    on_battery_only = p1(ups("ups@127.0.0.1:3493", flags=("OB", "DISCHRG")))
    assert on_battery_only.status == "resolved"  # on battery with charge left: upsmon waits, so do we
