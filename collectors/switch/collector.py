"""Switch ports over SNMP: one SwitchReading per configured switch and one SwitchPortReading per front port.

Every switch is polled at once through the kit's SNMP client (collectors.kit.snmp: GETBULK over the IF-MIB
columns, v1/v2c/v3, deadlines, the lazy pysnmp import). A switch that does not answer (host down, closed port,
wrong community or keys: SNMP cannot tell them apart), an agent whose view holds no IF-MIB rows, an
unresolvable host or an unreadable secret gives a SwitchReading with up=False and the reason and no port
readings: its ports are unknown, never down. The collector itself only fails when the daemon stops.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from collectors.kit.context import RunContext
from collectors.kit.snmp import Engine, SnmpError, agent_for, poll_all
from collectors.kit.warnonce import WarnOnce
from collectors.model.readings import SwitchPortReading, SwitchReading
from collectors.switch.config import DEFAULT_LLDPCLI, SwitchTarget
from collectors.switch.ifmib import COLUMNS, SYS_NAME, Port, front_ports, parse_ports, port_labels
from collectors.switch.lldp import LldpUnavailable, Neighbor, read_neighbors
from collectors.switch.mapping import links

log = logging.getLogger(__name__)

# ifTable rows read per column at most: a 48-port switch with LAGs and VLAN interfaces lists a few hundred;
# a chassis switch more. Past this a runaway agent is cut off (the ports read so far still count).
MAX_PORT_ROWS = 2048


@dataclass(frozen=True)
class Answer:
    """What one switch said (its ifTable as parsed), or why it said nothing."""

    target: SwitchTarget
    ports: tuple[Port, ...] | None = None
    sys_name: str = ""
    reason: str = ""


def readings_for(answer: Answer, neighbors: Sequence[Neighbor]) -> tuple[SwitchReading, list[SwitchPortReading]]:
    """The readings of one switch: pure, from its answer and this host's LLDP neighbours."""
    target = answer.target
    ports = answer.ports
    mapped = links(target, ports, neighbors, answer.sys_name)
    switch = SwitchReading(
        switch=target.label, up=ports is not None, reason=answer.reason if ports is None else "",
        sys_name=answer.sys_name,
        links=tuple((link.interface, link.wanted) for link in mapped),
        unmatched=tuple(link.interface for link in mapped if link.port is None) if ports is not None else (),
    )
    if ports is None:
        return switch, []
    by_index: dict[int, tuple[str, str]] = {
        link.port.if_index: (link.interface, link.via) for link in mapped if link.port is not None}
    kept = front_ports(ports, keep=by_index)
    labels = port_labels(kept)
    return switch, [_port_reading(target.label, port, labels[port.if_index], by_index.get(port.if_index))
                    for port in kept]


def _port_reading(switch: str, port: Port, label: str, link: tuple[str, str] | None) -> SwitchPortReading:
    interface, via = link or ("", "")
    return SwitchPortReading(switch=switch, if_index=port.if_index, port=label, alias=port.alias,
                             oper_status=port.oper_status, speed_mbps=port.speed_mbps, interface=interface,
                             mapped_by=via)


class SwitchCollector:
    """Polls `[[switch]]` targets; per switch its reachability, its ports and which NIC sits on which."""

    name = "switch"

    def __init__(self, switches: Sequence[SwitchTarget]) -> None:
        self.switches = tuple(switches)
        # Unreadable secrets, silent switches, unmatched ports and lldpcli trouble: once, not every run.
        self._warn = WarnOnce(log)

    def collect(self, ctx: RunContext) -> Sequence[SwitchReading | SwitchPortReading]:
        ctx.check()
        if not self.switches:
            return []
        neighbors = self._neighbors(ctx)
        # The polls end a little before the run does, so a silent switch's reading is handed back before the
        # scheduler abandons the run at its deadline.
        answers = poll_all(ctx.keeping_back(), self.switches, self._poll,
                           lambda target, reason: Answer(target, reason=reason))
        readings: list[SwitchReading | SwitchPortReading] = []
        for answer in answers:
            switch, ports = readings_for(answer, neighbors.get(self._program(answer.target), ()))
            self._log_outcome(switch)
            readings.append(switch)
            readings.extend(ports)
        return readings

    async def _poll(self, engine: Engine, target: SwitchTarget) -> Answer:
        session = await engine.session(agent_for(target.agent, self._warn))
        scalars = await session.get([SYS_NAME])
        ports = parse_ports(await session.columns(COLUMNS, MAX_PORT_ROWS))
        sys_name = scalars.get(SYS_NAME)
        name = sys_name if isinstance(sys_name, str) else ""
        if not ports:
            # Every agent lists at least one interface: none is a read view without IF-MIB (Debian snmpd's
            # default "systemonly" view), not a switch without ports. Up with no ports would make P3 read
            # "no port te1" as a fact.
            answered = f"answers sysName {name!r}" if name else "answers"
            raise SnmpError(f"the agent {answered} but returns no IF-MIB ifTable rows; does its SNMP view "
                            "include IF-MIB?")
        return Answer(target, ports, name)

    @staticmethod
    def _program(target: SwitchTarget) -> str:
        return DEFAULT_LLDPCLI if target.lldpcli is None else target.lldpcli

    def _neighbors(self, ctx: RunContext) -> Mapping[str, tuple[Neighbor, ...]]:
        """LLDP neighbours per lldpcli program the switches name (usually one, run once per run)."""
        found: dict[str, tuple[Neighbor, ...]] = {}
        for target in self.switches:
            program = self._program(target)
            if not program or program in found:
                continue
            try:
                found[program] = read_neighbors(program, ctx)
                self._warn.forget(f"lldp:{program!r}")
            except LldpUnavailable as exc:
                found[program] = ()
                if target.lldpcli is None:
                    # The default: lldpd is optional, so its absence is no news.
                    log.debug("no LLDP neighbours: %s", exc)
                else:
                    self._warn.warn(f"lldp:{program!r}", "no LLDP neighbours (NICs are mapped to switch ports "
                                    "by [[switch]].ports only): %s", exc)
        return found

    def _log_outcome(self, reading: SwitchReading) -> None:
        self._warn.transition(f"down:{reading.switch}", None if reading.up else reading.reason, "switch %s",
                              reading.switch)
        if reading.up:
            for interface in reading.unmatched:
                wanted = dict(reading.links).get(interface, "?")
                self._warn.warn(f"unmatched:{reading.switch!r}:{interface}",
                                "switch %s lists no port %s (where %s should be cabled)", reading.switch, wanted,
                                interface)
