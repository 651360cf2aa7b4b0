"""Checkpoints by URL and published name: a real HTTP server on 127.0.0.1 serves the fixtures.

The server speaks HTTP/1.1 with Range requests and can misbehave on purpose: cut a response
short, ignore Range, or send other bytes than the hash promises. No network is needed.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from realtime.checkpoints.catalog import CATALOG, Published, describe_catalog, resolve_checkpoint
from realtime.checkpoints.download import Limits, cache_name, cached_download, split_url
from realtime.errors import CheckpointError
from realtime.models import load_generator
from realtime.presets import load_preset, save_preset

from .conftest import stylevj

TRAP_MARK = Path("/tmp/stylevj_pkl_code_ran")


class FixtureServer:
    """Serves `files` (name -> bytes). `cut_after`: the next response stops after that many bytes
    and the connection closes; `ignore_range`: answer every request with the whole file."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.cut_after: int | None = None
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.lstrip("/")
                server.requests.append((name, self.headers.get("Range")))
                body = server.files.get(name)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                wanted = self.headers.get("Range")
                if wanted and not server.ignore_range:
                    start = int(wanted.removeprefix("bytes=").rstrip("-"))
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.send_header("Connection", "close")
                self.end_headers()
                payload = body[start:]
                if server.cut_after is not None:
                    payload, server.cut_after = payload[:server.cut_after], None
                self.wfile.write(payload)
                self.wfile.flush()
                self.close_connection = True

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietServer(ThreadingHTTPServer):
    """A download the client stops on purpose (too big, a wrong hash) breaks the server's pipe:
    expected here, so not printed over the test run."""

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@pytest.fixture
def server(fixtures):
    s = FixtureServer({name: (fixtures / name).read_bytes() for name in ("nvada_tiny.pkl", "nvada_trap.pkl")})
    yield s
    s.close()


def cache_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock")) if folder.exists() else []


def test_a_url_downloads_once_into_the_cache_and_loads_like_the_file(server, fixtures, tmp_path):
    url = server.url("nvada_tiny.pkl")
    path = cached_download(url, tmp_path)
    source = (fixtures / "nvada_tiny.pkl").read_bytes()
    assert path.read_bytes() == source
    assert path.with_name(path.name + ".sha256").read_text().strip() == hashlib.sha256(source).hexdigest()
    assert cached_download(url, tmp_path) == path
    assert len(server.requests) == 1  # the second call never touched the network

    server.close()  # offline now: the cached copy still starts the show
    local = load_generator(fixtures / "nvada_tiny.pkl")
    ws = torch.randn(1, local.num_ws, local.w_dim, generator=torch.Generator().manual_seed(3))
    fetched = load_generator(str(resolve_checkpoint(url, tmp_path)))
    assert torch.equal(fetched.synthesis(ws), local.synthesis(ws))


