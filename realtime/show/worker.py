"""The generator worker: renders the newest requested W+ on its own thread, never blocking display.

The display posts a request (W+ and the path time it belongs to) every refresh; only the newest
request is kept. The worker renders it on its own CUDA stream (or a CPU thread) into a small
ring of RGBA8 frames, each with a ready event, and publishes the newest finished frame. The
display takes that frame when it likes: neither side ever waits for the other.

A generator error (CUDA out of memory, a bad value) is logged once per distinct message and
counted; the frame is skipped, the last good frame stays on screen, and the next request is
tried after a short pause.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import torch

from ..images import to_pixels
from ..models.bending import Bend

log = logging.getLogger(__name__)

RETRY_PAUSE_S = 0.25


@dataclass(frozen=True)
class Frame:
    """A finished frame: RGBA8 pixels [H, W, 4] on the generator's device, top row first."""

    pixels: torch.Tensor
    event: torch.cuda.Event | None  # recorded when the pixels are complete (CUDA only)
    path_time: float
    w: torch.Tensor  # the W+ it shows
    number: int
    slot: int


class GeneratorFault(RuntimeError):
    """A frame that must not be shown: NaN, infinite or flat output (what an overflow leaves)."""


def _sane(img: torch.Tensor) -> torch.Tensor:
    """On the image's device: True when every value is finite and the picture is not one flat value."""
    lo, hi = torch.aminmax(img.float())
    return torch.isfinite(lo) & torch.isfinite(hi) & (hi > lo)


class GeneratorWorker:
    """Owns the generator's thread (and stream); `request()` in, `latest()` out."""

    def __init__(self, G, noise_mode: str = "const", ring: int = 3) -> None:
        self.G = G
        self.noise_mode = noise_mode
        self._ring = [self._blank() for _ in range(max(ring, 3))]
        self._consumed: list[torch.cuda.Event | None] = [None] * len(self._ring)
        self._busy: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._request: tuple[torch.Tensor, float, torch.cuda.Event | None, tuple[Bend, ...] | None] | None = None
        self._latest: Frame | None = None
        self._stop = False
        self._thread: threading.Thread | None = None
        self._stream = torch.cuda.Stream(G.device) if G.device.type == "cuda" else None
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

    def request(self, w: torch.Tensor, path_time: float, bend: tuple[Bend, ...] | None = None) -> None:
        """Ask for W+ [num_ws, w_dim] (at this path time), bent by `bend` (frozen values, None: no
        bending); replaces any request not yet started."""
        ready = None
        if self._stream is not None:  # w was computed on the display's stream: the worker waits for it
            ready = torch.cuda.Event()
            ready.record()
        with self._lock:
            self._request = (w.detach(), path_time, ready, bend)
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
                w, path_time, ready, bend = self._request
                self._request = None
                slot = self._free_slot()
            try:
                frame = self._render(w, path_time, ready, slot, bend)
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
                bend: tuple[Bend, ...] | None = None) -> Frame:
        started = time.perf_counter()
        event = None
        bending = {} if bend is None else {"bend": bend}  # unbent: the synthesis call as it always was
        if self._stream is not None:
            with torch.cuda.stream(self._stream):
                if ready is not None:
                    self._stream.wait_event(ready)
                consumed = self._consumed[slot]
                if consumed is not None:
                    self._stream.wait_event(consumed)
                img = self.G.synthesis(w.unsqueeze(0).to(self.G.device), noise_mode=self.noise_mode, **bending)
                to_pixels(img, self._ring[slot])
                sane = _sane(img)
                event = torch.cuda.Event()
                event.record(self._stream)
        else:
            img = self.G.synthesis(w.unsqueeze(0), noise_mode=self.noise_mode, **bending)
            to_pixels(img, self._ring[slot])
            sane = _sane(img)
        if not bool(sane):  # waits for this frame's kernels: a frame is published only once it exists
            raise GeneratorFault("the generator's output is not finite or is flat (an extreme W+?); last good frame kept")
        self.last_generate_ms = (time.perf_counter() - started) * 1000
        return Frame(self._ring[slot], event, path_time, w, self.frames_done + 1, slot)

    def _failed(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
        self.errors += 1
        if message != self.last_error:
            log.error("generator error (last good frame stays on screen): %s", message)
        self.last_error = message
        time.sleep(RETRY_PAUSE_S)
