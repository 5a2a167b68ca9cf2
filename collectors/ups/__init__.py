"""UPSes: NUT servers (upsd, its own line protocol client) and SNMP agents (RFC 1628 UPS-MIB, APC
PowerNet), onto one UpsReading. pysnmp is imported only when [[ups.snmp]] is configured."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.registry import Environment, Planned, Source, register
from collectors.ups.config import SECTION, UpsConfig
from collectors.ups.nut import NutUpsCollector


def plan(config: UpsConfig, env: Environment) -> Sequence[Planned]:
    del env
    nut = NutUpsCollector(servers=config.nut, upsmon_conf=config.upsmon_conf,
                          autodetect=config.autodetect and not config.nut)
    planned = [Planned(nut, config.interval, config.timeout)]
    if config.snmp:
        # Imported only when configured: a NUT-only host loads neither asyncio nor, at the first poll, pysnmp.
        from collectors.ups.snmp import SnmpUpsCollector

        planned.append(Planned(SnmpUpsCollector(targets=config.snmp), config.interval, config.timeout))
    return planned


SOURCE = register(Source(SECTION, plan))
