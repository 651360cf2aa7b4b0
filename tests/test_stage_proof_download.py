"""Checkpoint downloads that cannot hang, fill the disk, leave a lying cache or leave the plain-http
rule (issue 21). A real HTTP server on 127.0.0.1 misbehaves on purpose: it trickles, goes silent,
streams without end, sends less than it announced, or redirects where we must not go.

Every call that could hang runs in a thread with a bounded wait: a hang is a test failure, never
a stuck suite. The redirect tests also refuse, inside this process, any connection to a host other
than 127.0.0.1, so a broken rule can never reach the network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from realtime.checkpoints.catalog import Published, resolve_checkpoint
from realtime.checkpoints.download import Limits, cache_name, cached_download
from realtime.errors import CheckpointError
from realtime.models import load_generator

from .conftest import stylevj

QUICK = Limits(read_timeout_s=5.0, window_s=1.0, min_bytes=4096, keep_free_bytes=0)


class Stage:
    """An HTTP/1.1 server on 127.0.0.1: `routes[path](handler)` answers each GET. `requests` records
    (path, Range header); `stop` ends the endless answers when the test is done."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.stop = threading.Event()
        stage = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                stage.requests.append((self.path, self.headers.get("Range")))
                route = stage.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                try:
                    route(self)
                except OSError:  # the client hung up: what the misbehaving answers wait for
                    pass
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def stage():
    s = Stage()
    yield s
    s.close()


@pytest.fixture
def body(fixtures) -> bytes:
    return (fixtures / "nvada_tiny.pkl").read_bytes()


@pytest.fixture
def small_disk(tmp_path):
    """An 8 MB tmpfs: what filling a disk looks like, without filling this machine's."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def within(seconds: float, call: Callable[[], object]) -> object:
    """call()'s result (or its exception, raised here); a test failure if it is still running after
    `seconds`: the thing under test hung."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        pytest.fail(f"still running after {seconds} s: it hangs")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def cache_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) if folder.exists() else []


# --- answers the server can give --------------------------------------------------------------

def whole(data: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    """An honest server: Range honoured, lengths right."""
    def answer(h: BaseHTTPRequestHandler) -> None:
        start = int((h.headers.get("Range") or "bytes=0-").removeprefix("bytes=").rstrip("-"))
        if start:
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            h.send_response(200)
        h.send_header("Content-Length", str(len(data) - start))
        h.end_headers()
        h.wfile.write(data[start:])
    return answer


def trickle(stage: Stage, data: bytes, head: int, every: float) -> Callable[[BaseHTTPRequestHandler], None]:
    """Announce the whole length, send `head` bytes, then one byte every `every` seconds."""
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data[:head])
        h.wfile.flush()
        for i in range(head, len(data)):
            if stage.stop.wait(every):
                return
            h.wfile.write(data[i:i + 1])
            h.wfile.flush()
    return answer


def endless(stage: Stage, length: int | None = None) -> Callable[[BaseHTTPRequestHandler], None]:
    """Bytes without end, with no Content-Length (the body ends when the connection does) or a
    false one; stops when the client hangs up."""
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        if length is not None:
            h.send_header("Content-Length", str(length))
        h.send_header("Connection", "close")
        h.end_headers()
        block = b"\x80\x04" + b"x" * 65534
        while not stage.stop.is_set():
            h.wfile.write(block)
    return answer


# --- a download that trickles or goes silent ---------------------------------------------------

def test_a_trickling_download_stalls_in_one_line_and_resumes(stage, body, tmp_path):
    stage.routes["/net.pkl"] = trickle(stage, body, head=1000, every=0.2)  # a byte every 0.2 s: never a timeout
    url = stage.url("/net.pkl")
    with pytest.raises(CheckpointError) as err:
        within(30, lambda: cached_download(url, tmp_path, limits=QUICK))
    message = str(err.value)
    assert message == (f"{url}: download stalled at 0.0 MB of 2.6 MB (less than 4096 bytes in 1 s); "
                       "run the same command again to resume")
    kept = (tmp_path / (cache_name(url) + ".part")).stat().st_size
    assert kept >= 1000 and not (tmp_path / cache_name(url)).exists()

    stage.routes["/net.pkl"] = whole(body)  # the network is back: the kept bytes are not fetched again
    path = within(30, lambda: cached_download(url, tmp_path, limits=QUICK))
    assert stage.requests[-1][1] == f"bytes={kept}-"
    assert path.read_bytes() == body


