"""The SNMP kit's community handling, on real files: where the community comes from, what is refused, what is
warned about, and that the community itself never leaves the function except as its result."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from collectors.kit.secrets import CREDENTIALS_ENV, MAX_SECRET_BYTES
from collectors.kit.snmp import SnmpError, read_community
from collectors.kit.warnonce import WarnOnce

LOGGER = "physgap.test.snmp"


@pytest.fixture
def warn() -> WarnOnce:
    return WarnOnce(logging.getLogger(LOGGER))


def secret_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]


def test_without_a_file_the_configured_community_is_used(warn: WarnOnce) -> None:
    assert read_community("public", None, warn) == "public"


def test_the_file_wins_and_is_read_on_every_call(tmp_path: Path, warn: WarnOnce) -> None:
    path = secret_file(tmp_path / "community", "first\n")
    assert read_community("public", path, warn) == "first"  # the line break is not part of it
    secret_file(path, "rotated\n")
    assert read_community("public", path, warn) == "rotated"


def test_relative_path_is_looked_up_in_the_credentials_directory(tmp_path: Path, warn: WarnOnce,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    secret_file(credentials / "switch-community", "from-systemd\n")
    secret_file(tmp_path / "switch-community", "from-cwd\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CREDENTIALS_ENV, str(credentials))
    assert read_community("public", Path("switch-community"), warn) == "from-systemd"
    monkeypatch.delenv(CREDENTIALS_ENV)
    assert read_community("public", Path("switch-community"), warn) == "from-cwd"


def test_oversized_file_is_refused_without_showing_it(tmp_path: Path, warn: WarnOnce,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    path = secret_file(tmp_path / "community", "s3cret" * (MAX_SECRET_BYTES // 6 + 1))
    with caplog.at_level(logging.DEBUG), pytest.raises(SnmpError) as failure:
        read_community("public", path, warn)
    assert str(failure.value) == f"no community: secret file {path} is larger than {MAX_SECRET_BYTES} bytes"
    assert "s3cret" not in caplog.text


@pytest.mark.parametrize("text", ["", "\n"])
def test_empty_file_is_refused(tmp_path: Path, warn: WarnOnce, text: str) -> None:
    # An empty community would be sent as one: refuse it rather than ask the agent with nothing.
    path = secret_file(tmp_path / "community", text)
    with pytest.raises(SnmpError) as failure:
        read_community("public", path, warn)
    assert str(failure.value) == f"no community: secret file {path} is empty"


def test_missing_file_and_a_directory_are_refused(tmp_path: Path, warn: WarnOnce) -> None:
    with pytest.raises(SnmpError, match=r"cannot read secret file .*absent"):
        read_community("public", tmp_path / "absent", warn)
    with pytest.raises(SnmpError, match="no community: cannot read secret file"):
        read_community("public", tmp_path, warn)


def test_world_readable_file_warns_once_until_fixed(tmp_path: Path, warn: WarnOnce,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    path = secret_file(tmp_path / "community", "s3cret\n", mode=0o644)
    expected = [f"community file {path} is world-readable; chmod o-r it"]
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        for _ in range(3):
            assert read_community("public", path, warn) == "s3cret"  # still used: a warning, not a refusal
        assert warnings(caplog) == expected
        caplog.clear()
        path.chmod(0o640)  # group-readable is how a service group is meant to get at it
        read_community("public", path, warn)
        assert warnings(caplog) == []
        path.chmod(0o644)
        read_community("public", path, warn)
        assert warnings(caplog) == expected
    assert "s3cret" not in caplog.text
