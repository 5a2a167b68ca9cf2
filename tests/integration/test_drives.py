"""Drives and arrays end to end: the real CLI and daemon, a stand-in smartctl replaying captures, md
fixtures in a test procfs. P2 and single-drive degradation as an operator sees them."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from tests import smart_fixtures as sf
from tests import storage_fixtures as md
from tests.conftest import (
    DaemonProcess,
    disks_sysfs,
    free_port,
    http_get,
    require_binary,
    run_physgap,
    start_daemon,
    write_config,
)
from tests.smartctl_standin import read_calls, write_scenario


def scenario(**devices: dict[str, Any]) -> dict[str, Any]:
    """Devices as /dev/<name> -> stand-in entry; the scan lists them as SATA disks."""
    return {"scan": None, "devices": {f"/dev/{name}": {"type": "sat", **entry} for name, entry in devices.items()}}


def on(document: dict[str, Any], name: str) -> dict[str, Any]:
    copy = json.loads(json.dumps(document))
    copy["device"]["name"] = copy["device"]["info_name"] = f"/dev/{name}"
    return copy


HEALTHY_PAIR = scenario(sda={"json": on(sf.ATA_HDD_HEALTHY, "sda")}, sdb={"json": on(sf.ATA_PENDING_PASSED, "sdb")})


def report(tmp_path: Path, smart: dict[str, Any], mdstat: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = write_config(tmp_path / "c.toml", disks_sysfs(tmp_path / "sys", "sda", "sdb"), tmp_path / "state",
                          9829, smart_scenario=smart, mdstat=mdstat)
    return run_physgap("report", "--config", str(config), *args)


def p2_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    gaps = {g["id"]: g for g in json.loads(result.stdout)["gaps"]}
    return dict(gaps["P2"])


def test_degrading_drive_inside_a_healthy_mirror_is_high(tmp_path: Path) -> None:
    result = report(tmp_path, HEALTHY_PAIR, md.MD_RAID1_HEALTHY, "--format", "json", "--fail-on", "high")
    assert result.returncode == 1, result.stderr
    p2 = p2_of(result)
    assert (p2["status"], p2["severity"]) == ("open", "high")
    assert len(p2["evidence"]) == 1
    assert p2["evidence"][0].startswith("/dev/sdb ")
    assert "degrading inside a redundant array (md0 survives 1 more)" in p2["evidence"][0]
    assert "pending" in p2["evidence"][0]
    ok = report(tmp_path / "again", HEALTHY_PAIR, md.MD_RAID1_HEALTHY, "--format", "json", "--fail-on", "critical")
    assert ok.returncode == 0


def test_degraded_mirror_is_critical_and_every_ata_call_kept_the_disk_asleep(tmp_path: Path) -> None:
    smart = scenario(sda={"json": on(sf.ATA_HDD_HEALTHY, "sda")})
    result = report(tmp_path, smart, md.MD_RAID1_DEGRADED, "--format", "json", "--fail-on", "critical")
    assert result.returncode == 1
    p2 = p2_of(result)
    assert p2["severity"] == "critical"
    assert p2["evidence"] == ["md0 (md degraded, failed: sdb) survives no further drive failure"]
    queries = [argv for argv in read_calls(tmp_path / "smartctl") if "--scan" not in argv]
    assert queries, "smartctl was never asked about a drive"
    for argv in queries:
        assert "-d" in argv
        assert "-n" in argv and argv[argv.index("-n") + 1].startswith("standby")


def test_vm_disks_are_unsupported_not_failed(tmp_path: Path) -> None:
    smart = scenario(vda={"json": sf.VM_VIRTIO_DISK})
    result = report(tmp_path, smart, "", "--format", "json")
    assert result.returncode == 0
    p2 = p2_of(result)
    assert p2["status"] == "unknown" and p2["reason"] == "no array found and no drive reports SMART data"


def wait_for(daemon: DaemonProcess, needle: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    body = ""
    while time.monotonic() < deadline:
        body = http_get(daemon.url + "/metrics")[1]
        if needle in body:
            return body
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} never appeared in /metrics:\n{body}")


def test_daemon_serves_drive_health_and_keeps_a_sleeping_disks_reading(
        tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    promtool = require_binary("promtool")
    port = free_port()
    config = write_config(tmp_path / "c.toml", disks_sysfs(tmp_path / "sys", "sda", "sdb"), tmp_path / "state",
                          port, smart_scenario=HEALTHY_PAIR, mdstat=md.MD_RAID1_HEALTHY)
    daemon = start_daemon(config, port)
    daemon_factory.append(daemon)
    body = wait_for(daemon, "physgap_drive_health{")
    health = {line.split('drive="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
              for line in body.splitlines() if line.startswith("physgap_drive_health{")}
    assert sorted(health.values()) == [0.0, 1.0]
    assert 'physgap_array_redundancy{array="md0"} 1.0' in body
    assert 'physgap_gap_open{gap="P2",severity="high",title="Single NAS drive"} 1.0' in body
    lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True, check=False)
    assert (lint.returncode, lint.stdout + lint.stderr) == (0, "")

    # sdb falls asleep: it is not woken, it keeps its verdict, and says it is asleep.
    asleep = json.loads(json.dumps(HEALTHY_PAIR))
    asleep["devices"]["/dev/sdb"]["standby"] = True
    write_scenario(tmp_path / "smartctl", asleep)
    body = wait_for(daemon, "physgap_drive_standby{drive=\"" + _drive_of(body, "/dev/sdb") + "\"} 1.0")
    sdb = _drive_of(body, "/dev/sdb")
    assert f'physgap_drive_health{{drive="{sdb}"}} 1.0' in body
    assert 'physgap_gap_open{gap="P2",severity="high",title="Single NAS drive"} 1.0' in body
    assert daemon.stop() == 0


def _drive_of(body: str, device: str) -> str:
    for line in body.splitlines():
        if line.startswith("physgap_drive_info{") and f'device="{device}"' in line:
            return line.split('drive="')[1].split('"')[0]
    raise AssertionError(f"no physgap_drive_info for {device}")
