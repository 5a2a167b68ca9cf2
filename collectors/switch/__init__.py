"""Switch ports over SNMP (the switch side of gap P3). The section is parsed and checked; the poller is
not built yet."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.registry import Environment, Planned, Source, register
from collectors.switch.config import SECTION, SwitchConfig


def plan(config: SwitchConfig, env: Environment) -> Sequence[Planned]:
    del config, env
    return []


SOURCE = register(Source(SECTION, plan, pending="switch port polling"))