def test_a_status_line_that_trickles_stalls_too(stage, tmp_path):
    def answer(h: BaseHTTPRequestHandler) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n":
            if stage.stop.wait(0.2):
                return
            h.wfile.write(bytes([byte]))
            h.wfile.flush()
    stage.routes["/net.pkl"] = answer
    with pytest.raises(CheckpointError, match=r"download stalled at 0.0 MB \(less than 4096 bytes in 1 s\); run the"):
        within(30, lambda: cached_download(stage.url("/net.pkl"), tmp_path, limits=QUICK))
    assert cache_files(tmp_path) == []


def test_a_silent_server_times_out_and_a_slow_one_meets_its_deadline(stage, body, tmp_path):
    def silent(h: BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100")
        h.end_headers()
        h.wfile.flush()
        stage.stop.wait(60)
    stage.routes["/silent.pkl"] = silent
    limits = Limits(read_timeout_s=0.5, window_s=60, min_bytes=1, keep_free_bytes=0)
    with pytest.raises(CheckpointError, match=r"stalled at 0.0 MB of 0.0 MB \(nothing arrived for 0.5 s\)"):
        within(30, lambda: cached_download(stage.url("/silent.pkl"), tmp_path, limits=limits))

    stage.routes["/slow.pkl"] = trickle(stage, body, head=0, every=0.05)  # steady, but 2.6 MB would take 36 hours
    limits = Limits(read_timeout_s=5, window_s=60, min_bytes=1, deadline_s=1.0, keep_free_bytes=0)
    with pytest.raises(CheckpointError, match=r"stalled at 0.0 MB of 2.6 MB \(not done in 1 s\); run the same"):
        within(30, lambda: cached_download(stage.url("/slow.pkl"), tmp_path, limits=limits))


# --- a cache entry that is not a regular file --------------------------------------------------

@pytest.mark.parametrize("suffix", ["", ".part", ".lock"])
def test_a_fifo_in_the_cache_is_refused_by_name_not_waited_on(stage, body, tmp_path, suffix):
    stage.routes["/net.pkl"] = whole(body)
    url = stage.url("/net.pkl")
    fifo = tmp_path / (cache_name(url) + suffix)
    os.mkfifo(fifo)
    try:
        with pytest.raises(CheckpointError) as err:
            within(20, lambda: cached_download(url, tmp_path, limits=QUICK))
    finally:
        os.close(os.open(fifo, os.O_RDWR | os.O_NONBLOCK))  # frees a reader stuck on it (the bug this guards)
    assert str(err.value).startswith(f"{fifo}: not a regular file (a pipe or a device?) in the download cache")
    assert "\n" not in str(err.value)
    if suffix == "":
        assert stage.requests == []  # a cache hit, refused: nothing fetched over it


def test_a_fifo_where_the_hash_is_recorded_is_not_read(stage, body, tmp_path):
    stage.routes["/net.pkl"] = whole(body)
    url = stage.url("/net.pkl")
    path = cached_download(url, tmp_path, limits=QUICK)
    record = path.with_name(path.name + ".sha256")
    record.unlink()
    os.mkfifo(record)
    digest = hashlib.sha256(body).hexdigest()
    assert within(20, lambda: cached_download(f"{url}#sha256={digest}", tmp_path, limits=QUICK)) == path
    assert record.read_text().strip() == digest  # rehashed and recorded as a regular file


def test_still_refuses_a_cached_fifo_in_one_line(stage, body, tmp_path):
    stage.routes["/net.pkl"] = whole(body)
    url = stage.url("/net.pkl")
    folder = tmp_path / "stylevj" / "checkpoints"
    folder.mkdir(parents=True)
    os.mkfifo(folder / cache_name(url))
    result = stylevj("still", "--checkpoint", url, "--seed", "1", "--out", str(tmp_path / "a.png"),
                     env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)}, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{folder / cache_name(url)}: not a regular file (a pipe or a device?)" in result.stderr
    assert not (tmp_path / "a.png").exists()


