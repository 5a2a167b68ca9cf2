"""[storage]: the zpool program; md arrays come from procfs/sysfs."""

from __future__ import annotations

from dataclasses import dataclass

from collectors.kit import config as c


@dataclass(frozen=True)
class StorageConfig:
    zpool: str = "zpool"
    interval: float | None = None
    timeout: float = 30.0


SECTION = c.Section(
    name="storage",
    # interval: every run forks `zpool status`; the shared 1 s .. 1 d bounds. timeout: the shared run
    # bounds; zpool on a pool with a hung device can block for minutes, which is what the timeout is for.
    table=c.Table({"zpool": c.program, "interval": c.interval, "timeout": c.run_timeout}),
    build=c.by_field_names(StorageConfig),
    # Without ZFS there is no zpool, and that is normal: only a zpool the operator wrote is checked.
    programs=(c.ProgramKey("zpool", StorageConfig.zpool, "ZFS pools will not be reported", optional=True),),
)
