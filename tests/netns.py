"""Private network namespaces for tests and benches: real kernel networking where an address must stay
silent (packets vanish: no RST, no ICMP, the real timeout path) or be refused by the kernel at once.

Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2. The namespace is deleted on leaving the
`with`, whatever happened inside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest

REPO = Path(__file__).resolve().parents[1]

# The silent prefixes are routed to a gateway on a veth whose peer drops every frame: the gateway's MAC is
# nobody's, and a permanent neighbour entry for it means no ARP failure turns the silence into EHOSTUNREACH.
_LINK, _PEER = "bh0", "bh1"
_LOCAL, _GATEWAY, _GATEWAY_MAC = "10.99.0.1/24", "10.99.0.254", "02:00:5e:00:53:fe"


class NetnsUnavailable(Exception):
    """No namespace can be made here (no `ip`, or not root); the message says which."""


def _raise(reason: str) -> NoReturn:
    raise NetnsUnavailable(reason)


def skip_or_fail(reason: str) -> NoReturn:
    """For tests: skip where namespaces cannot be made, but fail in CI, which must not go green without
    having run them."""
    if os.environ.get("CI"):
        pytest.fail(f"network namespace test cannot run in CI: {reason}")
    pytest.skip(reason)


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=20)


@dataclass(frozen=True)
class Netns:
    name: str

    def ip(self, *args: str) -> None:
        """`ip -n NAME ARGS`; CalledProcessError when it fails."""
        ip("-n", self.name, *args)

    def run(self, argv: Sequence[str], *, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess[str]:
        """argv run inside the namespace from the repository root, output captured as text."""
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], cwd=REPO, capture_output=True, text=True,
                              timeout=timeout, check=check)


@contextmanager
def network_namespace(purpose: str, *, blackholed: Sequence[str] = (), unreachable: Sequence[str] = (),
                      unavailable: Callable[[str], NoReturn] = _raise) -> Iterator[Netns]:
    """A fresh namespace with loopback up, where each `blackholed` prefix swallows packets and each
    `unreachable` prefix has an `unreachable` route (the kernel answers EHOSTUNREACH at once). When it
    cannot be made, `unavailable` is called with the reason (NetnsUnavailable by default; tests pass
    skip_or_fail)."""
    if shutil.which("ip") is None:
        unavailable("iproute2 `ip` is not installed")
    name = f"physgap-{purpose}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        ip("netns", "add", name)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        unavailable(f"cannot create a network namespace (needs root): {detail.strip()}")
    try:
        netns = Netns(name)
        netns.ip("link", "set", "lo", "up")
        if blackholed:
            netns.ip("link", "add", _LINK, "type", "veth", "peer", "name", _PEER)
            netns.ip("addr", "add", _LOCAL, "dev", _LINK)
            netns.ip("link", "set", _LINK, "up")
            netns.ip("link", "set", _PEER, "up")
            netns.ip("neigh", "add", _GATEWAY, "lladdr", _GATEWAY_MAC, "dev", _LINK, "nud", "permanent")
            for prefix in blackholed:
                netns.ip("route", "add", prefix, "via", _GATEWAY)
        for prefix in unreachable:
            netns.ip("route", "add", "unreachable", prefix)
        yield netns
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=20, check=False)