def test_load_generator_takes_a_url_and_keeps_it_as_the_source(server, fixtures, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    url = server.url("nvada_tiny.pkl")
    G = load_generator(url)
    assert G.source == url  # a saved preset points at the URL, not at this machine's cache
    assert cache_files(tmp_path / "stylevj" / "checkpoints") == sorted(
        [cache_name(url), cache_name(url) + ".sha256"])


def test_an_interrupted_download_leaves_no_cache_entry_and_resumes(server, fixtures, tmp_path):
    url = server.url("nvada_tiny.pkl")
    server.cut_after = 100_000
    with pytest.raises(CheckpointError) as err:
        cached_download(url, tmp_path)
    message = str(err.value)
    assert "interrupted at 0.1 MB of 2.6 MB" in message and "again to resume" in message
    assert "\n" not in message
    assert not (tmp_path / cache_name(url)).exists()
    assert (tmp_path / (cache_name(url) + ".part")).stat().st_size == 100_000

    path = cached_download(url, tmp_path)
    assert server.requests[-1] == ("nvada_tiny.pkl", "bytes=100000-")
    assert path.read_bytes() == (fixtures / "nvada_tiny.pkl").read_bytes()
    assert cache_files(tmp_path) == sorted([cache_name(url), cache_name(url) + ".sha256"])


def test_a_server_that_ignores_range_gives_the_whole_file_again(server, fixtures, tmp_path):
    url = server.url("nvada_tiny.pkl")
    server.cut_after = 50_000
    with pytest.raises(CheckpointError):
        cached_download(url, tmp_path)
    server.ignore_range = True
    path = cached_download(url, tmp_path)
    assert server.requests[-1][1] == "bytes=50000-"  # asked to resume, got a 200
    assert path.read_bytes() == (fixtures / "nvada_tiny.pkl").read_bytes()


def test_a_part_longer_than_the_file_starts_over(server, fixtures, tmp_path):
    url = server.url("nvada_tiny.pkl")
    (tmp_path / (cache_name(url) + ".part")).write_bytes(b"x" * 3_000_000)  # 416 from the server
    path = cached_download(url, tmp_path)
    assert [r[1] for r in server.requests] == ["bytes=3000000-", None]
    assert path.read_bytes() == (fixtures / "nvada_tiny.pkl").read_bytes()


def test_a_wrong_hash_deletes_the_download(server, tmp_path):
    url = server.url("nvada_tiny.pkl") + "#sha256=" + "0" * 64
    with pytest.raises(CheckpointError, match=r"SHA-256 mismatch \(expected 000000000000…, got [0-9a-f]{12}…\); "
                                              r"the download was deleted"):
        cached_download(url, tmp_path)
    assert cache_files(tmp_path) == []


def test_a_resumed_download_is_hashed_whole(server, fixtures, tmp_path):
    """The hash covers the bytes already on disk, not only the resumed tail."""
    good = hashlib.sha256((fixtures / "nvada_tiny.pkl").read_bytes()).hexdigest()
    url = server.url("nvada_tiny.pkl")
    server.cut_after = 100_000
    with pytest.raises(CheckpointError):
        cached_download(url, tmp_path, sha256=good)
    path = cached_download(url, tmp_path, sha256=good)
    assert path.read_bytes() == (fixtures / "nvada_tiny.pkl").read_bytes()

    part = tmp_path / (cache_name(server.url("nvada_trap.pkl")) + ".part")
    part.write_bytes((fixtures / "nvada_tiny.pkl").read_bytes()[:100_000])  # a prefix of another file
    with pytest.raises(CheckpointError, match="SHA-256 mismatch"):
        cached_download(server.url("nvada_trap.pkl"), tmp_path, sha256=hashlib.sha256(
            (fixtures / "nvada_trap.pkl").read_bytes()).hexdigest())
    assert not part.exists()


def test_a_pinned_hash_checks_a_copy_already_in_the_cache(server, tmp_path):
    url = server.url("nvada_tiny.pkl")
    path = cached_download(url, tmp_path)
    with pytest.raises(CheckpointError, match="the cached copy .* has SHA-256 .* delete it to download again"):
        cached_download(url + "#sha256=" + "1" * 64, tmp_path)
    assert path.exists()  # the user's file is not deleted behind their back


def test_two_processes_asking_at_once_download_once(server, fixtures, tmp_path):
    url = server.url("nvada_tiny.pkl")
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(cached_download(url, tmp_path))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 3 and len(set(results)) == 1
    assert len(server.requests) == 1
    assert results[0].read_bytes() == (fixtures / "nvada_tiny.pkl").read_bytes()


@pytest.mark.parametrize("text, reason", [
    ("http://example.com/net.pkl", "plain http is accepted only from this machine; use https"),
    ("https://example.com/net.pkl#md5=abc", "must be sha256=<64 hex digits>"),
    ("https:///net.pkl", "not a web address"),
])
def test_refused_addresses_say_why(text, reason):
    with pytest.raises(CheckpointError, match=reason):
        split_url(text)


def test_loopback_http_and_pinned_hashes_are_accepted():
    digest = "ab" * 32
    assert split_url(f"http://localhost:8000/x.pkl#sha256={digest.upper()}") == ("http://localhost:8000/x.pkl", digest)
    assert split_url("https://example.com/a%20b.pkl") == ("https://example.com/a%20b.pkl", None)


def test_http_errors_and_dead_servers_are_one_line(server, tmp_path):
    with pytest.raises(CheckpointError, match=r"nothing.pkl: download refused \(HTTP 404 Not Found\)"):
        cached_download(server.url("nothing.pkl"), tmp_path)
    dead = server.url("nvada_tiny.pkl")
    server.close()
    with pytest.raises(CheckpointError, match=r"cannot download \(.*refused.*\)"):
        cached_download(dead, tmp_path)
    assert cache_files(tmp_path) == []


def test_a_full_disk_stops_the_download_with_one_line(server, full_disk):
    url = server.url("nvada_tiny.pkl")
    with pytest.raises(CheckpointError, match=rf"{full_disk}: not enough free space to download .*; free some space"):
        cached_download(url, full_disk)  # refused before a byte is written: the margin is not there
    assert server.requests == [] and cache_files(full_disk) == []
    with pytest.raises(CheckpointError, match=r"0.2 MB free; the file needs 2.6 MB more and stylevj keeps 0.0 MB"):
        cached_download(url, full_disk, limits=Limits(keep_free_bytes=0))  # the announced length does not fit
    assert cache_files(full_disk) == []  # no .part left to hold the disk full


def test_a_hostile_pickle_from_the_web_goes_through_the_safe_loader(server, fixtures, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    TRAP_MARK.unlink(missing_ok=True)
    G = load_generator(server.url("nvada_trap.pkl"))
    assert not TRAP_MARK.exists()
    local = load_generator(fixtures / "nvada_tiny.pkl")
    ws = torch.zeros(1, local.num_ws, local.w_dim)
    assert torch.equal(G.synthesis(ws), local.synthesis(ws))


def test_published_names_resolve_through_the_catalog(server, fixtures, tmp_path, monkeypatch):
    catalog = (Published("tiny", "nvada_tiny.pkl", "a test net", 3, base=server.url("")),)
    path = resolve_checkpoint("tiny", tmp_path, catalog=catalog)
    assert path.read_bytes() == (fixtures / "nvada_tiny.pkl").read_bytes()

    monkeypatch.chdir(tmp_path)
    Path("tiny").write_bytes(b"mine")
    assert resolve_checkpoint("tiny", tmp_path, catalog=catalog) == Path("tiny")  # a file of that name wins
    with pytest.raises(CheckpointError, match="ffhq: no such file, and not a published network"):
        resolve_checkpoint("ffhq", tmp_path)


def test_stylevj_models_lists_names_sizes_source_and_what_is_cached(tmp_path):
    entry = CATALOG[0]
    folder = tmp_path / "stylevj" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / cache_name(entry.url)).write_bytes(b"\0" * 2_000_000)
    result = stylevj("models", env={**os.environ, "XDG_CACHE_HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line[:1].isalpha()}
    assert "2 MB" in rows[entry.name] and str(folder / cache_name(entry.url)) in rows[entry.name]
    assert "~" in rows[CATALOG[1].name] and rows[CATALOG[1].name].rstrip().endswith("no")
    assert "non-commercial" in result.stdout and "api.ngc.nvidia.com" in result.stdout
    assert describe_catalog(folder.parent.parent / "elsewhere").count(" no") >= len(CATALOG)


def test_the_cli_downloads_and_reports_an_interruption_in_one_line(server, tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    server.cut_after = 10_000
    result = stylevj("still", "--checkpoint", server.url("nvada_tiny.pkl"), "--seed", "1",
                     "--out", str(tmp_path / "a.png"), env=env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "download interrupted at 0.0 MB of 2.6 MB" in result.stderr
    result = stylevj("still", "--checkpoint", server.url("nvada_tiny.pkl"), "--seed", "1",
                     "--out", str(tmp_path / "a.png"), env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "a.png").stat().st_size > 0
    assert server.requests[-1][1] == "bytes=10000-"


def test_a_preset_keeps_a_url_source_when_saved_elsewhere(tmp_path):
    url = "https://example.com/net.pkl"
    (tmp_path / "a").mkdir()
    first = tmp_path / "a" / "show.toml"
    first.write_text(f'[generator]\nsource = "{url}"\n')
    preset = load_preset(first)
    assert preset.generator_source() == url
    saved = save_preset(preset, tmp_path / "b.toml")
    assert load_preset(saved).generator.source == url
    named = load_preset(_write(tmp_path / "c.toml", '[generator]\nsource = "ffhq-1024"\n'))
    assert named.generator_source() == "ffhq-1024"


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_models_fetch_fills_the_cache_before_the_show(server, fixtures, tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    url = server.url("nvada_tiny.pkl")
    result = stylevj("models", "--fetch", url, env=env)
    assert result.returncode == 0, result.stderr
    cached = tmp_path / "stylevj" / "checkpoints" / cache_name(url)
    assert result.stdout.strip() == f"{url}: {cached}"
    assert cached.read_bytes() == (fixtures / "nvada_tiny.pkl").read_bytes()
    refused = stylevj("models", "--fetch", "no-such-net", env=env)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "no-such-net: not a published name or an https URL" in refused.stderr


def test_a_projection_record_hashes_the_downloaded_file(server, fixtures, tmp_path, monkeypatch):
    from realtime.projection.job import checkpoint_fingerprint

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    url = server.url("nvada_tiny.pkl")
    load_generator(url)  # as `stylevj project --checkpoint URL` does first
    assert checkpoint_fingerprint(url) == hashlib.sha256((fixtures / "nvada_tiny.pkl").read_bytes()).hexdigest()


def test_a_cache_that_cannot_be_written_is_one_line(server, tmp_path):
    url = server.url("nvada_tiny.pkl")
    (tmp_path / (cache_name(url) + ".lock")).mkdir()  # the lock's place is taken: the cache is not writable there
    with pytest.raises(CheckpointError, match=rf"{tmp_path}: cannot write the download cache \(Is a directory\)"):
        cached_download(url, tmp_path)
    assert server.requests == []  # nothing downloaded that could not be kept
