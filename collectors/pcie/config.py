"""[pcie]: where dmidecode is (SMBIOS slot labels) and how often the PCIe tree is read."""

from __future__ import annotations

from dataclasses import dataclass

from collectors.kit import config as c


@dataclass(frozen=True)
class PcieConfig:
    dmidecode: str = "dmidecode"
    interval: float | None = None
    timeout: float = 20.0


SECTION = c.Section(
    name="pcie",
    table=c.Table({"dmidecode": c.nonempty_string, "interval": c.duration, "timeout": c.duration}),
    build=c.by_field_names(PcieConfig),
)
