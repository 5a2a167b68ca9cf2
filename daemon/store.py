"""The store that swaps the View atomically, re-evaluates gaps when a collector reports, and wakes
exporters when a new View exists.

Exporters only ever read `SnapshotStore.current()`: a scrape or an MQTT publish renders the newest View and
never waits on hardware. Gaps are evaluated when a collector reports, not when someone reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from types import MappingProxyType

from collectors.model.snapshot import CollectorStatus, Gap, Snapshot, View

Evaluator = Callable[[Snapshot], tuple[Gap, ...]]


class SnapshotStore:
    def __init__(self, host: str, evaluate: Evaluator, collector_names: Iterable[str]) -> None:
        self._lock = threading.Lock()
        self._evaluate = evaluate
        snapshot = Snapshot(host, time.time(), MappingProxyType({n: CollectorStatus(n, None) for n in collector_names}))
        self._view = View(snapshot, evaluate(snapshot), 0)
        # Bumped on every reconfigure: a collector run of the previous configuration that finishes late
        # (stuck past its scheduler's stop) must not write into the new one.
        self.generation = 0
        self._subscribers: list[Callable[[View], None]] = []

    def subscribe(self, callback: Callable[[View], None]) -> Callable[[], None]:
        """Call `callback(view)` after every new View; returns the function that unsubscribes.

        Callbacks run on the thread that recorded the result (a collector's supervisor), outside the lock:
        they must only hand the news on (set an event), never render or do I/O there.
        """
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def current(self) -> View:
        # A plain attribute read: the reference swap in _swap is atomic, so readers need no lock.
        return self._view

    def record(self, status: CollectorStatus, generation: int | None = None) -> None:
        """Put one collector's newest result in place and re-evaluate the gaps."""
        with self._lock:
            if generation is not None and generation != self.generation:
                return
            if status.name not in self._view.snapshot.collectors:
                return
            collectors = dict(self._view.snapshot.collectors)
            collectors[status.name] = status
            view = self._swap(collectors, self._view.snapshot.host)
        self._notify(view)

    def reconfigure(self, host: str, evaluate: Evaluator, collector_names: Iterable[str]) -> None:
        """After a reload: keep results of collectors that still exist, add new ones as not yet run."""
        with self._lock:
            self.generation += 1
            self._evaluate = evaluate
            old = self._view.snapshot.collectors
            collectors = {n: old.get(n, CollectorStatus(n, None)) for n in collector_names}
            view = self._swap(collectors, host)
        self._notify(view)

    def _swap(self, collectors: dict[str, CollectorStatus], host: str) -> View:
        snapshot = replace(self._view.snapshot, host=host, taken_at=time.time(),
                           collectors=MappingProxyType(collectors))
        self._view = View(snapshot, self._evaluate(snapshot), self._view.version + 1)
        return self._view

    def _notify(self, view: View) -> None:
        with self._lock:
            subscribers = tuple(self._subscribers)
        for callback in subscribers:
            callback(view)
