"""[hosts]: where compute-cluster membership comes from (Proxmox's .members) or which hosts to probe."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from collectors.kit import config as c

DEFAULT_MEMBERS = Path("/etc/pve/.members")


@dataclass(frozen=True)
class HostsConfig:
    members: Path | None = DEFAULT_MEMBERS  # None: do not read cluster membership
    compute: tuple[str, ...] = ()  # host names or addresses to probe
    interval: float | None = None


def _hosts(value: object) -> tuple[str, ...]:
    names = c.string_list(value)
    for name in names:
        c.host(name)
    return names


SECTION = c.Section(
    name="hosts",
    # interval: probes of other hosts over the network; the shared 1 s .. 1 d bounds.
    table=c.Table({"members": c.optional_path, "compute": _hosts, "interval": c.interval}),
    build=c.by_field_names(HostsConfig),
)
