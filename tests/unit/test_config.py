"""Configuration: the contract's keys are accepted, mistakes are named with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.config import ConfigError, load_config, parse_duration, parse_listen_address

FULL_CONTRACT = """
[daemon]
host = "pve1"
role = "compute"
interval = "30s"
state_dir = "/var/lib/physgap"
sysfs = "/sys"
procfs = "/proc"

[prometheus]
listen = "0.0.0.0:9829"
web_config = "/etc/physgap/web.yml"
textfile = ""

[mqtt]
host = "broker.lan"
port = 1883
tls = false
ca_file = ""
username = ""
password_file = ""
base_topic = "physgap"
discovery_prefix = "homeassistant"

[[ups.nut]]
host = "127.0.0.1"
port = 3493
ups = ""

[[ups.snmp]]
host = "ups.lan"
community = "public"

[smart]
smartctl = "smartctl"
devices = []
interval = "10m"
timeout = "60s"
concurrency = 4

[storage]
zpool = "zpool"

[nics]
include = ["*"]
exclude = []
expected = { enp2s0f0np0 = "10G" }

[pcie]
dmidecode = "dmidecode"

[[oob.targets]]
name = "ms01-amt"
host = "10.0.10.5"
kind = "amt"
port = 16992

[hosts]
members = "/etc/pve/.members"
compute = []

[[switch]]
host = "usw-16.lan"
community = "public"

[gaps.P5]
severity = "info"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "physgap.toml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return [str(p) for p in info.value.problems]


def test_every_contract_key_is_accepted(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, FULL_CONTRACT))
    assert config.daemon.host == "pve1"
    assert config.daemon.interval == 30.0
    assert config.sources["nics"].expected_mbps == {"enp2s0f0np0": 10_000}
    assert config.prometheus.web_config == Path("/etc/physgap/web.yml")
    assert config.prometheus.textfile is None  # empty string means off
    assert config.gaps["P5"].severity == "info"
    assert config.sources["oob"].targets[0].name == "ms01-amt"
    assert config.sources["oob"].targets[0].port == 16992


def test_no_file_means_defaults(tmp_path: Path) -> None:
    del tmp_path
    config = load_config(None)
    assert config.prometheus.listen == "0.0.0.0:9829"
    assert config.daemon.interval == 30.0
    assert config.sources["nics"].include == ("*",)
    assert config.daemon.host  # the machine's hostname


def test_bad_duration_names_file_line_and_key(tmp_path: Path) -> None:
    found = problems(tmp_path, '[daemon]\nhost = "x"\ninterval = "30x"\n')
    assert len(found) == 1
    assert found[0].startswith(f"{tmp_path / 'physgap.toml'}:3: daemon.interval: bad duration '30x'")


def test_unknown_key_and_section_are_errors(tmp_path: Path) -> None:
    found = problems(tmp_path, '[daemon]\nintervall = "30s"\n\n[bogus]\nx = 1\n')
    assert any(":2: daemon.intervall: unknown key" in p for p in found)
    assert any(":4: bogus: unknown section" in p for p in found)


def test_wrong_types_are_reported_each(tmp_path: Path) -> None:
    found = problems(tmp_path, '[mqtt]\nport = "1883"\ntls = "yes"\n\n[nics]\ninclude = "eth*"\n')
    assert any("mqtt.port: expected an integer, got str" in p for p in found)
    assert any("mqtt.tls: expected true or false" in p for p in found)
    assert any(":6: nics.include: expected a list of strings" in p for p in found)


@pytest.mark.parametrize("listen", ["9829", "host:99999", "a b:80", "[::1:80", ":0"])
def test_bad_listen_addresses(tmp_path: Path, listen: str) -> None:
    found = problems(tmp_path, f'[prometheus]\nlisten = "{listen}"\n')
    assert len(found) == 1
    assert ":2: prometheus.listen:" in found[0]


def test_bad_speed_and_severity(tmp_path: Path) -> None:
    found = problems(tmp_path, '[nics]\nexpected = { eth0 = "fast" }\n\n[gaps.P3]\nseverity = "urgent"\n')
    assert any("nics.expected: eth0:" in p for p in found)
    assert any(":5: gaps.P3.severity: 'urgent' is not one of info, low, medium, high, critical" in p
               for p in found)


