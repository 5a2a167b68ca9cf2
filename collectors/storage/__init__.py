"""Storage redundancy: Linux md arrays (/proc/mdstat, /sys/block/md*/md) and ZFS pools (`zpool status`),
as "further member failures survived"."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.registry import Environment, Planned, Source, register
from collectors.storage.collector import StorageCollector
from collectors.storage.config import SECTION, StorageConfig


def plan(config: StorageConfig, env: Environment) -> Sequence[Planned]:
    return [Planned(StorageCollector(config, procfs=env.procfs, sysfs=env.sysfs), config.interval, config.timeout)]


SOURCE = register(Source(SECTION, plan))
