"""A small copy of the frame on screen, for the operator page, taken without stalling the stage.

While `show.thumbnails` is on (the page sends `SetThumbnails` while someone watches), the show
hands each newly shown generator frame to a `ThumbnailTap` at most `THUMBNAIL_HZ` times a second.
On CUDA the tap strides and area-averages the RGBA8 frame down to `THUMBNAIL_SIZE` pixels a side
on the GPU and copies the result to pinned host memory, all queued behind the generator's "frame
finished" event: the stage never waits, and the copy is picked up on a later refresh, when its
own event says it is done. On the CPU it only takes every n-th pixel (a copy of under twice
the size a side); the page thread finishes the downscale. The
`Thumbnail` rides in the next `ShowState`, scaled by the stage's output level (`shown`: a
blackout or a fade shows on the page as on the stage); the page thread resizes and encodes it
(JPEG).

Keyframe pictures (the page's strip): the page asks with `MakeKeyframePictures`; the show hands
each keyframe without a picture to its loader thread (`hold=False`: no command waits for it),
which renders its W+ alone (no bends, no controls) through `G.synthesis`, batch 1, and area-
averages it to `KEYFRAME_PICTURE_SIZE` (`render_keyframe`). `KeyframePictures` (render thread)
keeps one per keyframe W+ tensor, so each is made once (a rename or a move keeps it); the state
carries them beside the keyframes, and the page thread encodes each one once (JPEG).
"""

from __future__ import annotations

import contextlib
import time
import weakref
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

THUMBNAIL_HZ = 4.0
LEVEL_STEPS = 32  # the page's picture follows the stage's level in steps of 1/32
THUMBNAIL_SIZE = 192  # pixels on the long side, at most
KEYFRAME_PICTURE_SIZE = 96  # a keyframe's picture in the strip, pixels on the long side
KEYFRAME_JOBS = 1  # keyframe pictures on the loader's queue at once: a file load waits for one at most
                   # (about 3 s for a 1024 px generator on two CPU cores; a few ms on a GPU)


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
        self._copy: Thumbnail | None = None  # the newest finished copy, as generated
        self._shown: Thumbnail | None = None  # that copy at the stage's level (what `shown` gives)
        self._shown_step = -1  # the level it was scaled to, in LEVEL_STEPS
        self._serial = 0

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

    def shown(self, level: float) -> Thumbnail | None:
        """The newest thumbnail as the stage shows it: its pixels times the stage's output level
        (0 in a blackout, the fader's glide), so the page never shows a picture the audience
        doesn't. A new one (a new serial) when a copy finishes or the level has moved by a step
        (1/LEVEL_STEPS: a fade re-scales the small copy at most that many times, full level
        costs nothing); the same one otherwise. Render thread; never waits."""
        copy = self.ready()
        if copy is not None:
            self._copy = copy
        step = round(min(max(level, 0.0), 1.0) * LEVEL_STEPS)
        if self._copy is None or (copy is None and step == self._shown_step):
            return self._shown
        pixels = self._copy.pixels
        if step < LEVEL_STEPS:
            started = time.perf_counter()
            pixels = (pixels * (step / LEVEL_STEPS)).astype(np.uint8) if step else np.zeros_like(pixels)
            pixels.flags.writeable = False
            self.cost_ms += (time.perf_counter() - started) * 1000
        self._serial += 1
        self._shown, self._shown_step = Thumbnail(self._serial, self._copy.frame, pixels), step
        return self._shown


# ---- keyframe pictures (the page's strip) ---------------------------------------------------------


@dataclass(frozen=True, eq=False)
class KeyframePicture:
    """A keyframe's small picture: RGB8 [h, w, 3] (read-only), or None if making it failed (not
    tried again); `number` is new for each picture made (the page caches its JPEG by it)."""

    number: int
    pixels: np.ndarray | None
    cost_ms: float  # loader-thread time it took


@torch.no_grad()
def render_keyframe(G, w: torch.Tensor, size: int = KEYFRAME_PICTURE_SIZE) -> np.ndarray:
    """A keyframe's W+ [num_ws, w_dim] through `G.synthesis` (batch 1, const noise, no bends) as
    RGB8 [h, w, 3] at most `size` a side (area average). Off the render thread (the loader): on
    CUDA it runs on a stream of its own and waits only for that stream."""
    from ..images import to_pixels

    stream = torch.cuda.Stream(w.device) if w.is_cuda else None
    if stream is not None:
        stream.wait_stream(torch.cuda.current_stream(w.device))  # the W+ was made on the render thread's stream
    with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
        img = G.synthesis(w.to(G.device, torch.float32).unsqueeze(0), noise_mode="const")
        small = shrink(to_pixels(img[0]), size)
        pixels = small.cpu().numpy()
    pixels.flags.writeable = False
    return pixels


class KeyframePictures:
    """Each keyframe's picture, made once per keyframe W+ (render thread only; see module doc).

    Keyed by the identity of the keyframe's W+ tensor (never changed in place; kept by renames
    and moves), checked through a weak reference so a freed tensor's id never finds another's
    picture. Pictures of keyframes that left the path are forgotten."""

    def __init__(self, jobs: int = KEYFRAME_JOBS) -> None:
        self.jobs = jobs
        self.made = 0  # pictures made, all told (each keyframe once)
        self.cost_ms = 0.0  # loader-thread time they took, all told
        self._pictures: dict[int, tuple[weakref.ref, KeyframePicture]] = {}
        self._asked: dict[int, weakref.ref] = {}

    def of(self, w: torch.Tensor) -> KeyframePicture | None:
        entry = self._pictures.get(id(w))
        return entry[1] if entry is not None and entry[0]() is w else None

    def all_of(self, keyframes: Sequence) -> tuple[KeyframePicture | None, ...]:
        """The pictures of these keyframes, in order (None: none yet)."""
        return tuple(self.of(k.w) for k in keyframes) if self._pictures else (None,) * len(keyframes)

    def wanted(self, keyframes: Sequence) -> list[torch.Tensor]:
        """W+ tensors of keyframes with no picture and none on the way (at most `jobs` on the way)."""
        live = {id(k.w) for k in keyframes}
        for key in [key for key, (ref, _) in self._pictures.items() if key not in live or ref() is None]:
            del self._pictures[key]
        for key in [key for key, ref in self._asked.items() if ref() is None]:
            del self._asked[key]
        out: list[torch.Tensor] = []
        for k in keyframes:
            if len(self._asked) + len(out) >= self.jobs:
                break
            asked = self._asked.get(id(k.w))
            if self.of(k.w) is None and (asked is None or asked() is not k.w) and all(w is not k.w for w in out):
                out.append(k.w)
        return out

    def asked(self, w: torch.Tensor) -> None:
        self._asked[id(w)] = weakref.ref(w)

    def store(self, w: torch.Tensor, pixels: np.ndarray | None, cost_ms: float) -> KeyframePicture:
        self._asked.pop(id(w), None)
        self.made += 1
        self.cost_ms += cost_ms
        picture = KeyframePicture(self.made, pixels, cost_ms)
        self._pictures[id(w)] = (weakref.ref(w), picture)
        return picture
