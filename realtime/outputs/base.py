"""Frame outputs: the stage picture sent elsewhere (NDI today), never in the way of the display.

An output has a name, a size and a choice of picture (`clean`: without the overlay). Each refresh
the show calls `Outputs.capture` on the render thread, after drawing:

- an output that wants exactly what the stage shows (same size, overlay included) reads the
  stage's framebuffer; any other one is drawn on its own offscreen canvas by the same draw call
  (same frame, cross-fade and output level, the show's fit, overlays or not), so the fader and
  blackout reach every output the way they reach the stage;
- the read is a request into a ring of GL pixel buffers (asynchronous: no stall); the copy asked
  for two refreshes earlier is finished by then and goes into a bounded queue;
- a sender thread per output flips the rows and hands the picture to its `Transport`. When the
  transport is slower than the show (a stalled receiver, a dead network) the queue is full,
  frames are dropped and counted, and the render thread never waits.

A transport (`ndi.py`) is one small module: open under a name, send an RGBA picture, count
receivers, close. Spout or Syphon would be another one.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import moderngl
import numpy as np

from ..display.headless import HeadlessSurface
from ..errors import StylevjError

log = logging.getLogger(__name__)

RING = 3  # pixel buffers per output: a copy is collected two refreshes after it was asked for
QUEUE_FRAMES = 2  # pictures waiting for the sender thread; more are dropped, never waited for
KEEPALIVE_S = 0.5  # with no new generator frame, still send this often (a paused show, a moving overlay)
MAX_SIDE = 8192  # the largest canvas side an output accepts (NDI and GL limits are near)

Draw = Callable[[object, bool], None]  # draw(surface, clean): the compositor's draw with this refresh's inputs


class OutputError(StylevjError):
    """An output that cannot start (its runtime is missing, a name refused): one line."""


class Transport(Protocol):
    """Where an output's pictures go. Every method runs on the output's sender thread."""

    def open(self, name: str) -> str:
        """Start publishing as `name`; return the name as it went out (a network may rename it)."""
        ...

    def send(self, rgba: np.ndarray, fps: float) -> None:
        """Send one picture, uint8 [H, W, 4] RGBA top row first; `fps` is the frame rate to announce."""
        ...

    def receivers(self) -> int:
        """How many receivers are connected now."""
        ...

    def close(self) -> None:
        """Stop publishing; safe to call twice."""
        ...


@dataclass(frozen=True)
class OutputSpec:
    """What one output was asked for: `stylevj run --ndi NAME [--ndi-size WxH] [--ndi-clean]`."""

    kind: str  # "ndi"
    name: str
    size: tuple[int, int] | None = None  # None: the stage's size
    clean: bool = False  # without the overlay

    def __post_init__(self) -> None:
        check_output_name(self.name)
        if self.size is not None:
            check_output_size(self.size)


@dataclass(frozen=True)
class OutputReport:
    """One output in the show's state (`outputs` in `/stylevj/state`, the page)."""

    kind: str
    name: str  # as asked for
    sent_as: str  # as it went out ("HOST (NAME)" for NDI), "" until it is open
    size: tuple[int, int]
    clean: bool
    fps: float  # pictures sent per second, over the last second
    receivers: int
    sent: int
    dropped: int  # pictures the sender was too slow for (queue full)
    error: str  # why it is not sending, or ""

    def to_json(self) -> dict:
        return {"kind": self.kind, "name": self.name, "sent_as": self.sent_as, "size": list(self.size),
                "clean": self.clean, "fps": round(self.fps, 2), "receivers": self.receivers, "sent": self.sent,
                "dropped": self.dropped, "error": self.error}


def check_output_name(name: str) -> str:
    """`name` if it can name a network source (1..100 printable characters), else one line why not."""
    if not name or len(name) > 100 or not name.isprintable() or name != name.strip():
        raise OutputError(f"output name {name!r} must be 1 to 100 printable characters, without leading or trailing spaces")
    return name


