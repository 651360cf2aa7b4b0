"""Files in and out: every file the show reads goes through `read_bounded` (regular files only,
bounded, refused by what was opened, never by a stat that came first), and every file it writes
through `atomic_write` (a crash never leaves half of one: the show's edits must survive)."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO

from .errors import StylevjError

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)


def read_bounded(path: str | os.PathLike, limit: int, kind: str,
                 error: type[StylevjError] = StylevjError) -> bytes:
    """The bytes of a regular file of at most `limit` bytes, or `error` saying why not, in one line.

    The file is opened without blocking (a FIFO with no writer, a device or a tty opens at once)
    and judged by `fstat` on the open descriptor: a folder, a FIFO, a socket or a device
    (/dev/zero) is refused, never read, even when it was swapped in after someone looked. At
    most `limit` + 1 bytes are ever read, so a file that grows while it is read is refused too.
    """
    what = str(path)
    fd = _open_regular(path, kind, error, limit)
    try:
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(limit + 1 - size, 1 << 20))):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise error(f"{what}: cannot be read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if size > limit:
        raise error(f"{what}: grew past {limit} bytes while it was read, too large for a {kind}")
    return b"".join(chunks)


def open_regular(path: str | os.PathLike, kind: str, error: type[StylevjError] = StylevjError) -> BinaryIO:
    """`path` open for reading (binary) if it is a regular file, or `error` in one line: the rule of
    `read_bounded` (opened without blocking, judged by `fstat` on the descriptor) for files too
    large to read whole (checkpoints): the caller hands the file object to its parser, so what
    is parsed is what was judged, never a file swapped in after a look."""
    return os.fdopen(_open_regular(path, kind, error, None), "rb")


def _open_regular(path: str | os.PathLike, kind: str, error: type[StylevjError], limit: int | None) -> int:
    """A blocking descriptor of `path` if it is a regular file (of at most `limit` bytes)."""
    what = str(path)
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        raise error(f"{what}: no such file") from None
    except OSError as exc:
        raise error(f"{what}: cannot be read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise error(f"{what}: is a folder, not a {kind}")
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{what}: is not a regular file (a pipe or a device?), refused")
        if limit is not None and info.st_size > limit:
            raise error(f"{what}: {info.st_size} bytes is too large for a {kind} (at most {limit})")
        os.set_blocking(fd, True)
    except OSError as exc:
        os.close(fd)
        raise error(f"{what}: cannot be read ({exc.strerror or exc})") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_writable_target(path: str | os.PathLike, kind: str, error: type[StylevjError] = StylevjError) -> None:
    """A file about to be replaced must be a regular file (or not exist): a FIFO, a device or a
    folder in its place is refused, never read for a backup nor replaced."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise error(f"{path}: cannot be written ({exc.strerror or exc})") from None
    if stat.S_ISLNK(info.st_mode):
        try:
            info = os.stat(path)
        except OSError:
            return  # a dangling link: replaced by the new file
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: is not a regular file (a folder, a pipe or a device?); a {kind} is not written there")


def atomic_write(path: str | os.PathLike, payload: bytes) -> Path:
    """Write bytes so that `path` is either the old file or the whole new one, even on a crash.

    Temp file in the same folder, fsync, rename over the target, fsync the folder.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file private (0600); a replaced file keeps its mode, a new one is 0644
        os.fchmod(fd, path.stat().st_mode & 0o777 if path.exists() else 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


# ---- where the user's own files live -----------------------------------------------------------

USER_FOLDERS = ("keyframes", "snapshots", "recordings", "presets")
"""The folders of the one home of a user's files (`user_data_home()`)."""


def user_data_home() -> Path:
    """$XDG_DATA_HOME/stylevj, by default ~/.local/share/stylevj: the one home of what a user
    makes and brings (keyframes/, snapshots/, recordings/, presets/), never the package's folder
    nor whatever folder a show was started from."""
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data).expanduser() / "stylevj"


def user_folder(kind: str) -> Path:
    """One folder of the home: 'keyframes', 'snapshots', 'recordings' or 'presets' (not made here)."""
    if kind not in USER_FOLDERS:
        raise ValueError(f"no user folder {kind!r} (there are {', '.join(USER_FOLDERS)})")
    return user_data_home() / kind
