"""Checkpoints from the web: downloaded once into a cache, resumable, verified, never half-written.

`cached_download(url)` returns the path of the cached file. A file in the cache is always whole:
bytes arrive in `NAME.part` beside it, and only after the length the server announced and (when
known) the SHA-256 check out is it renamed to `NAME`. An interrupted download keeps its `.part`,
and the next call asks the server for the rest with an HTTP Range request. A file already in the
cache is used without touching the network, so a show starts offline once it has run online.

A URL may pin its hash: `https://host/net.pkl#sha256=<64 hex digits>`. Plain `http://` is
accepted only for this machine (127.0.0.1, ::1, localhost); everything else must be https. The
same rule holds for every redirect hop, checked before the hop is followed (no other scheme, no
connection to a refused host).

A download cannot hang or fill the disk (`Limits`): every receive, headers included, waits at
most a read timeout, and at least `min_bytes` must arrive in every `window_s` (a server trickling
a byte every 20 s is cut off, resumable); it never takes more than the announced length (or the
catalogue's bound), and it stops, deleting its `.part`, before the cache's filesystem has less
than `keep_free_bytes` free. Only regular files are used from the cache: a pipe or a device
there is refused by name, never opened for blocking reads.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import http.client
import io
import ipaddress
import logging
import os
import re
import shutil
import socket
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from .. import __version__
from ..errors import CheckpointError
from ..files import atomic_write
from ..progress import progress_bar

log = logging.getLogger(__name__)

CHUNK = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}")
_LOOPBACK_NAMES = {"localhost"}


@dataclass(frozen=True)
class Limits:
    """What one download may cost in waiting and in disk; tests pass short ones.

    read_timeout_s: the longest any connect or receive waits for a byte. min_bytes / window_s: at
    least that much must arrive in every window (headers included), so a trickle ends too.
    deadline_s: the whole transfer, when set. keep_free_bytes: the cache's filesystem never drops
    below this much free space because of a download.
    """

    read_timeout_s: float = 30.0
    window_s: float = 60.0
    min_bytes: int = 256 * 1024
    deadline_s: float | None = None
    keep_free_bytes: int = 256 * 2**20


class Stalled(TimeoutError):
    """A download that stopped making progress under its Limits; the message says which limit."""


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/stylevj/checkpoints, or ~/.cache/stylevj/checkpoints."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stylevj" / "checkpoints"


def is_url(text: str) -> bool:
    """True for text that names a web address (http:// or https://), not a file."""
    return text.lower().startswith(("http://", "https://"))


def split_url(text: str) -> tuple[str, str | None]:
    """(url without fragment, pinned SHA-256 or None); a CheckpointError for an address we refuse."""
    problem = address_problem(text.strip())
    if problem:
        raise CheckpointError(f"{text}: {problem}")
    parts = urllib.parse.urlsplit(text.strip())
    pinned = None
    if parts.fragment:
        key, _, value = parts.fragment.partition("=")
        value = value.lower()
        if key.lower() != "sha256" or not _HEX64.fullmatch(value):
            raise CheckpointError(f"{text}: the part after '#' must be sha256=<64 hex digits>")
        pinned = value
    return urllib.parse.urlunsplit(parts._replace(fragment="")), pinned


def address_problem(url: str) -> str | None:
    """Why we would not fetch from `url` (None: fine). One rule for the first address and every
    redirect hop: http(s) only, and plain http only from this machine."""
    try:
        parts = urllib.parse.urlsplit(url)
        scheme, host = parts.scheme.lower(), parts.hostname
    except ValueError:  # a malformed [v6] host
        scheme, host = "", None
    if scheme not in ("http", "https") or not host:
        return "not a web address (expected https://host/file)"
    if scheme == "http" and not _is_loopback(host):
        return "plain http is accepted only from this machine; use https"
    return None


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cache_name(url: str) -> str:
    """The cached file's name: a short hash of the URL (two URLs never share a file) and its own name."""
    tail = Path(urllib.parse.urlsplit(url).path).name or "checkpoint"
    tail = re.sub(r"[^A-Za-z0-9._-]", "_", tail)[-80:]
    return f"{hashlib.sha256(url.encode()).hexdigest()[:10]}-{tail}"


def cached_download(text: str, cache_dir: str | os.PathLike | None = None, sha256: str | None = None,
                    limits: Limits | None = None, max_bytes: int | None = None) -> Path:
    """The cached copy of the file at URL `text`, downloading (or resuming) it first if needed.

    sha256: the expected hash (also accepted as the URL's `#sha256=` part); a mismatch deletes
    the download. limits: how long it may stall and how much disk it may leave free (`Limits()`).
    max_bytes: the most the file can be (a catalogue's bound), for servers that announce no length.
    Every failure is one CheckpointError naming the URL (or the cache file) and the reason.
    """
    limits = limits or Limits()
    url, pinned = split_url(text)
    expected = (pinned or sha256 or "").lower() or None
    if pinned and sha256 and pinned != sha256.lower():
        raise CheckpointError(f"{url}: two different SHA-256 values were given")
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CheckpointError(f"{folder}: cannot make the download cache ({exc.strerror})") from None
    final = folder / cache_name(url)
    if _cache_entry_size(final) is None:
        with _locked(final):  # another stylevj fetching the same file: wait, then find it done
            if _cache_entry_size(final) is None:
                _download(url, final, expected, limits, max_bytes)
    if expected:
        _check_cached(final, expected, url)
    return final


def cached_hash(path: Path) -> str | None:
    """The SHA-256 recorded when `path` entered the cache (None if it was not recorded)."""
    try:
        with open_regular(_hash_file(path)) as f:
            return f.read(256).decode("ascii", "replace").strip() or None
    except (OSError, CheckpointError):
        return None


def _hash_file(final: Path) -> Path:
    return final.with_name(final.name + ".sha256")


def _record_hash(final: Path, digest: str) -> None:
    """Keep the hash beside the file (`stylevj models` shows it); a failure only costs a rehash later."""
    try:
        atomic_write(_hash_file(final), (digest + "\n").encode())
    except OSError as exc:
        log.warning("could not record the SHA-256 of %s (%s)", final, exc.strerror)


def _check_cached(final: Path, expected: str, url: str) -> None:
    digest = cached_hash(final)
    if digest is None:
        digest = sha256_file(final)
        _record_hash(final, digest)
    if digest != expected:
        raise CheckpointError(f"{url}: the cached copy {final} has SHA-256 {digest[:12]}…, not the expected "
                              f"{expected[:12]}…; delete it to download again")


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """`path` opened for reading only if it is a regular file: opened non-blocking and checked with
    fstat before any read, so a FIFO or a device is refused (CheckpointError) instead of blocking
    for ever. OSError (missing, unreadable) passes through."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CheckpointError(f"{path}: not a regular file (a pipe or a device?), refused")
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _cache_entry_size(path: Path) -> int | None:
    """The size of a file in the cache (None: not there); a pipe, device or folder there is refused
    by name: only regular files are used from the cache."""
    try:
        with open_regular(path) as f:
            return os.fstat(f.fileno()).st_size
    except FileNotFoundError:
        return None
    except CheckpointError:
        raise CheckpointError(f"{path}: not a regular file (a pipe or a device?) in the download cache; "
                              "delete it to download again") from None
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror}); delete it to download again") from None


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (hex)."""
    h = hashlib.sha256()
    with open_regular(path) as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def _locked(final: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; two downloads of one file would race on .part
        yield
        return
    lock = final.with_name(final.name + ".lock")
    try:  # non-blocking open: a pipe in the lock's place is refused, not waited on
        fd = os.open(lock, os.O_RDONLY | os.O_CREAT | os.O_NONBLOCK | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise CheckpointError(f"{final.parent}: cannot write the download cache ({exc.strerror})") from None
    handle = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        handle.close()
        raise CheckpointError(f"{lock}: not a regular file (a pipe or a device?) in the download cache; delete it")
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _download(url: str, final: Path, expected: str | None, limits: Limits, max_bytes: int | None) -> None:
    part = final.with_name(final.name + ".part")
    have = _cache_entry_size(part) or 0
    _ensure_space(final.parent, url, 0, limits)
    opener = _opener(_Pace(limits))
    response = _open(opener, url, have, limits)
    if have and response.status == 416:  # the part is not a prefix the server knows: start again
        response.close()
        part.unlink()
        have = 0
        response = _open(opener, url, 0, limits)
    with response:
        if response.status == 206:
            total = _resumed_total(url, response, have)
        else:  # 200: the whole file (a server that ignores Range sends it all again)
            have = 0
            total = _content_length(response)
        if total is not None and max_bytes is not None and total > max_bytes:
            raise CheckpointError(f"{url}: the server announces {_mb(total)}, more than this file can be "
                                  f"({_mb(max_bytes)}); refused")
        _ensure_space(final.parent, url, total - have if total is not None else 0, limits)
        if have:
            log.info("resuming %s at %s", url, _mb(have))
        else:
            log.info("downloading %s%s into %s (once)", url, f" ({_mb(total)})" if total else "", final.parent)
        digest = hashlib.sha256()
        if have:
            with open_regular(part) as f:
                for block in iter(lambda: f.read(CHUNK), b""):
                    digest.update(block)
        done = _receive(url, response, part, have, total, max_bytes, digest, limits)
    got = digest.hexdigest()
    if expected and got != expected:
        part.unlink(missing_ok=True)
        raise CheckpointError(f"{url}: SHA-256 mismatch (expected {expected[:12]}…, got {got[:12]}…); "
                              "the download was deleted")
    try:
        os.replace(part, final)
    except OSError as exc:
        raise CheckpointError(f"{url}: cannot move the download into {final.parent} ({exc.strerror})") from None
    _record_hash(final, got)
    log.info("downloaded %s: %s, sha256 %s", final.name, _mb(done), got)


class _Pace:
    """The progress rule of one download (`Limits`): how long the next receive may wait, and why."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.started = self.mark = time.monotonic()
        self.since_mark = 0

    def next_wait(self) -> tuple[float, str]:
        """(seconds the next receive may wait, the reason if it times out); Stalled when none is left."""
        lim, now = self.limits, time.monotonic()
        waits = [(lim.read_timeout_s, f"nothing arrived for {lim.read_timeout_s:g} s"),
                 (self.mark + lim.window_s - now, f"less than {lim.min_bytes} bytes in {lim.window_s:g} s")]
        if lim.deadline_s is not None:
            waits.append((self.started + lim.deadline_s - now, f"not done in {lim.deadline_s:g} s"))
        wait, reason = min(waits)
        if wait <= 0:
            raise Stalled(reason)
        return wait, reason

    def received(self, n: int) -> None:
        self.since_mark += n
        if self.since_mark >= self.limits.min_bytes:
            self.mark, self.since_mark = time.monotonic(), 0


class _PacedReader(io.RawIOBase):
    """A socket's bytes, each receive bounded by the pace (its timeout is set before every read)."""

    def __init__(self, sock: socket.socket, pace: _Pace) -> None:
        super().__init__()
        self._sock, self._pace = sock, pace
        self._raw = sock.makefile("rb", buffering=0)  # a SocketIO: keeps the socket open while read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int | None:
        wait, reason = self._pace.next_wait()
        self._sock.settimeout(wait)
        try:
            n = self._raw.readinto(buffer)
        except TimeoutError:
            raise Stalled(reason) from None
        self._pace.received(n or 0)
        return n

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _PacedSocket:
    """A connected socket whose response side (http.client reads status, headers and body through
    `makefile`) obeys the pace; everything else is the socket's own."""

    def __init__(self, sock: socket.socket, pace: _Pace) -> None:
        self._sock, self._pace = sock, pace

    def makefile(self, mode: str = "r", *args, **kwargs) -> IO[bytes]:
        if mode != "rb":
            return self._sock.makefile(mode, *args, **kwargs)
        return io.BufferedReader(_PacedReader(self._sock, self._pace))

    def __getattr__(self, name: str):
        return getattr(self._sock, name)


class _PacedConnection:
    """Mixin for http.client connections: once connected (and TLS-wrapped), reads are paced."""

    def __init__(self, *args, pace: _Pace, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.pace = pace

    def connect(self) -> None:
        super().connect()
        self.sock = _PacedSocket(self.sock, self.pace)


class _PacedHTTP(_PacedConnection, http.client.HTTPConnection):
    pass


class _PacedHTTPS(_PacedConnection, http.client.HTTPSConnection):
    pass


class _PacedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, pace: _Pace) -> None:
        super().__init__()
        self.pace = pace

    def http_open(self, req):
        return self.do_open(functools.partial(_PacedHTTP, pace=self.pace), req)


class _PacedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, pace: _Pace) -> None:
        super().__init__()
        self.pace = pace

    def https_open(self, req):
        return self.do_open(functools.partial(_PacedHTTPS, pace=self.pace), req, context=self._context)


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Every redirect hop obeys the first address's rule (`address_problem`), checked before the
    hop is followed: no other scheme, and no connection at all to a host plain http may not use."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        problem = address_problem(newurl)
        if problem:
            fp.close()
            raise CheckpointError(f"{req.full_url}: redirected to {newurl}, refused ({problem})")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(pace: _Pace) -> urllib.request.OpenerDirector:
    """urllib with only what a checkpoint needs: paced http and https, checked redirects, proxies
    from the environment; no ftp, file or data handlers to fall into."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.UnknownHandler(), _PacedHTTPHandler(pace),
                    _PacedHTTPSHandler(pace), urllib.request.HTTPDefaultErrorHandler(), _CheckedRedirects(),
                    urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def _open(opener: urllib.request.OpenerDirector, url: str, have: int, limits: Limits) -> http.client.HTTPResponse:
    headers = {"User-Agent": f"stylevj/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        return opener.open(urllib.request.Request(url, headers=headers), timeout=limits.read_timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            return exc  # an HTTPError is a response too; the caller restarts from zero
        raise CheckpointError(f"{url}: download refused (HTTP {exc.code} {exc.reason})") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, Stalled):  # no status line or headers in time
            raise CheckpointError(_stalled(url, have, None, str(reason))) from None
        reason = getattr(reason, "strerror", None) or reason  # "[Errno -2] Name or service not known" -> the words
        raise CheckpointError(f"{url}: cannot download ({reason})") from None


def _content_length(response: http.client.HTTPResponse) -> int | None:
    length = (response.headers.get("Content-Length") or "").strip()
    return int(length) if length.isdigit() else None


def _resumed_total(url: str, response: http.client.HTTPResponse, have: int) -> int | None:
    """The whole file's length from a 206: its Content-Range total, else what was kept plus the
    Content-Length (so a cut resumed body is never taken for the end of the file)."""
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", "").strip())
    if not match or int(match.group(1)) != have:
        raise CheckpointError(f"{url}: the server resumed at the wrong place "
                              f"({response.headers.get('Content-Range') or 'no Content-Range'}); run again")
    length = _content_length(response)
    total = None if match.group(2) == "*" else int(match.group(2))
    if total is not None and length is not None and have + length != total:
        raise CheckpointError(f"{url}: the server resumed with lengths that disagree (Content-Range "
                              f"{response.headers.get('Content-Range')}, Content-Length {length}); run again")
    return total if total is not None else (have + length if length is not None else None)


class _Drop(CheckpointError):
    """A download that must not stay on disk: more bytes than it can have, or a disk running out."""


_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _receive(url: str, response: http.client.HTTPResponse, part: Path, have: int, total: int | None,
             max_bytes: int | None, digest, limits: Limits) -> int:
    """Append the response to `part`, hashing as it goes; the byte count at the end. A body longer
    than announced (or than `max_bytes`), or one that would eat the disk's margin, is deleted:
    such a part is garbage or harm, never a prefix worth resuming."""
    bar = progress_bar(total, part.name.removesuffix(".part")[11:], "B", initial=have)
    try:
        with open(part, "ab" if have else "wb") as f:
            try:
                done = _copy(url, response, f, part.parent, have, total, max_bytes, digest, bar, limits)
            finally:
                f.flush()
                os.fsync(f.fileno())
    except _Drop as exc:
        part.unlink(missing_ok=True)
        raise CheckpointError(str(exc)) from None
    except OSError as exc:  # opening, writing or syncing the part
        if exc.errno in _NO_SPACE:
            part.unlink(missing_ok=True)
            raise CheckpointError(_space_message(part.parent, url, None, limits, deleted=True)) from None
        raise CheckpointError(f"{url}: cannot write {part} ({exc.strerror})") from None
    finally:
        bar.close()
    if total is not None and done != total:
        raise CheckpointError(_interrupted(url, done, total, "the connection closed early"))
    return done


def _copy(url: str, response: http.client.HTTPResponse, sink: IO[bytes], folder: Path, done: int,
          total: int | None, max_bytes: int | None, digest, bar, limits: Limits) -> int:
    """The receive loop: read what has arrived (never waiting past the pace), cap, write, check space."""
    cap = total if total is not None else max_bytes
    while True:
        try:
            block = response.read1(CHUNK if cap is None else max(1, min(CHUNK, cap - done + 1)))
        except Stalled as exc:
            raise CheckpointError(_stalled(url, done, total, str(exc))) from None
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise CheckpointError(_interrupted(url, done, total, reason)) from None
        if not block:
            return done
        if cap is not None and done + len(block) > cap:
            what = "the length it announced" if total is not None else "this file can be"
            raise _Drop(f"{url}: the server sent more than {what} ({_mb(cap)}); the download was deleted")
        sink.write(block)
        digest.update(block)
        done += len(block)
        bar.update(len(block))
        if shutil.disk_usage(folder).free < limits.keep_free_bytes:
            raise _Drop(_space_message(folder, url, total - done if total is not None else None, limits,
                                       deleted=True))


def _ensure_space(folder: Path, url: str, needed: int, limits: Limits) -> None:
    """Refuse, before a byte is written, a download that would leave less than the margin free."""
    if shutil.disk_usage(folder).free < needed + limits.keep_free_bytes:
        raise CheckpointError(_space_message(folder, url, needed, limits))


def _space_message(folder: Path, url: str, needed: int | None, limits: Limits, deleted: bool = False) -> str:
    free = shutil.disk_usage(folder).free
    wants = f"the file needs {_mb(needed)} more and " if needed else ""
    then = "; the download was deleted" if deleted else ""
    return (f"{folder}: not enough free space to download {url} ({_mb(free)} free; {wants}stylevj keeps "
            f"{_mb(limits.keep_free_bytes)} free){then}; free some space and run again")


def _stalled(url: str, done: int, total: int | None, reason: str) -> str:
    of = f" of {_mb(total)}" if total else ""
    return f"{url}: download stalled at {_mb(done)}{of} ({reason}); run the same command again to resume"


def _interrupted(url: str, done: int, total: int | None, reason: str) -> str:
    of = f" of {_mb(total)}" if total else ""
    return f"{url}: download interrupted at {_mb(done)}{of} ({reason}); run the same command again to resume"
