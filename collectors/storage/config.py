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
    table=c.Table({"zpool": c.nonempty_string, "interval": c.duration, "timeout": c.duration}),
    build=c.by_field_names(StorageConfig),
)