def check_output_size(size: tuple[int, int]) -> tuple[int, int]:
    """`size` (width, height) if an output can have it: even sides (4:2:2 video) from 16 to MAX_SIDE."""
    width, height = size
    if not (16 <= width <= MAX_SIDE and 16 <= height <= MAX_SIDE) or width % 2 or height % 2:
        raise OutputError(f"output size {width}x{height} must have even sides from 16 to {MAX_SIDE}")
    return size


def parse_output_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080), checked; a clear one-line error otherwise."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise OutputError(f"output size {text!r} must be WIDTHxHEIGHT, e.g. 1920x1080")
    return check_output_size((int(parts[0]), int(parts[1])))


class FrameOutput:
    """One output: its canvas and pixel buffers (render thread) and its sender thread."""

    def __init__(self, spec: OutputSpec, transport: Transport, queue_frames: int = QUEUE_FRAMES) -> None:
        self.spec = spec
        self.transport = transport
        self.dropped = 0
        self.sent = 0
        self.receivers = 0
        self.sent_as = ""
        self.error = ""
        self.size = spec.size or (0, 0)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_frames)
        self._thread: threading.Thread | None = None
        self._opened = threading.Event()
        self._canvas: HeadlessSurface | None = None
        self._buffers: list[moderngl.Buffer] = []
        self._pending: deque[tuple[int, tuple[int, int], float]] = deque()  # (buffer, size, fps) oldest first
        self._next = 0
        self._times: deque[float] = deque(maxlen=240)  # when pictures went out (sender thread)

    # ---- any thread ------------------------------------------------------------------------

    def report(self) -> OutputReport:
        now = time.perf_counter()
        fps = float(sum(1 for t in list(self._times) if now - t <= 1.0))
        return OutputReport(self.spec.kind, self.spec.name, self.sent_as, self.size, self.spec.clean, fps,
                            self.receivers, self.sent, self.dropped, self.error)

    @property
    def live(self) -> bool:
        """Sending (or about to): started, and neither failed nor closed."""
        return self._thread is not None and not self.error

    def start(self) -> None:
        """Start the sender thread (it opens the transport); a transport that fails to open is one
        log line and this output stays off (`error`), the show goes on."""
        self._thread = threading.Thread(target=self._run, name=f"stylevj-{self.spec.kind}-{self.spec.name}", daemon=True)
        self._thread.start()

    # ---- render thread ---------------------------------------------------------------------

    def capture(self, stage: moderngl.Framebuffer, stage_size: tuple[int, int], draw: Draw, fps: float) -> None:
        """Queue this refresh's picture: read the stage, or draw and read this output's canvas."""
        if not self.live:
            return
        size = self.spec.size or stage_size
        if size[0] <= 0 or size[1] <= 0:  # a minimised window
            return
        if self.spec.size is None and not self.spec.clean:
            source = stage
        else:
            source = self._canvas_for(stage.ctx, size).framebuffer
            draw(self._canvas, self.spec.clean)
        if size != self.size or not self._buffers:
            self._resize(stage.ctx, size)
        index = self._next % RING
        self._next += 1
        source.read_into(self._buffers[index], viewport=(0, 0, *size), components=4, alignment=1)
        self._pending.append((index, size, fps))
        while len(self._pending) >= RING:  # asked for two refreshes ago: finished
            self._collect()

    def _canvas_for(self, ctx: moderngl.Context, size: tuple[int, int]) -> HeadlessSurface:
        if self._canvas is None or self._canvas.size != size:
            if self._canvas is not None:
                self._canvas.close()
            self._canvas = HeadlessSurface(size, ctx=ctx)
        return self._canvas

    def _resize(self, ctx: moderngl.Context, size: tuple[int, int]) -> None:
        while self._pending:  # pictures of the old size still go out
            self._collect()
        for buffer in self._buffers:
            buffer.release()
        self._buffers = [ctx.buffer(reserve=size[0] * size[1] * 4) for _ in range(RING)]
        self.size = size

    def _collect(self) -> None:
        index, size, fps = self._pending.popleft()
        if self._queue.full():  # the sender is behind: this picture is dropped before it is copied
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("%s %s: sender behind, %d frames dropped so far", self.spec.kind, self.sent_as or self.spec.name,
                            self.dropped)
            return
        self._queue.put_nowait((self._buffers[index].read(), size, fps))

    def release(self) -> None:
        """Free the GL objects (render thread, while the context exists)."""
        self._pending.clear()
        for buffer in self._buffers:
            buffer.release()
        self._buffers = []
        if self._canvas is not None:
            self._canvas.close()
            self._canvas = None

    # ---- sender thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.sent_as = self.transport.open(self.spec.name)
        except Exception as exc:  # a runtime that fails to load, a refused name: the show runs without it
            self.error = str(exc) if isinstance(exc, StylevjError) else f"{type(exc).__name__}: {exc}"
            log.error("%s output %s not started: %s", self.spec.kind, self.spec.name, self.error)
            self._opened.set()
            return
        if self.sent_as != self.spec.name:
            log.info("%s output %r goes out as %r", self.spec.kind, self.spec.name, self.sent_as)
        self._opened.set()
        try:
            while (item := self._queue.get()) is not None:
                data, (width, height), fps = item
                rgba = np.frombuffer(data, dtype=np.uint8).reshape(height, width, 4)[::-1]  # GL rows start at the bottom
                self.transport.send(np.ascontiguousarray(rgba), fps)
                self.sent += 1
                self._times.append(time.perf_counter())
                self.receivers = self.transport.receivers()
        except Exception as exc:  # the transport broke: say it once, stop this output, keep the show
            self.error = f"sending failed ({type(exc).__name__}: {exc})"
            log.error("%s output %s: %s", self.spec.kind, self.sent_as or self.spec.name, self.error)
        finally:
            self.transport.close()

    def wait_open(self, timeout: float = 10.0) -> bool:
        """Wait until the transport is open (or failed); True when it is sending."""
        return self._opened.wait(timeout) and not self.error

    def stop(self) -> None:
        """Let the sender finish what is queued, then close the transport."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=5.0)
        except queue.Full:
            log.warning("%s output %s: sender stuck, closing without the last frames", self.spec.kind, self.spec.name)
        self._thread.join(timeout=5.0)
        self._thread = None


class Outputs:
    """The show's outputs: started and stopped by the session, fed by the show's render thread.

    Which refreshes go out: every one that shows a new generator frame, one whose output level
    changed (the fader, blackout), and at least one every `KEEPALIVE_S`; the frame rate announced
    is the generator's measured new-frame rate.
    """

    def __init__(self, outputs: Sequence[FrameOutput] = ()) -> None:
        self.outputs: list[FrameOutput] = list(outputs)
        self._last_sent = -1e9
        self._last_level = -1.0
        self._last_fresh: float | None = None
        self._fps = 30.0

    def __bool__(self) -> bool:
        return bool(self.outputs)

    def start(self) -> None:
        for output in self.outputs:
            output.start()

    def capture(self, stage: moderngl.Framebuffer, stage_size: tuple[int, int], draw: Draw, now: float, fresh: bool,
                level: float) -> None:
        """Render thread, after the stage is drawn: queue this refresh for every live output (see class doc)."""
        if fresh:
            if self._last_fresh is not None and now > self._last_fresh:
                self._fps = 0.9 * self._fps + 0.1 * min(1.0 / (now - self._last_fresh), 240.0)
            self._last_fresh = now
        if not (fresh or level != self._last_level or now - self._last_sent >= KEEPALIVE_S):
            return
        self._last_sent, self._last_level = now, level
        for output in self.outputs:
            output.capture(stage, stage_size, draw, self._fps)

    def reports(self) -> tuple[OutputReport, ...]:
        return tuple(output.report() for output in self.outputs)

    def stop(self) -> None:
        """Stop every sender and free the GL objects (render thread, before the surface closes)."""
        for output in self.outputs:
            output.stop()
            output.release()
