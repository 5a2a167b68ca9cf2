"""Compute hosts (gap P4): Proxmox cluster membership and probed hosts. The section is parsed and
checked; the probe itself is not built yet."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.hosts.config import SECTION, HostsConfig
from collectors.registry import Environment, Planned, Source, register


def plan(config: HostsConfig, env: Environment) -> Sequence[Planned]:
    del config, env
    return []


SOURCE = register(Source(SECTION, plan, pending="compute-host probing (gap P4)"))
