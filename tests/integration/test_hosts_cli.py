"""P4 through the real CLI (`physgap once`), as an operator sees it: a Proxmox cluster's .members, a host
with nothing to go by, and compute hosts probed over loopback."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from collectors.hosts.config import DEFAULT_MEMBERS
from tests.conftest import empty_sysfs, free_port, run_physgap, write_config
from tests.unit.test_hosts_members import clustered


def once(tmp_path: Path, hosts_section: str, fmt: str = "json") -> str:
    config = write_config(tmp_path / "c.toml", empty_sysfs(tmp_path / "sys"), tmp_path / "state", free_port(),
                          extra=hosts_section)
    result = run_physgap("once", "--config", str(config), "--format", fmt)
    assert result.returncode == 0, result.stderr
    return result.stdout


def p4(document: dict[str, Any]) -> dict[str, Any]:
    return next(g for g in document["gaps"] if g["id"] == "P4")


def test_cluster_members_file_opens_p4(tmp_path: Path) -> None:
    members = tmp_path / ".members"
    members.write_bytes(clustered())
    document = json.loads(once(tmp_path, f'[hosts]\nmembers = "{members}"\n'))
    assert document["collectors"]["hosts"]["success"] is True
    gap = p4(document)
    assert (gap["status"], gap["severity"]) == ("open", "high")
    assert gap["evidence"] == ["pve cluster 'lab': 1 of 3 nodes online (pve2 offline, pve3 offline)"]


def test_nothing_to_go_by_is_not_applicable(tmp_path: Path) -> None:
    # The default .members path: only its absence means "no Proxmox here". This needs a machine without
    # Proxmox VE, like the NAS the test stands for.
    assert not DEFAULT_MEMBERS.parent.exists(), f"{DEFAULT_MEMBERS.parent} exists: run this test off Proxmox VE"
    document = json.loads(once(tmp_path, "[hosts]\n"))
    gap = p4(document)
    assert (gap["status"], gap["evaluated"], gap["open"]) == ("not applicable", True, False)
    assert "no [hosts] compute list" in gap["reason"]
    again = tmp_path / "again"
    again.mkdir()
    metrics = once(again, "[hosts]\n", "prometheus")
    assert 'physgap_gap_evaluated{gap="P4"} 1.0' in metrics


def test_a_configured_members_path_that_is_missing_is_unknown(tmp_path: Path) -> None:
    # A path the operator wrote (a typo, a share not mounted) is a problem, never "not part of a cluster".
    absent = tmp_path / "absent" / ".members"
    gap = p4(json.loads(once(tmp_path, f'[hosts]\nmembers = "{absent}"\n')))
    assert (gap["status"], gap["evaluated"]) == ("unknown", False)
    assert gap["reason"].startswith(f"{absent}: the configured .members does not exist")


def test_probed_hosts_are_exported(tmp_path: Path) -> None:
    closed = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        section = f'[hosts]\nmembers = ""\ncompute = ["127.0.0.1:{port}", "127.0.0.1:{closed}"]\ntimeout = "2s"\n'
        metrics = once(tmp_path, section, "prometheus")
    assert f'physgap_host_up{{host="127.0.0.1:{port}",source="tcp"}} 1.0' in metrics
    assert f'physgap_host_up{{host="127.0.0.1:{closed}",source="tcp"}} 0.0' in metrics
    assert "physgap_compute_hosts_online 1.0" in metrics
    assert 'physgap_gap_open{gap="P4",severity="high",title="Single compute host"} 1.0' in metrics
