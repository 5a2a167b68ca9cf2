"""scripts/install into a staging root (--prefix), plus the files it installs: sysusers, tmpfiles and the
example configurations, each checked by the tool that consumes it.

The staged runs use --no-venv: building the venv means pip fetching dependencies, which is slow and needs
a package index; set PHYSGAP_TEST_INSTALL_VENV=1 to include a full venv install (about 20 s). systemctl,
systemd-sysusers and systemd-tmpfiles are replaced by recording stubs on PATH, which proves a staged
install never touches the running system. The live install (service user, checks as that user) runs in a
throwaway copy of the machine: tests/faults/test_install.py.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.conftest import require_binary, strict

ROOT = Path(__file__).resolve().parents[2]
INSTALL = ROOT / "scripts" / "install"
SYSTEMD = ROOT / "systemd"

# Checkout file -> where it lands below the prefix.
EXPECTED = {
    "systemd/physgap.service": "etc/systemd/system/physgap.service",
    "systemd/physgap.sysusers": "etc/sysusers.d/physgap.conf",
    "systemd/physgap.tmpfiles": "etc/tmpfiles.d/physgap.conf",
    "systemd/physgap.toml.example": "etc/physgap/physgap.toml.example",
    "systemd/web.yml.example": "etc/physgap/web.yml.example",
}
SYSTEM_TOOLS = ("systemctl", "systemd-sysusers", "systemd-tmpfiles", "apt-get")

# The configuration keys DESIGN.md makes public, section by section: the example must show every one.
CONTRACT_KEYS = {
    "daemon": {"host", "role", "interval", "state_dir", "sysfs", "procfs"},
    "prometheus": {"listen", "web_config", "textfile"},
    "mqtt": {"host", "port", "tls", "ca_file", "username", "password_file", "base_topic", "discovery_prefix"},
    "ups.nut": {"host", "port", "ups"},
    "ups.snmp": {"host", "community"},
    "smart": {"smartctl", "devices", "interval", "timeout", "concurrency"},
    "storage": {"zpool"},
    "nics": {"include", "exclude", "expected", "include_virtual"},
    "pcie": {"dmidecode"},
    "oob.targets": {"name", "host", "kind", "port"},
    "hosts": {"members", "compute"},
    "switch": {"host", "community"},
    "gaps.P5": {"severity"},
}


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    """A bin directory whose system tools only append their argv to calls.log."""
    bin_dir = tmp_path / "stub-bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for tool in SYSTEM_TOOLS:
        script = bin_dir / tool
        script.write_text(f'#!/bin/sh\necho "{tool} $*" >> "{log}"\n')
        script.chmod(0o755)
    return bin_dir


def _install(prefix: Path, stubs: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{stubs}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    return subprocess.run(["bash", str(INSTALL), "--prefix", str(prefix), *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)


def _calls(stubs: Path) -> str:
    log = stubs.parent / "calls.log"
    return log.read_text() if log.exists() else ""


def _tree(root: Path) -> dict[str, tuple[int, str]]:
    """relative path -> (mode, sha256 | link target | "dir") for everything below root."""
    found: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_symlink():
            content = "-> " + os.readlink(path)
        else:
            content = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        found[str(path.relative_to(root))] = (mode, content)
    return found


def _uncommented(text: str) -> str:
    # Convention of the examples: "##" explains, "# " marks a setting an operator can switch on.
    return "\n".join(line[2:] for line in text.splitlines() if line.startswith("# ")) + "\n"


# --- scripts/install ------------------------------------------------------------------------------------


def test_staged_install_places_every_file(tmp_path: Path, stubs: Path) -> None:
    prefix = tmp_path / "root"
    result = _install(prefix, stubs, "--no-venv")
    assert result.returncode == 0, result.stdout + result.stderr
    for source, target in EXPECTED.items():
        installed = prefix / target
        assert installed.read_bytes() == (ROOT / source).read_bytes(), target
        assert stat.S_IMODE(installed.stat().st_mode) == 0o644, target
    assert stat.S_IMODE((prefix / "etc/physgap").stat().st_mode) == 0o755
    # physgap.toml is optional and the operator's: never created. No venv was asked for.
    assert not (prefix / "etc/physgap/physgap.toml").exists()
    assert not (prefix / "opt").exists()
    assert _calls(stubs) == "", "a staged install must not touch the running system"
    assert "staged only" in result.stdout


def test_staged_install_puts_physgap_on_path(tmp_path: Path, stubs: Path) -> None:
    # The README's commands run `physgap`: /usr/local/bin (on every PATH, sudo's secure_path included) links
    # to the venv's console script at its final location, also in a staged root.
    prefix = tmp_path / "root"
    result = _install(prefix, stubs, "--no-venv")
    assert result.returncode == 0, result.stdout + result.stderr
    link = prefix / "usr/local/bin/physgap"
    assert link.is_symlink()
    assert os.readlink(link) == "/opt/physgap/venv/bin/physgap"


def test_install_leaves_a_foreign_physgap_on_path_alone(tmp_path: Path, stubs: Path) -> None:
    prefix = tmp_path / "root"
    theirs = prefix / "usr/local/bin/physgap"
    theirs.parent.mkdir(parents=True)
    theirs.write_text("#!/bin/sh\necho someone else's\n")
    result = _install(prefix, stubs, "--no-venv")
    assert result.returncode == 0, result.stdout + result.stderr
    assert theirs.read_text() == "#!/bin/sh\necho someone else's\n"
    assert f"{theirs} exists and is not a symlink" in result.stderr


def test_staged_install_refuses_an_interpreter_the_unit_cannot_see(tmp_path: Path, stubs: Path) -> None:
    # The unit has PrivateTmp=yes (and ProtectHome=yes): a venv built on a Python below /tmp would fail every
    # start with 203/EXEC, although root, and even user physgap outside the sandbox, can run it.
    python = tmp_path / "bin" / "python3"
    python.parent.mkdir()
    python.symlink_to(os.path.realpath("/usr/bin/python3"))
    result = _install(tmp_path / "root", stubs, "--python", str(python))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"not using {python}" in result.stderr and "PrivateTmp=yes" in result.stderr, result.stderr
    assert not (tmp_path / "root" / "opt").exists()


def test_staged_install_is_idempotent(tmp_path: Path, stubs: Path) -> None:
    prefix = tmp_path / "root"
    first = _install(prefix, stubs, "--no-venv")
    assert first.returncode == 0, first.stderr
    before = _tree(prefix)
    second = _install(prefix, stubs, "--no-venv")
    assert second.returncode == 0, second.stderr
    assert _tree(prefix) == before
    assert "(new or changed)" in first.stdout
    assert "(new or changed)" not in second.stdout
    assert _calls(stubs) == ""


def test_install_keeps_the_operators_config(tmp_path: Path, stubs: Path) -> None:
    prefix = tmp_path / "root"
    config = prefix / "etc/physgap/physgap.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[daemon]\nrole = "nas"\n')
    result = _install(prefix, stubs, "--no-venv")
    assert result.returncode == 0, result.stderr
    assert config.read_text() == '[daemon]\nrole = "nas"\n'


def test_install_refuses_unknown_arguments(tmp_path: Path, stubs: Path) -> None:
    result = _install(tmp_path / "root", stubs, "--no-venv", "--frobnicate")
    assert result.returncode == 2
    assert "unknown argument" in result.stderr
    assert not (tmp_path / "root" / "etc").exists()


@pytest.mark.skipif(os.environ.get("PHYSGAP_TEST_INSTALL_VENV") != "1" and not strict(),
                    reason="full venv install fetches dependencies with pip (~20 s, needs a package index); "
                           "set PHYSGAP_TEST_INSTALL_VENV=1 (scripts/test and CI always run it)")
def test_staged_install_with_venv(tmp_path: Path, stubs: Path) -> None:
    # No --python: the default is the system interpreter, never the one running these tests (often a pyenv
    # or a venv under /root, which the unit cannot reach).
    prefix = tmp_path / "root"
    result = _install(prefix, stubs)
    assert result.returncode == 0, result.stdout + result.stderr
    physgap = prefix / "opt/physgap/venv/bin/physgap"
    version = subprocess.run([str(physgap), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("physgap ")
    home = dict(line.split(" = ", 1) for line in (prefix / "opt/physgap/venv/pyvenv.cfg").read_text().splitlines()
                if " = " in line)["home"]
    assert home == "/usr/bin", home
    # Twice: the second run upgrades in place instead of failing on the existing venv.
    again = _install(prefix, stubs)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "recreating" not in again.stdout
    assert _calls(stubs) == ""


# --- sysusers / tmpfiles, applied by the real tools to a scratch root -------------------------------------


def _sysusers(root: Path, snippet: str | None = None) -> None:
    tool = require_binary("systemd-sysusers")
    (root / "etc").mkdir(parents=True, exist_ok=True)
    snippet = (SYSTEMD / "physgap.sysusers").read_text() if snippet is None else snippet
    # "-" reads the snippet from stdin: with --root, file arguments are looked up inside the root.
    subprocess.run([tool, f"--root={root}", "-"], input=snippet,
                   capture_output=True, text=True, check=True, timeout=60)


def _group_entry(root: Path, name: str) -> list[str]:
    for line in (root / "etc/group").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return fields
    raise AssertionError(f"group {name} missing from {root}/etc/group")


def _members(root: Path, group: str) -> list[str]:
    return [name for name in _group_entry(root, group)[3].split(",") if name]


def test_sysusers_creates_system_user_in_disk_group(tmp_path: Path) -> None:
    _sysusers(tmp_path)
    users = {line.split(":")[0]: line.split(":") for line in (tmp_path / "etc/passwd").read_text().splitlines()}
    assert "physgap" in users
    _name, _pw, uid, gid, _gecos, home, shell = users["physgap"]
    assert int(uid) < 1000, "a system user (uid below the regular-user range)"
    assert _group_entry(tmp_path, "physgap")[2] == gid
    assert shell == "/usr/sbin/nologin"
    assert home == "/var/lib/physgap"
    assert "physgap" in _members(tmp_path, "disk")


def test_sysusers_puts_physgap_in_nuts_group(tmp_path: Path) -> None:
    # Debian's nut-client: /etc/nut/upsmon.conf root:nut 0640. The group exists with NUT's own gid.
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/group").write_text("nut:x:105:\n")
    _sysusers(tmp_path)
    assert _group_entry(tmp_path, "nut")[2] == "105", "NUT's group is joined, not replaced"
    assert _members(tmp_path, "nut") == ["physgap"]


def test_sysusers_joins_nut_on_upgrade(tmp_path: Path) -> None:
    # A host installed before the nut line existed: the reinstall's systemd-sysusers run adds the membership.
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/group").write_text("nut:x:105:\n")
    old = "".join(line + "\n" for line in (SYSTEMD / "physgap.sysusers").read_text().splitlines()
                  if not line.startswith("m physgap nut"))
    _sysusers(tmp_path, old)
    assert _members(tmp_path, "nut") == []
    uid = _passwd_entry(tmp_path, "physgap")[2]
    _sysusers(tmp_path)
    assert _members(tmp_path, "nut") == ["physgap"]
    assert _passwd_entry(tmp_path, "physgap")[2] == uid, "the existing user is kept"


def test_sysusers_creates_nut_when_nut_is_not_installed(tmp_path: Path) -> None:
    # sysusers has no "only if the group exists": an `m` line creates a missing group (a system group), so
    # the membership is in place before NUT is installed; Debian's nut-client then adopts the group (its
    # postinst runs addgroup only when `getent group nut` fails).
    _sysusers(tmp_path)
    gid = int(_group_entry(tmp_path, "nut")[2])
    assert gid < 1000, "a system group"
    assert _members(tmp_path, "nut") == ["physgap"]


def _passwd_entry(root: Path, name: str) -> list[str]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return fields
    raise AssertionError(f"user {name} missing from {root}/etc/passwd")


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's group to physgap needs root")
def test_tmpfiles_makes_dmi_tables_readable_by_group_physgap(tmp_path: Path) -> None:
    tool = require_binary("systemd-tmpfiles")
    _sysusers(tmp_path)
    tables = tmp_path / "sys/firmware/dmi/tables"
    tables.mkdir(parents=True)
    for name in ("DMI", "smbios_entry_point"):
        (tables / name).write_bytes(b"\0" * 16)
        (tables / name).chmod(0o400)  # what the kernel creates
    subprocess.run([tool, f"--root={tmp_path}", "--create", "-"],
                   input=(SYSTEMD / "physgap.tmpfiles").read_text(),
                   capture_output=True, text=True, check=True, timeout=60)
    gid = int(_group_entry(tmp_path, "physgap")[2])
    for name in ("DMI", "smbios_entry_point"):
        info = (tables / name).stat()
        assert stat.S_IMODE(info.st_mode) == 0o440, name
        assert (info.st_uid, info.st_gid) == (0, gid), name


# --- example configurations ----------------------------------------------------------------------------


def test_config_example_as_shipped_is_valid(tmp_path: Path) -> None:
    # All commented out: check-config must accept it (an operator may copy it unchanged).
    result = subprocess.run([sys.executable, "-m", "daemon.cli", "check-config",
                             str(SYSTEMD / "physgap.toml.example")],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def test_config_example_uncommented_is_valid_and_complete(tmp_path: Path) -> None:
    text = _uncommented((SYSTEMD / "physgap.toml.example").read_text())
    config = tmp_path / "physgap.toml"
    config.write_text(text)
    result = subprocess.run([sys.executable, "-m", "daemon.cli", "check-config", str(config)],
                            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr + "\n" + text
    document = tomllib.loads(text)
    for section, keys in CONTRACT_KEYS.items():
        table: object = document
        for part in section.split("."):
            assert isinstance(table, dict) and part in table, f"[{section}] missing from the example"
            table = table[part]
        entry = table[0] if isinstance(table, list) else table
        assert isinstance(entry, dict)
        assert keys <= set(entry), f"[{section}] lacks {sorted(keys - set(entry))}"
    # Every collector section documents its interval and timeout knobs.
    for section in ("smart", "storage", "nics", "pcie", "ups"):
        assert {"interval", "timeout"} <= set(document[section]), section


def test_web_example_parses_once_a_real_hash_is_set() -> None:
    bcrypt = pytest.importorskip("bcrypt")
    from exporters.webconfig import WebConfigError, parse_web_config

    text = _uncommented((SYSTEMD / "web.yml.example").read_text())
    # The placeholder is refused: uncommenting the example must not yield a working password.
    with pytest.raises(WebConfigError, match="bcrypt"):
        parse_web_config(text, Path("web.yml"))
    real = bcrypt.hashpw(b"example", bcrypt.gensalt(4)).decode()
    config = parse_web_config(re.sub(r"\$2b\$10\$\S+", lambda _m: real, text), Path("web.yml"))
    assert config.tls is not None and config.tls.client_auth_type == "RequireAndVerifyClientCert"
    assert set(config.basic_auth_users) == {"prometheus"}
