"""What the compositor draws into: a window or an offscreen framebuffer, behind one protocol.

Both `Window` (glfw, on screen) and `HeadlessSurface` (EGL or a borrowed context, offscreen)
satisfy `Surface`, so the show loop and the compositor never ask which one they have.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import moderngl
import numpy as np


@runtime_checkable
class Surface(Protocol):
    """A drawable target with its own GL context.

    Per frame: `use()`, draw, optionally `read_pixels()`, then `present()`.
    """

    ctx: moderngl.Context

    @property
    def size(self) -> tuple[int, int]:
        """Framebuffer size in pixels (width, height); may change between frames (resize)."""
        ...

    @property
    def should_close(self) -> bool:
        """True once the user (or code) asked to end: the loop should stop and `close()`."""
        ...

    def use(self) -> None:
        """Bind this surface's framebuffer and set the viewport to all of it."""
        ...

    def read_pixels(self) -> np.ndarray:
        """What was drawn this frame, uint8 [H, W, 4] RGBA, top row first."""
        ...

    def present(self) -> None:
        """End the frame: swap buffers and poll events (window), or nothing (offscreen)."""
        ...

    def close(self) -> None:
        """Release the framebuffer (and the context or window it owns). Safe to call twice."""
        ...


def read_framebuffer(fbo: moderngl.Framebuffer, size: tuple[int, int]) -> np.ndarray:
    """RGBA uint8 [H, W, 4] of the lower-left `size` of `fbo`, flipped so the top row comes first.

    GL numbers rows from the bottom; everything stylevj hands around (frames, snapshots) is
    top row first.
    """
    width, height = size
    data = fbo.read(viewport=(0, 0, width, height), components=4, alignment=1)
    return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 4)[::-1].copy()
