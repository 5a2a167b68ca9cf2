"""JsonStateFile with real files in a temporary state directory: special files are refused without blocking,
oversized and undecodable files are set aside, and each problem is logged once."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from collectors.kit.statefile import MAX_STATE_BYTES, JsonStateFile
from collectors.kit.warnonce import WarnOnce

NAME = "test-state.json"


def decode(document: Any) -> dict[str, int]:
    if not isinstance(document, dict):
        raise ValueError("not an object")
    return {str(k): int(v) for k, v in document.items()}


def state_file() -> JsonStateFile[dict[str, int]]:
    return JsonStateFile(NAME, decode, lambda value: value, dict, WarnOnce(logging.getLogger("test.state")),
                         "test state")


def load_bounded(directory: Path) -> tuple[dict[str, int], bool]:
    """load() in a thread, so that a regression that blocks fails the test instead of hanging it."""
    result: list[tuple[dict[str, int], bool]] = []
    thread = threading.Thread(target=lambda: result.append(state_file().load(directory)), daemon=True)
    thread.start()
    thread.join(10)
    assert result, "load() blocked"
    return result[0]


def aside(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"{NAME}.corrupt-*"))


def test_fifo_in_place_of_the_state_file_is_set_aside_and_replaced(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    os.mkfifo(tmp_path / NAME)
    with caplog.at_level(logging.WARNING):
        value, dirty = load_bounded(tmp_path)
    assert (value, dirty) == ({}, True)
    assert [stat.S_ISFIFO(p.lstat().st_mode) for p in aside(tmp_path)] == [True]
    assert [r.getMessage() for r in caplog.records] == [
        f"test state {tmp_path / NAME} is a FIFO, not a regular file; moved to {aside(tmp_path)[0].name}; "
        "starting afresh"]
    assert state_file().save(tmp_path, {"a": 1})
    assert state_file().load(tmp_path) == ({"a": 1}, False)


def test_socket_and_directory_are_refused(tmp_path: Path) -> None:
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(tmp_path / NAME))
        assert load_bounded(tmp_path) == ({}, True)
    finally:
        server.close()
    assert not (tmp_path / NAME).exists()
    (tmp_path / NAME).mkdir()
    assert load_bounded(tmp_path) == ({}, True)
    assert len(aside(tmp_path)) == 2


def test_character_device_is_never_opened(tmp_path: Path) -> None:
    # /dev/null stands for any device node a symlink may point to (opening /dev/watchdog arms it).
    (tmp_path / NAME).symlink_to("/dev/null")
    assert load_bounded(tmp_path) == ({}, True)
    assert os.path.exists("/dev/null")


def test_symlink_to_a_regular_file_is_read(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.json"
    real.write_text(json.dumps({"x": 2}))
    (tmp_path / NAME).symlink_to(real)
    assert load_bounded(tmp_path) == ({"x": 2}, False)


@pytest.mark.parametrize("content", [b"{" * 100_000 + b"}" * 100_000, b"\xff\xfe not utf-8",
                                     b" " * (MAX_STATE_BYTES + 1)], ids=["deep", "binary", "oversized"])
def test_files_that_are_not_state_physgap_wrote_are_set_aside(tmp_path: Path, content: bytes) -> None:
    (tmp_path / NAME).write_bytes(content)
    assert load_bounded(tmp_path) == ({}, True)
    assert [p.stat().st_size for p in aside(tmp_path)] == [len(content)]
