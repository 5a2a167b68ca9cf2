"""IF-MIB as switches really answer it: pure functions from `{dotted OID: value}` to ports.

What real agents do (shared/corpus/snmp recordings, snmpsim-data, notes section 1.5):
- Down ports report ifHighSpeed 0 (MikroTik, D-Link, Arista), 10 (Cisco) or the port's nominal speed (UniFi,
  HPE, Huawei): a speed is only believed while ifOperStatus is up(1).
- ifSpeed is bit/s in a Gauge32 and saturates at 4294967295 on links faster than 4.29 Gbit/s, where
  ifHighSpeed (Mbit/s) has to be used; some agents have no ifXTable at all (ifSpeed / 10^6 then).
- A D-Link reports ifHighSpeed in bit/s, an HPE up port reports ifHighSpeed 0: ifHighSpeed is cross-checked
  against ifSpeed wherever ifSpeed is below its ceiling.
- Switches list LAGs, VLAN interfaces, loopbacks, tunnels and stack ports beside the front ports; only
  Ethernet-type rows are ports (a mapped NIC's row is kept whatever its type: a bond may be cabled to a LAG).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from collectors.kit.snmp import Values, int_value, rows, text_value
from collectors.model.readings import IF_OPER_STATUSES
from collectors.nic.linkmodes import plausible_speed

SYS_NAME = "1.3.6.1.2.1.1.5.0"
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
IF_TYPE = "1.3.6.1.2.1.2.2.1.3"
IF_SPEED = "1.3.6.1.2.1.2.2.1.5"  # bit/s, Gauge32
IF_OPER_STATUS = "1.3.6.1.2.1.2.2.1.8"
IF_NAME = "1.3.6.1.2.1.31.1.1.1.1"
IF_HIGH_SPEED = "1.3.6.1.2.1.31.1.1.1.15"  # Mbit/s, Gauge32
IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.18"

COLUMNS = (IF_DESCR, IF_TYPE, IF_SPEED, IF_OPER_STATUS, IF_NAME, IF_HIGH_SPEED, IF_ALIAS)

# ifSpeed's "too fast for me, see ifHighSpeed" value (RFC 2863).
IF_SPEED_CEILING = 4294967295
# IANAifType: ethernetCsmacd, fastEther, fastEtherFX, gigabitEthernet (the last three deprecated for 6, but
# older agents still use them).
ETHERNET_TYPES = frozenset({6, 62, 69, 117})
# How far ifHighSpeed may stray from ifSpeed / 10^6 and still be the same speed: RFC 2863 rounds to the
# nearest Mbit/s, and agents round 2.5G and 100M odd ways.
_AGREE = 0.01


@dataclass(frozen=True)
class Port:
    """One ifTable row, joined across the columns by ifIndex."""

    if_index: int
    name: str
    descr: str
    alias: str
    if_type: int | None
    oper_status: str
    speed_mbps: int | None

    @property
    def ethernet(self) -> bool:
        return self.if_type is None or self.if_type in ETHERNET_TYPES


def oper_status(raw: int | str | None) -> str:
    if isinstance(raw, int) and 1 <= raw <= len(IF_OPER_STATUSES):
        return IF_OPER_STATUSES[raw - 1]
    return "unknown"


def port_speed_mbps(status: str, high_speed: int | str | None, speed: int | str | None) -> int | None:
    """The negotiated speed of an up port in Mbit/s; None for a port that is not up or reports no believable
    speed."""
    if status != "up":
        return None
    high = plausible_speed(high_speed) if isinstance(high_speed, int) else None
    low = None
    if isinstance(speed, int) and 0 < speed < IF_SPEED_CEILING:
        low = plausible_speed(round(speed / 1_000_000))
    if high is not None and (low is None or abs(high - low) <= max(1.0, _AGREE * low)):
        return high
    if low is not None:
        return low  # below the ceiling ifSpeed is exact: it wins over an ifHighSpeed in the wrong unit or 0
    return None


def parse_ports(values: Values) -> tuple[Port, ...]:
    """Every row the agent described (by ifOperStatus, ifDescr or ifName), in ifIndex order."""
    table = rows(values, COLUMNS)
    described = (IF_OPER_STATUS, IF_DESCR, IF_NAME)
    ports = []
    for index, row in sorted(table.items()):
        if not any(column in row for column in described):
            continue
        status = oper_status(row.get(IF_OPER_STATUS))
        descr = text_value(row, IF_DESCR)
        ports.append(Port(
            if_index=index,
            name=text_value(row, IF_NAME) or descr or str(index),
            descr=descr,
            alias=text_value(row, IF_ALIAS),
            if_type=int_value(row, IF_TYPE),
            oper_status=status,
            speed_mbps=port_speed_mbps(status, row.get(IF_HIGH_SPEED), row.get(IF_SPEED)),
        ))
    return tuple(ports)


def front_ports(ports: tuple[Port, ...], keep: Collection[int] = ()) -> tuple[Port, ...]:
    """The Ethernet ports, plus the rows in `keep` (mapped to a NIC) whatever their type."""
    return tuple(port for port in ports if port.ethernet or port.if_index in keep)


def port_labels(ports: tuple[Port, ...]) -> dict[int, str]:
    """ifIndex -> the port's label: its name, or "name (ifIndex N)" where two rows share a name, so that
    every port keeps a series of its own."""
    counts: dict[str, int] = {}
    for port in ports:
        counts[port.name] = counts.get(port.name, 0) + 1
    return {port.if_index: port.name if counts[port.name] == 1 else f"{port.name} (ifIndex {port.if_index})"
            for port in ports}
