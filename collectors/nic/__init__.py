"""Network links: sysfs link state gated on carrier, the best supported mode from the ethtool ioctl,
and the operator's expected speeds ([nics]). Reads /sys/class/net; the ioctl needs no privilege."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from collectors.nic.collector import NicCollector
from collectors.nic.config import SECTION, NicsConfig
from collectors.registry import Environment, Planned, Source, register


def _no_link_settings(name: str) -> None:
    del name


def _is_live_sysfs(path: Path) -> bool:
    try:
        return path.resolve() == Path("/sys")
    except OSError:
        return False


def plan(config: NicsConfig, env: Environment) -> Sequence[Planned]:
    # The ethtool ioctl asks the running kernel by interface name: only meaningful when sysfs is the live
    # one, not a replayed tree or a container's copy where the same names may mean other NICs.
    live = _is_live_sysfs(env.sysfs)
    collector = NicCollector(config, sysfs=env.sysfs, link_settings=None if live else _no_link_settings)
    return [Planned(collector, config.interval, config.timeout)]


SOURCE = register(Source(SECTION, plan))
