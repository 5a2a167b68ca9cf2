"""Out-of-band management (gap P6): probes of configured Intel AMT, IPMI and plain TCP endpoints (run from
another host: a machine cannot reach its own AMT over its own NIC), and this host's own OOB hardware (Intel
ME/AMT, a BMC) read from sysfs, /dev and SMBIOS."""

from __future__ import annotations

from collections.abc import Sequence

from collectors.oob.config import SECTION, OobConfig
from collectors.oob.local import OobLocalCollector
from collectors.registry import Environment, Planned, Source, register


def plan(config: OobConfig, env: Environment) -> Sequence[Planned]:
    planned: list[Planned] = []
    if config.local:
        local = OobLocalCollector(sysfs=env.sysfs, dev=config.dev, dmidecode=config.dmidecode)
        planned.append(Planned(local, config.interval, config.timeout))
    if config.targets:
        # The probes (HTTP, Digest, TLS, RMCP) load only where endpoints are configured: most hosts have none.
        from collectors.oob.collector import OobProbeCollector, round_timeout

        planned.append(Planned(OobProbeCollector(config.targets), config.interval, round_timeout(config.targets)))
    return planned


SOURCE = register(Source(SECTION, plan))
