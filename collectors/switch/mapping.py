"""Which switch port each of this host's NICs is cabled to: pure functions over the configuration, the LLDP
neighbours lldpd heard and the ports the switch listed.

The configuration wins over LLDP for the same NIC (the operator knows; LLDP may be off on the port). An LLDP
neighbour belongs to a switch when one of its management addresses is the configured host, or its SysName is
the switch's sysName, configured name or host (compared without case and without the domain). Its port is
found by the port ID (ifName, or ifIndex for a numeric "local" ID, or ifAlias), else by the port description.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from collectors.switch.config import PortRef, SwitchTarget
from collectors.switch.ifmib import Port
from collectors.switch.lldp import Neighbor


@dataclass(frozen=True)
class Link:
    """A local NIC and the switch port it should be on; `port` None when the switch lists no such port (or
    did not answer)."""

    interface: str
    wanted: str  # how the port was named: "te1", "ifIndex 17", "LLDP port ifname gi17"
    via: str  # "config" | "lldp"
    port: Port | None


def _short(name: str) -> str:
    return name.strip().casefold().split(".", 1)[0]


def belongs_to(neighbor: Neighbor, target: SwitchTarget, sys_name: str) -> bool:
    host = target.agent.host.casefold()
    if any(ip.casefold() == host for ip in neighbor.mgmt_ips):
        return True
    if not neighbor.chassis_name:
        return False
    names = {_short(n) for n in (sys_name, target.agent.name, target.agent.host) if n.strip()}
    return _short(neighbor.chassis_name) in names


def _by_name(ports: Sequence[Port], name: str) -> Port | None:
    for exact in (True, False):
        for attribute in ("name", "descr"):
            for port in ports:
                value = getattr(port, attribute)
                if value and (value == name if exact else value.casefold() == name.casefold()):
                    return port
    return None


def _by_index(ports: Sequence[Port], index: int) -> Port | None:
    return next((port for port in ports if port.if_index == index), None)


def find_port(ports: Sequence[Port], ref: PortRef) -> Port | None:
    if ref.index is not None:
        return _by_index(ports, ref.index)
    return _by_name(ports, ref.name)


def lldp_port(ports: Sequence[Port], neighbor: Neighbor) -> Port | None:
    kind, value = neighbor.port_id_type, neighbor.port_id
    found: Port | None = None
    if value and kind in ("ifname", "local", ""):
        found = _by_name(ports, value)
    if found is None and kind == "local" and value.isdigit():
        found = _by_index(ports, int(value))  # many agents send the ifIndex as the local port ID
    if found is None and value and kind == "ifalias":
        found = next((port for port in ports if port.alias and port.alias == value), None)
    if found is None and neighbor.port_descr:
        found = _by_name(ports, neighbor.port_descr)
    return found


def _lldp_wanted(neighbor: Neighbor) -> str:
    shown = " ".join(part for part in (neighbor.port_id_type, neighbor.port_id) if part)
    return f"LLDP port {shown or neighbor.port_descr or '?'}"


def links(target: SwitchTarget, ports: Sequence[Port] | None, neighbors: Iterable[Neighbor],
          sys_name: str = "") -> tuple[Link, ...]:
    """Every NIC mapped to `target`, configured ones first, each resolved against `ports` (None: the switch
    did not answer, so no port is known)."""
    known = ports or ()
    found = [Link(nic, str(ref), "config", find_port(known, ref)) for nic, ref in sorted(target.ports.items())]
    configured = set(target.ports)
    for neighbor in neighbors:
        if neighbor.interface in configured or not belongs_to(neighbor, target, sys_name):
            continue
        configured.add(neighbor.interface)
        found.append(Link(neighbor.interface, _lldp_wanted(neighbor), "lldp", lldp_port(known, neighbor)))
    return tuple(found)
