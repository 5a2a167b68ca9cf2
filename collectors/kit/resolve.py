"""Name lookups under a deadline, at most one at a time per name.

getaddrinfo takes no timeout, and a hung resolver (a dead DNS server, an NSS module waiting on LDAP) can sit
in it for tens of seconds. So each lookup runs on a daemon thread of its own (it never delays the process's
exit) and the caller waits for it only until its deadline. A lookup still running when the next round asks
for the same name is waited on again rather than started twice: rounds that each left a hung lookup behind
would otherwise pile up threads without bound.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from collectors.kit.context import Cancelled

AddrInfo = tuple[Any, ...]  # one getaddrinfo entry: (family, type, proto, canonname, sockaddr)

# How often a wait looks at the cancel event.
_POLL = 0.1


class LookupPending(Exception):
    """The lookup did not finish before the caller's deadline; it keeps running on its own thread."""

    def __init__(self, host: str, age: float, fresh: bool) -> None:
        self.host = host
        self.age = age  # seconds since the lookup started
        self.fresh = fresh  # started by this call, not left running by an earlier one
        super().__init__(f"name lookup for {host} still pending (started {age:.1f} s ago)")


@dataclass
class Lookup:
    started: float
    done: threading.Event = field(default_factory=threading.Event)
    result: list[AddrInfo] | None = None
    error: BaseException | None = None
    callbacks: list[Callable[[], None]] = field(default_factory=list)


@dataclass(frozen=True)
class Resolved:
    """A finished lookup's addresses and how long the caller waited for them."""

    infos: list[AddrInfo]
    waited: float


class Resolver:
    """One collector's (or one kit client's) lookups; names whose lookup is still running are not asked
    again, but waited on."""

    def __init__(self, thread_name: str = "physgap-resolve") -> None:
        self._thread_name = thread_name
        self._lock = threading.Lock()
        self._running: dict[tuple[str, int | None, int], Lookup] = {}

    def pending(self) -> list[str]:
        """The names whose lookup is still running."""
        with self._lock:
            return sorted({host for host, _, _ in self._running})

    def resolve(self, host: str, port: int | None, kind: int, deadline: float,
                cancel: threading.Event | None = None) -> Resolved:
        """getaddrinfo(host, port, type=kind), waited for until `deadline` (time.monotonic()).

        Raises what getaddrinfo raises (socket.gaierror, OSError, UnicodeError), LookupPending at the
        deadline, Cancelled when `cancel` is set while waiting."""
        began = time.monotonic()
        lookup, fresh = self._lookup(host, port, kind)
        while not lookup.done.is_set():
            if cancel is not None and cancel.is_set():
                raise Cancelled("run cancelled")
            left = deadline - time.monotonic()
            if left <= 0:
                raise LookupPending(host, time.monotonic() - lookup.started, fresh)
            lookup.done.wait(min(left, _POLL) if cancel is not None else left)
        return Resolved(self.outcome(lookup), time.monotonic() - began)

    def start(self, host: str, port: int | None, kind: int, on_done: Callable[[], None]) -> Lookup:
        """The lookup for (host, port, kind), joined if running, else started; `on_done` runs (on the lookup's
        thread, or at once if it is already done) when it finishes. For callers that wait their own way
        (asyncio); read the outcome with `outcome`."""
        lookup, _ = self._lookup(host, port, kind)
        with self._lock:
            finished = lookup.done.is_set()
            if not finished:
                lookup.callbacks.append(on_done)
        if finished:
            on_done()
        return lookup

    @staticmethod
    def outcome(lookup: Lookup) -> list[AddrInfo]:
        if lookup.error is not None:
            raise lookup.error
        return lookup.result or []

    def _lookup(self, host: str, port: int | None, kind: int) -> tuple[Lookup, bool]:
        key = (host, port, kind)
        with self._lock:
            running = self._running.get(key)
            if running is not None:
                return running, False
            lookup = Lookup(time.monotonic())
            self._running[key] = lookup
        threading.Thread(target=self._work, args=(key, lookup), name=f"{self._thread_name}-{host}",
                         daemon=True).start()
        return lookup, True

    def _work(self, key: tuple[str, int | None, int], lookup: Lookup) -> None:
        host, port, kind = key
        try:
            lookup.result = socket.getaddrinfo(host, port, type=kind)
        except BaseException as exc:  # handed to whoever waits; this thread has nobody to tell
            lookup.error = exc
        with self._lock:
            del self._running[key]
            lookup.done.set()
            callbacks, lookup.callbacks = lookup.callbacks, []
        for callback in callbacks:
            callback()
