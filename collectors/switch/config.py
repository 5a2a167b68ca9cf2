"""[[switch]]: switches whose port speeds are read over SNMP (the switch side of gap P3). Written with the
same keys as [[ups.snmp]]: one SNMP agent description for both."""

from __future__ import annotations

from dataclasses import dataclass

from collectors.kit import config as c
from collectors.kit.snmp_target import SNMP_AGENT, SnmpTarget


@dataclass(frozen=True)
class SwitchConfig:
    switches: tuple[SnmpTarget, ...] = ()


SECTION = c.Section(name="switch", table=SNMP_AGENT, array=True,
                    build=lambda v: SwitchConfig(tuple(SnmpTarget(**entry) for entry in v.entries("switch"))))
