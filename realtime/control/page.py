"""The operator page: the whole show from a browser, a tablet or a phone (an adapter, like OSC).

    page = PageServer(show.submit, show.board, folders, port=8765)     # binds nothing yet
    page.start()            # its own thread: HTTP (the page's files) + WebSocket (state, commands)
    page.url                # http://127.0.0.1:8765/ (with ?token=... when open beyond loopback)
    page.stop()

The page (`page_files/`: plain HTML, CSS and JavaScript, no build step, no CDN) sends the show's
own commands as JSON, `{"command": "SetSpeed", "args": {"speed": 0.5}}`; each is made here from
`PAGE_COMMANDS`, so its fields are checked exactly as OSC's are, and submitted with the page as
origin. The page never reaches the show: what it shows comes from the published `ShowState`,
read on this server's thread (`board.wait_newer`), sent to every page at most `PAGE_HZ` times a
second as the JSON keys that changed (the whole state when a page connects, so a page that
reconnects catches up and several pages stay in sync). While a page is connected the show
publishes a small copy of the frame on screen a few times a second (`SetThumbnails`,
show/thumbnail.py); this thread encodes it as JPEG and sends it as a binary message. Keyframes
without a picture are asked for with `MakeKeyframePictures` (the show's loader renders each once);
this thread encodes each picture once (JPEG, a data: URL in the state's "pictures", by number).

Safety (the same rules as OSC): values are checked when the command is made; file names go to
commands that resolve them only inside the presets and keyframes folders; only the page's own
files are served. Bound to 127.0.0.1 (the default) a request must name a loopback host (no DNS
rebinding) and a WebSocket must come from the page itself (Origin); bound to any other address,
every request must carry the token (`?token=` or the cookie the page gets) or is answered 403
and counted. No command on the page stops the show (`Quit` is not in `PAGE_COMMANDS`).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hmac
import io
import json
import logging
import math
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass
from importlib import resources
from typing import Any, Callable, Hashable
from urllib.parse import parse_qs, urlsplit

from ..checks import CheckError, check_of
from ..errors import StylevjError
from ..show import Command, Folders, ShowState, StateBoard
from ..show import commands as c
from ..show.state import StateFollower
from ..show.thumbnail import KEYFRAME_PICTURE_SIZE, THUMBNAIL_SIZE
from ..choices import PAGE_PORT as DEFAULT_PORT

log = logging.getLogger(__name__)
_wire_log = logging.getLogger(__name__ + ".wire")  # websockets' own lines: every request at INFO is noise on stage
_wire_log.setLevel(logging.WARNING)

DEFAULT_HOST = "127.0.0.1"
PAGE_HZ = 30.0  # state messages per page per second, at most
FILES_EVERY_S = 2.0  # the presets and keyframes folders are listed this often
TELEMETRY_EVERY_S = 1.0
ERRORS_KEPT = 8
MAX_MESSAGE = 64 * 1024  # bytes: a command is a few hundred
MAX_LISTED = 500  # files per folder on the page
KEYFRAME_SUFFIXES = (".safetensors", ".pt", ".pth", ".npy", ".npz")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")  # bound to one of these, no token is needed
COOKIE = "stylevj_token"
JPEG_QUALITY = 75

# What the page may send (nothing else is made from a page's message; no Quit: a stop needs the
# stage keys). Sliders read their ranges from these commands' checked fields; the preset's controls
# (SetControl) read theirs from the state, where each control carries its own range.
PAGE_COMMANDS: tuple[type[Command], ...] = (
    c.Play, c.Pause, c.TogglePause, c.SetSpeed, c.Goto, c.GotoKeyframe, c.AddSeedKeyframe, c.AddFileKeyframe,
    c.AddCurrentKeyframe, c.RemoveKeyframe, c.MoveKeyframe, c.RenameKeyframe, c.SetTruncation, c.SetSpline,
    c.SetAlpha, c.SetConstantSpeed, c.SetPanel, c.SetOverlayOpacity, c.ToggleOverlay, c.LoadPreset, c.SavePreset,
    c.StartRecording, c.StopRecording, c.Snapshot, c.SetControl,
)
PAGE_TABLE: dict[str, type[Command]] = {cls.__name__: cls for cls in PAGE_COMMANDS}


@dataclass(frozen=True)
class Slider:
    """A slider on the page: the command it sends, its field (the range), the state key it shows,
    and `curve` (travel t in [-1, 1] maps to hi * t^curve: fine control near zero on a wide range)."""

    label: str
    command: type[Command]
    field: str
    state: str
    curve: float = 1.0


SLIDERS = (
    Slider("speed", c.SetSpeed, "speed", "speed", curve=3.0),
    Slider("truncation", c.SetTruncation, "psi", "truncation"),
    Slider("alpha", c.SetAlpha, "alpha", "alpha"),
    Slider("overlay opacity", c.SetOverlayOpacity, "opacity", "opacity"),
)

FILES = {  # what this server answers with, and nothing else
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/page.css": ("page.css", "text/css; charset=utf-8"),
    "/page.js": ("page.js", "text/javascript; charset=utf-8"),
}
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token never leaves in a Referer
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; frame-ancestors 'none'",
}


class PageError(StylevjError):
    """A page message that cannot become a command: the reason goes back to that page."""


# ---- commands and their description ------------------------------------------------------------


def make_command(name: Any, args: Any) -> Command:
    """The command a page message names, made (and so checked) from its arguments."""
    cls = PAGE_TABLE.get(name) if isinstance(name, str) else None
    if cls is None:
        raise PageError(f"the page cannot send {name!r}")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise PageError(f"{name}: arguments must be an object")
    known = {f.name for f in c.arguments(cls)}
    unknown = sorted(set(args) - known)
    if unknown:
        raise PageError(f"{name}: unknown argument {', '.join(unknown)}")
    missing = sorted(f.name for f in c.arguments(cls) if f.default is dataclasses.MISSING and f.name not in args)
    if missing:
        raise PageError(f"{name}: missing {', '.join(missing)}")
    try:
        return cls(**args)
    except CheckError as exc:
        raise PageError(f"{name}: {exc}") from None


def _bound(x: float) -> float | None:
    return x if math.isfinite(x) else None


def describe_commands() -> dict:
    """Each page command's meaning and checked fields (kind, range, choices): the page builds its
    controls from this, so no range is written twice."""
    out = {}
    for cls in PAGE_COMMANDS:
        args = []
        for f in c.arguments(cls):
            check = check_of(f)
            args.append({"name": f.name, "kind": check.kind, "lo": _bound(check.lo), "hi": _bound(check.hi),
                         "choices": list(check.choices), "optional": f.default is not dataclasses.MISSING})
        out[cls.__name__] = {"doc": c.describe(cls), "args": args}
    return out


def describe_sliders() -> list[dict]:
    out = []
    for s in SLIDERS:
        check = check_of(next(f for f in c.arguments(s.command) if f.name == s.field))
        out.append({"label": s.label, "command": s.command.__name__, "field": s.field, "state": s.state,
                    "lo": check.lo, "hi": check.hi, "curve": s.curve})
    return out


def list_folder(folder, suffixes: tuple[str, ...]) -> list[str]:
    """Plain file names in one folder (not below it) with these suffixes, sorted; [] if absent."""
    try:
        names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    except OSError:
        return []
    return names[:MAX_LISTED]


def _telemetry_json(t: Any) -> dict | None:
    """The overlay telemetry's GPU and memory numbers, compact."""
    if t is None:
        return None
    host = t.host
    return {
        "gpus": [{"name": g.name, "utilization": g.utilization_percent, "memory_used": g.memory_used,
                  "memory_total": g.memory_total, "temperature": g.temperature_c, "power": g.power_w} for g in t.gpus],
        "gpu_reason": t.nvml_reason,
        "host": {"cpu": host.cpu_percent, "memory_used": host.memory_used, "memory_total": host.memory_total,
                 "process_rss": host.process_rss},
    }


