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
import threading
import time
from dataclasses import dataclass
from typing import Callable, Hashable

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from ..errors import StylevjError
from ..presets import OscMapping, check_mappings
from ..show import Command, ShowState, StateBoard
from ..show.state import StateFollower
from .addresses import PREFIX, OscError, lookup, mappable, to_command

log = logging.getLogger(__name__)

MAX_PACKET = 8192  # bytes: larger datagrams are refused unparsed
FEEDBACK_HZ = 30.0
STATE_PART = 8000  # bytes of state JSON per datagram: far below what any network path drops
LOOPBACK = ("127.0.0.1/32", "::1/128")


@dataclass
class Counters:
    received: int = 0
    rejected: int = 0  # refused here, or refused by the show when applied
    ignored: int = 0  # TouchDesigner metadata (/_samplerate ...)
    blocked_senders: int = 0
    overflow: int = 0  # the show's queue was full


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
        self._log_limit, self._reply_limit = RateLimit(5), RateLimit(20)
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
                data, sender = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                continue
            try:
                self.handle_datagram(data, sender[:2])
            except Exception as exc:  # the listener must outlive any packet; this is a bug if it happens
                log.exception("OSC: unexpected failure on a packet from %s: %s", sender[0], exc)

    def handle_datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        if not any(ipaddress.ip_address(sender[0]) in net for net in self.allow):
            self.counters.blocked_senders += 1
            if self._log_limit.allow():
                log.warning("OSC: dropped a packet from %s (not in the allow-list)", sender[0])
            return
        if len(data) > MAX_PACKET:
            self.reject(f"oversized packet ({len(data)} bytes > {MAX_PACKET})", sender)
            return
        if len(data) % 4:  # OSC packets are whole 32-bit words; python-osc reads short ones leniently
            self.reject(f"malformed packet (size {len(data)} is not a multiple of 4)", sender)
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
            if self._log_limit.allow():
                log.warning("OSC: the show's queue is full, message dropped (%d dropped so far)", self.counters.overflow)

    def _mapped(self, mapping: OscMapping, values: list) -> tuple[str, list]:
        if len(values) != 1 or isinstance(values[0], (bool, str)) or not isinstance(values[0], (int, float)):
            raise OscError(f"{mapping.address} (mapped to {mapping.param}) takes one number")
        value = mapping.convert(float(values[0]))
        if lookup(PREFIX + mapping.param)[0].args[0].check.kind == "flag":
            value = int(value >= 0.5)
        return PREFIX + mapping.param, [value]

    def reject(self, reason: str, sender: tuple[str, int]) -> None:
        self.counters.rejected += 1
        if self._log_limit.allow():
            held = f" (+{self._log_limit.held} more not logged)" if self._log_limit.held else ""
            self._log_limit.held = 0
            log.warning("OSC from %s rejected: %s%s", sender[0], reason, held)
        if self._reply_limit.allow():
            self.send("/stylevj/error", reason, to=self.reply or sender)

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
                self.reject(f"{origin[2]}: {event.args[0]}", origin[1])
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
        """/stylevj/audio/level, onset, low, mid, high, bpm, beat_phase (floats) and beat (int)."""
        audio = state.audio
        for name in ("level", "onset", "low", "mid", "high", "bpm", "beat_phase"):
            self.send(f"{PREFIX}audio/{name}", float(getattr(audio, name)), to=to)
        self.send(f"{PREFIX}audio/beat", int(audio.beat), to=to)

    def state_json(self, state: ShowState) -> dict:
        """The show's state plus this adapter's counters (what `/stylevj/state` answers)."""
        return {**state.to_json(), "osc": dict(self.counters.__dict__)}

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
