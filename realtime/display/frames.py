"""Frame sinks: the generator's newest frame into a GL texture, by host copy or CUDA-GL interop.

A frame is a torch uint8 tensor [H, W, 4] (RGBA, top row first, contiguous) on the CPU or a
CUDA device, optionally with the CUDA event recorded when it was finished. A sink owns a small
ring of textures (two by default): each `upload` writes the oldest one, so `current` is the
frame just uploaded and `previous` the one before, ready for a cross-fade. The ring is rebuilt
when the frame size changes (and `previous` is then None until the next upload).

`realtime.display.sinks.choose_sink` picks the fastest sink that works here (this host copy, or
CUDA-GL interop from `interop.py`) and says why in one line for the log.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod

import moderngl
import torch

log = logging.getLogger(__name__)

def check_frame(frame: torch.Tensor) -> torch.Tensor:
    """`frame` if it is a uint8 [H, W, 4] tensor (CPU frames made contiguous); ValueError otherwise."""
    if not isinstance(frame, torch.Tensor):
        raise ValueError(f"a frame must be a torch tensor, got {type(frame).__name__}")
    if frame.dtype != torch.uint8 or frame.ndim != 3 or frame.shape[2] != 4 or frame.numel() == 0:
        raise ValueError(f"a frame must be uint8 [H, W, 4] (RGBA), got {frame.dtype} {list(frame.shape)}")
    if not frame.is_contiguous():
        if frame.is_cuda:  # a copy here would run outside the frame's event: make the generator write contiguously
            raise ValueError("a CUDA frame must be contiguous")
        frame = frame.contiguous()
    return frame


class FrameSink(ABC):
    """Uploads frames into a ring of RGBA8 textures it owns, in `ctx` (on the GL thread)."""

    kind: str = "?"

    def __init__(self, ctx: moderngl.Context, slots: int = 2) -> None:
        if slots < 1:
            raise ValueError(f"a sink needs at least one texture slot, got {slots}")
        self.ctx = ctx
        self.slots = slots
        self._textures: list[moderngl.Texture] = []
        self._newest = -1
        self._filled = 0

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) of the textures, None before the first upload."""
        return self._textures[0].size if self._textures else None

    @property
    def current(self) -> moderngl.Texture | None:
        """The texture holding the last uploaded frame."""
        return self._textures[self._newest] if self._filled else None

    @property
    def previous(self) -> moderngl.Texture | None:
        """The frame before `current` (same size), or None."""
        if self._filled < 2:
            return None
        return self._textures[(self._newest - 1) % self.slots]

    def upload(self, frame: torch.Tensor, event: torch.cuda.Event | None = None) -> moderngl.Texture:
        """Write `frame` into the oldest texture and return it (it becomes `current`).

        `event` (CUDA frames): the generator's "frame finished" event; the copy waits on it
        without blocking the host. Without it, the copy waits for the device's current stream.
        """
        frame = check_frame(frame)
        height, width = frame.shape[0], frame.shape[1]
        if self.size != (width, height):
            self._rebuild((width, height))
        slot = (self._newest + 1) % self.slots
        self._write(self._textures[slot], frame, event)
        self._newest = slot
        self._filled = min(self._filled + 1, self.slots)
        return self._textures[slot]

    def release(self) -> None:
        """Free the textures (and anything tied to them). The sink can be used again afterwards."""
        for texture in self._textures:
            self._release_texture(texture)
        self._textures = []
        self._newest = -1
        self._filled = 0

    def _rebuild(self, size: tuple[int, int]) -> None:
        if self._textures:
            log.info("frame size changed %s -> %s: new textures", self.size, size)
        self.release()
        self._textures = [self._create_texture(size) for _ in range(self.slots)]

    def _create_texture(self, size: tuple[int, int]) -> moderngl.Texture:
        texture = self.ctx.texture(size, 4, dtype="f1")
        texture.filter = (moderngl.LINEAR, moderngl.LINEAR)
        texture.repeat_x = False  # clamp: no wrap-around bleed at the edges when scaled
        texture.repeat_y = False
        return texture

    def _release_texture(self, texture: moderngl.Texture) -> None:
        texture.release()

    @abstractmethod
    def _write(self, texture: moderngl.Texture, frame: torch.Tensor, event: torch.cuda.Event | None) -> None:
        """Put `frame` (checked, contiguous) into `texture` of the same size."""


class HostSink(FrameSink):
    """Through host memory: `texture.write` from CPU frames directly, CUDA frames via a pinned buffer.

    A CUDA frame is copied on the sink's own stream (after its event) into a reusable pinned
    buffer, and only that copy is waited for; then the buffer goes to GL. Works everywhere.
    """

    kind = "host"

    def __init__(self, ctx: moderngl.Context, slots: int = 2) -> None:
        super().__init__(ctx, slots)
        self._pinned: torch.Tensor | None = None
        self._stream: torch.cuda.Stream | None = None
        self._copied: torch.cuda.Event | None = None

    def _write(self, texture: moderngl.Texture, frame: torch.Tensor, event: torch.cuda.Event | None) -> None:
        host = self._to_host(frame, event) if frame.is_cuda else frame
        texture.write(host.numpy())

    def _to_host(self, frame: torch.Tensor, event: torch.cuda.Event | None) -> torch.Tensor:
        if self._pinned is None or self._pinned.shape != frame.shape:
            self._pinned = torch.empty(frame.shape, dtype=torch.uint8, pin_memory=True)
        if self._stream is None or self._stream.device != frame.device:
            self._stream = torch.cuda.Stream(frame.device)
            self._copied = torch.cuda.Event()
        stream, copied = self._stream, self._copied
        assert copied is not None
        producer = torch.cuda.current_stream(frame.device)
        with torch.cuda.stream(stream):
            if event is not None:
                stream.wait_event(event)
            else:
                stream.wait_stream(producer)
            self._pinned.copy_(frame, non_blocking=True)
            copied.record(stream)
        frame.record_stream(stream)  # the allocator must not hand this memory out before the copy ran
        copied.synchronize()  # only this copy, never the whole device
        return self._pinned

    def release(self) -> None:
        super().release()
        self._pinned = None
