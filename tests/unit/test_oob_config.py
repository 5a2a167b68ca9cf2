"""[oob] and [[oob.targets]] as the loader checks and builds them, and what the daemon plans from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.build import build_jobs
from daemon.config import ConfigError, load_config
from tests.conftest import modules_after_build


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "physgap.toml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return [str(p).split(": ", 1)[1] for p in info.value.problems]


def test_amt_without_a_port_falls_back_to_tls_and_with_one_does_not(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[[oob.targets]]\nname = "a"\nhost = "h"\n\n'
                                         '[[oob.targets]]\nname = "b"\nhost = "h"\nport = 16993\n\n'
                                         '[[oob.targets]]\nname = "c"\nhost = "h"\nkind = "ipmi"\n'))
    a, b, c = config.sources["oob"].targets
    assert (a.port, a.tls_fallback) == (16992, True)
    assert (b.port, b.tls_fallback) == (16993, False)
    assert (c.port, c.tls_fallback) == (623, False)


def test_credentials_need_both_halves_and_only_amt_uses_them(tmp_path: Path) -> None:
    found = problems(tmp_path, '[[oob.targets]]\nname = "a"\nhost = "h"\nusername = "admin"\n\n'
                               '[[oob.targets]]\nname = "b"\nhost = "h"\nkind = "ipmi"\nusername = "u"\n'
                               'password_file = "p"\n')
    assert "oob.targets[0].password_file: missing (credentials need both username and password_file)" in found
    assert "oob.targets[1].username: only an amt target uses it" in found


def test_a_default_install_reads_local_oob_hardware_and_probes_nothing(tmp_path: Path) -> None:
    names = [job.collector.name for job in build_jobs(load_config(None))]
    assert "oob_local" in names and "oob" not in names


def test_targets_plan_a_probe_round_bounded_by_the_slowest_target(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, '[oob]\nlocal = false\n\n'
                                         '[[oob.targets]]\nname = "a"\nhost = "h"\ntimeout = "3s"\n\n'
                                         '[[oob.targets]]\nname = "b"\nhost = "h"\ntimeout = "7s"\n'))
    jobs = {job.collector.name: job for job in build_jobs(config)}
    assert set(jobs) & {"oob", "oob_local"} == {"oob"}
    assert jobs["oob"].timeout == 8.0  # 7 s + 1 s of slack


def test_the_endpoint_probes_load_only_where_endpoints_are_configured(tmp_path: Path) -> None:
    """Most hosts configure no [[oob.targets]]: they run the local capability check without loading the
    HTTP, Digest, TLS and RMCP probe code (memory the daemon's RSS target counts)."""
    loaded = {}
    for name, text in (("none", "[oob]\nlocal = true\n"),
                       ("one", '[[oob.targets]]\nname = "nas-amt"\nhost = "nas-amt.lan"\n')):
        config = tmp_path / f"{name}.toml"
        config.write_text(text)
        modules = modules_after_build(config)
        loaded[name] = ["collectors.oob.local" in modules, "collectors.oob.probe" in modules]
    assert loaded == {"none": [True, False], "one": [True, True]}
