"""Out-of-band management (gap P6): Intel AMT, IPMI and plain TCP endpoints. The section is parsed and
checked; the probes themselves are not built yet."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.oob.config import SECTION, OobConfig
from collectors.registry import Environment, Planned, Source, register


def plan(config: OobConfig, env: Environment) -> Sequence[Planned]:
    del config, env
    return []


SOURCE = register(Source(SECTION, plan, pending="out-of-band (AMT/IPMI) probing (gap P6)"))
