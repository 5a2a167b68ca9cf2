"""Switch ports over SNMP (the switch side of gap P3): IF-MIB port state and speed of every [[switch]], and
which of this host's NICs is cabled to which port ([[switch]].ports, or LLDP neighbours when lldpd runs).
pysnmp is imported only when a [[switch]] is configured."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.registry import Environment, Planned, Source, register
from collectors.switch.config import RUN_TIMEOUT, SECTION, SwitchConfig


def plan(config: SwitchConfig, env: Environment) -> Sequence[Planned]:
    del env
    if not config.switches:
        return []
    # Imported only when configured: a host without [[switch]] loads neither asyncio nor pysnmp.
    from collectors.switch.collector import SwitchCollector

    return [Planned(SwitchCollector(config.switches), None, RUN_TIMEOUT)]


SOURCE = register(Source(SECTION, plan))
