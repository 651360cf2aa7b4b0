"""The OSC adapter: packets in, show commands out; the published show state back as feedback.

Two threads, both started by `start()` (the session calls it) and ended by `stop()`:

- the listener parses and checks each datagram and turns each message into a show command
  (`addresses.to_command`), submitted with the sender as its origin. It never touches show state.
  Bad input of any kind is dropped with a reason (log line, `/stylevj/error` reply) and counted.
- the feedback thread reads the show's snapshots (`StateBoard`): it answers `/stylevj/state` and
  the errors of commands that failed when applied (to the sender that sent them), forwards the
  show's events, and sends the vital signs (and, with audio, `/stylevj/audio/...` features) at
  most `FEEDBACK_HZ` times a second.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable, Hashable

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from ..errors import StylevjError
from ..presets import OscMapping, check_mappings
from ..show import Command, ShowState, StateBoard
from ..show.state import StateFollower
from .addresses import PREFIX, OscError, lookup, mappable, to_command
from .throttle import LogThrottle, held_note

log = logging.getLogger(__name__)

MAX_PACKET = 8192  # bytes: larger datagrams are refused unparsed
FEEDBACK_HZ = 30.0
STATE_PART = 8000  # bytes of state JSON per datagram: far below what any network path drops
LOOPBACK = ("127.0.0.1/32", "::1/128")
LOG_EVERY_S = 10.0  # complaints about what a sender sent: one log line per sender per interval, with a count
RECENT_KEPT = 8  # refusals `report()` lists (the operator page shows them)
TYPE_TAGS = "ifdsbrmtTFNh[]"  # what python-osc parses; it logs (unthrottled) and skips any other tag


@dataclass
class Counters:
    received: int = 0
    rejected: int = 0  # refused here, or refused by the show when applied
    ignored: int = 0  # TouchDesigner metadata (/_samplerate ...)
    blocked_senders: int = 0
    overflow: int = 0  # the show's queue was full
    lost: int = 0  # datagrams the system dropped before the listener read them (Linux; see `_listen`)


class RateLimit:
    """At most `per_second` things a second; counts what it held back."""

    def __init__(self, per_second: int) -> None:
        self.per_second, self.window, self.used, self.held = per_second, 0.0, 0, 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self.window >= 1.0:
            self.window, self.used = now, 0
        self.used += 1
        if self.used > self.per_second:
            self.held += 1
            return False
        return True


def _padded(n: int) -> int:
    return (n + 3) & ~3


def osc_size(dgram: bytes, params: list) -> int:
    """The size a message with these parsed params must have: python-osc fills missing
    trailing arguments with zeros instead of failing, so a cut message is caught here."""
    address_end = dgram.find(b"\x00")
    size = _padded(address_end + 1)
    tags_end = dgram.find(b"\x00", size)
    if tags_end < 0 or dgram[size:size + 1] != b",":
        return size if not params else -1
    tags = dgram[size + 1:tags_end].decode("ascii", "replace")
    size = _padded(tags_end + 1)
    values = iter(params)
    for tag in tags:
        if tag in "[]":  # array brackets carry no data
            continue
        value = next(values, None)
        if tag in "ifcrm":
            size += 4
        elif tag in "dht":
            size += 8
        elif tag in "sS":
            size += _padded(len(str(value or "").encode("utf-8")) + 1)
        elif tag == "b":
            size += 4 + _padded(len(value or b""))
    return size


def unsupported_tag(dgram: bytes, depth: int = 0) -> str | None:
    """The first type tag python-osc does not parse in a message or bundle (bundles walked
    element by element), or None; structure that does not add up is left to the parser."""
    if dgram.startswith(b"#bundle\x00"):
        at = 16  # "#bundle\0" and the time tag
        while at + 4 <= len(dgram) and depth < 8:
            size = int.from_bytes(dgram[at:at + 4], "big", signed=True)
            if size <= 0 or at + 4 + size > len(dgram):
                return None
            tag = unsupported_tag(dgram[at + 4:at + 4 + size], depth + 1)
            if tag is not None:
                return tag
            at += 4 + size
        return None
    address_end = dgram.find(b"\x00")
    if address_end < 0:
        return None
    start = _padded(address_end + 1)
    end = dgram.find(b"\x00", start)
    if dgram[start:start + 1] != b"," or end < 0:
        return None
    tags = dgram[start + 1:end].decode("latin-1")
    return next((t for t in tags if t not in TYPE_TAGS), None)


SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)  # Linux: each datagram carries the socket's drop count
RECEIVE_BUFFER = 4 * 2**20  # bytes asked for (the system caps it: net.core.rmem_max): a burst waits, not lost
LOSS_NOTE = socket.CMSG_SPACE(4) if hasattr(socket, "CMSG_SPACE") else 0


def watch_losses(sock: socket.socket) -> None:
    """Ask for a large receive buffer, and (Linux) for the count of datagrams the system dropped
    because the buffer was full: a burst the listener cannot keep up with is counted, not silent."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        if sys.platform.startswith("linux"):
            sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
    except OSError as exc:  # best effort: the show runs without it
        log.debug("OSC: receive buffer / loss count not available (%s)", exc)


