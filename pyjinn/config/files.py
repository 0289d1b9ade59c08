"""Paths a Caddyfile names, and the files behind them: the one door from config text to the OS.

Every directive that names a file or directory (``import``, module files, ``mount``,
``trusted_key_file``, ``data_dir``, file ``db_dsn`` patterns) resolves it with :func:`resolve`
and looks at it only through :func:`kind` and :func:`read_text`. What the operating system would
refuse with an exception (a NUL character, a name longer than the system allows, a file it may
not read) or would never finish reading (a FIFO, ``/dev/zero``) becomes a :class:`PathProblem`,
whose message the caller puts on the directive's line. No ``ValueError`` or ``OSError`` from
deep inside ever escapes the loader.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Literal

# Linux (and macOS) limits: NAME_MAX per path component, PATH_MAX for the whole path with its
# terminating NUL. Longer paths fail every OS call with ENAMETOOLONG.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 4095
# A Caddyfile or an imported file: generous for any real one, small enough to read at once.
MAX_FILE_SIZE = 8 * 1024 * 1024

Kind = Literal["file", "directory", "other", "missing"]


class PathProblem(ValueError):
    """A path or file the loader cannot use. ``str()`` says why, as a clause: "it is a
    directory". ``missing`` is set when nothing exists there, so callers can word that case
    their own way; ``line`` is the line of the first byte that is not UTF-8, for such a file."""

    def __init__(self, reason: str, *, missing: bool = False, line: int | None = None) -> None:
        self.missing = missing
        self.line = line
        super().__init__(reason)


def resolve(base_dir: Path, text: str) -> Path:
    """The absolute path ``text`` names, relative to ``base_dir`` unless absolute.

    Raises ``PathProblem`` for text no OS call accepts: a NUL character, text that cannot be
    encoded as a file name, or a path or a name in it longer than the system allows.
    """
    if "\0" in text:
        raise PathProblem("it contains a NUL character")
    path = os.path.abspath(os.path.join(base_dir, text))
    try:
        encoded = os.fsencode(path)
    except UnicodeEncodeError:
        raise PathProblem("it is not valid UTF-8 text") from None
    if len(encoded) > MAX_PATH_BYTES:
        raise PathProblem(
            f"it is {len(encoded)} bytes long once resolved; the system allows {MAX_PATH_BYTES}"
        )
    longest = max(len(name) for name in encoded.split(b"/"))
    if longest > MAX_NAME_BYTES:
        raise PathProblem(
            f"a name in it is {longest} bytes long; the system allows {MAX_NAME_BYTES}"
        )
    return Path(path)


def kind(path: Path) -> Kind:
    """What is at ``path`` (symlinks followed): a regular file, a directory, something else
    (a device, a FIFO, a socket), or nothing. Raises ``PathProblem`` when the OS will not say,
    like a directory on the way that may not be searched."""
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return "missing"
    except (OSError, ValueError) as error:
        raise PathProblem(_reason(error)) from None
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "directory"
    return "other"


def read_text(path: Path, *, regular_only: bool = True) -> str:
    """The UTF-8 text of the file at ``path``, at most ``MAX_FILE_SIZE`` bytes.

    With ``regular_only`` (for files a Caddyfile names), anything but a regular file is refused
    without blocking, so ``import /dev/zero`` or a FIFO cannot stall the loader. The file given
    on the command line may be a pipe (``pyjinn validate <(...)``), so it passes False.
    Raises ``PathProblem``; one that is not UTF-8 says on which line.
    """
    flags = os.O_RDONLY | os.O_CLOEXEC | (os.O_NONBLOCK if regular_only else 0)
    try:
        descriptor = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise PathProblem("no such file or directory", missing=True) from None
    except (OSError, ValueError) as error:
        raise PathProblem(_reason(error)) from None
    try:
        mode = os.fstat(descriptor).st_mode
        if stat.S_ISDIR(mode):
            raise PathProblem("it is a directory")
        if regular_only and not stat.S_ISREG(mode):
            raise PathProblem("it is not a regular file")
        data = _read_at_most(descriptor, MAX_FILE_SIZE + 1)
    except OSError as error:
        raise PathProblem(_reason(error)) from None
    finally:
        os.close(descriptor)
    if len(data) > MAX_FILE_SIZE:
        raise PathProblem(f"it is larger than {MAX_FILE_SIZE // (1024 * 1024)}MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise PathProblem(
            f"it is not UTF-8 text (byte 0x{data[error.start]:02x} on line {line})", line=line
        ) from None


def _read_at_most(descriptor: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(descriptor, min(limit - size, 1024 * 1024))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _reason(error: OSError | ValueError) -> str:
    text = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    return text[:1].lower() + text[1:]