def test_a_fifo_given_as_a_checkpoint_path_is_refused(tmp_path):
    fifo = tmp_path / "net.pkl"
    os.mkfifo(fifo)
    try:
        with pytest.raises(CheckpointError, match=r"net.pkl: is not a regular file \(a pipe or a device\?\), refused"):
            within(20, lambda: load_generator(fifo))
    finally:
        os.close(os.open(fifo, os.O_RDWR | os.O_NONBLOCK))


# --- an endless body ---------------------------------------------------------------------------

def test_an_endless_body_stops_at_the_catalogs_bound_and_leaves_nothing(stage, small_disk):
    stage.routes["/net.pkl"] = endless(stage)
    catalog = (Published("tiny", "net.pkl", "a test net", 1, base=stage.url("/")),)  # ~1 MB: at most 2 MB
    with pytest.raises(CheckpointError, match=r"the server sent more than this file can be \(2.0 MB\); "
                                              r"the download was deleted$"):
        within(60, lambda: resolve_checkpoint("tiny", small_disk, catalog=catalog, limits=QUICK))
    assert cache_files(small_disk) == []


def test_an_endless_body_never_eats_the_free_space_margin(stage, small_disk):
    stage.routes["/net.pkl"] = endless(stage)
    url = stage.url("/net.pkl")
    keep = 4_000_000
    with pytest.raises(CheckpointError) as err:
        within(60, lambda: cached_download(url, small_disk, limits=Limits(keep_free_bytes=keep)))
    assert str(err.value).startswith(f"{small_disk}: not enough free space to download {url} (")
    assert str(err.value).endswith("stylevj keeps 4.0 MB free); the download was deleted; "
                                   "free some space and run again")
    assert cache_files(small_disk) == [] and shutil.disk_usage(small_disk).free > keep

    with pytest.raises(CheckpointError, match=r"not enough free space .*; the download was deleted; free some space"):
        within(60, lambda: cached_download(url, small_disk, limits=QUICK))  # no margin: the disk fills, ENOSPC
    assert cache_files(small_disk) == []  # no .part holding the disk full, no advice to resume it


def test_an_announced_length_that_cannot_fit_is_refused_before_a_byte(stage, small_disk):
    stage.routes["/big.pkl"] = endless(stage, length=100_000_000)
    with pytest.raises(CheckpointError, match=rf"{small_disk}: not enough free space to download .* \(8.4 MB free; "
                                              r"the file needs 100.0 MB more and stylevj keeps 0.0 MB free\)"):
        within(60, lambda: cached_download(stage.url("/big.pkl"), small_disk, limits=QUICK))
    assert cache_files(small_disk) == []

    catalog = (Published("big", "big.pkl", "a test net", 1, base=stage.url("/")),)
    with pytest.raises(CheckpointError, match=r"big.pkl: the server announces 100.0 MB, more than this file can be "
                                              r"\(2.0 MB\); refused"):
        within(60, lambda: resolve_checkpoint("big", small_disk, catalog=catalog, limits=QUICK))
    assert cache_files(small_disk) == []


# --- less than announced: never cached ---------------------------------------------------------

def test_a_body_shorter_than_announced_is_never_cached_even_when_resumed(stage, tmp_path):
    data = bytes(range(100))

    def short(h: BaseHTTPRequestHandler) -> None:
        wanted = h.headers.get("Range")
        if wanted is None:  # 100 announced, 50 sent
            h.send_response(200)
            h.send_header("Content-Length", "100")
            h.send_header("Connection", "close")
            h.end_headers()
            h.wfile.write(data[:50])
            return
        start = int(wanted.removeprefix("bytes=").rstrip("-"))  # the rest, total unknown ('*'), 50 announced, 20 sent
        h.send_response(206)
        h.send_header("Content-Range", f"bytes {start}-99/*")
        h.send_header("Content-Length", str(100 - start))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(data[start:start + 20])

    stage.routes["/net.pkl"] = short
    url = stage.url("/net.pkl")
    with pytest.raises(CheckpointError, match=r"interrupted at 0.0 MB of 0.0 MB \(the connection closed early\)"):
        within(30, lambda: cached_download(url, tmp_path, limits=QUICK))
    with pytest.raises(CheckpointError, match=r"interrupted at 0.0 MB of 0.0 MB \(the connection closed early\)"):
        within(30, lambda: cached_download(url, tmp_path, limits=QUICK))
    assert stage.requests[-1][1] == "bytes=50-"
    assert not (tmp_path / cache_name(url)).exists()  # 70 of 100 bytes is not a file
    assert (tmp_path / (cache_name(url) + ".part")).read_bytes() == data[:70]

    stage.routes["/net.pkl"] = whole(data)
    assert within(30, lambda: cached_download(url, tmp_path, limits=QUICK)).read_bytes() == data


