"""Bounded fan-out: one piece of work per item (a drive, a BMC, a host) on at most `limit` threads.

Each item runs under a sub-context of the run with a deadline of its own, so one hung item costs only
itself; the caller gets what finished before the run's deadline, and reports the absent items as it sees
fit (unreachable, timed out). Work must honour its context (run_program does), or a hung item's thread
outlives the run.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

from collectors.kit.context import Cancelled, RunContext

T = TypeVar("T", bound=Hashable)
R = TypeVar("R")

# How soon a cancel is noticed while results are awaited; futures cannot wait on an Event too.
_POLL_SECONDS = 0.1


class _NotStarted(Exception):
    """An item's turn came after the run's deadline or a cancel: it was never started."""


def item_budget(available: float, items: int, limit: int) -> float:
    """Seconds one item may take out of `available`.

    With nothing queued, every item may use the whole run. Otherwise one hung item may take at most half of
    it, so that the items queued behind it still get their turn.
    """
    return available if items <= limit else available / 2


def fan_out(
    ctx: RunContext,
    items: Iterable[T],
    work: Callable[[T, RunContext], R],
    *,
    limit: int,
    on_error: Callable[[T, BaseException], R],
    settle: float = 0.0,
    name: str = "physgap-fanout",
) -> dict[T, R]:
    """Run `work(item, sub_context)` for each distinct item on at most `limit` threads.

    Returns {item: result} for the items that finished before `ctx`'s deadline; the others are absent.
    An exception from `work` (Cancelled included) becomes `on_error(item, exception)`, called on the
    caller's thread, so that one item's failure never costs the others. Items still queued at the deadline
    are dropped; items still running get up to `settle` more seconds to wind down (to reap what they
    killed), their results unused. When `ctx.cancel` is set, waiting stops and Cancelled is raised: nobody
    will read the results.
    """
    if limit < 1:
        raise ValueError(f"fan-out limit must be at least 1, got {limit}")
    unique = list(dict.fromkeys(items))
    if not unique:
        return {}
    workers = min(limit, len(unique))
    budget = item_budget(max(0.0, ctx.remaining()), len(unique), workers)

    def run_one(item: T) -> R:
        if ctx.cancel.is_set() or ctx.remaining() <= 0:
            raise _NotStarted
        # The budget starts when the item does, not when it was queued.
        return work(item, ctx.sub(budget))

    results: dict[T, R] = {}
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
    futures: dict[concurrent.futures.Future[R], T] = {}
    try:
        futures = {pool.submit(run_one, item): item for item in unique}
        pending = set(futures)
        while pending and not ctx.cancel.is_set():
            left = ctx.remaining()
            if left <= 0:
                break
            done, pending = concurrent.futures.wait(
                pending, timeout=min(left, _POLL_SECONDS), return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                _harvest(future, futures[future], results, on_error)
    finally:
        # Queued items are dropped; running ones end by themselves, their deadlines being within the run's.
        pool.shutdown(wait=False, cancel_futures=True)
    running = [future for future in futures if not future.done()]
    if running and settle > 0:
        concurrent.futures.wait(running, timeout=settle)
    if ctx.cancel.is_set():
        raise Cancelled("run cancelled")
    return results


def _harvest(future: concurrent.futures.Future[R], item: T, results: dict[T, R],
             on_error: Callable[[T, BaseException], R]) -> None:
    error = future.exception()
    if error is None:
        results[item] = future.result()
    elif not isinstance(error, _NotStarted):
        results[item] = on_error(item, error)
