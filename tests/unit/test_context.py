"""Sub-deadlines: a step ends before the run does, so the run can still hand back what it read."""

from __future__ import annotations

import time
from pathlib import Path

from collectors.kit.context import RunContext


def ctx(seconds: float) -> RunContext:
    return RunContext(deadline=time.monotonic() + seconds, state_dir=Path("/nonexistent"))


def test_keeping_back_a_share_clamped_to_its_bounds() -> None:
    long_run = ctx(60.0)
    assert abs((long_run.deadline - long_run.keeping_back().deadline) - 1.0) < 0.01  # 10 %, at most 1 s
    short_run = ctx(0.5)
    assert abs((short_run.deadline - short_run.keeping_back().deadline) - 0.1) < 0.01  # at least 0.1 s
    zpool = ctx(10.0).keeping_back(0.2, at_least=0.0, at_most=1.0)
    assert 8.9 < zpool.remaining() <= 9.0


def test_a_sub_context_shares_cancel_and_never_outlives_the_run() -> None:
    run = ctx(1.0)
    step = run.sub(30.0)
    assert step.deadline == run.deadline
    run.cancel.set()
    assert step.cancel.is_set()
    assert run.keeping_back().remaining() <= 0.9
