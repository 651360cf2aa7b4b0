"""The generator worker: renders the newest requested W+ on its own thread, never blocking display.

The display posts a request (W+ and the path time it belongs to) every refresh; only the newest
request is kept. The worker copies that W+ into a buffer it owns (on its own lane: a CUDA stream,
or the CPU thread), renders it into a small ring of RGBA8 frames and waits for that frame's
event before publishing it: a published frame exists, the worker never queues frame N+1 before
frame N is done, and `last_generate_ms` is generation, not queueing. The display takes the
newest finished frame when it likes and never waits for the generator.

On CUDA, synthesis plus the RGBA8 conversion is captured once as a CUDA graph (graphs.py) and
replayed per unbent frame; a capture that fails is one log line and eager synthesis from then on.
fp16 output that is not finite switches the generator to fp32 (one log line) and the frame is
rendered again.

A StyleGAN3 network's input transform (translate x, y and rotate) travels with each request too:
the worker copies it into `G.synthesis.input.transform` on its own lane just before the frame,
in place, so a captured graph or compiled synthesis replays with the new values (as NVIDIA's
visualizer sets the buffer before each frame).

A generator error (CUDA out of memory, a bad value) is logged once per distinct message and
counted; the frame is skipped, the last good frame stays on screen, and the next request is
tried after a short pause.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Callable

import torch

from ..images import to_pixels
from ..models.bending import Bend
from ..models.input_transform import has_input_transform, set_input_transform
from .graphs import CapturedFrame, capture_frame, sanity

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 0.25


@dataclass(frozen=True)
class Frame:
    """A finished frame: RGBA8 pixels [H, W, 4] on the generator's device, top row first."""

    pixels: torch.Tensor
    event: torch.cuda.Event | None  # recorded when the pixels were complete (CUDA only); already completed
    path_time: float
    w: torch.Tensor  # the W+ it shows
    number: int
    slot: int


class GeneratorFault(RuntimeError):
    """A frame that must not be shown: NaN, infinite or flat output (what an overflow leaves)."""


class Lane:
    """Where the worker's device work runs and how it learns that the work is done: the CPU lane.

    CPU work is done when the call returns, so this lane has no events. `CudaLane` is the CUDA
    one; an event only needs `query()` and `synchronize()`, so a test can give a lane whose
    events complete late and show the frame contract without a GPU.
    """

    def scope(self) -> AbstractContextManager:
        """Work queued inside runs on this lane."""
        return nullcontext()

    def caller_mark(self) -> torch.cuda.Event | None:
        """An event after the work the *calling* thread queued so far (None: nothing is queued)."""
        return None

    def wait(self, event: torch.cuda.Event) -> None:
        """Later work on this lane waits for `event`, without blocking the host."""

    def mark(self) -> torch.cuda.Event | None:
        """An event that completes when this lane's work queued so far is done."""
        return None

    def keep(self, tensor: torch.Tensor) -> None:
        """`tensor`, made on another lane, is read on this one: its memory must outlive the read."""


class CudaLane(Lane):
    """The worker's own CUDA stream on `device`."""

    def __init__(self, device: torch.device) -> None:
        self.stream = torch.cuda.Stream(device)

    def scope(self) -> AbstractContextManager:
        return torch.cuda.stream(self.stream)

    def caller_mark(self) -> torch.cuda.Event:
        event = torch.cuda.Event()
        event.record()  # on the calling thread's current stream
        return event

    def wait(self, event: torch.cuda.Event) -> None:
        self.stream.wait_event(event)

    def mark(self) -> torch.cuda.Event:
        event = torch.cuda.Event()
        event.record(self.stream)
        return event

    def keep(self, tensor: torch.Tensor) -> None:
        if tensor.is_cuda:  # the allocator will not reuse its memory before this stream's work so far ran
            tensor.record_stream(self.stream)


Capture = Callable[..., CapturedFrame]  # capture_frame's signature: (G, noise_mode, w_in) on the current lane
Transform = tuple[float, float, float]  # StyleGAN3's input: translate_x, translate_y (picture widths), rotate (degrees)


