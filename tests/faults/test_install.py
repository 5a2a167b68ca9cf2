"""scripts/install on a live system that fights back, and what the service user can then do.

The installer's checks only mean something on the live path (a real user physgap made by systemd-sysusers,
its real permissions, a venv at the real /opt/physgap), so these tests run it as root with prefix / -- in a
throwaway copy of the machine: a private mount namespace where /etc, /opt, /usr/bin, /usr/local, /home and
/run are overlays whose writes land in the test's temp directory. Everything else is the real system: the real
systemd-sysusers, setpriv, pip (from the configured package index) and the real physgap afterwards. Only
systemctl, systemd-tmpfiles and apt-get are recording stubs, so that a machine whose PID 1 is systemd (and
its /sys) is never touched; a faked /run/systemd/system makes the installer call them.

Why not the real system (CI runs as root on a throwaway machine): `./scripts/test` as root on a developer's
own box must not leave a physgap user, a unit and a venv behind. Why not --prefix: a staged install has no
service user to check as; that path is covered in tests/integration/test_install.py.

Each case is a failure a user met (issue 8, item 14) or its close relative; "before" is what the previous
installer did with it.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import nut_devs
from tests.conftest import REPO, strict
from tests.nut_fixture import nut_server

INSTALL = REPO / "scripts" / "install"
OVERLAID = ("etc", "opt", "usr/bin", "usr/local", "home", "run")
STUBBED = ("systemctl", "systemd-tmpfiles", "apt-get")
# The environment systemd gives a User= service, for running things "as the unit would".
SERVICE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# setpriv execs its target while still holding root's effective capabilities (so a 0700 directory would not
# stop it); `env` runs without them and fails exactly where systemd's exec would (203/EXEC).
AS_PHYSGAP = ("cd / && setpriv --reuid=physgap --regid=physgap --init-groups "
              f"env -i PATH={SERVICE_PATH} HOME=/var/lib/physgap LANG=C.UTF-8")
# A Python that only root can reach, as a pyenv under /root (0700) is: a symlink to the system interpreter
# inside a 0700 directory, first on root's PATH.
PRIVATE_PYTHON = """
mkdir -p /opt/private/bin && chmod 0700 /opt/private
ln -sf "$(readlink -f /usr/bin/python3)" /opt/private/bin/python3.11
"""

# A host for `physgap report` with nothing but the UPS: no NICs, no PCIe, no drives (a stand-in smartctl with
# an empty scan), every path readable by user physgap.
WORLD = """
mkdir -p /run/t/sys/class/net /run/t/sys/bus/pci/devices /run/t/proc
install -d -o physgap /run/t/state
cat > /run/t/smartctl <<'END'
#!/bin/sh
echo '{"smartctl": {"version": [7, 3], "exit_status": 0}, "devices": []}'
END
chmod 0755 /run/t/smartctl
cat > /run/t/physgap.toml <<'END'
[daemon]
sysfs = "/run/t/sys"
procfs = "/run/t/proc"
state_dir = "/run/t/state"
[smart]
smartctl = "/run/t/smartctl"
[storage]
zpool = "/run/t/no-zpool"
[pcie]
dmidecode = "/bin/true"
[ups]
upsmon_conf = "/etc/nut/upsmon.conf"
[[ups.nut]]
host = "127.0.0.1"
port = PORT
END
"""

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="a live install (users, mounts) needs root"),
    pytest.mark.skipif(os.environ.get("PHYSGAP_TEST_INSTALL_VENV") != "1" and not strict(),
                       reason="each case builds the venv with pip (a few seconds, needs the package index); "
                              "set PHYSGAP_TEST_INSTALL_VENV=1 (scripts/test and CI always run them)"),
]


@dataclass(frozen=True)
class Machine:
    """A throwaway copy of this machine: commands run as root in a private mount namespace whose writes to
    the overlaid trees land below `state` and vanish with it."""

    state: Path
    stubs: Path

    def run(self, script: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        mounts = []
        for tree in OVERLAID:
            layer = self.state / tree.replace("/", "-")
            (layer / "upper").mkdir(parents=True, exist_ok=True)
            (layer / "work").mkdir(parents=True, exist_ok=True)
            mounts.append(f"mount -t overlay overlay -o lowerdir=/{tree},upperdir={layer}/upper,"
                          f"workdir={layer}/work /{tree}")
        # Nothing runs unless every overlay is in place: the script is root on the real machine.
        guard = " && ".join(f'[ "$(findmnt -n -o FSTYPE --mountpoint /{tree})" = overlay ]' for tree in OVERLAID)
        setup = "\n".join(["set -e", *mounts, f"{guard} || exit 97", "mkdir -p /run/systemd/system", "set +e"])
        env = {key: value for key, value in os.environ.items()
               if key not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
        env["PATH"] = f"{self.stubs}:{SERVICE_PATH}"
        result = subprocess.run(["unshare", "--mount", "--propagation", "private", "bash", "-c",
                                 f"{setup}\n{script}"],
                                env=env, capture_output=True, text=True, timeout=timeout, check=False)
        assert result.returncode != 97, f"overlays not mounted, nothing ran:\n{result.stderr}"
        return result

    def install(self, *args: str, before: str = "", path: str = "") -> subprocess.CompletedProcess[str]:
        """scripts/install on the live system (prefix /), after `before`, with `path` ahead on PATH."""
        prepend = f'export PATH="{self.stubs}:{path}:$PATH"\n' if path else ""
        argv = shlex.join(["bash", str(INSTALL), *args])
        return self.run(f"{before}\n{prepend}cd / && {argv}")

    def as_physgap(self, command: str, before: str = "") -> subprocess.CompletedProcess[str]:
        return self.run(f"{before}\n{AS_PHYSGAP} {command}")

    def calls(self) -> list[str]:
        log = self.stubs / "calls.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def machine(tmp_path: Path) -> Iterator[Machine]:
    for tool in ("unshare", "setpriv", "findmnt", "systemd-sysusers"):
        if shutil.which(tool, path=SERVICE_PATH) is None:
            message = f"{tool} is not installed"
            if strict():
                pytest.fail(message)
            pytest.skip(message)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for tool in STUBBED:
        script = stubs / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{stubs}/calls.log"\n')
        script.chmod(0o755)
    box = Machine(tmp_path / "machine", stubs)
    probe = box.run("true", timeout=60)
    if probe.returncode != 0:
        message = f"cannot build a throwaway system here (overlay mounts): {probe.stderr}"
        if strict():
            pytest.fail(message)
        pytest.skip(message)
    yield box


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


RESTARTS = ["systemd-tmpfiles --create /etc/tmpfiles.d/physgap.conf", "systemctl daemon-reload",
            "systemctl try-restart physgap.service"]


# --- the interpreter ----------------------------------------------------------------------------------


def test_python_on_roots_path_that_the_service_user_cannot_reach_is_not_used(machine: Machine) -> None:
    # Before: the venv was made from the python3.11 first on root's PATH; the install "succeeded" and
    # restarted the service, which could not exec its interpreter (203/EXEC).
    result = machine.install(before=PRIVATE_PYTHON, path="/opt/private/bin")
    _ok(result)
    assert "runs as user physgap" in result.stdout
    # The venv's interpreter is the system's, not the one only root can reach.
    assert "home = /usr/bin\n" in _ok(machine.run("cat /opt/physgap/venv/pyvenv.cfg"))
    # What the unit runs, as the unit's user, with the unit's PATH.
    assert _ok(machine.as_physgap("/opt/physgap/venv/bin/physgap --version")).startswith("physgap ")
    assert machine.calls() == RESTARTS


def test_a_refused_python_early_on_path_does_not_hide_a_usable_one(machine: Machine) -> None:
    # No /usr/bin/python3 (Python is not essential on Debian); root's PATH starts with a python3.11 only root
    # can reach, /usr/bin/python3.11 comes later. Before: the first one was used (203/EXEC).
    result = machine.install(before=PRIVATE_PYTHON + "rm /usr/bin/python3\n", path="/opt/private/bin")
    _ok(result)
    assert "skipped /opt/private/bin/python3.11: user physgap cannot run" in result.stderr, result.stderr
    assert "home = /usr/bin\n" in _ok(machine.run("cat /opt/physgap/venv/pyvenv.cfg"))
    assert _ok(machine.as_physgap("/opt/physgap/venv/bin/physgap --version")).startswith("physgap ")


@pytest.mark.parametrize(
    ("setup", "python", "why"),
    [
        (PRIVATE_PYTHON, "/opt/private/bin/python3.11", "user physgap cannot run /opt/private/bin/python3.11"),
        # Reachable for the user, but the unit's ProtectHome=yes hides /home from the service.
        ('mkdir -p /home/alice/bin && ln -sf "$(readlink -f /usr/bin/python3)" /home/alice/bin/python3',
         "/home/alice/bin/python3", "ProtectHome=yes"),
    ],
    ids=["unreachable", "hidden-by-the-sandbox"],
)
def test_an_interpreter_the_service_cannot_run_is_refused(machine: Machine, setup: str, python: str,
                                                          why: str) -> None:
    # Before: accepted; the install ended "physgap installed" and the service failed every start.
    result = machine.install("--python", python, before=setup)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"not using {python}" in result.stderr and why in result.stderr, result.stderr
    assert _ok(machine.run("ls /opt/physgap/venv /etc/systemd/system/physgap.service 2>&1 || true")).count(
        "No such file") == 2, "a refused install must not leave a venv or a unit behind"
    assert machine.calls() == []


def test_a_venv_made_by_an_earlier_install_from_roots_python_is_rebuilt(machine: Machine) -> None:
    # Before: an upgrade kept the venv (root can run it) and pip-upgraded physgap inside it; the service
    # kept failing with 203/EXEC.
    earlier = PRIVATE_PYTHON + "/opt/private/bin/python3.11 -m venv /opt/physgap/venv\n"
    result = machine.install(before=earlier)
    assert "user physgap cannot run its interpreter; recreating it" in result.stdout, result.stdout
    _ok(result)
    assert _ok(machine.as_physgap("/opt/physgap/venv/bin/physgap --version")).startswith("physgap ")


# --- the venv ----------------------------------------------------------------------------------------


def test_roots_umask_077_does_not_hide_the_venv(machine: Machine) -> None:
    # Before: every file of the venv was root-only; physgap --version as physgap: Permission denied.
    _ok(machine.install(before="umask 077"))
    assert _ok(machine.as_physgap("/opt/physgap/venv/bin/physgap --version")).startswith("physgap ")
    assert _ok(machine.run("stat -c %a /opt/physgap /opt/physgap/venv")).split() == ["755", "755"]


def test_a_venv_the_service_user_cannot_run_stops_the_install_before_any_restart(machine: Machine) -> None:
    # /opt is not the installer's to fix. Before: "physgap installed", and the running service restarted
    # into 203/EXEC.
    result = machine.install(before="chmod 0700 /opt")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "user physgap cannot run /opt/physgap/venv/bin/physgap" in result.stderr
    assert "Permission denied" in result.stderr and "nothing was restarted" in result.stderr
    assert machine.calls() == [], "no daemon-reload, no try-restart with a venv the service cannot run"


# --- the user and PATH ----------------------------------------------------------------------------------


def test_physgap_is_on_path(machine: Machine) -> None:
    # Before: `physgap: command not found`; the README's commands assume it is there.
    _ok(machine.install())
    for who in ("", AS_PHYSGAP):
        output = _ok(machine.run(f"{who} env -i PATH={SERVICE_PATH} physgap --version"))
        assert output.startswith("physgap "), (who, output)
    assert _ok(machine.run("readlink /usr/local/bin/physgap")).strip() == "/opt/physgap/venv/bin/physgap"


def test_p1_sees_upsmon_conf_that_debian_makes_root_nut_0640(machine: Machine) -> None:
    # Debian's nut-client: /etc/nut/upsmon.conf root:nut 0640. Before: physgap could not read it ("cannot
    # read /etc/nut/upsmon.conf (Permission denied); local shutdown protection unknown") and P1 fell back to
    # NUMLOGINS: "no upsmon attached", open, high, on a host that upsmon does protect.
    with nut_server(machine.state / "nut", {"ups1": nut_devs.ONLINE}) as server:
        nut_host = f"""
getent group nut >/dev/null || groupadd --system nut
mkdir -p /etc/nut
printf 'MONITOR ups1@127.0.0.1:{server.port} 1 mon monpass primary\\nSHUTDOWNCMD "/bin/true"\\n' \
  > /etc/nut/upsmon.conf
chown root:nut /etc/nut/upsmon.conf && chmod 0640 /etc/nut/upsmon.conf
"""
        _ok(machine.install(before=nut_host))
        world = WORLD.replace("PORT", str(server.port))
        result = machine.as_physgap("physgap --log-format text report --config /run/t/physgap.toml --format json",
                                    before=world)
    assert "upsmon.conf" not in result.stderr, result.stderr
    gaps = {gap["id"]: gap for gap in json.loads(result.stdout)["gaps"]}
    p1 = gaps["P1"]
    assert p1["status"] == "resolved", p1
    (line,) = p1["evidence"]
    # resolved by this host's readable upsmon.conf (no upsmon is really logged in here)
    assert line.startswith(f"ups1@127.0.0.1:{server.port} OL") and line.endswith("this host's upsmon.conf monitors it")
    assert "nut" in _ok(machine.run("id -nG physgap")).split()

