"""Compute hosts (gap P4): Proxmox VE cluster membership from /etc/pve/.members, else configured hosts
probed over TCP. Always planned: on a host with neither, the collector says P4 cannot apply here."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.hosts.collector import PROBE_CONCURRENCY, HostsCollector
from collectors.hosts.config import SECTION, HostsConfig
from collectors.registry import Environment, Planned, Source, register

# Probe rounds are bounded by [hosts].timeout per host (up to PROBE_CONCURRENCY at once, a queued host gets
# its turn after); the margin covers reading .members and handing the readings back.
_RUN_MARGIN = 2.0


def plan(config: HostsConfig, env: Environment) -> Sequence[Planned]:
    del env
    rounds = max(1, -(-len(config.compute) // PROBE_CONCURRENCY))
    return [Planned(HostsCollector(config), config.interval, rounds * config.timeout + _RUN_MARGIN)]


SOURCE = register(Source(SECTION, plan))
