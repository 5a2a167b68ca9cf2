"""A slow or silent DNS server for the real system resolver, in a private network and mount namespace.

getaddrinfo reads /etc/resolv.conf and asks the DNS server named there; nothing in the process can point it
elsewhere. So a test runs its scenario as a child process under `unshare --net --mount`: a private loopback
(the server's port 53 is nobody else's), and /etc/resolv.conf bind-mounted to one naming 127.0.0.1, seen by
the child only. The scenario script starts `DelayedDns` in its own process and prints its outcome as JSON on
its last line. Needs root (unshare) and iproute2, like the project's other namespace tests.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from tests.conftest import REPO

# The resolver gives up on a server after this many seconds: long, so a lookup outlives every deadline the
# scenarios use unless the server answers.
RESOLVER_TIMEOUT = 30


class DelayedDns:
    """Answers every A query with 127.0.0.1 (and AAAA with no address) after `delay` seconds; never when
    `delay` is None. Counts the queries it received."""

    def __init__(self, delay: float | None) -> None:
        self.delay = delay
        self.queries = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 53))
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            packet, peer = self._sock.recvfrom(512)
            self.queries += 1
            if self.delay is not None:
                timer = threading.Timer(self.delay, self._answer, (packet, peer))
                timer.daemon = True
                timer.start()

    def _answer(self, query: bytes, peer: tuple[str, int]) -> None:
        end = 12
        while query[end]:
            end += query[end] + 1
        question = query[12:end + 5]  # name, its terminating 0, QTYPE, QCLASS
        qtype = struct.unpack("!H", query[end + 1:end + 3])[0]
        answers = b""
        if qtype == 1:  # A: a pointer to the question's name, A, IN, TTL 0, 4 bytes
            answers = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 0, 4) + socket.inet_aton("127.0.0.1")
        header = query[:2] + struct.pack("!HHHHH", 0x8180, 1, 1 if answers else 0, 0, 0)
        self._sock.sendto(header + question + answers, peer)


def run_scenario(tmp_path: Path, script: str, timeout: float = 60) -> dict[str, Any]:
    """Run `script` (Python source) with a resolver that asks 127.0.0.1 in a private namespace; its last
    stdout line, as JSON."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if os.geteuid() != 0 or unshare is None or ip is None:
        raise AssertionError("slow-DNS scenarios need root, unshare (util-linux) and ip (iproute2)")
    resolv = tmp_path / "resolv.conf"
    resolv.write_text(f"nameserver 127.0.0.1\noptions timeout:{RESOLVER_TIMEOUT} attempts:1\n")
    source = tmp_path / "scenario.py"
    source.write_text(script)
    shell = (f"{ip} link set lo up && mount --bind {resolv} /etc/resolv.conf && "
             f"exec {sys.executable} {source}")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([unshare, "--net", "--mount", "sh", "-c", shell], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO, env=env, check=False)
    if done.returncode != 0 or not done.stdout.strip():
        raise AssertionError(f"scenario exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
