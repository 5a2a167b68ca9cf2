"""read_regular_file on real files, FIFOs, directories and device nodes: what is not a regular file is
refused by kind without blocking, and the size cap holds to the byte."""

from __future__ import annotations

import functools
import os
import socket
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from collectors.kit.files import NotRegularFile, ReadFailed, TooLarge, read_regular, read_regular_file
from collectors.kit.secrets import SecretError, read_secret

T = TypeVar("T")


def bounded(call: Callable[[], T]) -> T:
    """call() in a thread, so that a regression that blocks fails the test instead of hanging it."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # handed back to the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    assert outcome or failure, "the read blocked"
    if failure:
        raise failure[0]
    return outcome[0]


def test_a_regular_file_is_read_whole_with_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"one\ntwo\n")
    path.chmod(0o604)
    data, info = read_regular_file(path, 1024)
    assert data == b"one\ntwo\n"
    assert stat.S_IMODE(info.st_mode) == 0o604
    assert read_regular(tmp_path / "file", 1024) == b"one\ntwo\n"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "fifo"
    os.mkfifo(path)
    with pytest.raises(NotRegularFile) as refused:
        bounded(lambda: read_regular(path, 1024))
    assert str(refused.value) == "a FIFO"
    assert not refused.value.is_directory and not refused.value.is_device


def test_a_directory_is_refused_as_one(tmp_path: Path) -> None:
    with pytest.raises(NotRegularFile) as refused:
        read_regular(tmp_path, 1024)
    assert str(refused.value) == "a directory" and refused.value.is_directory


@pytest.mark.parametrize("device", ["/dev/null", "/dev/zero"])
def test_a_device_is_refused_even_behind_a_link(tmp_path: Path, device: str) -> None:
    link = tmp_path / "link"
    link.symlink_to(device)  # /dev/zero is endless: only the refusal can end this read
    for path in (Path(device), link):
        with pytest.raises(NotRegularFile) as refused:
            bounded(functools.partial(read_regular, path, 1024))
        assert str(refused.value) == "a character device" and refused.value.is_device


def test_a_socket_is_refused_as_one(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        with pytest.raises(NotRegularFile, match=r"^a socket$"):
            read_regular(path, 1024)


def test_exactly_at_the_limit_is_read_and_one_byte_more_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"x" * 100)
    assert read_regular(path, 100) == b"x" * 100
    with pytest.raises(TooLarge) as refused:
        read_regular(path, 99)
    assert str(refused.value) == "larger than 99 bytes" and refused.value.limit == 99
    assert isinstance(refused.value, ValueError)  # callers that judged "too large" as a ValueError still do


def test_a_large_file_is_capped_across_read_chunks(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(b"y" * (300 * 1024))
    assert read_regular(path, 300 * 1024) == b"y" * (300 * 1024)
    with pytest.raises(TooLarge):
        read_regular(path, 200 * 1024 + 1)


def test_an_empty_file_is_read_as_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.touch()
    assert read_regular(path, 0) == b""


def test_a_missing_file_raises_the_os_error_itself(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        read_regular(tmp_path / "absent", 1024)
    assert missing.value.strerror == "No such file or directory"
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError):
        read_regular(tmp_path / "file" / "below", 1024)


def test_a_failed_read_after_opening_is_told_apart_from_a_failed_open() -> None:
    # /proc/self/mem is a regular file that opens, but reading it at offset 0 fails (nothing is mapped at
    # address 0): the kernel's own EIO, not a mock.
    with pytest.raises(ReadFailed) as failed:
        read_regular(Path("/proc/self/mem"), 1024)
    assert failed.value.strerror == "Input/output error"
    assert not isinstance(failed.value, (FileNotFoundError, PermissionError))


def test_a_secret_file_that_is_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    # read_secret once opened with a plain open(): a FIFO in a password file's place hung the collector.
    path = tmp_path / "password"
    os.mkfifo(path)
    with pytest.raises(SecretError) as refused:
        bounded(lambda: read_secret(path))
    assert str(refused.value) == f"secret file {path} is not a regular file"
    with pytest.raises(SecretError) as refused:
        read_secret(tmp_path)
    assert str(refused.value) == f"cannot read secret file {tmp_path} (Is a directory)"
