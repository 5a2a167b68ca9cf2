"""Turns a Config into the collector jobs and the gap evaluator. The only place that knows which
collector reads which config section."""

from __future__ import annotations

import logging
from pathlib import Path

from collectors.model.gaps import RuleContext
from collectors.model.snapshot import Gap, Snapshot
from collectors.nic.collector import NicCollector
from collectors.pcie.collector import PcieCollector
from collectors.smart.collector import SmartCollector
from collectors.storage.collector import StorageCollector
from collectors.ups.nut import NutUpsCollector
from daemon.config import Config, ConfigError, ConfigProblem
from daemon.gaps import RULES
from daemon.gaps.engine import evaluate
from daemon.scheduler import Job
from daemon.store import Evaluator

log = logging.getLogger("physgap")

# Contract sections whose collectors or exporters are not built yet: accepted, so one file serves later
# releases, but said out loud so nobody believes MQTT or the AMT probe is running.
NOT_IMPLEMENTED = {"mqtt": "MQTT publishing", "oob.targets": "out-of-band (AMT/IPMI) probing (gap P6)",
                   "hosts": "compute-host probing (gap P4)", "switch": "switch port polling"}


def not_implemented(config: Config) -> list[str]:
    return [f"[{name}] is configured but {what} is not implemented yet; the section is ignored"
            for name, what in NOT_IMPLEMENTED.items() if config.extra.get(name)]


def checked_jobs(config: Config) -> list[Job]:
    """build_jobs plus what the schema cannot see: gap ids that exist, values a collector refuses.

    Raises ConfigError, so `check-config`, startup (exit 2) and SIGHUP (old config kept) all say the same.
    """
    problems: list[ConfigProblem] = []
    known = {rule.id for rule in RULES}
    for gap_id in config.gaps:
        if gap_id not in known:
            problems.append(ConfigProblem(config.source, None, f"gaps.{gap_id}",
                                          f"no such gap (known: {', '.join(sorted(known))})"))
    jobs: list[Job] = []
    try:
        jobs = build_jobs(config)
    except ValueError as exc:
        problems.append(ConfigProblem(config.source, None, "-", str(exc)))
    if problems:
        raise ConfigError(problems)
    return jobs


def build_jobs(config: Config) -> list[Job]:
    sysfs = config.daemon.sysfs
    nics = config.nics
    # The ethtool ioctl asks the running kernel by interface name: only meaningful when sysfs is the live
    # one, not a replayed tree or a container's copy where the same names may mean other NICs.
    live = _is_live_sysfs(sysfs)
    nic = NicCollector(
        sysfs_root=sysfs,
        include=nics.include,
        exclude=nics.exclude,
        expected_mbps=nics.expected_mbps,
        include_virtual=nics.include_virtual,
        link_settings=None if live else _no_link_settings,
    )
    pcie = PcieCollector(sysfs_root=sysfs, dmidecode=config.pcie.dmidecode)
    smart = SmartCollector(
        smartctl=config.smart.smartctl,
        devices=config.smart.devices,
        sysfs_root=sysfs,
        concurrency=config.smart.concurrency,
        force_after=config.smart.force_after,
    )
    storage = StorageCollector(procfs=config.daemon.procfs, sysfs=sysfs, zpool=config.storage.zpool)
    ups = config.ups
    ups_interval = config.interval_for(ups.interval)
    nut = NutUpsCollector(servers=ups.nut, upsmon_conf=ups.upsmon_conf, autodetect=ups.autodetect and not ups.nut)
    jobs = [
        Job(nic, config.interval_for(nics.interval), nics.timeout),
        Job(pcie, config.interval_for(config.pcie.interval), config.pcie.timeout),
        Job(smart, config.smart.interval, config.smart.timeout),
        Job(storage, config.interval_for(config.storage.interval), config.storage.timeout),
        Job(nut, ups_interval, ups.timeout),
    ]
    if ups.snmp:
        # Imported only when configured: pysnmp costs ~6 MB and ~100 ms that a NUT-only host should not pay.
        from collectors.ups.snmp import SnmpUpsCollector

        jobs.append(Job(SnmpUpsCollector(targets=ups.snmp), ups_interval, ups.timeout))
    return jobs


def build_evaluator(config: Config) -> Evaluator:
    ctx = RuleContext(role=config.daemon.role)
    overrides = config.gaps

    def evaluator(snapshot: Snapshot) -> tuple[Gap, ...]:
        return evaluate(snapshot, RULES, overrides, ctx)

    return evaluator


def _no_link_settings(name: str) -> None:
    del name


def _is_live_sysfs(path: Path) -> bool:
    try:
        return path.resolve() == Path("/sys")
    except OSError:
        return False
