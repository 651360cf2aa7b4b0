"""An offscreen `Surface`: an RGBA8 framebuffer in a headless EGL context, or in a borrowed one.

Used by tests, by offline rendering on machines without a display, and (with `ctx=` the
window's context) to draw a recording or snapshot at a size other than the window's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

import moderngl
import numpy as np

from .errors import DisplayError
from .surface import read_framebuffer

log = logging.getLogger(__name__)

GL_REQUIRE = 330  # OpenGL 3.3 core: what the shaders are written for


def create_headless_context() -> moderngl.Context:
    """A standalone EGL context (no display server needed); `DisplayError` when there is none."""
    try:
        ctx = moderngl.create_standalone_context(backend="egl", require=GL_REQUIRE)
    except Exception as exc:  # moderngl/glcontext raise plain Exceptions with the EGL reason
        raise DisplayError(f"no headless OpenGL 3.3 context via EGL ({exc}); install libegl1 and Mesa") from None
    log.debug("headless EGL context: %s", ctx.info["GL_RENDERER"])
    return ctx


def detach_egl_context() -> bool:
    """Leave no EGL context current on this thread; True if one was.

    libglvnd will not make a GLX context (a glfw window on X11) current on a thread that
    still has an EGL context current, and the X error that follows ends the process. moderngl
    leaves its standalone contexts current, even after `release()`.
    """
    try:
        egl = ctypes.CDLL(ctypes.util.find_library("EGL") or "libEGL.so.1")
    except OSError:
        return False
    egl.eglGetCurrentContext.restype = ctypes.c_void_p
    egl.eglGetCurrentDisplay.restype = ctypes.c_void_p
    egl.eglMakeCurrent.argtypes = [ctypes.c_void_p] * 4
    egl.eglMakeCurrent.restype = ctypes.c_uint
    if not egl.eglGetCurrentContext():
        return False
    return bool(egl.eglMakeCurrent(egl.eglGetCurrentDisplay(), None, None, None))


class HeadlessSurface:
    """An offscreen framebuffer of a fixed `size` (width, height), RGBA8, top row first on read.

    With `ctx=None` it makes and owns an EGL context, current on this thread from then on
    (moderngl draws with the thread's current context; switch with `with ctx:`), detached and
    released by `close()`. With a context (e.g. a window's, to record at another size) it only
    adds a framebuffer. `present()` does nothing; `should_close` is set by `close()` or
    `request_close()`.
    """

    def __init__(self, size: tuple[int, int], ctx: moderngl.Context | None = None) -> None:
        width, height = (int(v) for v in size)
        if width < 1 or height < 1:
            raise ValueError(f"surface size must be positive, got {size}")
        self._owns_ctx = ctx is None
        self.ctx: moderngl.Context = create_headless_context() if ctx is None else ctx
        self._size = (width, height)
        self._color = self.ctx.renderbuffer(self._size, components=4)
        self.framebuffer = self.ctx.framebuffer(color_attachments=[self._color])
        self._close_requested = False
        self._closed = False
        self.frames_presented = 0

    @property
    def size(self) -> tuple[int, int]:
        return self._size

    @property
    def should_close(self) -> bool:
        return self._close_requested

    def request_close(self) -> None:
        """Ask the loop to stop (as the second Esc does for a window)."""
        self._close_requested = True

    def use(self) -> None:
        full = (0, 0, *self._size)
        self.framebuffer.viewport = full
        self.framebuffer.scissor = full  # undo any scissor an overlay left behind
        self.framebuffer.use()

    def read_pixels(self) -> np.ndarray:
        return read_framebuffer(self.framebuffer, self._size)

    def present(self) -> None:
        self.frames_presented += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_requested = True
        self.framebuffer.release()
        self._color.release()
        if self._owns_ctx:
            detach_egl_context()
            self.ctx.release()

    def __enter__(self) -> HeadlessSurface:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
