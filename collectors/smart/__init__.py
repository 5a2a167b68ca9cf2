"""Drive SMART data from `smartctl --json`, standby-aware (never wakes a sleeping disk), with persisted
baselines for growth and physgap's own verdict. Needs root (or CAP_SYS_RAWIO) to open the disks."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.registry import Environment, Planned, Source, register
from collectors.smart.collector import SmartCollector
from collectors.smart.config import SECTION, SmartConfig


def plan(config: SmartConfig, env: Environment) -> Sequence[Planned]:
    return [Planned(SmartCollector(config, sysfs_root=env.sysfs), config.interval, config.timeout)]


SOURCE = register(Source(SECTION, plan))