def test_a_cached_file_that_does_not_load_names_the_file_to_delete(stage, body, tmp_path, monkeypatch):
    """A cut file cached by an older stylevj (or damaged since) must not fail every run unexplained."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    url = stage.url("/net.pkl")
    folder = tmp_path / "stylevj" / "checkpoints"
    folder.mkdir(parents=True)
    cached = folder / cache_name(url)
    cached.write_bytes(body[:1000])
    cached.with_name(cached.name + ".sha256").write_text(hashlib.sha256(body[:1000]).hexdigest() + "\n")
    with pytest.raises(CheckpointError) as err:
        within(60, lambda: load_generator(url))
    message = str(err.value)
    assert message.startswith(f"{url}: the downloaded copy {cached} cannot be loaded (")
    assert message.endswith("; it is what the server sent; delete it to download again") and "\n" not in message
    assert stage.requests == []  # offline use of the cache is unchanged

    cached.write_bytes(body[:999] + b"!")  # damaged after it was recorded
    with pytest.raises(CheckpointError, match=r"it changed since it was downloaded; delete it to download again$"):
        within(60, lambda: load_generator(url))
    assert cached.exists()  # the user's file is not deleted behind their back


# --- redirects obey the scheme and host rules at every hop -------------------------------------

@pytest.fixture
def loopback_only(monkeypatch) -> list[tuple[str, int]]:
    """Connections this process attempts; any to a host other than 127.0.0.1 is refused here, so a
    broken redirect rule shows up as a recorded attempt, never as traffic."""
    attempts: list[tuple[str, int]] = []
    real = socket.create_connection

    def guarded(address, *args, **kwargs):
        attempts.append((address[0], address[1]))
        if address[0] != "127.0.0.1":
            raise OSError(f"test guard: no connection to {address[0]}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    return attempts


def redirect(to: str) -> Callable[[BaseHTTPRequestHandler], None]:
    def answer(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", to)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return answer


@pytest.mark.parametrize("target, reason", [
    ("http://10.255.255.1/x", "plain http is accepted only from this machine; use https"),
    ("ftp://127.0.0.1/x", "not a web address (expected https://host/file)"),
])
def test_a_redirect_that_breaks_the_rules_is_refused_before_connecting(stage, tmp_path, loopback_only, target, reason):
    stage.routes["/net.pkl"] = redirect(target)
    url = stage.url("/net.pkl")
    with pytest.raises(CheckpointError) as err:
        within(30, lambda: cached_download(url, tmp_path, limits=QUICK))
    assert str(err.value) == f"{url}: redirected to {target}, refused ({reason})"
    port = stage.httpd.server_address[1]
    assert loopback_only == [("127.0.0.1", port)]  # only the first hop was ever connected to
    assert cache_files(tmp_path) == []


def test_a_redirect_within_the_rules_is_followed(stage, body, tmp_path, loopback_only):
    stage.routes["/old.pkl"] = redirect(stage.url("/net.pkl"))
    stage.routes["/two.pkl"] = redirect("/old.pkl")  # relative: resolved against the hop, then checked
    stage.routes["/net.pkl"] = whole(body)
    path = within(30, lambda: cached_download(stage.url("/two.pkl"), tmp_path, limits=QUICK))
    assert path.read_bytes() == body and path.name == cache_name(stage.url("/two.pkl"))
    assert [r[0] for r in stage.requests] == ["/two.pkl", "/old.pkl", "/net.pkl"]
