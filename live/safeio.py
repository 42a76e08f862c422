"""One reader for every file the show reads: a size cap, regular files only, never blocking.

A scene, the gallery state, a playlist, a ``model.toml`` or a shader is user-controlled input.
A symlink to ``/dev/zero`` would grow memory without end and a FIFO would block the reading
thread forever, so every such read goes through :func:`read_bytes` / :func:`read_text`:

- the path must name a regular file (after following symlinks); anything else is refused;
- it is opened with ``O_NONBLOCK`` so a FIFO swapped in between the check and the open cannot
  block, then checked again on the open descriptor (``fstat``);
- at most ``limit`` bytes are read; a larger file is refused, not truncated.

Errors are :class:`FileReadError` (an ``OSError``, so callers that already catch ``OSError``
keep working) whose message names the file and the reason.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

KIB = 1024
MIB = 1024 * KIB

SCENE_MAX_BYTES = 1 * MIB
STATE_MAX_BYTES = 1 * MIB
PLAYLIST_MAX_BYTES = 1 * MIB
CONFIG_MAX_BYTES = 1 * MIB
MODEL_TOML_MAX_BYTES = 1 * MIB
SHADER_MAX_BYTES = 1 * MIB
"""Caps per kind of file: each is hundreds of times what a real one needs."""


class FileReadError(OSError):
    """A file that was refused or could not be read; ``str()`` names the file and why."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def check_regular(path: Path | str) -> os.stat_result:
    """The ``stat`` of ``path`` if it is a regular file (symlinks followed), else
    :class:`FileReadError`. Never opens the file."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileReadError(path, "no such file") from None
    except OSError as exc:
        raise FileReadError(path, f"cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise FileReadError(path, f"refused: {_kind(info.st_mode)}, not a regular file")
    return info


def read_bytes(path: Path | str, limit: int) -> bytes:
    """The whole content of a regular file of at most ``limit`` bytes."""
    check_regular(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise FileReadError(path, "no such file") from None
        raise FileReadError(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)  # the file actually opened, not what the name pointed at before
        if not stat.S_ISREG(info.st_mode):
            raise FileReadError(path, f"refused: {_kind(info.st_mode)}, not a regular file")
        if info.st_size > limit:
            raise FileReadError(path, f"refused: {info.st_size:,} bytes, more than the "
                                      f"{limit:,}-byte limit for this kind of file")
        chunks = []
        total = 0
        while True:
            chunk = os.read(fd, min(64 * KIB, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:  # grew while we read it
                raise FileReadError(path, f"refused: more than the {limit:,}-byte limit "
                                          "for this kind of file")
        return b"".join(chunks)
    except OSError as exc:
        if isinstance(exc, FileReadError):
            raise
        raise FileReadError(path, f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def read_text(path: Path | str, limit: int, encoding: str = "utf-8") -> str:
    """:func:`read_bytes` decoded; bad encoding is a :class:`FileReadError` too."""
    data = read_bytes(path, limit)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise FileReadError(path, f"not {encoding} text (byte {exc.start})") from None