class GeneratorWorker:
    """Owns the generator's thread (and lane); `request()` in, `latest()` out.

    `graphs`: on CUDA, replay a captured CUDA graph for unbent frames (False: always eager).
    `compiled`: unbent synthesis from `models.compile_synthesis` for the starting noise mode (W+ in,
    image out), used instead of `G.synthesis` and inside the graph while that noise mode holds;
    if it ever raises, one log line and `G.synthesis` from then on.
    `lane` and `capture` are for tests: where the work runs, and how a frame is captured.
    """

    def __init__(self, G, noise_mode: str = "const", ring: int = 3, graphs: bool = True,
                 lane: Lane | None = None, capture: Capture | None = None,
                 compiled: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.G = G
        self.noise_mode = noise_mode  # the start value; each request carries its own (see `request`)
        self._noise = noise_mode  # the noise of the frame being made: written and read by the worker thread only
        self.compiled = compiled
        self._compiled_noise = noise_mode
        self.lane = lane if lane is not None else CudaLane(G.device) if G.device.type == "cuda" else Lane()
        self._w_in = torch.zeros(1, G.num_ws, G.w_dim, device=G.device)  # the worker's own W+ (static for graphs)
        self._capture = capture if capture is not None else capture_frame if graphs and isinstance(self.lane, CudaLane) else None
        self._graph: CapturedFrame | None = None
        self._graph_key: tuple = ()
        self.graph_replays = 0
        self._ring = [self._blank() for _ in range(max(ring, 3))]
        self._consumed: list[torch.cuda.Event | None] = [None] * len(self._ring)
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._request: tuple[torch.Tensor, float, torch.cuda.Event | None, tuple[Bend, ...] | None, str,
                             Transform | None] | None = None
        self._transform: Transform | None = None  # the input transform in G's buffer now (worker thread only)
        self._latest: Frame | None = None
        self._stop = False
        self._thread: threading.Thread | None = None
        self.frames_done = 0
        self.errors = 0
        self.last_error = ""
        self.last_generate_ms = 0.0

    def _blank(self) -> torch.Tensor:
        res = self.G.resolution
        frame = torch.zeros(res, res, 4, dtype=torch.uint8, device=self.G.device)
        frame[..., 3] = 255
        return frame

    # ---- display side ----------------------------------------------------------------------

    def start(self) -> "GeneratorWorker":
        self._thread = threading.Thread(target=self._run, name="stylevj-generator", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            self._stop = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def request(self, w: torch.Tensor, path_time: float, bend: tuple[Bend, ...] | None = None,
                noise: str | None = None, transform: Transform | None = None) -> None:
        """Ask for W+ [num_ws, w_dim] (at this path time), bent by `bend` (frozen values, None: no
        bending), with the noise mode `noise` (the show's `params.noise`; None: the start value)
        and, on a StyleGAN3 network, the input `transform` (None: leave the buffer as it is);
        replaces any request not yet started. Everything the frame needs travels with the request,
        so no field is written by one thread while the other reads it."""
        ready = self.lane.caller_mark()  # w was computed on the display's stream: the worker waits for it
        with self._lock:
            self._request = (w.detach(), path_time, ready, bend, noise or self.noise_mode, transform)
            self._wake.notify()

    def latest(self) -> Frame | None:
        """The newest finished frame, or None before the first."""
        with self._lock:
            return self._latest

    def acquire(self, frame: Frame) -> None:
        """The display is reading this frame: the worker will not overwrite its slot."""
        with self._lock:
            self._busy.add(frame.slot)

    def release(self, frame: Frame, consumed: torch.cuda.Event | None = None) -> None:
        """Done reading (its copies recorded `consumed` where they run asynchronously)."""
        with self._lock:
            self._busy.discard(frame.slot)
            self._consumed[frame.slot] = consumed

    # ---- worker thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._request is None and not self._stop:
                    self._wake.wait()
                if self._stop:
                    return
                w, path_time, ready, bend, self._noise, transform = self._request
                self._request = None
                slot = self._free_slot()
            try:
                frame = self._render(w, path_time, ready, slot, bend, transform)
            except Exception as exc:  # the show must go on: any generator failure keeps the last frame
                self._failed(exc)
                continue
            with self._lock:
                self._latest = frame
            self.frames_done += 1

    def _free_slot(self) -> int:
        newest = self._latest.slot if self._latest is not None else -1
        for offset in range(1, len(self._ring) + 1):
            slot = (newest + offset) % len(self._ring)
            if slot not in self._busy and slot != newest:
                return slot
        raise RuntimeError("no free frame slot")  # unreachable with 3 slots and one reader

    @torch.inference_mode()
    def _render(self, w: torch.Tensor, path_time: float, ready: torch.cuda.Event | None, slot: int,
                bend: tuple[Bend, ...] | None = None, transform: Transform | None = None) -> Frame:
        started = time.perf_counter()
        lane = self.lane
        with lane.scope():
            if ready is not None:
                lane.wait(ready)
            self._w_in[0].copy_(w)
            lane.keep(w)  # the display may drop w at once: its memory outlives this copy
            consumed = self._consumed[slot]
            if consumed is not None:
                lane.wait(consumed)  # the display's last copy out of this slot
            self._set_transform(transform)
            event, finite, varied = self._generate(slot, bend)
            if not finite and self._fp32_instead():
                event, finite, varied = self._generate(slot, bend)
        if not (finite and varied):
            raise GeneratorFault("the generator's output is not finite or is flat (an extreme W+?); last good frame kept")
        self.last_generate_ms = (time.perf_counter() - started) * 1000
        return Frame(self._ring[slot], event, path_time, w, self.frames_done + 1, slot)

    def _generate(self, slot: int, bend: tuple[Bend, ...] | None) -> tuple[torch.cuda.Event | None, bool, bool]:
        """Render `_w_in` into ring `slot` on the lane and wait until it is done: (event, finite, varied)."""
        out = self._ring[slot]
        graph = self._graphed() if bend is None else None
        if graph is not None:
            graph.replay()
            out.copy_(graph.pixels)
            sane = graph.sane
            self.graph_replays += 1
        else:
            img = self._synthesize(bend)
            to_pixels(img, out)
            sane = sanity(img)
        event = self.lane.mark()
        if event is not None:
            event.synchronize()  # a frame is published only once it exists; the worker never runs ahead
        finite, varied = (bool(v) for v in sane.tolist())
        return event, finite, varied

    def _synthesize(self, bend: tuple[Bend, ...] | None) -> torch.Tensor:
        if bend is None and self._compiled_now() is not None:
            try:
                return self.compiled(self._w_in)  # type: ignore[misc]
            except Exception as exc:  # compiled code is an optimisation: eager draws the same frame
                log.warning("compiled synthesis failed (%s): eager synthesis from now on", _describe(exc))
                self.compiled, self._graph = None, None
        bending = {} if bend is None else {"bend": bend}  # unbent: the synthesis call as it always was
        return self.G.synthesis(self._w_in, noise_mode=self._noise, **bending)

    def _set_transform(self, transform: Transform | None) -> None:
        """Copy the input transform into G's buffer (on this lane, before the frame) when it changed."""
        if transform is None or transform == self._transform or not has_input_transform(self.G):
            return
        set_input_transform(self.G, *transform)
        self._transform = transform

    def _compiled_now(self) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The compiled synthesis if it draws the current noise mode (it was compiled for one)."""
        return self.compiled if self._noise == self._compiled_noise else None

    def _graphed(self) -> CapturedFrame | None:
        """The captured frame for this generator and noise mode (captured on first use), or None: eager."""
        if self._capture is None:
            return None
        compiled = self._compiled_now()
        key = (id(self.G), self._noise, getattr(self.G, "uses_fp16", False), compiled)
        if self._graph is None or self._graph_key != key:
            self._graph = None
            try:
                extra = {} if compiled is None else {"synthesis": compiled}
                self._graph = self._capture(self.G, self._noise, self._w_in, **extra)
            except Exception as exc:  # a graph is an optimisation: eager synthesis draws the same frame
                log.warning("CUDA graph capture failed (%s): eager synthesis from now on", _describe(exc))
                self._capture = None
                return None
            self._graph_key = key
            log.info("CUDA graph captured: synthesis + RGBA8 replayed per frame")
        return self._graph

    def _fp32_instead(self) -> bool:
        """fp16 overflowed (not finite): switch the generator to fp32, once, and say so. False if it was fp32."""
        if not getattr(self.G, "uses_fp16", False):
            return False
        log.warning("fp16 synthesis gave a non-finite frame: fp32 from now on (slower, same picture)")
        self.G.set_precision(fp16=False, channels_last=self.G.synthesis.channels_last)
        self._graph = None
        self.compiled = None  # compiled for fp16; recompiling would stall the show for seconds
        return True

    def _failed(self, exc: Exception) -> None:
        message = _describe(exc)
        self.errors += 1
        if message != self.last_error:
            log.error("generator error (last good frame stays on screen): %s", message)
        self.last_error = message
        time.sleep(RETRY_PAUSE_S)


def _describe(exc: BaseException) -> str:
    """`Type: first line of the message`, at most 200 characters: one log line."""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
