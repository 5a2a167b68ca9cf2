"""The real SNMP agent simulator (`snmpsim-command-responder`) on a free loopback UDP port, for tests.

The agent serves every `.snmprec`/`.snmpwalk` file under a data directory; the SNMPv1/v2c community of a file
is its path relative to that directory without the suffix (`UPS/eaton-93e-80.snmprec.bz2` ->
`UPS/eaton-93e-80`). Readiness is decided by a real SNMP GET answered on the port, not by a log line.

Running as root: snmpsim refuses to run as root unless told to drop privileges (`--process-user`/
`--process-group`) or `SNMPSIM_ALLOW_ROOT=true` is set. Dropping to nobody breaks here, because the venv's
interpreter is a pyenv Python under /root (mode 0700): after the drop it cannot import its own stdlib and dies
with a misleading "no dbm clone found". pytest's tmp_path (/tmp/pytest-of-root, 0700) would be unreadable for
nobody too. So as root the agent keeps root, which is acceptable for a throwaway simulator bound to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import strict

RESPONDER = "snmpsim-command-responder"
SYS_UPTIME_OID = "1.3.6.1.2.1.1.3.0"
_RECORDING_SUFFIXES = (".snmprec", ".snmprec.bz2", ".snmpwalk", ".sapwalk")


def _missing(message: str) -> None:
    if strict():
        pytest.fail(message)
    pytest.skip(message)


def require_snmpsim() -> str:
    """The responder program from this interpreter's environment (else PATH); fail or skip like require_binary."""
    beside = Path(sys.executable).parent / RESPONDER
    path = str(beside) if beside.exists() else shutil.which(RESPONDER)
    if path is None:
        _missing(f"{RESPONDER} is not installed (pip install snmpsim)")
        raise AssertionError("unreachable")  # pytest.fail/skip raise; this keeps the type checker honest
    return path


def snmpsim_data_dir() -> Path:
    """The recordings shipped by the PyPI package `snmpsim-data`."""
    try:
        import snmpsim_data  # type: ignore[import-untyped]
    except ImportError:
        _missing("snmpsim-data is not installed (pip install snmpsim-data)")
        raise AssertionError("unreachable") from None
    path = Path(snmpsim_data.__file__).parent / "data"
    if not path.is_dir():
        _missing(f"snmpsim-data has no data directory at {path}")
    return path


def community_of(path: Path, data_dir: Path) -> str:
    relative = path.relative_to(data_dir).as_posix()
    for suffix in _RECORDING_SUFFIXES:
        if relative.endswith(suffix):
            return relative[: -len(suffix)]
    raise ValueError(f"{path} is not an snmpsim recording")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- a minimal BER encoder, enough for one SNMPv2c GET: the readiness probe needs no SNMP library ---

def _tlv(tag: int, body: bytes) -> bytes:
    if len(body) < 0x80:
        return bytes([tag, len(body)]) + body
    length = len(body).to_bytes((len(body).bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _integer(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def _oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    body = bytearray([arcs[0] * 40 + arcs[1]])
    for arc in arcs[2:]:
        rest = arc
        chunk = [rest & 0x7F]
        rest >>= 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body.extend(reversed(chunk))
    return _tlv(0x06, bytes(body))


def snmp_get_packet(community: str, oid: str, request_id: int = 1) -> bytes:
    varbind = _tlv(0x30, _oid(oid) + b"\x05\x00")
    pdu = _tlv(0xA0, _integer(request_id) + _integer(0) + _integer(0) + _tlv(0x30, varbind))
    return _tlv(0x30, _integer(1) + _tlv(0x04, community.encode()) + pdu)


def answers(port: int, community: str, timeout: float = 0.2) -> bool:
    """Whether an SNMPv2c GET for sysUpTime gets any reply (agents drop requests with unknown communities)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(snmp_get_packet(community, SYS_UPTIME_OID), ("127.0.0.1", port))
            return bool(sock.recv(65535))
        except OSError:  # timeout, or ICMP port unreachable surfacing as ECONNREFUSED
            return False


@dataclass
class SnmpAgent:
    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log: Path

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_agent(data_dir: Path, work_dir: Path, probe_community: str | None = None,
                wait: float = 30, extra_args: Sequence[str] = ()) -> SnmpAgent:
    """Start the responder on a free 127.0.0.1 port serving `data_dir`; return once it answers a GET.

    Keep `data_dir` small: the agent indexes every recording before it listens (the whole snmpsim-data
    collection takes many seconds), so tests copy in only what they use.
    `extra_args` go to the responder as they are (e.g. an SNMPv3 user: `--v3-user`, `--v3-auth-key`, ...).
    """
    responder = require_snmpsim()
    recordings = sorted(p for p in data_dir.rglob("*") if p.name.endswith(_RECORDING_SUFFIXES))
    if not recordings:
        raise ValueError(f"no recordings under {data_dir}")
    community = probe_community or community_of(recordings[0], data_dir)
    cache = work_dir / "snmpsim-cache"
    cache.mkdir(parents=True, exist_ok=True)
    log = work_dir / "snmpsim.log"
    env = dict(os.environ)
    if os.geteuid() == 0:
        env["SNMPSIM_ALLOW_ROOT"] = "true"  # see the module docstring for why not --process-user nobody
    port = free_udp_port()
    argv = [responder, f"--data-dir={data_dir}", f"--cache-dir={cache}",
            f"--agent-udpv4-endpoint=127.0.0.1:{port}", *extra_args]
    with log.open("wb") as sink:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, env=env)
    agent = SnmpAgent(proc, port, data_dir, log)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{RESPONDER} exited {proc.returncode}:\n{agent.log_text()}")
        if answers(port, community):
            return agent
        time.sleep(0.05)
    agent.stop()
    raise AssertionError(f"{RESPONDER} did not answer on 127.0.0.1:{port} within {wait}s:\n{agent.log_text()}")


@contextlib.contextmanager
def serving(recordings: Iterable[Path], work_dir: Path, probe_community: str,
            extra_args: Sequence[str] = ()) -> Iterator[SnmpAgent]:
    """A responder serving copies of just these recordings (each file's stem is its community), stopped on
    exit. Copies, so that the agent indexes only what the test uses (see start_agent)."""
    data = work_dir / "data"
    data.mkdir(parents=True)
    for recording in recordings:
        shutil.copy(recording, data / recording.name)
    agent = start_agent(data, work_dir, probe_community=probe_community, extra_args=extra_args)
    try:
        yield agent
    finally:
        agent.stop()


def v3_user(user: str, auth_key: str, priv_key: str) -> list[str]:
    """Responder arguments for one SNMPv3 user with SHA authentication and AES privacy."""
    return [f"--v3-user={user}", f"--v3-auth-key={auth_key}", "--v3-auth-proto=SHA",
            f"--v3-priv-key={priv_key}", "--v3-priv-proto=AES"]
