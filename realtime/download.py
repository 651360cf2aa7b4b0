"""Checkpoints from the web: downloaded once into a cache, resumable, verified, never half-written.

`cached_download(url)` returns the path of the cached file. A file in the cache is always whole:
bytes arrive in `NAME.part` beside it, and only after the length the server announced and (when
known) the SHA-256 check out is it renamed to `NAME`. An interrupted download keeps its `.part`,
and the next call asks the server for the rest with an HTTP Range request. A file already in the
cache is used without touching the network, so a show starts offline once it has run online.

A URL may pin its hash: `https://host/net.pkl#sha256=<64 hex digits>`. Plain `http://` is
accepted only for this machine (127.0.0.1, ::1, localhost); everything else must be https.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import logging
import os
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from . import __version__
from .errors import CheckpointError
from .files import atomic_write
from .progress import progress_bar

log = logging.getLogger(__name__)

CHUNK = 1 << 20
TIMEOUT_S = 30.0
_HEX64 = re.compile(r"[0-9a-f]{64}")
_LOOPBACK_NAMES = {"localhost"}


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/stylevj/checkpoints, or ~/.cache/stylevj/checkpoints."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stylevj" / "checkpoints"


def is_url(text: str) -> bool:
    """True for text that names a web address (http:// or https://), not a file."""
    return text.lower().startswith(("http://", "https://"))


def split_url(text: str) -> tuple[str, str | None]:
    """(url without fragment, pinned SHA-256 or None); a CheckpointError for an address we refuse."""
    parts = urllib.parse.urlsplit(text.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise CheckpointError(f"{text}: not a web address (expected https://host/file)")
    if scheme == "http" and not _is_loopback(parts.hostname):
        raise CheckpointError(f"{text}: plain http is accepted only from this machine; use https")
    pinned = None
    if parts.fragment:
        key, _, value = parts.fragment.partition("=")
        value = value.lower()
        if key.lower() != "sha256" or not _HEX64.fullmatch(value):
            raise CheckpointError(f"{text}: the part after '#' must be sha256=<64 hex digits>")
        pinned = value
    return urllib.parse.urlunsplit(parts._replace(fragment="")), pinned


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
                    timeout: float = TIMEOUT_S) -> Path:
    """The cached copy of the file at URL `text`, downloading (or resuming) it first if needed.

    sha256: the expected hash (also accepted as the URL's `#sha256=` part); a mismatch deletes
    the download. Every failure is one CheckpointError naming the URL and the reason.
    """
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
    if not final.exists():
        with _locked(final):  # another stylevj fetching the same file: wait, then find it done
            if not final.exists():
                _download(url, final, expected, timeout)
    if expected:
        _check_cached(final, expected, url)
    return final


def cached_hash(path: Path) -> str | None:
    """The SHA-256 recorded when `path` entered the cache (None if it was not recorded)."""
    try:
        return _hash_file(path).read_text().strip() or None
    except OSError:
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


def sha256_file(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
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
    try:
        handle = open(final.with_name(final.name + ".lock"), "a")
    except OSError as exc:
        raise CheckpointError(f"{final.parent}: cannot write the download cache ({exc.strerror})") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def _download(url: str, final: Path, expected: str | None, timeout: float) -> None:
    part = final.with_name(final.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    response = _open(url, have, timeout)
    if have and response.status == 416:  # the part is not a prefix the server knows: start again
        response.close()
        part.unlink()
        have = 0
        response = _open(url, 0, timeout)
    with response:
        if response.status == 206:
            total = _resumed_total(url, response, have)
        else:  # 200: the whole file (a server that ignores Range sends it all again)
            have = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if have:
            log.info("resuming %s at %s", url, _mb(have))
        else:
            log.info("downloading %s%s into %s (once)", url, f" ({_mb(total)})" if total else "", final.parent)
        digest = hashlib.sha256()
        if have:
            with open(part, "rb") as f:
                for block in iter(lambda: f.read(CHUNK), b""):
                    digest.update(block)
        done = _receive(url, response, part, have, total, digest)
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


def _open(url: str, have: int, timeout: float) -> http.client.HTTPResponse:
    headers = {"User-Agent": f"stylevj/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:
            return exc  # an HTTPError is a response too; the caller restarts from zero
        raise CheckpointError(f"{url}: download refused (HTTP {exc.code} {exc.reason})") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", None) or exc
        reason = getattr(reason, "strerror", None) or reason  # "[Errno -2] Name or service not known" -> the words
        raise CheckpointError(f"{url}: cannot download ({reason})") from None


def _resumed_total(url: str, response: http.client.HTTPResponse, have: int) -> int | None:
    match = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", "").strip())
    if not match or int(match.group(1)) != have:
        raise CheckpointError(f"{url}: the server resumed at the wrong place "
                              f"({response.headers.get('Content-Range') or 'no Content-Range'}); run again")
    return None if match.group(2) == "*" else int(match.group(2))


def _receive(url: str, response: IO[bytes], part: Path, have: int, total: int | None, digest) -> int:
    """Append the response to `part`, hashing as it goes; the byte count at the end."""
    done = have
    bar = progress_bar(total, part.name.removesuffix(".part")[11:], "B", initial=have)
    try:
        with open(part, "ab" if have else "wb") as f:
            try:
                while block := response.read(CHUNK):
                    f.write(block)
                    digest.update(block)
                    done += len(block)
                    bar.update(len(block))
            except (OSError, http.client.HTTPException, socket.timeout) as exc:
                reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise CheckpointError(_interrupted(url, done, total, reason)) from None
            finally:
                f.flush()
                os.fsync(f.fileno())
    except OSError as exc:  # opening or syncing the part: a full or read-only cache
        raise CheckpointError(f"{url}: cannot write {part} ({exc.strerror})") from None
    finally:
        bar.close()
    if total is not None and done != total:
        raise CheckpointError(_interrupted(url, done, total, "the connection closed early"))
    return done


def _interrupted(url: str, done: int, total: int | None, reason: str) -> str:
    of = f" of {_mb(total)}" if total else ""
    return f"{url}: download interrupted at {_mb(done)}{of} ({reason}); run the same command again to resume"
