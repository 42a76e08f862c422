"""The one capped reader: regular files only, a size cap, never blocks on a FIFO."""

import os
import threading

import pytest

from live.safeio import FileReadError, read_bytes, read_text


def test_reads_a_regular_file(tmp_path):
    path = tmp_path / "a.toml"
    path.write_text("x = 1\n")
    assert read_text(path, 100) == "x = 1\n"


def test_symlink_to_dev_zero_is_refused_without_reading(tmp_path):
    link = tmp_path / "zero.toml"
    link.symlink_to("/dev/zero")
    with pytest.raises(FileReadError, match="character device, not a regular file"):
        read_bytes(link, 1024)


def test_fifo_is_refused_and_never_blocks(tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    result = {}

    def attempt():
        try:
            read_bytes(fifo, 1024)
        except FileReadError as exc:
            result["error"] = str(exc)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "reading a FIFO blocked"
    assert "FIFO" in result["error"]


def test_directory_and_missing_file_are_refused(tmp_path):
    with pytest.raises(FileReadError, match="directory"):
        read_bytes(tmp_path, 1024)
    with pytest.raises(FileReadError, match="no such file"):
        read_bytes(tmp_path / "missing", 1024)


def test_file_over_the_cap_is_refused_not_truncated(tmp_path):
    path = tmp_path / "big.toml"
    path.write_bytes(b"a" * 2000)
    with pytest.raises(FileReadError, match="2,000 bytes, more than the 1,000-byte limit"):
        read_bytes(path, 1000)
    assert read_bytes(path, 2000) == b"a" * 2000


def test_bad_encoding_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_bytes(b"x = '\xff'")
    with pytest.raises(FileReadError, match="bad.toml: not utf-8"):
        read_text(path, 100)


def test_is_an_oserror_for_callers_that_catch_those(tmp_path):
    with pytest.raises(OSError):
        read_bytes(tmp_path / "missing", 10)
