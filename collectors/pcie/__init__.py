"""PCIe links and physical slots: sysfs and config space for occupancy and link training, SMBIOS type 9
(dmidecode) for labels only. Full config space needs root; without it slots read as undecidable."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.pcie.collector import PcieCollector
from collectors.pcie.config import SECTION, PcieConfig
from collectors.registry import Environment, Planned, Source, register


def plan(config: PcieConfig, env: Environment) -> Sequence[Planned]:
    return [Planned(PcieCollector(config, sysfs=env.sysfs), config.interval, config.timeout)]


SOURCE = register(Source(SECTION, plan))
