"""[nas] with [[nas.snmp]]: NAS boxes physgap cannot be installed on (Synology DSM), whose disks and RAID volumes
are read over SNMP. Each entry takes the agent keys of [[switch]] (v1/v2c/v3, community or keys from files),
a required `name`, and optionally the RAID level of its volumes, which the Synology MIB does not carry:

    [[nas.snmp]]
    name = "syno1"                       # drive ids are "syno1:Disk 1": keep it stable
    host = "192.0.2.20"
    community_file = "syno1-community"
    levels = { "Storage Pool 1" = "shr", "Volume 1" = "shr" }   # raidName -> level

This module loads neither asyncio nor pysnmp: reading the configuration must stay cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from collectors.kit import config as c
from collectors.kit.snmp_target import SNMP_AGENT_V3, SnmpTarget, agent_issues

# Member failures each declarable level survives while the volume reads Normal. A level that survives more
# with more disks (a 3-way RAID 1) is stated at its minimum: redundancy is understated, never overstated.
# SHR with one disk is Basic: whoever declares "shr" states that the pool has at least two disks.
LEVEL_REDUNDANCY: Mapping[str, int] = MappingProxyType({
    "basic": 0, "jbod": 0, "raid0": 0, "raid1": 1, "raid5": 1, "raid6": 2, "raid10": 1, "raid-f1": 1,
    "shr": 1, "shr-2": 2,
})
# One SNMP run for every NAS: each answers two short tables; a silent one costs (retries + 1) x its timeout.
RUN_TIMEOUT = 20.0


@dataclass(frozen=True)
class NasTarget:
    agent: SnmpTarget
    levels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # raidName -> level

    @property
    def name(self) -> str:
        return self.agent.label


@dataclass(frozen=True)
class NasConfig:
    snmp: tuple[NasTarget, ...] = ()
    interval: float | None = None  # None: [daemon].interval
    timeout: float = RUN_TIMEOUT


def level_table(value: Any) -> dict[str, str]:
    """`{ "Volume 1" = "raid5" }`: the level of a volume as DSM names it (raidName), from LEVEL_REDUNDANCY."""
    if not isinstance(value, dict):
        raise ValueError('expected a table such as { "Volume 1" = "shr" }')
    table: dict[str, str] = {}
    for name, level in value.items():
        if not isinstance(level, str) or level.lower() not in LEVEL_REDUNDANCY:
            raise ValueError(f"{c.quoted(str(name))}: {c.quoted(str(level))} is not one of "
                             f"{', '.join(LEVEL_REDUNDANCY)}")
        table[name] = level.lower()
    return table


NAS_AGENT = c.Table({**SNMP_AGENT_V3.keys, "levels": level_table}, required=(*SNMP_AGENT_V3.required, "name"))


def _build(values: c.Values) -> NasConfig:
    targets = []
    for entry in values.entries("snmp"):
        agent = {key: value for key, value in entry.items() if key != "levels"}
        targets.append(NasTarget(SnmpTarget(**agent), MappingProxyType(dict(entry.get("levels", {})))))
    return NasConfig(tuple(targets), values.get("interval", None), values.get("timeout", RUN_TIMEOUT))


def _cross(values: c.Values) -> Iterable[c.Issue]:
    names: dict[str, int] = {}
    for index, entry in enumerate(values.entries("snmp")):
        for key, problem in agent_issues(entry):
            yield c.Issue(key, problem, "snmp", index)
        name = entry.get("name", "")
        if name in names:
            yield c.Issue("name", f"{c.quoted(name)} is already NAS {names[name] + 1}: give each a distinct name",
                          "snmp", index)
        names.setdefault(name, index)


SECTION = c.Section(
    name="nas",
    table=c.Table({"interval": c.interval, "timeout": c.run_timeout}),
    children={"snmp": NAS_AGENT},
    build=_build,
    cross=_cross,
)
