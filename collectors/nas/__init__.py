"""NAS boxes physgap cannot be installed on, over SNMP ([[nas.snmp]]: Synology DSM's disk and RAID tables),
feeding the same drive and array readings as this host's own disks, md arrays and ZFS pools (gap P2).
pysnmp is imported only when a [[nas.snmp]] is configured."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.nas.config import SECTION, NasConfig
from collectors.registry import Environment, Planned, Source, register


def plan(config: NasConfig, env: Environment) -> Sequence[Planned]:
    del env
    if not config.snmp:
        return []
    # Imported only when configured: a host without [[nas.snmp]] loads neither asyncio nor pysnmp.
    from collectors.nas.collector import NasCollector

    return [Planned(NasCollector(config.snmp), config.interval, config.timeout)]


SOURCE = register(Source(SECTION, plan))