def encode_jpeg(pixels, size: int = THUMBNAIL_SIZE, quality: int = JPEG_QUALITY) -> bytes:
    """RGB8 [h, w, 3] -> JPEG bytes at most `size` a side (Pillow; area average when shrinking)."""
    from PIL import Image

    image = Image.fromarray(pixels)
    image.thumbnail((size, size), Image.Resampling.BOX)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def qr_text(url: str) -> str | None:
    """The URL as a QR code drawn with terminal characters (a phone camera opens it); None without segno."""
    try:
        import segno
    except ImportError:  # pragma: no cover - a runtime dependency
        return None
    out = io.StringIO()
    segno.make(url, error="l").terminal(out=out, compact=True)
    return out.getvalue()


# ---- the server ---------------------------------------------------------------------------------


@dataclass
class PageCounters:
    requests: int = 0  # HTTP requests and WebSocket handshakes
    refused: int = 0  # answered 403 (no token, a foreign host or origin)
    messages: int = 0  # messages from pages
    rejected: int = 0  # messages that could not become a command
    thumbnails: int = 0  # JPEGs encoded
    jpeg_ms: float = 0.0  # encoding time, all told
    pictures: int = 0  # keyframe pictures encoded (each once)
    pictures_ms: float = 0.0


@dataclass(eq=False)
class _Client:
    number: int
    ws: Any
    wake: asyncio.Event
    outbox: list = dataclasses.field(default_factory=list)
    sent: dict = dataclasses.field(default_factory=dict)
    jpeg: int = 0
    last: float = -math.inf


