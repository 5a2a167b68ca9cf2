"""collectors.kit.fanout with real threads and short real sleeps: what a collector fanning out over drives,
BMCs or hosts relies on. Timings are asserted only as far as the behaviour needs (well inside a deadline,
well before a hang would have ended)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.kit.context import Cancelled, RunContext
from collectors.kit.fanout import fan_out, item_budget


def run(seconds: float) -> RunContext:
    """A run `seconds` long; fan-out never touches the state directory."""
    return RunContext(deadline=time.monotonic() + seconds, state_dir=Path("/nonexistent"))


def cooperative_wait(sub: RunContext) -> None:
    """Work that waits until its own deadline or a cancel, as run_program does, then gives up."""
    sub.cancel.wait(max(0.0, sub.remaining()))
    raise Cancelled("gave up")


def failed(item: str, error: BaseException) -> str:
    return f"{item} failed: {type(error).__name__}"


@pytest.fixture
def stuck() -> Iterator[threading.Event]:
    """Released at teardown: work blocked on it ignores every deadline, like a hung syscall."""
    release = threading.Event()
    yield release
    release.set()


def test_every_item_gets_its_result() -> None:
    results = fan_out(run(5), ["a", "b", "c"], lambda item, sub: item.upper(), limit=2, on_error=failed)
    assert results == {"a": "A", "b": "B", "c": "C"}


def test_no_items_is_no_results() -> None:
    assert fan_out(run(5), [], lambda item, sub: item, limit=2, on_error=failed) == {}


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        fan_out(run(5), ["a"], lambda item, sub: item, limit=0, on_error=failed)


def test_concurrency_bound_is_honoured() -> None:
    lock = threading.Lock()
    active = 0
    peak = 0

    def work(item: int, sub: RunContext) -> int:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.1)
        with lock:
            active -= 1
        return item

    results = fan_out(run(10), range(8), work, limit=3, on_error=lambda item, error: -1)
    assert results == {i: i for i in range(8)}
    assert 1 < peak <= 3


def test_an_item_that_ignores_its_deadline_does_not_hold_up_the_others_or_the_run(
        stuck: threading.Event) -> None:
    def work(item: str, sub: RunContext) -> str:
        if item == "hung":
            stuck.wait(30)
        return item

    started = time.monotonic()
    results = fan_out(run(1.0), ["hung", "a", "b", "c"], work, limit=2, on_error=failed)
    assert time.monotonic() - started < 5  # returned at the run's deadline, not when the hang ended
    assert results == {"a": "a", "b": "b", "c": "c"}  # absent: the caller reports it as unreachable


def test_a_hung_item_first_in_a_serial_queue_leaves_time_for_the_rest() -> None:
    def work(item: str, sub: RunContext) -> str:
        if item == "hung":
            cooperative_wait(sub)
        return item

    results = fan_out(run(2.0), ["hung", "a", "b"], work, limit=1, on_error=failed)
    assert results == {"hung": "hung failed: Cancelled", "a": "a", "b": "b"}


def test_each_item_gets_its_own_deadline_within_the_run() -> None:
    seen: dict[str, float] = {}

    def work(item: str, sub: RunContext) -> str:
        seen[item] = sub.deadline
        return item

    whole = run(10)
    fan_out(whole, ["a", "b"], work, limit=2, on_error=failed)
    assert seen == {"a": whole.deadline, "b": whole.deadline}  # nothing queued: the whole run each

    seen.clear()
    queued = run(10)
    fan_out(queued, ["a", "b", "c"], work, limit=1, on_error=failed)
    assert all(deadline < queued.deadline - 4 for deadline in seen.values())  # at most half the run each


def test_item_budget_policy() -> None:
    assert item_budget(10.0, items=3, limit=4) == 10.0
    assert item_budget(10.0, items=4, limit=4) == 10.0
    assert item_budget(10.0, items=5, limit=4) == 5.0


def test_an_error_in_one_item_costs_only_that_item() -> None:
    def work(item: str, sub: RunContext) -> str:
        if item == "bad":
            raise RuntimeError("bug")
        return item

    results = fan_out(run(5), ["a", "bad", "b"], work, limit=2, on_error=failed)
    assert results == {"a": "a", "bad": "bad failed: RuntimeError", "b": "b"}


def test_cancel_stops_waiting_and_queued_items_never_start(stuck: threading.Event) -> None:
    ctx = run(20)
    started: list[str] = []
    lock = threading.Lock()

    def work(item: str, sub: RunContext) -> str:
        with lock:
            started.append(item)
        stuck.wait(30)  # deaf to the cancel: fan-out itself must stop waiting
        return item

    timer = threading.Timer(0.3, ctx.cancel.set)
    timer.start()
    began = time.monotonic()
    try:
        with pytest.raises(Cancelled):
            fan_out(ctx, list("abcdef"), work, limit=2, on_error=failed)
    finally:
        timer.cancel()
    assert time.monotonic() - began < 10  # the run had 20 s: it stopped because of the cancel
    stuck.set()  # the two running items end; the queued ones must not start now
    time.sleep(0.3)
    assert len(started) == 2


def test_duplicate_items_run_once() -> None:
    calls: list[str] = []
    lock = threading.Lock()

    def work(item: str, sub: RunContext) -> str:
        with lock:
            calls.append(item)
        return item

    assert fan_out(run(5), ["a", "a", "b"], work, limit=2, on_error=failed) == {"a": "a", "b": "b"}
    assert sorted(calls) == ["a", "b"]


def test_items_still_running_get_the_settle_time_to_wind_down() -> None:
    finished = threading.Event()

    def work(item: str, sub: RunContext) -> str:
        sub.cancel.wait(max(0.0, sub.remaining()))
        time.sleep(0.2)  # cleaning up after its deadline, as run_program reaps a killed process group
        finished.set()
        return item

    results = fan_out(run(0.3), ["slow"], work, limit=1, on_error=failed, settle=3.0)
    assert results == {}  # finished after the run's deadline: not a result
    assert finished.is_set()  # but its thread was waited for, so nothing outlives the run
