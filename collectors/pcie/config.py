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
    # interval: slots and link training change when a card is plugged or a link retrains, never many times
    # a second; the shared 1 s .. 1 d bounds. timeout: the shared run bounds (dmidecode gets half of it).
    table=c.Table({"dmidecode": c.program, "interval": c.interval, "timeout": c.run_timeout}),
    build=c.by_field_names(PcieConfig),
    programs=(c.ProgramKey("dmidecode", PcieConfig.dmidecode, "PCIe slots will have no SMBIOS labels"),),
)
