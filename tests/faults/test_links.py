"""Faults in link readings, through the real daemon and CLI: sentinel speeds and absurd counters in sysfs.

Issue 8, items 4 (links) and 5. Each world is a sysfs tree shaped after the MS-01 (tests/net_tree.py) with one
lying attribute; what is asserted is what an operator sees on /metrics, in the daemon's gap view and from
`physgap once` / `report`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.conftest import DaemonProcess, free_port, http_get, run_physgap, start_daemon, write_config
from tests.faults.harness import scrape, value, wait_until
from tests.net_tree import I226_V, MS01_PCI, X710_PORT0, Iface, build_net_tree

TIMEOUT = 30


def world(tmp_path: Path, ifaces: list[Iface], expected: dict[str, str]) -> tuple[Path, int]:
    sysfs = build_net_tree(tmp_path / "sys", ifaces)
    (sysfs / "bus" / "pci" / "devices").mkdir(parents=True)
    table = ", ".join(f'{name} = "{speed}"' for name, speed in expected.items())
    port = free_port()
    config = write_config(tmp_path / "physgap.toml", sysfs, tmp_path / "state", port,
                          f"[nics]\nexpected = {{ {table} }}\n" if expected else "")
    return config, port


def gaps(daemon: DaemonProcess) -> dict[str, dict[str, Any]]:
    status, body = http_get(daemon.url + "/api/v1/view")
    assert status == 200, body
    return {gap["id"]: gap for gap in json.loads(body)["gaps"]}


def collected(daemon: DaemonProcess, collector: str) -> str:
    """/metrics once `collector` has reported at least once."""
    body = ""

    def ready() -> bool:
        nonlocal body
        body = scrape(daemon)
        return value(body, "physgap_collector_success", collector=collector) is not None and (
            f'physgap_collector_last_success_timestamp_seconds{{collector="{collector}"}}' in body)

    assert wait_until(ready, timeout=TIMEOUT), body
    return body


def test_sentinel_speeds_of_up_links_read_unknown_not_down_and_not_fast(
        tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    """4294967295 (SPEED_UNKNOWN as u32), 65535 (the legacy 16-bit unknown) and -1 (a virtio NIC) on links
    with carrier up, next to an SFP+ port at its full 10G: no 5.37e14 bytes/s, no "down", no "Resolved"."""
    ifaces = [
        Iface(I226_V, 4, pci=MS01_PCI[I226_V], speed="4294967295"),
        Iface("enp88s0", 5, pci="0000:58:00.0", speed="65535"),
        Iface("eth0", 6, pci="0000:00:03.0", virtio=True, speed="-1", duplex="unknown"),
        Iface(X710_PORT0, 2, pci=MS01_PCI[X710_PORT0], speed="10000"),
    ]
    config, port = world(tmp_path, ifaces, {I226_V: "2.5G", "enp88s0": "2.5G", "eth0": "10G", X710_PORT0: "10G"})
    daemon = start_daemon(config, port)
    daemon_factory.append(daemon)
    body = collected(daemon, "nic")
    for name in (I226_V, "enp88s0", "eth0"):
        assert value(body, "physgap_nic_up", interface=name) == 1.0  # up, as the kernel says
        assert value(body, "physgap_nic_speed_bytes", interface=name) is None  # speed unknown: no sample
    assert value(body, "physgap_nic_speed_bytes", interface=X710_PORT0) == 1.25e9
    assert value(body, "physgap_gap_evaluated", gap="P3") == 0.0
    p3 = gaps(daemon)["P3"]
    assert (p3["status"], p3["open"]) == ("unknown", False)
    for name, expected in ((I226_V, "2.5G"), ("enp88s0", "2.5G"), ("eth0", "10G")):
        assert f"{name} is up but its driver reports no valid speed, so it cannot be judged against the " \
               f"expected {expected}" in p3["reason"]
    assert " down" not in p3["reason"]

    # The CLI agrees: `report` never says Resolved on a speed it could not read.
    report = run_physgap("report", "--config", str(config), "--format", "json", timeout=TIMEOUT)
    assert report.returncode == 0, report.stderr
    cli_p3 = next(gap for gap in json.loads(report.stdout)["gaps"] if gap["id"] == "P3")
    assert (cli_p3["status"], cli_p3["reason"]) == ("unknown", p3["reason"])
    assert daemon.stop() == 0


def test_absurd_carrier_changes_cost_only_that_value(tmp_path: Path, daemon_factory: list[DaemonProcess]) -> None:
    """A carrier_changes of 400 digits once made every /metrics answer 500 and `once` exit 1 with a traceback:
    now it is unknown (no sample), and everything else is served."""
    ifaces = [Iface(I226_V, 4, pci=MS01_PCI[I226_V], speed="2500", carrier_changes="9" * 400),
              Iface(X710_PORT0, 2, pci=MS01_PCI[X710_PORT0], speed="10000", carrier_changes="2")]
    config, port = world(tmp_path, ifaces, {})
    daemon = start_daemon(config, port)
    daemon_factory.append(daemon)
    body = collected(daemon, "nic")  # scrape() asserts 200 on every request
    assert value(body, "physgap_collector_success", collector="nic") == 1.0
    assert value(body, "physgap_nic_carrier_changes_total", interface=I226_V) is None
    assert value(body, "physgap_nic_carrier_changes_total", interface=X710_PORT0) == 2.0
    assert value(body, "physgap_nic_up", interface=I226_V) == 1.0
    assert value(body, "physgap_nic_speed_bytes", interface=I226_V) == 3.125e8
    assert daemon.stop() == 0

    once = run_physgap("once", "--config", str(config), timeout=TIMEOUT)
    assert once.returncode == 0, once.stderr
    assert "Traceback" not in once.stderr
    assert value(once.stdout, "physgap_nic_up", interface=I226_V) == 1.0
    assert value(once.stdout, "physgap_nic_carrier_changes_total", interface=I226_V) is None
