"""Is a compute host up? A TCP connect to its ports (the Proxmox API, then SSH by default).

A host is online when one of its ports accepts a connection. A refusal or no answer within the deadline is
offline, with the reason kept (a refused port means the machine answers but nothing listens, which an
operator reads differently from silence). A name that does not resolve, or a probe the run's deadline cut
short, is undetermined: it says nothing about the host.

The host's timeout starts once its name is resolved: a slow resolver (waited for up to the run's deadline,
on the caller's resolver, collectors.kit.resolve) must not leave the connects no time and make a host that
was never tried read offline. A host whose lookup left no time to connect is undetermined too.

Ports are tried in order, each on every address, staggered as in Happy Eyeballs (collectors.kit.tcp): the next
attempt starts as soon as the previous one failed, or a moment after it started. A live Proxmox node answers on
8006 long before, so its sshd never sees the probe: a bare connect-and-close logs "Connection closed [preauth]"
there every interval, and fail2ban's aggressive sshd filter bans on such lines. A silent host still costs one
timeout, not one per port, because every attempt has started well before the first one gives up.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

from collectors.hosts.config import ProbeTarget
from collectors.kit import tcp
from collectors.kit.config import format_duration
from collectors.kit.context import RunContext
from collectors.kit.resolve import LookupPending, Resolver


@dataclass(frozen=True)
class ProbeResult:
    online: bool | None
    detail: str
    address: str


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
    addresses = tcp.addresses(resolved.infos)
    if not addresses:
        return ProbeResult(None, "no address to connect to", "")
    started = time.monotonic()
    deadline = min(ctx.deadline, started + timeout)
    # The head start never exceeds a quarter of the host's timeout, so a silent first address leaves time.
    outcome = tcp.first_open(addresses, target.ports, deadline, ctx.cancel, min(tcp.STAGGER, timeout / 4))
    if outcome.accepted is not None:
        address, port = outcome.accepted
        return ProbeResult(True, f"{port} open", address)
    failures: dict[str, list[str]] = {}
    for failure in outcome.failures:
        failures.setdefault(tcp.word(failure.error), []).append(str(failure.port))
    tried = addresses[0][1]
    if not outcome.attempted:
        return ProbeResult(None, f"name lookup took {resolved.waited:.1f} s; no time left to connect", tried)
    if outcome.silent:
        if deadline < started + timeout and time.monotonic() < started + timeout:
            return ProbeResult(None, "probe cut short by the run's deadline", tried)
        failures.setdefault(f"no answer within {format_duration(timeout)}", []).extend(
            str(port) for _, port in outcome.silent)
    if not failures:
        return ProbeResult(None, "no address to connect to", tried)
    detail = "; ".join(f"{word} on {', '.join(dict.fromkeys(ports))}" for word, ports in failures.items())
    return ProbeResult(False, detail, tried)
