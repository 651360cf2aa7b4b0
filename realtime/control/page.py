"""The operator page: the whole show from a browser, a tablet or a phone (an adapter, like OSC).

    page = PageServer(show.submit, show.board, folders, port=8765)     # binds nothing yet
    page.start()            # its own thread: HTTP (the page's files) + WebSocket (state, commands)
    page.url                # http://127.0.0.1:8765/ (with ?token=... when open beyond loopback)
    page.stop()

The page (`page_files/`: plain HTML, CSS and JavaScript, no build step, no CDN) sends the show's
own commands as JSON, `{"command": "SetParam", "args": {"name": "fader", "value": 0.5}}`; each is
made from `PAGE_COMMANDS` (page_commands.py), so its fields are checked exactly as OSC's are, and
submitted with the page as origin. The integrations' commands (MIDI learn, frame outputs) go by
their OSC address, `{"osc": "/stylevj/midi/learn", "args": ["speed"]}`, made by the OSC table.
Refusals from anyone (a page's, OSC's through `reports["osc"]`, the show's) are listed in the
state's "errors" and "osc" for every page; "saved" says where the newest snapshot, recording and
preset went. Its knobs are drawn from the parameter table it fetches (`GET /api/params`,
`realtime.params`: name, type, range, unit, doc), one control per entry, each showing the state's
`params.<name>`. The page never reaches the show: what it shows comes from the published `ShowState`,
read on this server's thread (`board.wait_newer`), sent to every page at most `PAGE_HZ` times a
second as the JSON keys that changed (the whole state when a page connects, so a page that
reconnects catches up and several pages stay in sync). While a page is connected the show
publishes a small copy of the frame on screen a few times a second (`SetThumbnails`,
show/thumbnail.py); this thread encodes it as JPEG and sends it as a binary message. Keyframes
without a picture are asked for with `MakeKeyframePictures` (the show's loader renders each once);
this thread encodes each picture once (JPEG, a data: URL in the state's "pictures", by number).

Safety (the same rules as OSC): values are checked when the command is made; file names go to
commands that resolve them only inside the presets and keyframes folders; only the page's own
files and the parameter table are served, each behind the same checks. Bound to 127.0.0.1 (the
default) a request must name a loopback host (no DNS rebinding) and a WebSocket must come from
the page itself (Origin); bound to any other address, every request must carry the token
(`?token=` or the cookie the page gets) or is answered 403 and counted. No command on the page
stops the show (`Quit` is not in `PAGE_COMMANDS`).

Beside this module: page_commands.py (what a page may send, and the controls' description),
page_extras.py (JPEG, file lists, telemetry) and lan.py (the address and QR code a phone opens).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hmac
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

from ..errors import StylevjError
from ..show import Command, Folders, ShowState, StateBoard
from ..show import commands as c
from ..show.state import StateFollower
from ..show.thumbnail import KEYFRAME_PICTURE_SIZE
from ..choices import PAGE_PORT as DEFAULT_PORT
from .lan import invitation_text, lan_address
from .page_commands import PageError, describe_addresses, describe_commands, describe_params, make_command, make_from_address
from .page_extras import encode_jpeg, listed_files, telemetry_json
from .throttle import LogThrottle, Pace, Strikes, held_note

log = logging.getLogger(__name__)
_wire_log = logging.getLogger(__name__ + ".wire")  # websockets' own lines: every request at INFO is noise on stage
_wire_log.setLevel(logging.WARNING)

DEFAULT_HOST = "127.0.0.1"
PAGE_HZ = 30.0  # state messages per page per second, at most
FILES_EVERY_S = 2.0  # the presets and keyframes folders are listed this often
TELEMETRY_EVERY_S = 1.0
ERRORS_KEPT = 8
# Events every page is told of (a short note), and those that say where a file went (kept in the
# state's "saved": the page shows the newest path of each kind).
TOLD_EVENTS = ("keyframe/added", "keyframe/restored", "record/started", "record/stopped", "snapshot/saved",
               "preset/saved")
SAVED_EVENTS = {"snapshot/saved": "snapshot", "record/started": "recording", "record/stopped": "recording",
                "preset/saved": "preset"}
MAX_MESSAGE = 64 * 1024  # bytes: a command is a few hundred
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")  # bound to one of these, no token is needed
COOKIE = "stylevj_token"
# What one page (or a flood of them) may cost: bounded both ways, so a page that sends and never
# reads is dropped and counted instead of growing memory, and reading waits instead of taking the
# CPU (and the interpreter's lock) from the render thread.
MAX_CLIENTS = 16  # pages at once; another is answered 503
INBOX = 16  # messages read ahead per page (websockets' queue); beyond it the page's socket waits
OUTBOX = 256  # answers waiting for a page; a page that lets more pile up is dropped
SEND_DEADLINE_S = 10.0  # a page that takes nothing for this long is dropped
INTAKE_HZ = 240.0  # messages a second from all pages together (a dragged slider sends 30 to 60)
INTAKE_BURST = 60
LOG_EVERY_S = 10.0  # network complaints: one log line per address per interval, with a count
TOKEN_TRIES = 5  # wrong tokens from one address within TOKEN_WINDOW_S ...
TOKEN_WINDOW_S = 60.0
TOKEN_LOCKOUT_S = 60.0  # ... and it is answered 429 for this long

FILES = {  # what this server answers with, and nothing else
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/page.css": ("page.css", "text/css; charset=utf-8"),
    "/page.js": ("page.js", "text/javascript; charset=utf-8"),
}
API_PARAMS = "/api/params"  # the parameter table as JSON (describe_params), guarded like the files
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token never leaves in a Referer
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; frame-ancestors 'none'",
}


# ---- the server ---------------------------------------------------------------------------------


@dataclass
class PageCounters:
    requests: int = 0  # HTTP requests and WebSocket handshakes
    refused: int = 0  # answered 403 (no token, a foreign host or origin)
    limited: int = 0  # answered 429 (an address that guessed too many tokens)
    malformed: int = 0  # answered 400 (a request that cannot be read: two Host headers ...)
    busy: int = 0  # answered 503 (MAX_CLIENTS pages open already)
    dropped: int = 0  # pages dropped for falling behind (OUTBOX answers waiting, or nothing taken in SEND_DEADLINE_S)
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
    peer: str = "?"
    outbox: deque = dataclasses.field(default_factory=deque)  # at most OUTBOX: beyond, the page is dropped
    dropped: bool = False
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
        self._controls = json.dumps({"type": "hello", "commands": describe_commands(), "addresses": describe_addresses()})
        self._params = json.dumps(describe_params()).encode()  # the table never changes while a show runs
        self._clients: set[_Client] = set()
        self._numbers = 0
        self._state: dict = {}
        self._jpeg: tuple[int, bytes] | None = None
        self._pictures: dict[int, str] = {}  # keyframe picture number -> JPEG data: URL
        self._errors: deque[dict] = deque(maxlen=ERRORS_KEPT)  # refusals from anyone: the show's and this server's
        self._error_serial = 0
        self._saved: dict[str, str] = {}  # where the newest snapshot, recording and preset went
        self.reports: dict[str, Callable[[], dict]] = {}  # more sections of the page's state ("osc": OSC's refusals)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: str | None = None
        self._lines = LogThrottle(LOG_EVERY_S)  # complaints, per address
        self._tries = Strikes(TOKEN_TRIES, TOKEN_WINDOW_S, TOKEN_LOCKOUT_S)  # wrong tokens, per address
        self._intake = Pace(INTAKE_HZ, INTAKE_BURST)  # messages from all pages

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
        """The page's address (with the token when one is required); bound to every address, the
        one a phone can use (`phone_url`), or this machine's loopback when there is none."""
        return self.phone_url or self._url_at("127.0.0.1")

    @property
    def phone_url(self) -> str | None:
        """The address another device opens: the bound one, or (bound to every address) this
        machine's address on the network; None when it has none (loopback only)."""
        host = (self.address or (self.host, self.port))[0]
        if host in ("0.0.0.0", "::"):
            host = lan_address()
            if host is None:
                return None
        return self._url_at(host)

    def invitation(self) -> str:
        """What `stylevj run` prints for a page open beyond loopback: the URL and its QR code, or
        one line saying that no device but this one can reach it."""
        return invitation_text(self.phone_url, self.url)

    def _url_at(self, host: str) -> str:
        port = (self.address or (self.host, self.port))[1]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/" + (f"?token={self.token}" if self.token else "")

    @property
    def clients(self) -> int:
        return len(self._clients)

    def report(self) -> dict:
        """The page's section of the state (the page's own and OSC's `/stylevj/state`): pages open,
        and what was refused (403), limited (429), unreadable (400), turned away (503), rejected
        (a message that is no command) and dropped (a page that fell behind)."""
        n = self.counters
        return {"clients": len(self._clients), "refused": n.refused, "limited": n.limited, "malformed": n.malformed,
                "busy": n.busy, "rejected": n.rejected, "dropped": n.dropped}

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
                                 max_size=MAX_MESSAGE, max_queue=INBOX, compression=None, server_header="stylevj",
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

        def plain(status: int, phrase: str, text: str) -> Response:
            return Response(status, phrase, Headers({**HEADERS, "Content-Type": "text/plain"}), f"{text}\n".encode())

        self.counters.requests += 1
        peer = str((connection.remote_address or ("?",))[0])
        if self._tries.locked(peer):  # it guessed tokens: nothing else is looked at until the lockout ends
            self.counters.limited += 1
            self._complain(peer, "429", "operator page: %s is locked out (too many wrong tokens)", peer)
            return plain(429, "Too Many Requests", "429 too many wrong tokens: try again later")
        try:
            url = urlsplit(request.path)
            reason = self._refusal(request, url)
        except (PageError, ValueError, LookupError) as exc:  # a request that cannot be read is 400, never 500
            self.counters.malformed += 1
            self._complain(peer, "400", "operator page: bad request from %s (%s)", peer, exc)
            return plain(400, "Bad Request", f"400 bad request: {exc}")
        if reason is not None:
            self.counters.refused += 1
            if reason == "wrong token" and self._tries.strike(peer):
                log.warning("operator page: %s sent %d wrong tokens; refused for %g s", peer, TOKEN_TRIES,
                            TOKEN_LOCKOUT_S)
            self._complain(peer, "403", "operator page: refused %s from %s (%s)", url.path[:80], peer, reason)
            return plain(403, "Forbidden", "403 forbidden")
        if url.path == "/ws":
            if len(self._clients) >= MAX_CLIENTS:
                self.counters.busy += 1
                self._complain(peer, "503", "operator page: refused a page from %s (%d open already)", peer,
                               MAX_CLIENTS)
                return plain(503, "Service Unavailable", f"503 {MAX_CLIENTS} pages are open already")
            return None  # the WebSocket handshake goes on
        if url.path == API_PARAMS:
            return Response(200, "OK", Headers({**HEADERS, "Content-Type": "application/json"}), self._params)
        if url.path not in self._files:
            return plain(404, "Not Found", "404 not found")
        body = self._files[url.path].read_bytes()
        headers = Headers({**HEADERS, "Content-Type": FILES[url.path][1]})
        if self.token is not None:
            headers["Set-Cookie"] = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
        return Response(200, "OK", headers, body)

    def _complain(self, peer: str, kind: str, message: str, *args: object) -> None:
        """A warning about what an address sent: one line per address and kind per LOG_EVERY_S."""
        held = self._lines.admit((peer, kind))
        if held is not None:
            log.warning(message + held_note(held), *args)

    def _refusal(self, request, url) -> str | None:
        """Why a request is refused (403), or None; a PageError when it cannot be read."""
        headers = request.headers
        host_header = _single(headers, "Host")
        if self.token is not None:
            given = parse_qs(url.query).get("token", [None])[0] or _cookie(_single(headers, "Cookie"), COOKIE)
            if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
                return "no token" if not given else "wrong token"
        else:
            host = _host_name(host_header)
            if host not in LOCAL_HOSTS:
                return f"host {host[:60]!r} is not this machine"
        origin = _single(headers, "Origin", None)
        if url.path == "/ws" and origin is not None and urlsplit(origin).netloc != host_header:
            return f"origin {origin[:60]!r} is not this page"
        return None

    # ---- WebSocket: one per page ------------------------------------------------------------

    async def _connection(self, ws) -> None:
        self._numbers += 1
        client = _Client(self._numbers, ws, asyncio.Event(), peer=str((ws.remote_address or ("?",))[0]))
        self._clients.add(client)
        if len(self._clients) == 1:
            self._submit(c.SetThumbnails(True), ("page", client.number))
        client.outbox.append(self._controls)
        client.wake.set()  # the controls, then the whole state (`sent` is empty)
        sender = asyncio.create_task(self._send(client))
        try:
            async for message in ws:
                wait = self._intake.delay()
                if wait > 0:  # a flood waits here (its socket fills up), not in the show
                    await asyncio.sleep(wait)
                if client.dropped:
                    break
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
            except (ValueError, RecursionError):  # RecursionError: nested deeper than Python parses
                raise PageError("not JSON") from None
            if not isinstance(data, dict):
                raise PageError("a message is a JSON object")
            if "osc" in data:  # an integration's command by its OSC address (PAGE_ADDRESSES)
                command = make_from_address(data.get("osc"), data.get("args"))
            else:
                command = make_command(data.get("command"), data.get("args"))
        except PageError as exc:
            self.counters.rejected += 1
            self._note_error(str(exc), f"page {client.peer}")
            self._tell(client, {"type": "error", "message": str(exc)})
            return
        if not self._submit(command, ("page", client.number)):
            self._tell(client, {"type": "error", "message": "the show is busy (its queue is full): try again"})

    def _tell(self, client: _Client, message: dict) -> None:
        """Queue an answer for one page; a page with OUTBOX answers waiting reads nothing: dropped."""
        if client.dropped:
            return
        if len(client.outbox) >= OUTBOX:
            self._drop(client, f"{OUTBOX} answers wait unread")
            return
        client.outbox.append(json.dumps(message))
        client.wake.set()

    def _drop(self, client: _Client, why: str) -> None:
        """Cut a page that falls behind (counted, one line per address and interval): what waited
        for it is freed now, and its browser reconnects and catches up with the whole state."""
        if client.dropped:
            return
        client.dropped = True
        client.outbox.clear()
        self.counters.dropped += 1
        self._complain(client.peer, "dropped", "operator page: dropped page %d from %s: %s (%d dropped so far)",
                       client.number, client.peer, why, self.counters.dropped)
        transport = getattr(client.ws, "transport", None)
        if transport is not None:
            transport.abort()  # no closing handshake: the page is not reading

    async def _send(self, client: _Client) -> None:
        """This page's messages: its own answers, the state keys that changed, the newest picture;
        at most PAGE_HZ times a second, whatever the show's refresh rate."""
        try:
            while not client.dropped:
                await client.wake.wait()
                client.wake.clear()
                pause = client.last + 1 / PAGE_HZ - time.monotonic()
                if pause > 0:
                    await asyncio.sleep(pause)
                client.last = time.monotonic()
                try:
                    async with asyncio.timeout(SEND_DEADLINE_S):  # a page that takes nothing is dropped
                        await self._send_due(client)
                except TimeoutError:
                    self._drop(client, f"it took nothing for {SEND_DEADLINE_S:g} s")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the connection closed under us
            log.debug("operator page %d: send failed: %s", client.number, exc)

    async def _send_due(self, client: _Client) -> None:
        while client.outbox:
            await client.ws.send(client.outbox.popleft())
        changed = {k: v for k, v in self._state.items() if client.sent.get(k, ...) != v}
        if changed:
            await client.ws.send(json.dumps({"type": "state", "state": changed}))
            client.sent.update(changed)
        if self._jpeg is not None and self._jpeg[0] != client.jpeg:
            client.jpeg = self._jpeg[0]
            await client.ws.send(self._jpeg[1])

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
                extras["files"] = listed_files(self.folders)
            for name, report in self.reports.items():  # other adapters' counters (OSC's refusals)
                extras[name] = report()
            if self._telemetry is not None and now - telemetry_at >= TELEMETRY_EVERY_S:
                telemetry_at = now
                extras["telemetry"] = telemetry_json(self._telemetry())
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

    def _note_error(self, message: str, who: str) -> None:
        """An error every page lists (newest last), with its wall-clock time: the page sorts the
        show's, its own and OSC's refusals together by it."""
        self._error_serial += 1
        self._errors.append({"serial": self._error_serial, "at": time.time(), "message": message, "from": who})

    def _event(self, event) -> None:
        origin = event.origin
        if event.name in SAVED_EVENTS and event.args and event.args[0]:
            self._saved[SAVED_EVENTS[event.name]] = str(event.args[0])
        if event.name == "error":
            self._note_error(str(event.args[0] if event.args else ""), _who(origin))
            mine = next((cl for cl in self._clients if origin == ("page", cl.number)), None)
            if mine is not None:
                self._tell(mine, {"type": "error", "message": str(event.args[0] if event.args else "")})
        elif event.name in TOLD_EVENTS:
            for client in self._clients:
                self._tell(client, {"type": "event", "name": event.name, "args": [str(a) for a in event.args]})

    def page_state(self, state: ShowState, fps: dict, extras: dict) -> dict:
        """What the page shows: the show's JSON state plus rates, recent errors and counters."""
        out = state.to_json()
        for entry, picture in zip(out["keyframes"], state.keyframe_pictures):
            entry["picture"] = picture.number if picture is not None and picture.number in self._pictures else None
        out["pictures"] = {str(n): url for n, url in self._pictures.items()}
        out["fps"] = fps
        out["errors"] = list(self._errors)
        out["saved"] = dict(self._saved)
        out["page"] = self.report()
        out.update(extras)
        return out


def _who(origin: Any) -> str:
    """Who sent a command, in a few words: 'osc 127.0.0.1 /stylevj/goto', 'page', 'keys'."""
    if isinstance(origin, tuple) and len(origin) == 3 and origin[0] == "osc" and isinstance(origin[1], tuple):
        return f"osc {origin[1][0]} {origin[2]}"
    if isinstance(origin, tuple) and origin:
        return str(origin[0])
    return "show"


def _single(headers: Any, name: str, default: str | None = "") -> str | None:
    """The one value of a header (`default` when absent); a PageError when it is given twice."""
    values = headers.get_all(name)
    if len(values) > 1:
        raise PageError(f"{len(values)} {name} headers")
    return values[0] if values else default


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

