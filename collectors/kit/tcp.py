"""Is anything listening? Non-blocking TCP connects to every address of a name, staggered, under one deadline.

A dual-stack name often resolves to an IPv6 address first that this host has no route to (or that the
device never answers on): connecting to the first address only would read a live device as unreachable.
So every resolved address is tried (up to MAX_ADDRESSES), in the resolver's order (RFC 6724, as getaddrinfo
sorted them), for each port in turn, staggered as in Happy Eyeballs (RFC 8305): the next attempt starts as
soon as the previous one failed, or `stagger` after it started. A silent address costs one stagger, not one
timeout; the first accepted connection decides, and every socket is closed before returning.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from collectors.kit.context import Cancelled
from collectors.kit.resolve import AddrInfo

# Addresses of one name tried at most (a name with many A/AAAA records is no single device).
MAX_ADDRESSES = 4
# Head start of one attempt before the next begins (RFC 8305's recommended connection attempt delay). A LAN
# host accepts within milliseconds.
STAGGER = 0.25
# How soon a cancel is noticed while connections are pending.
_POLL_SECONDS = 0.1

# The network (not the device) said no: no route, no neighbour, no such local address.
UNREACHABLE = frozenset({errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.EADDRNOTAVAIL})

_WORDS = {
    errno.ECONNREFUSED: "refused",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "timed out",
    errno.ECONNRESET: "reset",
}


@dataclass(frozen=True)
class Failure:
    """One attempt that ended in an error (errno) before the deadline."""

    address: str
    port: int
    error: int


@dataclass(frozen=True)
class Outcome:
    """How the attempts ended: the (address, port) that accepted, else the failures in the order they
    happened and the attempts still pending (or never started) at the deadline."""

    accepted: tuple[str, int] | None
    failures: tuple[Failure, ...]
    silent: tuple[tuple[str, int], ...]
    attempted: bool


def addresses(infos: Iterable[AddrInfo], limit: int = MAX_ADDRESSES) -> list[tuple[int, str]]:
    """The distinct (family, address) pairs of getaddrinfo's answer, in its order, at most `limit`."""
    return list(dict.fromkeys((int(info[0]), str(info[4][0])) for info in infos))[:limit]


def word(error: int) -> str:
    """An errno in the words a report uses ("refused", "network unreachable", ...)."""
    return _WORDS.get(error) or os.strerror(error).lower()


@dataclass
class _Attempt:
    sock: socket.socket
    address: str
    port: int


def first_open(targets: Sequence[tuple[int, str]], ports: Sequence[int], deadline: float,
               cancel: threading.Event, stagger: float = STAGGER) -> Outcome:
    """Connect to every (port, address) pair, port by port, staggered, until one accepts or `deadline`
    (time.monotonic()) passes. Raises Cancelled when `cancel` is set."""
    queue = deque((family, address, port) for port in ports for family, address in targets)
    failures: list[Failure] = []
    attempted = False
    with ExitStack() as stack:
        selector = stack.enter_context(selectors.DefaultSelector())
        next_start = time.monotonic()
        while True:
            if cancel.is_set():
                raise Cancelled("run cancelled")
            now = time.monotonic()
            if now >= deadline:
                break
            if queue and (now >= next_start or not selector.get_map()):
                family, address, port = queue.popleft()
                attempted = True
                next_start = now + stagger
                result = _start(family, address, port, stack, selector)
                if result is True:
                    return Outcome((address, port), tuple(failures), (), attempted)
                if result is not None:  # failed at once (no route, no socket): the next one need not wait
                    failures.append(Failure(address, port, result))
                    next_start = now
                continue
            if not selector.get_map():
                break
            wait = min(deadline - now, _POLL_SECONDS, next_start - now if queue else _POLL_SECONDS)
            for key, _ in selector.select(max(0.0, wait)):
                attempt = key.data
                selector.unregister(key.fileobj)
                error = attempt.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error == 0:
                    return Outcome((attempt.address, attempt.port), tuple(failures), (), attempted)
                failures.append(Failure(attempt.address, attempt.port, error))
                next_start = time.monotonic()
        silent = [(key.data.address, key.data.port) for key in selector.get_map().values()]
        silent += [(address, port) for _, address, port in queue]
    return Outcome(None, tuple(failures), tuple(silent), attempted)


def _start(family: int, address: str, port: int, stack: ExitStack,
           selector: selectors.BaseSelector) -> bool | int | None:
    """Begin one non-blocking connect: True when it connected at once, the errno when it failed at once, None
    while it is pending (registered with `selector`)."""
    try:
        sock = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
    except OSError as exc:
        return exc.errno or 0
    sock.setblocking(False)
    error = sock.connect_ex((address, port))
    if error == 0:
        return True
    if error in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
        selector.register(sock, selectors.EVENT_WRITE, _Attempt(sock, address, port))
        return None
    return error
