"""Turns a Config into the collector jobs and the gap evaluator. Which collector a section asks for is
the source package's business (collectors.registry); this module only asks each one."""

from __future__ import annotations

from collectors.model.gaps import RuleContext
from collectors.model.snapshot import Gap, Snapshot
from collectors.registry import sources
from daemon.config import Config
from daemon.gaps import RULES
from daemon.gaps.engine import evaluate
from daemon.scheduler import Job
from daemon.store import Evaluator


def build_jobs(config: Config) -> list[Job]:
    env = config.daemon.environment
    jobs: list[Job] = []
    for source in sources():
        for planned in source.plan(config.sources[source.section.name], env):
            interval = planned.interval if planned.interval is not None else config.daemon.interval
            jobs.append(Job(planned.collector, interval, planned.timeout))
    return jobs


def build_evaluator(config: Config) -> Evaluator:
    ctx = RuleContext(role=config.daemon.role)
    overrides = config.gaps

    def evaluator(snapshot: Snapshot) -> tuple[Gap, ...]:
        return evaluate(snapshot, RULES, overrides, ctx)

    return evaluator
