"""Drive SMART data from `smartctl --json`, standby-aware (never wakes a sleeping disk), with persisted
baselines for growth and physgap's own verdict. Needs root (or CAP_SYS_RAWIO) to open the disks."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.registry import Environment, Planned, Source, register
from collectors.smart.collector import SmartCollector
from collectors.smart.config import SECTION, SmartConfig


def plan(config: SmartConfig, env: Environment) -> Sequence[Planned]:
    devices = [{"device": d.device, **({"type": d.type} if d.type else {}), **({"ignore": True} if d.ignore else {})}
               for d in config.devices]
    collector = SmartCollector(smartctl=config.smartctl, devices=devices, sysfs_root=env.sysfs,
                               concurrency=config.concurrency, force_after=config.force_after)
    return [Planned(collector, config.interval, config.timeout)]


SOURCE = register(Source(SECTION, plan))
