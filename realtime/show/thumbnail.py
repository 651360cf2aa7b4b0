"""A small copy of the frame on screen, for the operator page, taken without stalling the stage.

While `show.thumbnails` is on (the page sends `SetThumbnails` while someone watches), the show
hands each newly shown generator frame to a `ThumbnailTap` at most `THUMBNAIL_HZ` times a second.
On CUDA the tap strides and area-averages the RGBA8 frame down to `THUMBNAIL_SIZE` pixels a side
on the GPU and copies the result to pinned host memory, all queued behind the generator's "frame
finished" event: the stage never waits, and the copy is picked up on a later refresh, when its
own event says it is done. On the CPU it only takes every n-th pixel (a copy of under twice
the size a side); the page thread finishes the downscale. The
`Thumbnail` rides in the next `ShowState`; the page thread resizes and encodes it (JPEG).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

THUMBNAIL_HZ = 4.0
THUMBNAIL_SIZE = 192  # pixels on the long side, at most


@dataclass(frozen=True)
class Thumbnail:
    """RGB8 pixels [h, w, 3] (read-only; up to twice THUMBNAIL_SIZE a side: resize before showing),
    the generator frame number, and a serial (one more each)."""

    serial: int
    frame: int
    pixels: np.ndarray


def _step(pixels: torch.Tensor, size: int) -> int:
    return max(1, max(pixels.shape[:2]) // size)


def stride(pixels: torch.Tensor, size: int = THUMBNAIL_SIZE) -> torch.Tensor:
    """RGBA8 [H, W, 4] -> RGB8, every n-th pixel: at least `size` and under 2 * size a side (or the frame)."""
    step = _step(pixels, size)
    return pixels[::step, ::step, :3].contiguous()


def shrink(pixels: torch.Tensor, size: int = THUMBNAIL_SIZE) -> torch.Tensor:
    """RGBA8 [H, W, 4] -> RGB8 [h, w, 3] with max(h, w) <= size, on the same device (area average)."""
    rgb = stride(pixels, size).permute(2, 0, 1).unsqueeze(0).float()
    scale = min(1.0, size / max(rgb.shape[-2:]))
    out = (max(1, round(rgb.shape[-2] * scale)), max(1, round(rgb.shape[-1] * scale)))
    if out != tuple(rgb.shape[-2:]):
        rgb = F.interpolate(rgb, size=out, mode="area")
    return rgb.round_().clamp_(0, 255).to(torch.uint8)[0].permute(1, 2, 0).contiguous()


class ThumbnailTap:
    """Takes a thumbnail of a shown frame now and then (render thread only; see module doc)."""

    def __init__(self, hz: float = THUMBNAIL_HZ, size: int = THUMBNAIL_SIZE) -> None:
        self.period, self.size = 1.0 / hz, size
        self.taken = 0
        self.cost_ms = 0.0  # render-thread time spent in `take`, all told (`stylevj bench` reports it)
        self._last = -float("inf")
        self._pending: tuple[torch.Tensor | np.ndarray, torch.cuda.Event | None, int] | None = None

    def due(self, now: float) -> bool:
        return self._pending is None and now - self._last >= self.period

    def take(self, pixels: torch.Tensor, ready: torch.cuda.Event | None, number: int, now: float,
             consumed: torch.cuda.Event | None) -> torch.cuda.Event | None:
        """Queue the copy of `pixels` (complete once `ready` fires); returns the event after which
        the frame's slot may be overwritten (covers `consumed`, the display's own copy)."""
        started = time.perf_counter()
        self._last = now
        done = None
        if pixels.is_cuda:
            stream = torch.cuda.current_stream(pixels.device)
            if ready is not None:
                stream.wait_event(ready)
            small = shrink(pixels, self.size)
            host = torch.empty(small.shape, dtype=torch.uint8, pin_memory=True)
            host.copy_(small, non_blocking=True)
            if consumed is not None:
                stream.wait_event(consumed)
            done = torch.cuda.Event()
            done.record(stream)
        else:  # numpy's strided copy is several times faster than torch's on the CPU
            step = _step(pixels, self.size)
            host = np.ascontiguousarray(pixels.numpy()[::step, ::step, :3])
        self._pending = (host, done, number)
        self.cost_ms += (time.perf_counter() - started) * 1000
        return done if done is not None else consumed

    def ready(self) -> Thumbnail | None:
        """The thumbnail taken earlier, once its copy has finished (never waits); else None."""
        if self._pending is None:
            return None
        host, done, number = self._pending
        if done is not None and not done.query():
            return None
        self._pending = None
        self.taken += 1
        pixels = host.numpy().copy() if isinstance(host, torch.Tensor) else host
        pixels.flags.writeable = False
        return Thumbnail(self.taken, number, pixels)
