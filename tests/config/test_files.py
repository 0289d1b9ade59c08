"""The one door from config text to the OS: paths no OS call accepts and files that are not
files are ``PathProblem`` with a reason, never a ValueError or OSError, and never a hang."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from pyjinn.config.files import MAX_FILE_SIZE, PathProblem, kind, read_text, resolve


def test_resolve_makes_relative_paths_absolute_and_keeps_absolute_ones(tmp_path: Path) -> None:
    assert resolve(tmp_path, "a/../b.wasm") == tmp_path / "b.wasm"
    assert resolve(tmp_path, "/etc/hosts") == Path("/etc/hosts")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("a\0b", "it contains a NUL character"),
        ("\ud800.wasm", "it is not valid UTF-8 text"),
        ("n" * 256, "a name in it is 256 bytes long; the system allows 255"),
        ("/" + "d/" * 2048, "bytes long once resolved; the system allows 4095"),
    ],
)
def test_resolve_refuses_text_no_os_call_accepts(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(PathProblem, match=reason):
        resolve(tmp_path, text)


def test_kind_tells_files_directories_devices_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert kind(tmp_path / "file") == "file"
    assert kind(tmp_path) == "directory"
    assert kind(Path("/dev/null")) == "other"
    assert kind(tmp_path / "missing") == "missing"
    assert kind(tmp_path / "file" / "below") == "missing"


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_read_text_refuses_a_device_rather_than_reading_it_forever(device: str) -> None:
    with pytest.raises(PathProblem, match=r"^it is not a regular file$"):
        read_text(Path(device))


def test_read_text_refuses_a_fifo_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    outcome: list[BaseException | str] = []
    reader = threading.Thread(target=lambda: _record(outcome, fifo), daemon=True)
    reader.start()
    reader.join(timeout=30)
    if reader.is_alive():  # unblock the reader before failing, so nothing is left behind
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=30)
        pytest.fail("read_text blocked on a FIFO")
    assert len(outcome) == 1
    assert isinstance(outcome[0], PathProblem)
    assert str(outcome[0]) == "it is not a regular file"


def _record(outcome: list[BaseException | str], path: Path) -> None:
    try:
        outcome.append(read_text(path))
    except BaseException as error:
        outcome.append(error)


def test_read_text_reads_a_pipe_when_asked_to() -> None:
    read_end, write_end = os.pipe()
    os.write(write_end, b":8080 {\n respond ok\n}\n")
    os.close(write_end)
    try:
        assert read_text(Path(f"/proc/self/fd/{read_end}"), regular_only=False).startswith(":8080")
    finally:
        os.close(read_end)


def test_read_text_refuses_a_file_larger_than_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.caddy"
    with big.open("wb") as file:
        file.truncate(MAX_FILE_SIZE + 1)
    with pytest.raises(PathProblem, match=r"^it is larger than 8MiB$"):
        read_text(big)
    with pytest.raises(PathProblem, match=r"^it is larger than 8MiB$"):
        read_text(Path("/dev/zero"), regular_only=False)


def test_read_text_says_on_which_line_a_file_stops_being_utf8(tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.caddy"
    latin1.write_bytes(b":8080 {\n respond ok\n respond caf\xe9\n}\n")
    with pytest.raises(PathProblem) as raised:
        read_text(latin1)
    assert str(raised.value) == "it is not UTF-8 text (byte 0xe9 on line 3)"
    assert raised.value.line == 3


def test_read_text_marks_a_missing_file_as_missing(tmp_path: Path) -> None:
    with pytest.raises(PathProblem) as raised:
        read_text(tmp_path / "nope.caddy")
    assert raised.value.missing
    assert str(raised.value) == "no such file or directory"
    with pytest.raises(PathProblem, match=r"^it is a directory$"):
        read_text(tmp_path)
