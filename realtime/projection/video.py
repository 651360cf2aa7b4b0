"""`--video`: an MP4 of a projection converging, target on the left, the current fit on the right.

Frames are encoded as they come (H.264 when this FFmpeg has it, else MPEG-4 Part 2) into memory
and written atomically at the end, so a crash leaves no half file. PyAV is optional
(`pip install 'stylevj[video]'`); `require_av()` says so before any work starts.
"""

from __future__ import annotations

import io
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..files import atomic_write
from ..record.encoder import require_av as _require_av

FPS = 30
MAX_FRAMES = 300  # about 10 s of convergence, whatever the number of steps
HOLD_SECONDS = 1.0  # the final fit stays on screen this long


def require_av():
    """The `av` module, or an EncoderError telling how to install it."""
    return _require_av("--video")


def frame_every(steps: int) -> int:
    """Record every n-th step so that a long projection still gives a short video."""
    return max(1, -(-steps // MAX_FRAMES))


class ConvergenceVideo:
    """Side-by-side frames (uint8 [H, W, 3]) in, MP4 bytes out."""

    def __init__(self, width: int, height: int, fps: int = FPS) -> None:
        av = require_av()
        self._buffer = io.BytesIO()
        self._container = av.open(self._buffer, mode="w", format="mp4")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        self._stream = self._container.add_stream(codec, rate=fps)
        self._stream.width, self._stream.height = width + width % 2, height + height % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.time_base = Fraction(1, fps)
        if codec == "libx264":
            self._stream.options = {"crf": "18", "preset": "medium"}
        else:
            self._stream.bit_rate = 8_000_000
        self._av = av
        self._last: np.ndarray | None = None
        self.fps = fps
        self.frames = 0

    def add(self, pixels: np.ndarray) -> None:
        """Append one frame, uint8 [H, W, 3] (odd sizes are padded by one black row/column)."""
        height, width = self._stream.height, self._stream.width
        if pixels.shape[:2] != (height, width):
            padded = np.zeros((height, width, 3), dtype=np.uint8)
            padded[: pixels.shape[0], : pixels.shape[1]] = pixels
            pixels = padded
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
        frame.pts = self.frames
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._last = pixels
        self.frames += 1

    def finish(self, path: str | os.PathLike) -> Path:
        """Hold the last frame, flush the encoder and write the MP4 to `path` atomically."""
        if self._last is not None:
            for _ in range(int(HOLD_SECONDS * self.fps)):
                self.add(self._last)
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        return atomic_write(path, self._buffer.getvalue())

    def close(self) -> None:
        """Drop the video without writing it (a failed projection)."""
        try:
            self._container.close()
        except (self._av.FFmpegError, OSError, ValueError):
            pass  # a half-open container may complain on close; there is nothing to keep