def test_array_entries_are_located_by_index(tmp_path: Path) -> None:
    text = ('[[oob.targets]]\nname = "a"\nhost = "h1"\n\n[[oob.targets]]\nname = "b"\nhost = "h2"\n'
            'kind = "telnet"\n')
    found = problems(tmp_path, text)
    assert found == [f"{tmp_path / 'physgap.toml'}:8: oob.targets[1].kind: 'telnet' is not one of amt, ipmi, tcp"]


def test_invalid_toml_and_unreadable_file(tmp_path: Path) -> None:
    found = problems(tmp_path, "[daemon\nhost = 1\n")
    assert "not valid TOML" in found[0]
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.toml")
    assert "cannot read" in str(info.value)


def test_garbage_bytes_are_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "physgap.toml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "not UTF-8" in str(info.value)


@pytest.mark.parametrize(("text", "seconds"), [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h", 3600),
                                                ("1m30s", 90)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["30", "30x", "", "s", "0s", "-5s", "5 m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_listen_address_forms() -> None:
    assert parse_listen_address(":9829") == ("0.0.0.0", 9829)
    assert parse_listen_address("[::1]:9829") == ("::1", 9829)
    assert parse_listen_address("127.0.0.1:1") == ("127.0.0.1", 1)


# --- bounds, hostile files, one pass (issue 8) ------------------------------------------------------------


@pytest.mark.parametrize(("text", "problem"), [
    ('[daemon]\ninterval = "200000d"\n',
     "daemon.interval: '200000d' is longer than 1d, the most this key allows (1s..1d)"),
    ('[daemon]\ninterval = "1ms"\n', "daemon.interval: '1ms' is shorter than 1s, the least this key allows"),
    ('[smart]\ninterval = "500ms"\n', "smart.interval: '500ms' is shorter than 1s"),
    ('[smart]\ntimeout = "2h"\n', "smart.timeout: '2h' is longer than 30m"),
    ('[nics]\ninterval = "100ms"\n', "nics.interval: '100ms' is shorter than 250ms"),
    ('[pcie]\ntimeout = "60ms"\n', "pcie.timeout: '60ms' is shorter than 100ms"),
    ('[storage]\ntimeout = "1h"\n', "storage.timeout: '1h' is longer than 10m"),
    ('[ups]\ninterval = "2d"\n', "ups.interval: '2d' is longer than 1d"),
    ('[[ups.nut]]\ntimeout = "5m"\n', "ups.nut[0].timeout: '5m' is longer than 1m"),
    ('[mqtt]\ninterval = "10ms"\n', "mqtt.interval: '10ms' is shorter than 1s"),
    ('[[oob.targets]]\nname = "a"\nhost = "h"\ntimeout = "1d"\n', "oob.targets[0].timeout: '1d' is longer than 1m"),
    ('[daemon]\ninterval = "' + "9" * 400 + 's"\n', "daemon.interval: duration '" + "9" * 60),
])
def test_every_duration_is_bounded_and_the_bound_is_named(tmp_path: Path, text: str, problem: str) -> None:
    found = problems(tmp_path, text)
    assert len(found) == 1 and problem in found[0], found


def test_the_bounds_admit_what_operators_and_tests_use(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[daemon]\ninterval = "1s"\n[nics]\ninterval = "250ms"\n'
                                         '[smart]\ninterval = "1d"\ntimeout = "30m"\n'))
    assert config.daemon.interval == 1.0
    assert (config.sources["nics"].interval, config.sources["smart"].interval) == (0.25, 86400.0)


def test_a_syntax_error_names_line_key_and_the_usual_cause(tmp_path: Path) -> None:
    found = problems(tmp_path, '[daemon]\nhost = "a"\n\n[smart]\ninterval = 10m\n')
    assert found == [f"{tmp_path / 'physgap.toml'}:5: smart.interval: not valid TOML: Expected newline or end of "
                     "document after a statement at column 14; the usual cause is a string value without quotes: "
                     'write interval = "..." (only true, false, numbers, [lists] and { tables } go without)']


def test_a_syntax_error_never_quotes_the_line(tmp_path: Path) -> None:
    """The line may hold a secret, and a refused reload writes the problem into the journal."""
    found = problems(tmp_path, '[[ups.snmp]]\nhost = "ups.lan"\ncommunity = s3cret-word\n')
    assert len(found) == 1 and ":3: ups.snmp.community: not valid TOML: Invalid value" in found[0]
    assert "s3cret" not in found[0]


@pytest.mark.parametrize("text", [
    "a = " + "[" * 1000 + "]" * 1000 + "\n",
    "a = " + "{b = " * 1000 + "1" + "}" * 1000 + "\n",
    ".".join(["k"] * 40_000) + " = 1\n",  # tomllib needs about 24 s for this one: refused before parsing
    "[" + ".".join(["k"] * 40_000) + "]\n",
])
def test_deep_nesting_is_one_problem_without_a_traceback(tmp_path: Path, text: str) -> None:
    found = problems(tmp_path, text)
    assert len(found) == 1 and found[0].startswith(f"{tmp_path / 'physgap.toml'}: -: "), found
    assert "nested more than 32" in found[0] or "more than 32 parts" in found[0]


def test_nesting_inside_strings_and_comments_does_not_count(tmp_path: Path) -> None:
    deep = "[" * 100
    config = load_config(write(tmp_path, f'# {deep}\n[daemon]\nhost = "{deep}x"  # {deep}\n'
                                         f"state_dir = '''\n{deep}'''\nprocfs = \"a\\\"{deep}\"\n"))
    assert config.daemon.host == f"{deep}x"


@pytest.mark.parametrize(("content", "problem"), [
    (None, "not a regular file"),
    (b"# " + b"x" * (1024 * 1024), "larger than 1024 KiB"),
    (b"[daemon]\ninterval = " + b"1" * 5000 + b"\n", "a number too long to read"),
])
def test_files_that_are_not_configurations(tmp_path: Path, content: bytes | None, problem: str) -> None:
    import os

    path = tmp_path / "physgap.toml"
    if content is None:
        os.mkfifo(path)  # nobody writes: reading it would block check-config and a SIGHUP reload forever
    else:
        path.write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert problem in str(info.value)


MANY_MISTAKES = """\
[daemon]
interval = "200000d"
role = "storage"

[smart]
smartctl = "/nonexistent/smartctl"
concurrency = 0

[nics]
frobnicate = true

[[ups.nut]]
ups = "my ups"

[gaps.P7]
enabled = false

[gaps.P5]
severity = "urgent"
"""


def test_every_mistake_in_one_pass_in_file_order(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, MANY_MISTAKES))
    found = [f"{p.line}: {p.key}" for p in info.value.problems]
    assert found == ["2: daemon.interval", "3: daemon.role", "7: smart.concurrency", "10: nics.frobnicate",
                     "13: ups.nut[0].ups", "15: gaps.P7", "19: gaps.P5.severity"]
    # The missing program is found in the same pass, as a warning.
    assert [str(w).split(": ", 1)[1] for w in info.value.warnings] == [
        "smart.smartctl: warning: /nonexistent/smartctl: not found; drives cannot be read (smartctl comes with "
        "smartmontools)"]


def test_programs_that_cannot_run_are_warnings(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.write_text("not a program\n")
    config = load_config(write(tmp_path, f'[smart]\nsmartctl = "{tmp_path}"\n[pcie]\ndmidecode = "{plain}"\n'
                                         '[storage]\nzpool = "no-such-zpool-anywhere"\n'))
    assert [str(w).split(": ", 1)[1] for w in config.warnings] == [
        f"smart.smartctl: warning: {tmp_path}: is a directory, not a program; drives cannot be read (smartctl "
        "comes with smartmontools)",
        f"pcie.dmidecode: warning: {plain}: not executable; PCIe slots will have no SMBIOS labels",
        "storage.zpool: warning: no-such-zpool-anywhere: not found on PATH, /usr/sbin, /sbin; ZFS pools will not "
        "be reported"]
    assert [w.line for w in config.warnings] == [2, 4, 6]


def test_an_unwritten_zpool_may_be_missing(tmp_path: Path) -> None:
    """No ZFS on this host is normal: only a zpool the operator wrote is looked for."""
    config = load_config(write(tmp_path, '[smart]\nsmartctl = "/bin/true"\n[pcie]\ndmidecode = "/bin/true"\n'))
    assert config.warnings == ()
