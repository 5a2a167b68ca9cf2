"""A real NUT server for tests: upsd plus one dummy-ups driver per UPS, on a free loopback port.

Everything runs in the foreground (`-F`) as root-or-current-user (`-u`), in a private NUT_CONFPATH and
NUT_STATEPATH, so nothing touches /etc/nut or /run/nut and teardown is a signal per process. Recipe and
timings: ../shared/notes/ups-nut-snmp.md section a (drivers need ~1 s for their socket, then upsd reports
"WAIT" for ~1 s; `.dev` files are re-read when their mtime *second* changes).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from collectors.ups.nut_client import NutClient, NutClientError, NutError
from tests.conftest import free_port, require_binary

ADMIN = ("admin", "adminpass")
MONITOR_USER = ("mon", "monpass")


def nut_binaries() -> dict[str, str]:
    """Paths of upsd, dummy-ups and upsmon; skips (or fails under CI) when nut-server is missing.

    Always the real programs in NUT's libexec directory: /sbin/upsd and /sbin/upsmon are Debian wrappers
    that print "upsd disabled" and exit 0 unless /etc/nut/nut.conf sets a MODE.
    """
    found: dict[str, str] = {}
    for name in ("upsd", "dummy-ups", "upsmon"):
        path = next((str(p) for d in ("/lib/nut", "/usr/lib/nut", "/usr/libexec/nut")
                     if (p := Path(d, name)).exists()), f"/lib/nut/{name}")
        found[name] = require_binary(path)
    return found


def _write(path: Path, content: str | bytes) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


def _user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


@dataclass
class NutServer:
    """One upsd with its drivers. Create with `NutServer.start(root, {"ups1": dev_text, ...})`."""

    root: Path
    port: int
    devs: dict[str, str | bytes]  # .dev content by UPS name; bytes are written verbatim (corpus dumps)
    maxage: int
    binaries: dict[str, str]
    upsd: subprocess.Popen[bytes] | None = None
    drivers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    upsmons: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def confpath(self) -> Path:
        return self.root / "etc"

    @property
    def statepath(self) -> Path:
        return self.root / "state"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "NUT_CONFPATH": str(self.confpath), "NUT_STATEPATH": str(self.statepath),
                "NUT_ALTPIDPATH": str(self.statepath)}

    @classmethod
    def start(cls, root: Path, devs: Mapping[str, str | bytes], maxage: int = 15, wait: bool = True,
              port: int | None = None) -> NutServer:
        server = cls(root, port or free_port(), dict(devs), maxage, nut_binaries())
        server.confpath.mkdir(parents=True, exist_ok=True)
        server.statepath.mkdir(parents=True, exist_ok=True)
        os.chmod(server.statepath, 0o700)
        sections = []
        for name, text in devs.items():
            _write(server.confpath / f"{name}.dev", text)
            sections.append(f"[{name}]\n\tdriver = dummy-ups\n\tport = {name}.dev\n\tmode = dummy-once\n")
        (server.confpath / "ups.conf").write_text("\n".join(sections))
        (server.confpath / "upsd.conf").write_text(f"LISTEN 127.0.0.1 {server.port}\nMAXAGE {maxage}\n")
        users = server.confpath / "upsd.users"
        users.write_text(f"[{ADMIN[0]}]\n\tpassword = {ADMIN[1]}\n\tactions = SET FSD\n\tinstcmds = ALL\n"
                         f"[{MONITOR_USER[0]}]\n\tpassword = {MONITOR_USER[1]}\n\tupsmon primary\n")
        users.chmod(0o600)
        try:
            for name in devs:
                server.start_driver(name)
            server.start_upsd()
            if wait:
                server.wait_ready()
        except BaseException:
            server.close()
            raise
        return server

    # -- processes -------------------------------------------------------------------------------------------

    def _spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.root / "log").open("ab")
        with log:
            return subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def start_driver(self, name: str) -> None:
        self.drivers[name] = self._spawn([self.binaries["dummy-ups"], "-a", name, "-u", _user(), "-F"])

    def start_upsd(self) -> None:
        self.upsd = self._spawn([self.binaries["upsd"], "-u", _user(), "-F"])

    def signal_driver(self, name: str, sig: int) -> None:
        self.drivers[name].send_signal(sig)

    def stop_driver(self, name: str) -> None:
        """SIGSTOP: the driver stops answering upsd's PINGs, so upsd reports DATA-STALE after MAXAGE."""
        self.signal_driver(name, signal.SIGSTOP)

    def cont_driver(self, name: str) -> None:
        self.signal_driver(name, signal.SIGCONT)

    def kill_driver(self, name: str) -> None:
        """Kill the driver: upsd reports DRIVER-NOT-CONNECTED."""
        proc = self.drivers[name]
        proc.kill()
        proc.wait(5)

    def kill_upsd(self, sig: int = signal.SIGKILL) -> None:
        if self.upsd is not None and self.upsd.poll() is None:
            self.upsd.send_signal(sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self.upsd.wait(5)

    def restart_upsd(self, wait: bool = True) -> None:
        self.kill_upsd()
        self.start_upsd()
        if wait:
            self.wait_ready()

    def update_dev(self, name: str, text: str | bytes) -> None:
        """Rewrite a .dev; dummy-ups re-reads it when the mtime second changes, so push it 2 s ahead."""
        path = self.confpath / f"{name}.dev"
        _write(path, text)
        stamp = max(time.time(), path.stat().st_mtime) + 2
        os.utime(path, (stamp, stamp))
        self.devs[name] = text

    def start_upsmon(self, ups: str, shutdown_cmd: str | None = None, power_value: int = 1) -> Path:
        """A real `upsmon -F` logged in (as a primary) to `ups`; returns the upsmon.conf it uses.

        SHUTDOWNCMD only touches a file in the temp dir: this must never power off the test machine.
        """
        marker = self.root / f"shutdown-{ups}"
        conf = self.confpath / "upsmon.conf"
        conf.write_text(
            f"MONITOR {ups}@127.0.0.1:{self.port} {power_value} {MONITOR_USER[0]} {MONITOR_USER[1]} primary\n"
            f"MINSUPPLIES 1\nSHUTDOWNCMD \"{shutdown_cmd or f'/usr/bin/touch {marker}'}\"\n"
            f"POWERDOWNFLAG {self.root / 'killpower'}\nFINALDELAY 0\nPOLLFREQ 1\nPOLLFREQALERT 1\n"
            f"RUN_AS_USER {_user()}\n")
        conf.chmod(0o600)
        self.upsmons.append(self._spawn([self.binaries["upsmon"], "-F", "-u", _user()]))
        return conf

    def wait_logins(self, ups: str, at_least: int = 1, timeout: float = 15) -> int:
        deadline = time.monotonic() + timeout
        count = 0
        while time.monotonic() < deadline:
            with contextlib.suppress(NutClientError), self.client() as client:
                count = client.num_logins(ups)
                if count >= at_least:
                    return count
            time.sleep(0.1)
        raise AssertionError(f"upsmon did not log in to {ups} within {timeout}s ({count}): {self.log_tail()}")

    # -- readiness -------------------------------------------------------------------------------------------

    def client(self, timeout: float = 2.0) -> NutClient:
        return NutClient("127.0.0.1", self.port, timeout=timeout)

    def status(self, name: str) -> str | None:
        """ups.status, or the ERR code, or None when upsd does not answer."""
        try:
            with self.client() as client:
                return client.get_var(name, "ups.status")
        except NutError as exc:
            return f"ERR {exc.code}"
        except NutClientError:
            return None

    def wait_status(self, name: str, predicate: str | None = None, timeout: float = 15,
                    accept: tuple[str, ...] = ()) -> str | None:
        """Wait until ups.status of `name` is `predicate` (or, without one, anything real: not WAIT/ERR)."""
        deadline = time.monotonic() + timeout
        status: str | None = None
        while time.monotonic() < deadline:
            status = self.status(name)
            if predicate is not None and status == predicate:
                return status
            if predicate is None and status is not None and (
                    status in accept or (status != "WAIT" and not status.startswith("ERR "))):
                return status
            time.sleep(0.05)
        raise AssertionError(f"{name}: status {status!r} after {timeout}s, wanted {predicate!r}: {self.log_tail()}")

    def wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        for name in self.devs:
            # A dump whose status is empty is served as "" (never WAIT): accept it.
            self.wait_status(name, timeout=max(deadline - time.monotonic(), 0.1), accept=("",))

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.root / "log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def close(self) -> None:
        # upsmon, even in the foreground, writes /run/nut/upsmon.pid (it ignores NUT_ALTPIDPATH) and may leave
        # it behind; a stale one naming a reused pid would make the next upsmon refuse to start. Only a file
        # naming a process of one of our own upsmon sessions is removed; it must be identified before the kill.
        pidfile = Path("/run/nut/upsmon.pid")
        ours = False
        with contextlib.suppress(OSError, ValueError):
            ours = bool(self.upsmons) and os.getpgid(int(pidfile.read_text().strip())) in {
                proc.pid for proc in self.upsmons}
        procs = [*self.upsmons, *([self.upsd] if self.upsd else []), *self.drivers.values()]
        for proc in procs:
            # Each process leads its own session (start_new_session); signalling the group also reaches
            # upsmon's forked child, which outlives its parent otherwise.
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGCONT)
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(3)
        for proc in self.upsmons:
            _wait_group_gone(proc.pid)
        if ours:
            with contextlib.suppress(OSError):
                pidfile.unlink()


def _wait_group_gone(pgid: int, timeout: float = 3) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except OSError:
            return
        time.sleep(0.05)
    with contextlib.suppress(OSError):
        os.killpg(pgid, signal.SIGKILL)


@contextlib.contextmanager
def nut_server(root: Path, devs: Mapping[str, str | bytes], maxage: int = 15) -> Iterator[NutServer]:
    server = NutServer.start(root, devs, maxage=maxage)
    try:
        yield server
    finally:
        server.close()
