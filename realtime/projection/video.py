"""`--video`: an MP4 of a projection converging, target on the left, the current fit on the right.

Frames go through the project's one video writer (`realtime.record.encoder.VideoWriter`) into
memory and are written atomically at the end, so a crash leaves no half file. PyAV is optional
(`pip install 'stylevj[video]'`); `require_av()` says so before any work starts.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np

from ..files import atomic_write
from ..record.encoder import VideoWriter
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
        self._buffer = io.BytesIO()
        self.size = (width + width % 2, height + height % 2)  # yuv420p needs even sides
        self._writer = VideoWriter(self._buffer, fps, self.size, "h264")
        self._last: np.ndarray | None = None
        self.fps = fps

    @property
    def frames(self) -> int:
        return self._writer.frames

    def add(self, pixels: np.ndarray) -> None:
        """Append one frame, uint8 [H, W, 3] (odd sizes are padded by one black row/column)."""
        width, height = self.size
        if pixels.shape[:2] != (height, width):
            padded = np.zeros((height, width, 3), dtype=np.uint8)
            padded[: pixels.shape[0], : pixels.shape[1]] = pixels
            pixels = padded
        self._writer.write(pixels)
        self._last = pixels

    def finish(self, path: str | os.PathLike) -> Path:
        """Hold the last frame, flush the encoder and write the MP4 to `path` atomically."""
        if self._last is not None:
            for _ in range(int(HOLD_SECONDS * self.fps)):
                self.add(self._last)
        self._writer.close()
        return atomic_write(path, self._buffer.getvalue())

    def close(self) -> None:
        """Drop the video without writing it (a failed projection)."""
        self._writer.close()
