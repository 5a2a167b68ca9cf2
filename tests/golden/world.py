"""One fixed fixture world, the same every run: what the golden test renders end to end.

The MS-01 (PCIe and NIC sysfs shaped after its lspci capture), four drives through the stand-in smartctl
(a healthy HDD, a failing md member, a sleeping disk, an NVMe SSD), a degraded md mirror, and two UPSes
on a real upsd with the dummy-ups driver (one on mains, one on battery).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import nut_devs
from tests import smart_fixtures as sf
from tests import storage_fixtures as md
from tests.conftest import write_config
from tests.net_tree import build_net_tree, ms01_ifaces
from tests.nut_fixture import NutServer, nut_server
from tests.pcie_tree import ms01


@dataclass(frozen=True)
class World:
    root: Path
    config: Path
    nut: NutServer

    def mask(self, text: str) -> str:
        """Replace what differs between runs by design: the temporary root and the upsd port."""
        return text.replace(str(self.root), "<root>").replace(f":{self.nut.port}", ":<nutport>")


def _on(document: dict[str, Any], name: str) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(document))
    copy["device"]["name"] = copy["device"]["info_name"] = f"/dev/{name}"
    return copy


def _disk(sysfs: Path, name: str, rotational: bool) -> None:
    queue = sysfs / "block" / name / "queue"
    if not queue.parent.exists():
        md.block_device(sysfs, name, bus=f"pci0000:00/0000:00:17.0/ata9/host8/target8:0:0/8:0:0:{name}")
    (sysfs / "block" / name).resolve().joinpath("queue").mkdir(parents=True, exist_ok=True)
    (sysfs / "block" / name / "queue" / "rotational").write_text("1\n" if rotational else "0\n")


SMART_SCENARIO: dict[str, Any] = {
    "scan": None,
    "devices": {
        "/dev/sda": {"type": "sat", "json": _on(sf.ATA_HDD_HEALTHY, "sda")},
        "/dev/sdb": {"type": "sat", "json": _on(sf.ATA_FAILED, "sdb")},
        "/dev/sdc": {"type": "sat", "standby": True},
        "/dev/nvme0": {"type": "nvme", "protocol": "NVMe", "json": sf.NVME_HEALTHY},
    },
}


@contextlib.contextmanager
def fixture_world(root: Path, port: int) -> Iterator[World]:
    sysfs = root / "sys"
    ms01(sysfs)
    build_net_tree(sysfs, ms01_ifaces())
    md.raid1_degraded_sysfs(sysfs)  # sda1 + sdb1 (faulty)
    for name, rotational in (("sda", True), ("sdb", True), ("sdc", True), ("nvme0n1", False)):
        _disk(sysfs, name, rotational)
    with nut_server(root / "nut", {"rack": nut_devs.ONLINE, "desk": nut_devs.ON_BATTERY}) as server:
        config = write_config(root / "physgap.toml", sysfs, root / "state", port, smart_scenario=SMART_SCENARIO,
                              mdstat=md.MD_RAID1_DEGRADED,
                              extra='[nics]\nexpected = { enp2s0f0np0 = "10G", enp87s0 = "2.5G" }\n\n'
                                    f'[[ups.nut]]\nhost = "127.0.0.1"\nport = {server.port}\n')
        yield World(root, config, server)
