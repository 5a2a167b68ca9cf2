"""[hosts]: where compute-cluster membership comes from (Proxmox's .members) or which hosts to probe."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collectors.kit import config as c

DEFAULT_MEMBERS = Path("/etc/pve/.members")
# Tried in this order on a host written without a port: the Proxmox VE API (pveproxy), then SSH, which
# every other kind of compute host (a plain KVM/libvirt box, a k3s node) answers on.
DEFAULT_PORTS = (8006, 22)
DEFAULT_TIMEOUT = 3.0

_WITH_PORT = re.compile(r"(?:\[([^\[\]]+)\]|([^:\[\]]+))(?::(\d{1,5}))?")


@dataclass(frozen=True)
class ProbeTarget:
    """One configured compute host: `name` as written (the label it is shown by), where to connect."""

    name: str
    host: str  # bare: "[fd00::5]:8006" arrives as "fd00::5"
    ports: tuple[int, ...]


@dataclass(frozen=True)
class HostsConfig:
    members: Path | None = DEFAULT_MEMBERS  # None: do not read cluster membership
    compute: tuple[str, ...] = ()  # host names or addresses to probe: "pve2", "10.0.10.6:22", "[fd00::6]:8006"
    ports: tuple[int, ...] = DEFAULT_PORTS  # tried for a compute host written without a port
    timeout: float = DEFAULT_TIMEOUT  # per host: how long its ports may take to accept a connection
    interval: float | None = None

    @property
    def targets(self) -> tuple[ProbeTarget, ...]:
        return tuple(probe_target(entry, self.ports) for entry in self.compute)


def split_host_port(text: str) -> tuple[str, int | None]:
    """'pve2' -> ('pve2', None); 'pve2:22' -> ('pve2', 22); '[fd00::6]:8006' -> ('fd00::6', 8006); a bare
    IPv6 address ('fd00::6', more than one colon) has no port. ValueError for anything else."""
    if text.count(":") > 1 and not text.startswith("["):
        return text, None
    match = _WITH_PORT.fullmatch(text)
    if match is None:
        raise ValueError(f"{c.quoted(text)} is not a host, host:port or [address]:port")
    host = match.group(1) or match.group(2)
    if match.group(3) is None:
        return host, None
    port = int(match.group(3))
    if not 1 <= port <= 65535:
        raise ValueError(f"{c.quoted(text)}: port {port} is outside 1..65535")
    return host, port


def probe_target(entry: str, ports: tuple[int, ...]) -> ProbeTarget:
    host, port = split_host_port(entry)
    return ProbeTarget(name=entry, host=host, ports=(port,) if port is not None else ports)


def _hosts(value: object) -> tuple[str, ...]:
    names = c.string_list(value)
    for name in names:
        c.host(name)
        split_host_port(name)
    if len(set(names)) != len(names):
        duplicate = next(name for name in names if names.count(name) > 1)
        raise ValueError(f"{c.quoted(duplicate)} is listed twice")
    return names


def _ports(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError("expected a non-empty list of ports, such as [8006, 22]")
    return tuple(c.port(item) for item in value)


SECTION = c.Section(
    name="hosts",
    # interval: probes of other hosts over the network; the shared 1 s .. 1 d bounds. timeout: one host's
    # connection attempts; the shared request bounds (a host slower than a minute to accept is down).
    table=c.Table({"members": c.optional_path, "compute": _hosts, "ports": _ports, "timeout": c.request_timeout,
                   "interval": c.interval}),
    build=c.by_field_names(HostsConfig),
)
