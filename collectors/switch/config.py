"""[[switch]]: switches whose ports are read over SNMP (the switch side of gap P3). Each entry takes the keys of
[[ups.snmp]] (one SNMP agent description for both), the SNMPv3 ones, and two of its own:

    ports = { enp2s0f0np0 = "te1", enp87s0 = 17 }   # this host's NIC -> switch port: ifName (string) or ifIndex
    lldpcli = "lldpcli"                               # LLDP neighbours when lldpd runs; "" = do not ask

This module loads neither asyncio nor pysnmp: reading the configuration must stay cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from collectors.kit import config as c
from collectors.kit.snmp_target import SNMP_AGENT_V3, SnmpTarget, agent_issues

DEFAULT_LLDPCLI = "lldpcli"
# Linux interface names: at most IFNAMSIZ - 1 bytes, no "/", no whitespace (dev_valid_name()).
_IFNAMSIZ = 16
# ifIndex is InterfaceIndex: 1..2147483647 (RFC 2863).
_MAX_IF_INDEX = 2147483647
# One SNMP run for every switch: each answers a few GETBULKs; a silent one costs (retries + 1) x its timeout.
RUN_TIMEOUT = 20.0


@dataclass(frozen=True)
class PortRef:
    """Which switch port a NIC is cabled to: by ifName (as the switch names it) or by ifIndex."""

    name: str = ""
    index: int | None = None

    def __str__(self) -> str:
        return self.name if self.index is None else f"ifIndex {self.index}"


@dataclass(frozen=True)
class SwitchTarget:
    agent: SnmpTarget
    ports: Mapping[str, PortRef] = field(default_factory=lambda: MappingProxyType({}))  # local NIC -> port
    lldpcli: str | None = None  # None: the default program, if installed; "": never ask LLDP

    @property
    def label(self) -> str:
        return self.agent.label


@dataclass(frozen=True)
class SwitchConfig:
    switches: tuple[SwitchTarget, ...] = ()


def interface_name(name: str) -> str:
    if not name or len(name.encode()) >= _IFNAMSIZ or "/" in name or any(ch.isspace() for ch in name):
        raise ValueError(f"{c.quoted(name)} is not a network interface name (1-15 bytes, no '/' or spaces)")
    return name


def port_table(value: Any) -> dict[str, PortRef]:
    """`{ nic = "ifName" | ifIndex }`: a string names the port as the switch does (ifName), an integer is its
    ifIndex. So "17" is the port named 17 (some switches name ports by number) and 17 is ifIndex 17."""
    if not isinstance(value, dict):
        raise ValueError('expected a table such as { enp2s0f0np0 = "te1", enp87s0 = 17 }')
    table: dict[str, PortRef] = {}
    for nic, port in value.items():
        interface_name(nic)
        if isinstance(port, bool):
            raise ValueError(f"{nic}: expected a port name (string) or ifIndex (integer), got a boolean")
        if isinstance(port, int):
            if not 1 <= port <= _MAX_IF_INDEX:
                raise ValueError(f"{nic}: ifIndex {port} is outside 1..{_MAX_IF_INDEX}")
            table[nic] = PortRef(index=port)
        elif isinstance(port, str):
            if not port.strip():
                raise ValueError(f"{nic}: the port name must not be empty")
            table[nic] = PortRef(name=port)
        else:
            raise ValueError(f"{nic}: expected a port name (string) or ifIndex (integer), got "
                             f"{type(port).__name__}")
    return table


def lldpcli_program(value: Any) -> str:
    """A program like every other program key, or "" to never ask lldpd."""
    text = c.string(value)
    return text and c.program(text)


def _build(values: c.Values) -> SwitchConfig:
    switches = []
    for entry in values.entries("switch"):
        agent = {key: value for key, value in entry.items() if key not in ("ports", "lldpcli")}
        switches.append(SwitchTarget(SnmpTarget(**agent), MappingProxyType(dict(entry.get("ports", {}))),
                                     entry.get("lldpcli")))
    return SwitchConfig(tuple(switches))


def _cross(values: c.Values) -> Iterable[c.Issue]:
    owner: dict[str, int] = {}
    labels: dict[str, int] = {}
    for index, entry in enumerate(values.entries("switch")):
        for key, problem in agent_issues(entry):
            yield c.Issue(key, problem, None, index)
        label = entry.get("name") or entry.get("host", "")
        if label in labels:
            yield c.Issue("name" if "name" in entry else "host",
                          f"{c.quoted(label)} is already switch {labels[label] + 1}: give each a distinct name",
                          None, index)
        labels.setdefault(label, index)
        for nic in entry.get("ports", {}):
            if nic in owner and owner[nic] != index:
                yield c.Issue("ports", f"{nic} is already cabled to switch {owner[nic] + 1}", None, index)
            owner.setdefault(nic, index)


SECTION = c.Section(
    name="switch",
    table=c.Table({**SNMP_AGENT_V3.keys, "ports": port_table, "lldpcli": lldpcli_program},
                  required=SNMP_AGENT_V3.required),
    array=True,
    build=_build,
    cross=_cross,
)
