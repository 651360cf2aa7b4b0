"""The OSC surface: a UDP listener thread that parses and validates, a bounded queue, and the
render-thread side that applies messages at frame boundaries and sends feedback.

The OSC thread never touches show state: it turns each valid message into a queue entry. The
render loop calls `apply_pending(show)` once per frame (parameters to one address coalesce,
latest wins; commands all apply, in order) and `feedback(show, events)`. Bad input of any kind
is dropped with a reason (log line, `/stylevj/error` reply), counted, and never reaches state.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from ..errors import StylevjError
from .addresses import PREFIX, TABLE, Address, OscError, validate

if TYPE_CHECKING:  # pragma: no cover
    from ..show import Show

log = logging.getLogger(__name__)

MAX_PACKET = 8192  # bytes: larger datagrams are refused unparsed
FEEDBACK_HZ = 30.0
LOOPBACK = ("127.0.0.1/32", "::1/128")


@dataclass(frozen=True)
class Mapping:
    """A user address mapped onto a parameter address, e.g. /speed 0..1 -> speed 0..4."""

    address: str
    param: str
    input: tuple[float, float] = (0.0, 1.0)
    output: tuple[float, float] = (0.0, 1.0)

    def convert(self, value: float) -> float:
        lo, hi = self.input
        x = 0.0 if hi == lo else (value - lo) / (hi - lo)
        x = min(max(x, 0.0), 1.0)
        return self.output[0] + x * (self.output[1] - self.output[0])


@dataclass
class Pending:
    entry: Address
    args: tuple
    sender: tuple[str, int]


@dataclass
class Counters:
    received: int = 0
    applied: int = 0
    rejected: int = 0
    ignored: int = 0  # TouchDesigner metadata (/_samplerate ...)
    blocked_senders: int = 0
    overflow: int = 0


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


class Controller:
    """OSC in (own thread), commands applied on the render thread, feedback out."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 9000, allow: list[str] | None = None,
        reply: tuple[str, int] | None = None, presets_dir: Path = Path("."), keyframes_dir: Path | None = None,
        mappings: tuple[Mapping, ...] = (), queue_size: int = 1024,
    ) -> None:
        if not is_loopback(host) and not allow:
            raise StylevjError(f"--osc-host {host} opens OSC to the network: give --osc-allow CIDR,... (e.g. 192.168.1.0/24)")
        self.allow = parse_allow(list(allow) if allow else list(LOOPBACK))
        self.reply = reply
        self.presets_dir = presets_dir.resolve()
        self.keyframes_dir = (keyframes_dir or presets_dir / "keyframes").resolve()
        self.mappings = {m.address: m for m in mappings}
        self.counters = Counters()
        self._queue: queue.Queue[Pending] = queue.Queue(maxsize=queue_size)
        self._events: list[tuple[str, tuple]] = []
        self._log_limit, self._reply_limit = RateLimit(5), RateLimit(20)
        self._last_feedback = 0.0
        self._fps_mark = (time.monotonic(), 0)
        self._fps = 0.0
        self._stop = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise StylevjError(f"OSC: cannot listen on {host}:{port} ({exc.strerror})") from None
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()[:2]
        self._thread = threading.Thread(target=self._serve, name="stylevj-osc", daemon=True)

    def start(self) -> "Controller":
        self._thread.start()
        log.info("OSC listening on %s:%d (senders: %s)%s", *self.address, ", ".join(map(str, self.allow)),
                 f", feedback to {self.reply[0]}:{self.reply[1]}" if self.reply else "")
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self.sock.close()

    # ---- OSC thread: parse, validate, enqueue ----------------------------------------------

    def _serve(self) -> None:
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
        mapping = self.mappings.get(address)
        try:
            if mapping is not None:
                if len(values) != 1 or isinstance(values[0], (bool, str)) or not isinstance(values[0], (int, float)):
                    raise OscError(f"{address} (mapped to {mapping.param}) takes one number")
                entry = TABLE[PREFIX + mapping.param]
                args = entry.validate([mapping.convert(float(values[0]))])
            else:
                entry, args = validate(address, values)
        except OscError as exc:
            self.reject(str(exc), sender)
            return
        try:
            self._queue.put_nowait(Pending(entry, args, sender))
        except queue.Full:
            self.counters.overflow += 1
            if self._log_limit.allow():
                log.warning("OSC: queue full, message dropped (%d dropped so far)", self.counters.overflow)

    def reject(self, reason: str, sender: tuple[str, int]) -> None:
        self.counters.rejected += 1
        if self._log_limit.allow():
            held = f" (+{self._log_limit.held} more not logged)" if self._log_limit.held else ""
            self._log_limit.held = 0
            log.warning("OSC from %s rejected: %s%s", sender[0], reason, held)
        if self._reply_limit.allow():
            self.send("/stylevj/error", reason, to=self.reply or sender)

    # ---- render thread ---------------------------------------------------------------------

    def apply_pending(self, show: "Show") -> bool:
        """Apply what arrived since the last frame (parameters coalesce, commands never do);
        True when the show changed (the caller journals it)."""
        batch: list[Pending] = []
        while True:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not batch:
            return False
        last_of = {p.entry.path: i for i, p in enumerate(batch) if p.entry.param}
        edited = False
        for i, item in enumerate(batch):
            if item.entry.param and last_of[item.entry.path] != i:
                continue
            try:
                if item.entry.path == "state":
                    self.send("/stylevj/state", json.dumps(self.state(show)), to=item.sender)
                    continue
                item.entry.action(show, self, item.args)
                self.counters.applied += 1
                edited = True
            except (StylevjError, ValueError, IndexError, OSError) as exc:
                self.reject(f"{PREFIX}{item.entry.path}: {exc}", item.sender)
        return edited

    def event(self, name: str, *args: object) -> None:
        self._events.append((name, args))

    def feedback(self, show: "Show", events: list[str]) -> None:
        """Events now, and the show's vital signs at most FEEDBACK_HZ times a second."""
        for name in events:
            self.event(name)
        if self.reply is None:
            self._events.clear()
            return
        for name, args in self._events:
            self.send(f"/stylevj/{name}", *args, to=self.reply)
        self._events.clear()
        now = time.monotonic()
        if now - self._last_feedback < 1.0 / FEEDBACK_HZ:
            return
        self._last_feedback = now
        mark_time, mark_frames = self._fps_mark
        if now - mark_time >= 0.5:
            self._fps = (show.stats.frames_shown - mark_frames) / (now - mark_time)
            self._fps_mark = (now, show.stats.frames_shown)
        player = show.player
        self.send("/stylevj/position", float(player.position), to=self.reply)
        self.send("/stylevj/speed", float(player.speed), to=self.reply)
        self.send("/stylevj/keyframes", len(player.keyframes), to=self.reply)
        self.send("/stylevj/fps", round(self._fps, 2), to=self.reply)
        if show.recorder is not None and show.recorder.recording:
            self.send("/stylevj/record/dropped", show.recorder.dropped, to=self.reply)

    def state(self, show: "Show") -> dict:
        p = show.player
        return {
            "position": p.position, "speed": p.speed, "paused": p.paused, "truncation": p.truncation,
            "spline": p.settings.spline, "alpha": p.settings.alpha, "closed": p.settings.closed,
            "constant_speed": p.settings.constant_speed, "blend": p.settings.blend,
            "noise": show.worker.noise_mode,
            "mix": None if p.mix is None else [p.mix.keyframe, p.mix.first, p.mix.last],
            "keyframes": [{"name": k.name, "source": k.source} for k in p.keyframes],
            "overlay": show.overlay_state(),
            "recording": {"file": str(show.recorder.path) if show.recorder and show.recorder.recording else None,
                          "dropped": show.recorder.dropped if show.recorder else 0},
            "osc": {k: v for k, v in self.counters.__dict__.items()},
        }

    # ---- files named in messages -----------------------------------------------------------

    def confine(self, name: str, kind: str) -> Path:
        """A file named over OSC, inside the presets or keyframes folder, or an OscError."""
        root = self.presets_dir if kind == "presets" else self.keyframes_dir
        candidate = Path(name)
        if candidate.is_absolute() or ".." in candidate.parts or not name.strip():
            raise OscError(f"'{name}' must be a plain name inside the {kind} folder")
        path = (root / candidate).resolve()
        if not path.is_relative_to(root):
            raise OscError(f"'{name}' leaves the {kind} folder")
        return path

    def load_preset(self, show: "Show", name: str) -> None:
        from ..presets import load_keyframes, load_preset

        path = self.confine(name if name.endswith(".toml") else name + ".toml", "presets")
        preset = load_preset(path)
        G = show.worker.G
        keyframes = load_keyframes(preset, G)  # all or nothing: a bad file leaves the show as it was
        player = show.player
        player.clear()
        for kf in keyframes:
            player.add(kf)
        player.set_path_settings(preset.path)
        player.set_speed(preset.speed)
        player.set_truncation(preset.truncation)
        player.set_mix(preset.mix)
        show.worker.noise_mode = preset.noise
        log.info("OSC: loaded preset %s", path)

    def save_preset(self, show: "Show", name: str) -> None:
        from ..presets import capture, save_preset

        path = self.confine(name if name.endswith(".toml") else name + ".toml", "presets")
        path.parent.mkdir(parents=True, exist_ok=True)
        save_preset(capture(show.preset, show.player, path), path)
        log.info("OSC: saved preset %s", path)

    # ---- sending ---------------------------------------------------------------------------

    def send(self, address: str, *args: object, to: tuple[str, int]) -> None:
        builder = OscMessageBuilder(address=address)
        for arg in args:
            builder.add_arg(arg)
        try:
            self.sock.sendto(builder.build().dgram, to)
        except OSError as exc:  # nobody listening, network down: feedback is best effort
            log.debug("OSC: cannot send %s to %s: %s", address, to, exc)
