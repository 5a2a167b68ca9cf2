"""Gap P4 end to end below the network: .members files through the real HostsCollector, the rule, and what
Prometheus shows (physgap_host_up, physgap_compute_hosts_*, and P4's own series)."""

from __future__ import annotations

import time
from pathlib import Path
from types import MappingProxyType

from collectors.hosts.collector import HostsCollector
from collectors.hosts.config import DEFAULT_MEMBERS, HostsConfig
from collectors.kit.context import RunContext
from collectors.model.gaps import RuleContext
from collectors.model.readings import AnyReading, ComputeScan, HostReading
from collectors.model.snapshot import Gap, Snapshot, View
from daemon.gaps import RULES
from daemon.gaps.engine import evaluate
from exporters.prometheus import render
from exporters.report import markdown
from tests import gap_fixtures
from tests.unit.test_hosts_members import clustered, standalone


def collect(tmp_path: Path, members: bytes | None, compute: tuple[str, ...] = ()) -> tuple[AnyReading, ...]:
    path = tmp_path / "pve" / ".members"
    if members is not None:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(members)
    ctx = RunContext(deadline=time.monotonic() + 10, state_dir=tmp_path)
    return tuple(HostsCollector(HostsConfig(members=path, compute=compute, timeout=1.0)).collect(ctx))


def snapshot(readings: tuple[AnyReading, ...] | str | None) -> Snapshot:
    return gap_fixtures.snapshot(hosts=readings)


def p4(readings: tuple[AnyReading, ...] | str | None) -> Gap:
    return gap_fixtures.gap(snapshot(readings), "P4")


def metrics(readings: tuple[AnyReading, ...]) -> str:
    snap = snapshot(readings)
    text = render(View(snap, evaluate(snap, RULES, {}, RuleContext(role="compute")), 1)).decode()
    # Samples only: HELP and TYPE lines name every family whether or not it has a series.
    return "\n".join(line for line in text.splitlines() if not line.startswith("#"))


def test_cluster_of_three_with_two_offline_opens_p4_naming_them(tmp_path: Path) -> None:
    gap = p4(collect(tmp_path, clustered()))
    assert (gap.status, gap.severity) == ("open", "high")
    assert gap.evidence == ("pve cluster 'lab': 1 of 3 nodes online (pve2 offline, pve3 offline)",)


def test_two_of_three_online_resolves_p4(tmp_path: Path) -> None:
    nodes = (("pve1", 1, 1, "10.0.10.11"), ("pve2", 2, 1, "10.0.10.12"), ("pve3", 3, 0, None))
    gap = p4(collect(tmp_path, clustered(nodes)))
    assert gap.status == "resolved"
    assert gap.evidence == ("pve cluster 'lab': 2 of 3 nodes online (pve3 offline)",)


def test_quorum_lost_and_a_short_node_list_are_said(tmp_path: Path) -> None:
    nodes = (("pve1", 1, 1, "10.0.10.11"), ("pve2", 2, 0, "10.0.10.12"))
    gap = p4(collect(tmp_path, clustered(nodes, quorate=0, count=3)))
    assert gap.status == "open"
    assert gap.evidence == ("pve cluster 'lab': 1 of 2 nodes online (pve2 offline); cluster not quorate",
                            "the cluster counts 3 nodes, its node list has 2")


def test_an_unreadable_online_flag_that_could_tip_it_is_unknown(tmp_path: Path) -> None:
    nodes = (("pve1", 1, 1, "10.0.10.11"), ("pve2", 2, 9, "10.0.10.12"))
    gap = p4(collect(tmp_path, clustered(nodes)))
    assert gap.status == "unknown"
    assert gap.reason == "pve cluster 'lab': 1 of 2 nodes online (pve2 unknown: online flag unreadable)"
    # ... and one that cannot tip it does not hide an open gap.
    nodes = (("pve1", 1, 1, "10.0.10.11"), ("pve2", 2, 9, None), ("pve3", 3, 0, None), ("pve4", 4, 0, None))
    assert p4(collect(tmp_path, clustered(nodes))).status == "unknown"
    nodes = (("pve1", 1, 0, None), ("pve2", 2, 9, None), ("pve3", 3, 0, None))
    assert p4(collect(tmp_path, clustered(nodes))).status == "open"


def test_a_clustered_node_whose_members_lists_no_cluster_yet_is_unknown_not_standalone(tmp_path: Path) -> None:
    # pmxcfs writes {nodename, version} alone until the cluster info is loaded; corosync.conf says it is coming.
    (tmp_path / "pve").mkdir()
    (tmp_path / "pve" / "corosync.conf").write_text("totem {\n  cluster_name: lab\n}\n")
    gap = p4(collect(tmp_path, standalone("pve1")))
    assert gap.status == "unknown" and "has not loaded the cluster membership" in gap.reason


def test_standalone_proxmox_node_is_the_single_compute_host(tmp_path: Path) -> None:
    readings = collect(tmp_path, standalone("proxmox"))
    gap = p4(readings)
    assert (gap.status, gap.severity) == ("open", "high")
    assert gap.evidence == ("pve node 'proxmox' is standalone (not clustered): the only compute host",)
    text = metrics(readings)
    assert 'physgap_host_up{host="proxmox",source="pve"} 1.0' in text
    assert "physgap_compute_hosts_online 1.0" in text
    assert "physgap_compute_hosts_configured 1.0" in text
    assert "physgap_compute_cluster_quorate" not in text


