"""Frame outputs: the stage picture sent elsewhere (NDI today), never in the way of the display.

An output has a name, a size and a choice of picture (`clean`: without the overlay). Each refresh
the show calls `Outputs.capture` on the render thread, after drawing:

- an output that wants exactly what the stage shows (same size, overlay included) reads the
  stage's framebuffer; any other one is drawn on its own offscreen canvas by the same draw call
  (same frame, cross-fade and output level, the show's fit, overlays or not), so the fader and
  blackout reach every output the way they reach the stage;
- the read is a request into a ring of GL pixel buffers (asynchronous: no stall); the copy asked
  for two refreshes earlier is finished by then and goes into a bounded queue, in host arrays
  that are reused (a fresh one per picture costs page faults). With software OpenGL (llvmpipe)
  a pixel buffer is a second CPU copy, not an asynchronous one: there the read goes straight
  into the host array;
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

from ..checks import MAX_OUTPUT_SIDE, OutputSpec, output_name_problem, output_size_problem
from ..display.headless import HeadlessSurface
from ..errors import StylevjError

log = logging.getLogger(__name__)

RING = 3  # pixel buffers per output: a copy is collected two refreshes after it was asked for
QUEUE_FRAMES = 2  # pictures waiting for the sender thread; more are dropped, never waited for
KEEPALIVE_S = 0.5  # with no new generator frame, still send this often (a paused show, a moving overlay)
MAX_SIDE = MAX_OUTPUT_SIDE  # the largest canvas side an output accepts (NDI and GL limits are near)

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
    spec: OutputSpec  # what was asked for (a preset saves it: size None follows the stage)

    def to_json(self) -> dict:
        return {"kind": self.kind, "name": self.name, "sent_as": self.sent_as, "size": list(self.size),
                "clean": self.clean, "fps": round(self.fps, 2), "receivers": self.receivers, "sent": self.sent,
                "dropped": self.dropped, "error": self.error}


def check_output_name(name: str) -> str:
    """`name` if it can name a network source (1..100 printable characters), else one line why not."""
    problem = output_name_problem(name)
    if problem:
        raise OutputError(f"output name {problem}")
    return name


def check_output_size(size: tuple[int, int]) -> tuple[int, int]:
    """`size` (width, height) if an output can have it: even sides (4:2:2 video) from 16 to MAX_SIDE."""
    problem = output_size_problem(size)
    if problem:
        raise OutputError(f"output size {problem}")
    return size


def parse_output_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080), checked; a clear one-line error otherwise."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise OutputError(f"output size {text!r} must be WIDTHxHEIGHT, e.g. 1920x1080")
    return check_output_size((int(parts[0]), int(parts[1])))


def software_gl(ctx: moderngl.Context) -> bool:
    """Whether `ctx` renders on the CPU (Mesa's llvmpipe, softpipe, SwiftShader): there a pixel
    buffer is no asynchronous copy, only a second one (measured: docs/performance.md)."""
    renderer = str(ctx.info.get("GL_RENDERER", "")).lower()
    return any(name in renderer for name in ("llvmpipe", "softpipe", "swiftshader", "software"))


class FrameOutput:
    """One output: its canvas and pixel buffers (render thread) and its sender thread."""

    def __init__(self, spec: OutputSpec, transport: Transport, queue_frames: int = QUEUE_FRAMES,
                 readback: str = "auto") -> None:
        """`readback`: "pixel buffers" (asynchronous, for a GPU), "direct" (one CPU copy, for
        software OpenGL) or "auto" (direct where the renderer is software: `software_gl`)."""
        if readback not in ("auto", "pixel buffers", "direct"):
            raise ValueError(f"readback must be auto, pixel buffers or direct, got {readback!r}")
        self.spec = spec
        self.transport = transport
        self.dropped = 0
        self.sent = 0
        self.receivers = 0
        self.sent_as = ""
        self.error = ""
        self.size = spec.size or (0, 0)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_frames)
        # host copies, reused: a fresh multi-megabyte array per picture costs the render thread its
        # page faults (about half the copy at 720p). At most the queue, the one being sent and one more.
        self._free: queue.SimpleQueue[np.ndarray] = queue.SimpleQueue()
        self._pool = queue_frames + 2
        self._made = 0
        self.send_cpu_s = 0.0
        self._direct: bool | None = None if readback == "auto" else readback == "direct"  # auto: at the first capture  # CPU time the sender thread spent (flip and send), for `stylevj bench`
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
                            self.receivers, self.sent, self.dropped, self.error, self.spec)

    @property
    def closing(self) -> bool:
        """Its sender thread still runs (a removed output closing its transport)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def live(self) -> bool:
        """Sending (or about to): started, and neither failed nor closed."""
        return self._thread is not None and not self.error

    def open(self) -> None:
        """Open the transport now (blocking: the loader's thread, or the sender thread at start);
        `OutputError` in one line when it cannot (also kept in `error`, and logged)."""
        try:
            self.sent_as = self.transport.open(self.spec.name)
        except Exception as exc:  # a runtime that fails to load, a refused name: the show runs without it
            self.error = str(exc) if isinstance(exc, StylevjError) else f"{type(exc).__name__}: {exc}"
            log.error("%s output %s not started: %s", self.spec.kind, self.spec.name, self.error)
            raise OutputError(f"{self.spec.kind} output {self.spec.name!r} not started: {self.error}") from None
        finally:
            self._opened.set()
        if self.sent_as != self.spec.name:
            log.info("%s output %r goes out as %r", self.spec.kind, self.spec.name, self.sent_as)

    def discard(self) -> None:
        """Any thread: close the transport of an output that was opened but never added to a show
        (its loader job was abandoned, or the show stopped before it arrived)."""
        if self._thread is None and self._opened.is_set():
            self.transport.close()

    def start(self) -> None:
        """Start the sender thread (it opens the transport unless `open` did); a transport that
        fails to open is one log line and this output stays off (`error`), the show goes on."""
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
        if self._direct is None:
            self._direct = software_gl(stage.ctx)
        if self._direct:
            self._capture_direct(stage, size, draw, fps)
            return
        source = self._source(stage, size, draw)
        if size != self.size or not self._buffers:
            self._resize(stage.ctx, size)
        index = self._next % RING
        self._next += 1
        source.read_into(self._buffers[index], viewport=(0, 0, *size), components=4, alignment=1)
        self._pending.append((index, size, fps))
        while len(self._pending) >= RING:  # asked for two refreshes ago: finished
            self._collect()

    def _capture_direct(self, stage: moderngl.Framebuffer, size: tuple[int, int], draw: Draw, fps: float) -> None:
        """Software OpenGL: read straight into a host array (one CPU copy where a pixel buffer
        costs two); a sender that is behind costs no draw and no read."""
        host = None if self._queue.full() else self._host_array(size[0] * size[1] * 4)
        if host is None:
            self._drop()
            return
        self._source(stage, size, draw).read_into(host, viewport=(0, 0, *size), components=4, alignment=1)
        self.size = size
        self._queue.put_nowait((host, size, fps))

    def _source(self, stage: moderngl.Framebuffer, size: tuple[int, int], draw: Draw) -> moderngl.Framebuffer:
        """What this output reads: the stage itself, or its own canvas drawn now."""
        if self.spec.size is None and not self.spec.clean:
            return stage
        canvas = self._canvas_for(stage.ctx, size)
        draw(canvas, self.spec.clean)
        return canvas.framebuffer

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
        host = None if self._queue.full() else self._host_array(size[0] * size[1] * 4)
        if host is None:  # the sender is behind: this picture is dropped before it is copied
            self._drop()
            return
        self._buffers[index].read_into(host)
        self._queue.put_nowait((host, size, fps))

    def _drop(self) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 100 == 0:
            log.warning("%s %s: sender behind, %d frames dropped so far", self.spec.kind, self.sent_as or self.spec.name,
                        self.dropped)

    def _host_array(self, nbytes: int) -> np.ndarray | None:
        """A free host array of `nbytes` (one the sender gave back, or a new one while the pool
        has room); None when all are in use. Arrays of an older size are let go."""
        while True:
            try:
                host = self._free.get_nowait()
            except queue.Empty:
                break
            if host.nbytes == nbytes:
                return host
            self._made -= 1
        if self._made >= self._pool:
            return None
        self._made += 1
        return np.empty(nbytes, dtype=np.uint8)

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
        if not self._opened.is_set():
            try:
                self.open()
            except OutputError:
                return
        try:
            upright = np.empty(0, dtype=np.uint8)
            while (item := self._queue.get()) is not None:
                host, (width, height), fps = item
                started = time.thread_time()
                if upright.shape != (height, width, 4):
                    upright = np.empty((height, width, 4), dtype=np.uint8)
                np.copyto(upright, host.reshape(height, width, 4)[::-1])  # GL rows start at the bottom
                self._free.put(host)
                self.transport.send(upright, fps)  # NDI's synchronous send is done with the pixels on return
                self.send_cpu_s += time.thread_time() - started
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

    def retire(self) -> None:
        """Render thread, never waiting: free the GL objects, drop what is queued and let the
        sender thread close the transport on its own (`stop` waits for it, at the session's end)."""
        self.release()
        if self._thread is None:
            if not self._opened.is_set():
                return
            self.start()  # opened by the loader, never started: its thread closes the transport
        while True:  # this thread is the only producer: once emptied, the end marker fits
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        self._queue.put_nowait(None)

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
        self._retired: list[FrameOutput] = []  # removed live: their sender threads are closing
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

    def find(self, name: str) -> FrameOutput | None:
        """The output asked for under `name`, or None."""
        return next((output for output in self.outputs if output.spec.name == name), None)

    def add(self, output: FrameOutput) -> None:
        """Render thread: send from the next refresh on (an output opened by the loader, or not
        yet opened: its sender thread opens it). Names are unique: the caller checks with `find`."""
        if self.find(output.spec.name) is not None:
            raise OutputError(f"an output named {output.spec.name!r} is already running")
        self.outputs.append(output)
        output.start()

    def remove(self, name: str) -> FrameOutput:
        """Render thread, never waiting: stop sending to `name` (its transport closes on its own
        thread); an `OutputError` naming the outputs there are when there is none of that name."""
        output = self.find(name)
        if output is None:
            names = ", ".join(repr(o.spec.name) for o in self.outputs) or "none"
            raise OutputError(f"no output named {name!r} (running: {names})")
        self.outputs.remove(output)
        output.retire()
        self._retired = [o for o in self._retired if o.closing] + [output]
        return output

    def reports(self) -> tuple[OutputReport, ...]:
        return tuple(output.report() for output in self.outputs)

    def stop(self) -> None:
        """Stop every sender and free the GL objects (render thread, before the surface closes)."""
        for output in self.outputs + self._retired:
            output.stop()
            output.release()
        self._retired = []
