"""Is a compute host up? A TCP connect to its ports (the Proxmox API, then SSH by default).

A host is online when one of its ports accepts a connection. A refusal or no answer within the deadline is
offline, with the reason kept (a refused port means the machine answers but nothing listens, which an
operator reads differently from silence). A name that does not resolve, or a probe the run's deadline cut
short, is undetermined: it says nothing about the host.

The host's timeout starts once its name is resolved: a slow resolver (waited for up to the run's deadline,
on the caller's resolver, collectors.kit.resolve) must not leave the connects no time and make a host that
was never tried read offline. A host whose lookup left no time to connect is undetermined too.

Ports are tried in order, staggered as in Happy Eyeballs (RFC 8305): the next attempt starts as soon as the
previous one failed, or STAGGER after it started. A live Proxmox node answers on 8006 long before, so its
sshd never sees the probe: a bare connect-and-close logs "Connection closed [preauth]" there every interval,
and fail2ban's aggressive sshd filter bans on such lines. A silent host still costs one timeout, not one per
port, because every attempt has started well before the first one gives up.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass

from collectors.hosts.config import ProbeTarget
from collectors.kit.config import format_duration
from collectors.kit.context import Cancelled, RunContext
from collectors.kit.resolve import LookupPending, Resolver

# Addresses of one name tried at most (a name with many A/AAAA records is not a compute host).
MAX_ADDRESSES = 4
# How soon a cancel is noticed while connections are pending.
_POLL_SECONDS = 0.1
# Head start of one attempt before the next begins (RFC 8305's recommended connection attempt delay). A LAN
# host accepts within milliseconds; never more than a quarter of the host's timeout.
STAGGER = 0.25

_WORDS = {
    errno.ECONNREFUSED: "refused",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "timed out",
    errno.ECONNRESET: "reset",
}


@dataclass(frozen=True)
class ProbeResult:
    online: bool | None
    detail: str
    address: str


@dataclass
class _Attempt:
    sock: socket.socket
    address: str
    port: int


# Probes called without a resolver of their own (the collector passes its own) share this one.
DEFAULT_RESOLVER = Resolver("physgap-hosts-resolve")


def probe(target: ProbeTarget, ctx: RunContext, timeout: float,
          resolver: Resolver = DEFAULT_RESOLVER) -> ProbeResult:
    """Connect to `target`'s (port, address) pairs in order, staggered; the first accepted connection decides."""
    try:
        resolved = resolver.resolve(target.host, None, socket.SOCK_STREAM, ctx.deadline, ctx.cancel)
    except LookupPending as pending:
        return ProbeResult(None, f"{pending}; no time left to connect", "")
    except (OSError, UnicodeError) as exc:
        return ProbeResult(None, f"name does not resolve ({getattr(exc, 'strerror', None) or exc})", "")
    addresses = list(dict.fromkeys((family, str(info[0])) for family, _, _, _, info in resolved.infos))[
        :MAX_ADDRESSES]
    if not addresses:
        return ProbeResult(None, "no address to connect to", "")
    started = time.monotonic()
    deadline = min(ctx.deadline, started + timeout)
    queue = deque((family, address, port) for port in target.ports for family, address in addresses)
    stagger = min(STAGGER, timeout / 4)
    failures: dict[str, list[str]] = {}
    attempted = False
    with ExitStack() as stack:
        selector = stack.enter_context(selectors.DefaultSelector())
        next_start = started
        while True:
            if ctx.cancel.is_set():
                raise Cancelled("run cancelled")
            now = time.monotonic()
            if now >= deadline:
                break
            if queue and (now >= next_start or not selector.get_map()):
                family, address, port = queue.popleft()
                attempted = True
                next_start = now + stagger
                result = _start(family, address, port, stack, selector)
                if isinstance(result, ProbeResult):
                    return result
                if result:  # failed at once (no route, no socket): the next one need not wait
                    failures.setdefault(result, []).append(str(port))
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
                    return ProbeResult(True, f"{attempt.port} open", attempt.address)
                failures.setdefault(_word(error), []).append(str(attempt.port))
                next_start = time.monotonic()
        silent = [str(key.data.port) for key in selector.get_map().values()] + [str(port) for *_, port in queue]
    tried = addresses[0][1]
    if not attempted:
        return ProbeResult(None, f"name lookup took {resolved.waited:.1f} s; no time left to connect", tried)
    if silent:
        if deadline < started + timeout and time.monotonic() < started + timeout:
            return ProbeResult(None, "probe cut short by the run's deadline", tried)
        failures.setdefault(f"no answer within {format_duration(timeout)}", []).extend(silent)
    if not failures:
        return ProbeResult(None, "no address to connect to", tried)
    detail = "; ".join(f"{word} on {', '.join(dict.fromkeys(ports))}" for word, ports in failures.items())
    return ProbeResult(False, detail, tried)


def _start(family: int, address: str, port: int, stack: ExitStack,
           selector: selectors.BaseSelector) -> ProbeResult | str:
    """Begin one non-blocking connect: a result when it connected at once, the failure's words when it
    failed at once, "" while it is pending (registered with `selector`)."""
    try:
        sock = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
    except OSError as exc:
        return _word(exc.errno or 0)
    sock.setblocking(False)
    error = sock.connect_ex((address, port))
    if error == 0:
        return ProbeResult(True, f"{port} open", address)
    if error in (errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
        selector.register(sock, selectors.EVENT_WRITE, _Attempt(sock, address, port))
        return ""
    return _word(error)


def _word(error: int) -> str:
    return _WORDS.get(error) or os.strerror(error).lower()