def test_no_proxmox_and_nothing_configured_is_not_applicable_and_raises_no_unknown_alert(tmp_path: Path) -> None:
    # Only the default path may be missing for "not applicable" (a configured one is a problem): this test
    # needs a machine without Proxmox VE, like the NAS it stands for.
    assert not DEFAULT_MEMBERS.parent.exists(), f"{DEFAULT_MEMBERS.parent} exists: run this test off Proxmox VE"
    ctx = RunContext(deadline=time.monotonic() + 10, state_dir=tmp_path)
    readings = tuple(HostsCollector(HostsConfig()).collect(ctx))
    assert readings == (ComputeScan(source="", complete=True, reason=(
        f"no {DEFAULT_MEMBERS} and no [hosts] compute list: this host is not part of a compute cluster")),)
    gap = p4(readings)
    assert gap.status == "not applicable" and not gap.open
    assert gap.reason.startswith("not applicable here: no ")
    assert "set [hosts] compute = [...]" in gap.reason
    text = metrics(readings)
    # PhysgapGapUnknown fires on physgap_gap_evaluated == 0: a default install on a NAS must not page for P4.
    assert 'physgap_gap_evaluated{gap="P4"} 1.0' in text
    assert 'physgap_gap_open{gap="P4",severity="high",title="Single compute host"} 0.0' in text
    assert "physgap_compute_hosts_online " not in text and "physgap_host_up{" not in text
    assert "| P4 |" in markdown(View(snapshot(readings), p4_gaps(readings), 1))


def p4_gaps(readings: tuple[AnyReading, ...]) -> tuple[Gap, ...]:
    return evaluate(snapshot(readings), RULES, {}, RuleContext(role="compute"))


def test_a_garbled_members_file_is_unknown_never_zero_hosts(tmp_path: Path) -> None:
    readings = collect(tmp_path, clustered()[:60])
    scan = readings[-1]
    assert isinstance(scan, ComputeScan) and (scan.source, scan.complete) == ("pve", False)
    gap = p4(readings)
    assert gap.status == "unknown"
    assert gap.reason.startswith(f"{tmp_path / 'pve' / '.members'}: not valid JSON")
    text = metrics(readings)
    assert 'physgap_gap_evaluated{gap="P4"} 0.0' in text
    assert "physgap_compute_hosts_online " not in text and "physgap_host_up{" not in text
    assert 'physgap_compute_info{cluster="",source="pve"} 1.0' in text


def test_pve_directory_without_members_is_a_cluster_filesystem_down_not_no_proxmox(tmp_path: Path) -> None:
    (tmp_path / "pve").mkdir()  # /etc/pve is pmxcfs' mount point: empty while pve-cluster is stopped
    gap = p4(collect(tmp_path, None))
    assert gap.status == "unknown"
    assert gap.reason == (f"{tmp_path / 'pve' / '.members'}: missing, but {tmp_path / 'pve'} exists: is the "
                          "Proxmox VE cluster filesystem (pve-cluster, pmxcfs) running?")


def test_collector_state_reaches_p4(tmp_path: Path) -> None:
    assert p4(None).status == "unknown" and p4(None).waiting
    failed = p4("timed out after 5s")
    assert (failed.status, failed.reason) == ("unknown", "hosts collector failed: timed out after 5s")
    snap = Snapshot("pve1", 0.0, MappingProxyType({}))
    missing = next(g for g in evaluate(snap, RULES, {}, RuleContext(role="compute")) if g.id == "P4")
    assert missing.status == "unknown"


def test_cluster_metrics_per_node(tmp_path: Path) -> None:
    text = metrics(collect(tmp_path, clustered()))
    assert 'physgap_host_up{host="pve1",source="pve"} 1.0' in text
    assert 'physgap_host_up{host="pve2",source="pve"} 0.0' in text
    assert 'physgap_host_info{address="",cluster="lab",host="pve3"} 1.0' in text
    assert "physgap_compute_hosts_online 1.0" in text
    assert "physgap_compute_hosts_configured 3.0" in text
    assert "physgap_compute_cluster_quorate 1.0" in text
    assert 'physgap_compute_info{cluster="lab",source="pve"} 1.0' in text


def test_an_undetermined_host_has_no_up_series_and_withholds_the_count() -> None:
    readings: tuple[AnyReading, ...] = (
        HostReading("pve1", "tcp", True, "8006 open", "10.0.10.11"),
        HostReading("pve2.lan", "tcp", None, "name does not resolve (Name or service not known)"),
        ComputeScan("tcp", True, "2 configured compute host(s) probed over TCP", hosts_configured=2),
    )
    text = metrics(readings)
    assert 'physgap_host_up{host="pve1",source="tcp"} 1.0' in text
    assert 'physgap_host_up{host="pve2.lan"' not in text
    assert "physgap_compute_hosts_online " not in text and "physgap_compute_hosts_configured 2.0" in text
    assert p4(readings).reason == ("1 of 2 compute hosts online (pve2.lan unknown: name does not resolve (Name or "
                                   "service not known))")