def losses(ancillary: list[tuple[int, int, bytes]]) -> int:
    """The drop count (SO_RXQ_OVFL) carried by a datagram's ancillary data, or 0."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(data) >= 4:
            return int.from_bytes(data[:4], sys.byteorder)
    return 0


def parse_allow(specs: list[str] | tuple[str, ...]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return [ipaddress.ip_network(s.strip(), strict=False) for s in specs if s.strip()]
    except ValueError as exc:
        raise StylevjError(f"--osc-allow: {exc}") from None


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class OscServer:
    """OSC in (listener thread), feedback out (feedback thread); binds its socket when made."""

    def __init__(
        self, submit: Callable[[Command, Hashable], bool], board: StateBoard, host: str = "127.0.0.1", port: int = 9000,
        allow: list[str] | tuple[str, ...] | None = None, reply: tuple[str, int] | None = None,
        mappings: tuple[OscMapping, ...] = (),
    ) -> None:
        if not is_loopback(host) and not allow:
            raise StylevjError(f"--osc-host {host} opens OSC to the network: give --osc-allow CIDR,... (e.g. 192.168.1.0/24)")
        check_mappings(mappings, mappable(), "OSC")
        self.allow = parse_allow(list(allow) if allow else list(LOOPBACK))
        self.reply = reply
        self.mappings = {m.address: m for m in mappings}
        self.counters = Counters()
        self._submit = submit
        self._board = board
        self._lines, self._reply_limit = LogThrottle(LOG_EVERY_S), RateLimit(20)
        self.reports: dict[str, Callable[[], dict]] = {}  # more sections of `/stylevj/state` (the page's)
        self._recent: deque[dict] = deque(maxlen=RECENT_KEPT)  # the newest refusals made here, for `report()`
        self._recent_lock = threading.Lock()  # written by the listener and feedback threads, read by the page's
        self._refusals = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except (OSError, OverflowError) as exc:
            self.sock.close()
            raise StylevjError(f"OSC: cannot listen on {host}:{port} ({getattr(exc, 'strerror', None) or exc})") from None
        self.sock.settimeout(0.2)
        watch_losses(self.sock)
        self.address = self.sock.getsockname()[:2]

    def start(self) -> OscServer:
        self._threads = [threading.Thread(target=self._listen, name="stylevj-osc", daemon=True),
                         threading.Thread(target=self._feedback, name="stylevj-osc-feedback", daemon=True)]
        for thread in self._threads:
            thread.start()
        log.info("OSC listening on %s:%d (senders: %s)%s", *self.address, ", ".join(map(str, self.allow)),
                 f", feedback to {self.reply[0]}:{self.reply[1]}" if self.reply else "")
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)
        self.sock.close()

    @property
    def listening(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    # ---- listener thread: parse, check, submit --------------------------------------------------

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                data, ancillary, _, sender = self.sock.recvmsg(65536, LOSS_NOTE)
                self.counters.lost = max(self.counters.lost, losses(ancillary))
                time.sleep(0)  # let a waiting render thread take the interpreter: a flood never convoys it
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            try:
                self.handle_datagram(data, sender[:2])
            except Exception as exc:  # the listener must outlive any packet; this is a bug if it happens
                held = self._lines.admit((sender[0], "failure"))
                if held is not None:
                    log.error("OSC: unexpected failure on a packet from %s: %s: %s%s", sender[0], type(exc).__name__,
                              exc, held_note(held), exc_info=not held)

    def handle_datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        if not any(ipaddress.ip_address(sender[0]) in net for net in self.allow):
            self.counters.blocked_senders += 1
            self._complain(sender, "blocked", "OSC: dropped a packet from %s (not in the allow-list)", sender[0])
            return
        if len(data) > MAX_PACKET:
            self.reject(f"oversized packet ({len(data)} bytes > {MAX_PACKET})", sender)
            return
        if len(data) % 4:  # OSC packets are whole 32-bit words; python-osc reads short ones leniently
            self.reject(f"malformed packet (size {len(data)} is not a multiple of 4)", sender)
            return
        tag = unsupported_tag(data)
        if tag is not None:  # refused here, before python-osc logs a line per packet of its own
            self.reject(f"unsupported argument type {tag!r} (supported: {TYPE_TAGS})", sender)
            return
        try:
            messages = [m.message for m in OscPacket(data).messages]
        except Exception as exc:  # python-osc raises many kinds on garbage; all mean "not OSC"
            self.reject(f"malformed packet ({type(exc).__name__})", sender)
            return
        short = next((m for m in messages if len(m.dgram) != osc_size(m.dgram, m.params)), None)
        if short is not None:
            self.reject(f"malformed packet (message {short.address} is cut short)", sender)
            return
        for message in messages:
            self.handle_message(message.address, list(message.params), sender)

    def handle_message(self, address: str, values: list, sender: tuple[str, int]) -> None:
        self.counters.received += 1
        if address.startswith("/_"):  # TouchDesigner metadata (/_samplerate, /_chan ...)
            self.counters.ignored += 1
            return
        try:
            mapping = self.mappings.get(address)
            if mapping is not None:
                address, values = self._mapped(mapping, values)
            command = to_command(address, values)
        except OscError as exc:
            self.reject(str(exc), sender)
            return
        if not self._submit(command, ("osc", sender, address)):
            self.counters.overflow += 1
            self._complain(sender, "overflow", "OSC: the show's queue is full, a message from %s dropped (%d so far)",
                           sender[0], self.counters.overflow)

    def _mapped(self, mapping: OscMapping, values: list) -> tuple[str, list]:
        if len(values) != 1 or isinstance(values[0], (bool, str)) or not isinstance(values[0], (int, float)):
            raise OscError(f"{mapping.address} (mapped to {mapping.param}) takes one number")
        value = mapping.convert(float(values[0]))
        if lookup(PREFIX + mapping.param)[0].args[0].check.kind == "flag":
            value = int(value >= 0.5)
        return PREFIX + mapping.param, [value]

    def reject(self, reason: str, sender: tuple[str, int], listed: bool = True) -> None:
        """Count, log (throttled) and answer a refusal; `listed`: also in `report()`'s recent ones
        (a command the show refused when applied is listed by the show's own error event)."""
        self.counters.rejected += 1
        if listed:
            with self._recent_lock:
                self._refusals += 1
                self._recent.append({"serial": self._refusals, "at": time.time(), "message": reason,
                                     "from": f"osc {sender[0]}"})
        self._complain(sender, "rejected", "OSC from %s rejected: %s", sender[0], reason)
        if self._reply_limit.allow():
            self.send("/stylevj/error", reason, to=self.reply or sender)

    def _complain(self, sender: tuple[str, int], kind: str, message: str, *args: object) -> None:
        """A warning about what a sender sent: one line per sender and kind per LOG_EVERY_S, with
        how many were held back (a flood costs a few lines, not one per packet)."""
        held = self._lines.admit((sender[0], kind))
        if held is not None:
            log.warning(message + held_note(held), *args)

    # ---- feedback thread: answers, events, vital signs ------------------------------------------

    def _feedback(self) -> None:
        follower, last_vitals = StateFollower(self._board), 0.0
        fps_mark: tuple[float, int] | None = None
        fps = 0.0
        while not self._stop.is_set():
            news = follower.next(timeout=0.2)
            if news is None:
                continue
            state, events = news
            for event in events:
                self._answer(event, state)
            now = time.monotonic()
            if fps_mark is None or now - fps_mark[0] >= 0.5:
                if fps_mark is not None:
                    fps = max(0.0, (state.frames_shown - fps_mark[1]) / (now - fps_mark[0]))
                fps_mark = (now, state.frames_shown)
            if self.reply is not None and now - last_vitals >= 1.0 / FEEDBACK_HZ:
                last_vitals = now
                self._vitals(state, fps)

    def _answer(self, event, state: ShowState) -> None:
        origin = event.origin
        ours = isinstance(origin, tuple) and len(origin) == 3 and origin[0] == "osc"
        if event.name == "state":
            if ours:
                self.send_state(json.dumps(self.state_json(state)), to=origin[1])
            return
        if event.name == "error":
            if ours:
                self.reject(f"{origin[2]}: {event.args[0]}", origin[1], listed=False)
            elif self.reply is not None:
                self.send("/stylevj/error", *event.args, to=self.reply)
            return
        if self.reply is not None:
            self.send(f"{PREFIX}{event.name}", *event.args, to=self.reply)

    def _vitals(self, state: ShowState, fps: float) -> None:
        to = self.reply
        self.send("/stylevj/position", float(state.position), to=to)
        self.send("/stylevj/speed", float(state.speed), to=to)
        self.send("/stylevj/keyframes", len(state.keyframes), to=to)
        self.send("/stylevj/fps", round(fps, 2), to=to)
        if state.recording is not None:
            self.send("/stylevj/record/dropped", state.record_dropped, to=to)
        if state.audio.source:  # the music, as the show last heard it (for TouchDesigner and friends)
            self.audio_feedback(state, to)

    def audio_feedback(self, state: ShowState, to: tuple[str, int]) -> None:
        """/stylevj/audio/<field> for every field of `Heard`, in order (level, onset, low, mid,
        high, bpm, beat_phase as floats, beat as an int: each as its checked field holds it)."""
        for name, value in state.audio.heard.to_json().items():
            self.send(f"{PREFIX}audio/{name}", value, to=to)

    def report(self) -> dict:
        """OSC's part of the operator page's state: what came in, what was refused (here, or by
        the show when applied), what was dropped, and the newest refusals made here (parse and
        check: the show never sees those) with their reasons and wall-clock times."""
        n = self.counters
        with self._recent_lock:
            recent = list(self._recent)
        return {"received": n.received, "refused": n.rejected, "blocked": n.blocked_senders, "overflow": n.overflow,
                "lost": n.lost, "last": recent[-1]["message"] if recent else "", "recent": recent}

    def state_json(self, state: ShowState) -> dict:
        """The show's state plus this adapter's counters (what `/stylevj/state` answers)."""
        return {**state.to_json(), "osc": dict(self.counters.__dict__), **{k: f() for k, f in self.reports.items()}}

    # ---- sending ---------------------------------------------------------------------------

    def send_state(self, text: str, to: tuple[str, int]) -> None:
        """The state as one `/stylevj/state s`, or, when it outgrows a safe datagram (a show with
        a thousand keyframes), as `/stylevj/state/part i n s` messages to join in order."""
        if len(text.encode("utf-8")) <= STATE_PART:
            self.send("/stylevj/state", text, to=to)
            return
        parts = [text[i:i + STATE_PART // 4] for i in range(0, len(text), STATE_PART // 4)]  # <= 4 bytes a character
        for i, part in enumerate(parts):
            self.send("/stylevj/state/part", i, len(parts), part, to=to)

    def send(self, address: str, *args: object, to: tuple[str, int]) -> None:
        builder = OscMessageBuilder(address=address)
        for arg in args:
            builder.add_arg(arg)
        try:
            self.sock.sendto(builder.build().dgram, to)
        except OSError as exc:  # nobody listening, network down: feedback is best effort
            log.debug("OSC: cannot send %s to %s: %s", address, to, exc)