class PageServer:
    """The operator page's HTTP + WebSocket server; `start()` binds and runs it on its own thread.

    `token`: required from every request when given; made when `host` is not a loopback name
    (LOCAL_HOSTS). `telemetry`: returns the overlay poller's newest sample (GPU and memory), or None.
    """

    def __init__(self, submit: Callable[[Command, Hashable], bool], board: StateBoard, folders: Folders,
                 host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, token: str | None = None,
                 telemetry: Callable[[], Any] | None = None, any_port_if_taken: bool = False) -> None:
        if not 0 <= port <= 65535:
            raise StylevjError(f"--control-port must be within [0, 65535], got {port}")
        self.host, self.port, self.folders = host, port, folders
        self.any_port_if_taken = any_port_if_taken  # the default port busy (another show): take a free one
        self.token = token if token is not None else (None if host in LOCAL_HOSTS else secrets.token_urlsafe(16))
        self.counters = PageCounters()
        self.address: tuple[str, int] | None = None
        self._submit, self._board, self._telemetry = submit, board, telemetry
        self._files = {path: resources.files(__package__) / "page_files" / name for path, (name, _) in FILES.items()}
        self._controls = json.dumps({"type": "hello", "commands": describe_commands(), "sliders": describe_sliders()})
        self._clients: set[_Client] = set()
        self._numbers = 0
        self._state: dict = {}
        self._jpeg: tuple[int, bytes] | None = None
        self._pictures: dict[int, str] = {}  # keyframe picture number -> JPEG data: URL
        self._errors: deque[dict] = deque(maxlen=ERRORS_KEPT)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: str | None = None

    # ---- life ------------------------------------------------------------------------------

    def start(self) -> PageServer:
        """Bind and serve on a thread of its own; a StylevjError if the address cannot be used."""
        for port in (self.port, 0) if self.any_port_if_taken and self.port else (self.port,):
            self._ready.clear()
            self._failure = None
            self._thread = threading.Thread(target=self._run, args=(port,), name="stylevj-page", daemon=True)
            self._thread.start()
            if self._ready.wait(10.0) and not self._failure:
                break
            self._thread.join(timeout=2)
            if port:
                log.warning("operator page: port %d is taken (%s)", port, self._failure)
        else:
            raise StylevjError(f"operator page: cannot listen on {self.host}:{self.port} ({self._failure or 'timed out'})")
        log.info("operator page on %s%s", self.url, "" if self.token is None else " (the token is required)")
        return self

    def stop(self) -> None:
        """Close every page and the server; the show stops making thumbnails. Safe to call twice."""
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:  # the loop ended already
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._clients:
            self._clients.clear()
        self._submit(c.SetThumbnails(False), ("page", 0))

    @property
    def url(self) -> str:
        """The page's address (with the token when one is required)."""
        host, port = self.address or (self.host, self.port)
        shown = host if host not in ("0.0.0.0", "::") else _lan_address()
        shown = f"[{shown}]" if ":" in shown else shown
        return f"http://{shown}:{port}/" + (f"?token={self.token}" if self.token else "")

    @property
    def clients(self) -> int:
        return len(self._clients)

    def _run(self, port: int) -> None:
        try:
            asyncio.run(self._main(port))
        except Exception as exc:  # noqa: BLE001 - reported by start(), or logged once running
            if not self._ready.is_set():
                self._failure = str(exc) or type(exc).__name__
                self._ready.set()
            else:
                log.exception("operator page stopped: %s", exc)

    async def _main(self, port: int) -> None:
        from websockets.asyncio.server import serve

        self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
        try:
            server = await serve(self._connection, self.host, port, process_request=self._http,
                                 max_size=MAX_MESSAGE, compression=None, server_header="stylevj",
                                 logger=_wire_log)
        except OSError as exc:
            self._failure = exc.strerror or str(exc)
            self._ready.set()
            return
        self.address = server.sockets[0].getsockname()[:2]
        self._ready.set()
        watch = asyncio.create_task(self._watch())
        try:
            await self._stopping.wait()
        finally:
            watch.cancel()
            server.close()
            await server.wait_closed()

    # ---- HTTP: the page's files, and who may ask ---------------------------------------------

    def _http(self, connection, request):
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        self.counters.requests += 1
        url = urlsplit(request.path)
        reason = self._refusal(request, url)
        if reason is not None:
            self.counters.refused += 1
            log.warning("operator page: refused %s from %s (%s)", url.path[:80],
                        (connection.remote_address or ("?",))[0], reason)
            return Response(403, "Forbidden", Headers({**HEADERS, "Content-Type": "text/plain"}), b"403 forbidden\n")
        if url.path == "/ws":
            return None  # the WebSocket handshake goes on
        if url.path not in self._files:
            return Response(404, "Not Found", Headers({**HEADERS, "Content-Type": "text/plain"}), b"404 not found\n")
        body = self._files[url.path].read_bytes()
        headers = Headers({**HEADERS, "Content-Type": FILES[url.path][1]})
        if self.token is not None:
            headers["Set-Cookie"] = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        return Response(200, "OK", headers, body)

    def _refusal(self, request, url) -> str | None:
        """Why a request is refused (403), or None."""
        headers = request.headers
        if self.token is not None:
            given = parse_qs(url.query).get("token", [None])[0] or _cookie(headers.get("Cookie", ""), COOKIE)
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return "no token" if not given else "wrong token"
        else:
            host = _host_name(headers.get("Host", ""))
            if host not in LOCAL_HOSTS:
                return f"host {host!r} is not this machine"
        origin = headers.get("Origin")
        if url.path == "/ws" and origin is not None and urlsplit(origin).netloc != headers.get("Host", ""):
            return f"origin {origin[:60]!r} is not this page"
        return None

    # ---- WebSocket: one per page ------------------------------------------------------------

    async def _connection(self, ws) -> None:
        self._numbers += 1
        client = _Client(self._numbers, ws, asyncio.Event())
        self._clients.add(client)
        if len(self._clients) == 1:
            self._submit(c.SetThumbnails(True), ("page", client.number))
        sender = asyncio.create_task(self._send(client))
        try:
            await ws.send(self._controls)
            client.wake.set()  # the whole state goes out now: `sent` is empty
            async for message in ws:
                self._receive(client, message)
        except Exception as exc:  # noqa: BLE001 - a page that goes away is ordinary
            log.debug("operator page %d closed: %s", client.number, exc)
        finally:
            sender.cancel()
            self._clients.discard(client)
            if not self._clients:
                self._submit(c.SetThumbnails(False), ("page", client.number))

    def _receive(self, client: _Client, message: str | bytes) -> None:
        self.counters.messages += 1
        try:
            if not isinstance(message, str):
                raise PageError("messages are JSON text")
            try:
                data = json.loads(message)
            except ValueError:
                raise PageError("not JSON") from None
            if not isinstance(data, dict):
                raise PageError("a message is a JSON object")
            command = make_command(data.get("command"), data.get("args"))
        except PageError as exc:
            self.counters.rejected += 1
            self._tell(client, {"type": "error", "message": str(exc)})
            return
        if not self._submit(command, ("page", client.number)):
            self._tell(client, {"type": "error", "message": "the show is busy (its queue is full): try again"})

    def _tell(self, client: _Client, message: dict) -> None:
        client.outbox.append(json.dumps(message))
        client.wake.set()

    async def _send(self, client: _Client) -> None:
        """This page's messages: its own answers, the state keys that changed, the newest picture;
        at most PAGE_HZ times a second, whatever the show's refresh rate."""
        try:
            while True:
                await client.wake.wait()
                client.wake.clear()
                pause = client.last + 1 / PAGE_HZ - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                client.last = time.monotonic()
                outbox, client.outbox = client.outbox, []
                for text in outbox:
                    await client.ws.send(text)
                changed = {k: v for k, v in self._state.items() if client.sent.get(k, ...) != v}
                if changed:
                    await client.ws.send(json.dumps({"type": "state", "state": changed}))
                    client.sent.update(changed)
                if self._jpeg is not None and self._jpeg[0] != client.jpeg:
                    client.jpeg = self._jpeg[0]
                    await client.ws.send(self._jpeg[1])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the connection closed under us
            log.debug("operator page %d: send failed: %s", client.number, exc)

    # ---- the show's snapshots -----------------------------------------------------------------

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        follower = StateFollower(self._board)
        fps_mark: tuple[float, int, int] | None = None
        fps = {"generated": 0.0, "displayed": 0.0}
        extras: dict = {}
        files_at = telemetry_at = -math.inf
        thumbnail_seen = -1
        pictures_asked: tuple = ()
        pictures_at = -math.inf
        while True:
            news = await loop.run_in_executor(None, follower.next, 0.25)
            if news is None:
                continue
            state, events = news
            for event in events:
                self._event(event)
            if fps_mark is None or state.clock - fps_mark[0] >= 0.5:
                if fps_mark is not None and state.clock > fps_mark[0]:
                    span = state.clock - fps_mark[0]
                    fps = {"generated": round((state.frames_shown - fps_mark[2]) / span, 1),
                           "displayed": round((state.refreshes - fps_mark[1]) / span, 1)}
                fps_mark = (state.clock, state.refreshes, state.frames_shown)
            now = time.monotonic()
            if now - files_at >= FILES_EVERY_S:
                files_at = now
                if self._clients and (state.thumbnail is None or state.thumbnail.serial == thumbnail_seen):
                    self._submit(c.SetThumbnails(True), ("page", 0))  # again, in case the show's queue was full
                thumbnail_seen = state.thumbnail.serial if state.thumbnail is not None else -1
                presets = {self.folders.presets, getattr(self.folders, "saves", self.folders.presets)}  # saves: where presets are written
                extras["files"] = {"presets": sorted({n for f in presets for n in list_folder(f, (".toml",))})[:MAX_LISTED],
                                   "keyframes": list_folder(self.folders.keyframes, KEYFRAME_SUFFIXES)}
            if self._telemetry is not None and now - telemetry_at >= TELEMETRY_EVERY_S:
                telemetry_at = now
                extras["telemetry"] = _telemetry_json(self._telemetry())
            if self._clients and None in state.keyframe_pictures:  # ask again when the path changed, or now and then
                asking = tuple((id(k.w), p and p.number) for k, p in zip(state.keyframes, state.keyframe_pictures))
                if asking != pictures_asked or now - pictures_at >= FILES_EVERY_S:
                    pictures_asked, pictures_at = asking, now
                    self._submit(c.MakeKeyframePictures(), ("page", 0))
            await self._encode_pictures(state, loop)
            self._state = self.page_state(state, fps, extras)
            thumbnail = state.thumbnail
            if thumbnail is not None and (self._jpeg is None or self._jpeg[0] != thumbnail.serial) and self._clients:
                started = time.perf_counter()
                data = await loop.run_in_executor(None, encode_jpeg, thumbnail.pixels)
                self.counters.thumbnails += 1
                self.counters.jpeg_ms += (time.perf_counter() - started) * 1000
                self._jpeg = (thumbnail.serial, data)
            for client in self._clients:
                client.wake.set()

    async def _encode_pictures(self, state: ShowState, loop: asyncio.AbstractEventLoop) -> None:
        """JPEG data: URLs of the keyframes' pictures, each encoded once; those gone are dropped."""
        numbers = {p.number for p in state.keyframe_pictures if p is not None and p.pixels is not None}
        for picture in state.keyframe_pictures:
            if picture is not None and picture.pixels is not None and picture.number not in self._pictures:
                started = time.perf_counter()
                data = await loop.run_in_executor(None, encode_jpeg, picture.pixels, KEYFRAME_PICTURE_SIZE)
                self.counters.pictures += 1
                self.counters.pictures_ms += (time.perf_counter() - started) * 1000
                self._pictures[picture.number] = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
        for number in set(self._pictures) - numbers:
            del self._pictures[number]

    def _event(self, event) -> None:
        origin = event.origin
        if event.name == "error":
            self._errors.append({"serial": event.serial, "message": str(event.args[0] if event.args else ""),
                                 "from": _who(origin)})
            mine = next((cl for cl in self._clients if origin == ("page", cl.number)), None)
            if mine is not None:
                self._tell(mine, {"type": "error", "message": str(event.args[0] if event.args else "")})
        elif event.name in ("keyframe/added", "record/started", "record/stopped"):
            for client in self._clients:
                self._tell(client, {"type": "event", "name": event.name, "args": [str(a) for a in event.args]})

    def page_state(self, state: ShowState, fps: dict, extras: dict) -> dict:
        """What the page shows: the show's JSON state plus rates, recent errors and counters."""
        out = state.to_json()
        for entry, picture in zip(out["keyframes"], state.keyframe_pictures):
            entry["picture"] = picture.number if picture is not None and picture.number in self._pictures else None
        out["pictures"] = {str(n): url for n, url in self._pictures.items()}
        out["opacity"] = state.panels[0].opacity if state.panels else None
        out["fps"] = fps
        out["errors"] = list(self._errors)
        out["page"] = {"clients": len(self._clients), "refused": self.counters.refused,
                       "rejected": self.counters.rejected}
        out.update(extras)
        return out


def _who(origin: Any) -> str:
    if isinstance(origin, tuple) and origin:
        return str(origin[0])
    return "show"


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def _host_name(host: str) -> str:
    """'127.0.0.1:8765' -> '127.0.0.1', '[::1]:8765' -> '::1'."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _lan_address() -> str:
    """This machine's address on the network (for the URL of a server bound to every address)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"
