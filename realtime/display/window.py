"""The stage window: glfw + a moderngl context (OpenGL 3.3 core), windowed or fullscreen.

Fullscreen goes to a chosen monitor (by index or by a case-insensitive part of its name) at
that monitor's current mode; vsync is re-applied after every switch (some drivers drop the
swap interval when the window changes monitor) and the cursor is hidden while fullscreen.
The window does not minimise when it loses focus, so clicking on a second screen during a show
leaves the stage picture up.

glfw is process-wide: one window per process, created, used and closed on the main thread.
`close()` ends glfw; `list_monitors()` starts it again when needed.
"""

from __future__ import annotations

import ctypes
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import glfw
import moderngl
import numpy as np

from .errors import DisplayError
from .headless import GL_REQUIRE, detach_egl_context
from .keys import Action, KeyEvent, KeyMap
from .surface import read_framebuffer

log = logging.getLogger(__name__)

MonitorSpec = int | str | None  # index, part of a name, or None for the primary monitor


@dataclass(frozen=True)
class VideoMode:
    """A monitor mode: pixels and refresh rate (0 where the system does not say)."""

    width: int
    height: int
    refresh_rate: int

    def __str__(self) -> str:
        rate = f"@{self.refresh_rate}Hz" if self.refresh_rate else ""
        return f"{self.width}x{self.height}{rate}"


@dataclass(frozen=True)
class MonitorInfo:
    """One connected monitor as glfw reports it; `index` is what `monitor=` takes."""

    index: int
    name: str
    current: VideoMode
    modes: tuple[VideoMode, ...]
    position: tuple[int, int]
    primary: bool


def _log_glfw_error(code: int, description: bytes) -> None:
    log.warning("glfw error %#x: %s", code, description.decode(errors="replace"))


def _last_glfw_error() -> str:
    code, description = glfw.get_error()
    if not code:
        return "no reason given"
    return description.decode(errors="replace") if isinstance(description, bytes) else str(description)


def init_glfw() -> None:
    """Start glfw (idempotent); `DisplayError` when there is no display to talk to."""
    glfw.set_error_callback(_log_glfw_error)
    if not glfw.init():
        raise DisplayError(f"cannot open the display ({_last_glfw_error()}); is DISPLAY or WAYLAND_DISPLAY set?")


def _mode(vidmode: object) -> VideoMode:
    return VideoMode(vidmode.size.width, vidmode.size.height, vidmode.refresh_rate)  # type: ignore[attr-defined]


def _name(handle: object) -> str:
    raw = glfw.get_monitor_name(handle)
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)


def list_monitors() -> list[MonitorInfo]:
    """The connected monitors, primary first as glfw orders them, with current and available modes."""
    init_glfw()
    primary = glfw.get_primary_monitor()
    infos = []
    for index, handle in enumerate(glfw.get_monitors()):
        modes = tuple(dict.fromkeys(_mode(m) for m in glfw.get_video_modes(handle)))
        infos.append(MonitorInfo(
            index=index,
            name=_name(handle),
            current=_mode(glfw.get_video_mode(handle)),
            modes=modes,
            position=tuple(glfw.get_monitor_pos(handle)),
            primary=_same_handle(handle, primary),
        ))
    return infos


def _same_handle(a: object, b: object) -> bool:
    """glfw hands out fresh ctypes pointers each call; compare the addresses they hold."""
    return bool(a) and bool(b) and ctypes.cast(a, ctypes.c_void_p).value == ctypes.cast(b, ctypes.c_void_p).value


def find_monitor(spec: MonitorSpec) -> object:
    """The glfw monitor for an index, a digit string, a case-insensitive part of a name, or None (primary)."""
    init_glfw()
    handles = list(glfw.get_monitors())
    if not handles:
        raise DisplayError("no monitor connected")
    if spec is None:
        return glfw.get_primary_monitor() or handles[0]
    names = [_name(h) for h in handles]
    listing = ", ".join(f"{i}: {n}" for i, n in enumerate(names))
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        index = int(spec)
        if not 0 <= index < len(handles):
            raise DisplayError(f"no monitor {index} (monitors are {listing})")
        return handles[index]
    wanted = spec.strip().lower()
    for handle, name in zip(handles, names, strict=True):
        if wanted and wanted in name.lower():
            return handle
    raise DisplayError(f"no monitor named like {spec!r} (monitors are {listing})")


class Window:
    """A glfw window with a moderngl context; a `Surface` that shows on screen.

    `monitor` picks where fullscreen goes (and where the window opens); `visible=False` makes
    the same window and context without showing it (`stylevj doctor` probes with it). Keys are turned into
    `KeyEvent`s by a `KeyMap`; the window itself acts on TOGGLE_FULLSCREEN and QUIT, then hands
    every event to `on_key` (for the show's own actions, logging or an on-screen hint).
    """

    def __init__(
        self,
        size: tuple[int, int] = (1280, 720),
        title: str = "stylevj",
        fullscreen: bool = False,
        monitor: MonitorSpec = None,
        vsync: bool = True,
        keymap: KeyMap | None = None,
        clock: Callable[[], float] = time.monotonic,
        visible: bool = True,
    ) -> None:
        init_glfw()
        self._monitor_spec = monitor
        target = find_monitor(monitor)  # fails early on a bad monitor name, before a window shows
        glfw.default_window_hints()
        glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, GL_REQUIRE // 100)
        glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, GL_REQUIRE % 100 // 10)
        glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
        glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, glfw.TRUE)
        glfw.window_hint(glfw.DOUBLEBUFFER, glfw.TRUE)
        glfw.window_hint(glfw.AUTO_ICONIFY, glfw.FALSE)
        glfw.window_hint(glfw.VISIBLE, glfw.TRUE if visible else glfw.FALSE)  # hidden: a context only (doctor)
        width, height = (int(v) for v in size)
        if detach_egl_context():  # before create_window: glfw makes the new context current inside it
            log.warning("a headless EGL context was current on this thread; detached it to open the window")
        self._handle = glfw.create_window(width, height, title, None, None)
        if not self._handle:
            raise DisplayError(f"cannot open an OpenGL 3.3 core window ({_last_glfw_error()})")
        self._place_on(target, width, height)
        glfw.make_context_current(self._handle)
        try:
            self.ctx: moderngl.Context = moderngl.create_context(require=GL_REQUIRE)
        except Exception as exc:  # moderngl raises plain Exceptions for a missing or too old GL
            glfw.destroy_window(self._handle)
            raise DisplayError(f"the window has no usable OpenGL 3.3 context ({exc})") from None
        self._vsync = vsync
        self._swap_interval = -1
        self._fullscreen = False
        self._windowed_rect = (*glfw.get_window_pos(self._handle), width, height)
        self._size = tuple(glfw.get_framebuffer_size(self._handle))
        self.keymap = keymap or KeyMap()
        self._clock = clock
        self._on_key: Callable[[KeyEvent], None] | None = None
        self._closed = False
        glfw.set_framebuffer_size_callback(self._handle, self._on_glfw_resize)
        glfw.set_key_callback(self._handle, self._on_glfw_key)
        self._apply_vsync()
        log.info("window %dx%d, %s (%s)", *self._size, self.ctx.info["GL_RENDERER"], self.ctx.info["GL_VERSION"])
        if fullscreen:
            self.set_fullscreen(True)

    # -- Surface -----------------------------------------------------------------------------

    @property
    def size(self) -> tuple[int, int]:
        """Framebuffer size in pixels, updated on every resize and fullscreen switch."""
        return self._size

    @property
    def should_close(self) -> bool:
        return self._closed or bool(glfw.window_should_close(self._handle))

    def use(self) -> None:
        # moderngl keeps viewport and scissor per framebuffer, the screen's at its creation size:
        # reset both to the current size, so neither a resize nor an overlay's scissor clips a frame.
        full = (0, 0, *self._size)
        screen = self.ctx.screen
        screen.viewport = full
        screen.scissor = full
        screen.use()

    def read_pixels(self) -> np.ndarray:
        """This frame's back buffer (call after drawing, before `present()`), top row first."""
        return read_framebuffer(self.ctx.screen, self._size)

    def present(self) -> None:
        """Swap buffers (waits for vsync when on) and deliver pending window and key events.

        Some drivers (Mesa) resize the back buffer only at a swap, so the one frame drawn right
        after a fullscreen switch may be clipped to the old size; the next one is whole.
        """
        glfw.swap_buffers(self._handle)
        glfw.poll_events()

    def close(self) -> None:
        """Destroy the window and end glfw for this process. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        glfw.destroy_window(self._handle)
        glfw.terminate()

    def __enter__(self) -> Window:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- window state -------------------------------------------------------------------------

    @property
    def handle(self) -> object:
        """The glfw window handle (for glfw calls this class does not wrap)."""
        return self._handle

    @property
    def fullscreen(self) -> bool:
        return self._fullscreen

    @property
    def swap_interval(self) -> int:
        """The swap interval last applied: 1 with vsync, 0 without."""
        return self._swap_interval

    @property
    def on_key(self) -> Callable[[KeyEvent], None] | None:
        """Called on the main thread, inside `present()`/`poll_events()`, for every mapped key.

        An exception it raises is logged, not propagated: a key never ends the show.
        """
        return self._on_key

    @on_key.setter
    def on_key(self, callback: Callable[[KeyEvent], None] | None) -> None:
        if callback is not None and not callable(callback):
            raise TypeError(f"on_key must be callable or None, got {type(callback).__name__}")
        self._on_key = callback

    def poll_events(self) -> None:
        """Deliver pending events without swapping (e.g. while waiting for the first frame)."""
        glfw.poll_events()

    def request_close(self) -> None:
        glfw.set_window_should_close(self._handle, True)

    def toggle_fullscreen(self) -> None:
        self.set_fullscreen(not self._fullscreen)

    def set_fullscreen(self, on: bool, monitor: MonitorSpec = None) -> None:
        """Fullscreen on `monitor` (default: the one given at creation) at its current mode, or back."""
        if monitor is not None:
            self._monitor_spec = monitor
        if on:
            if not self._fullscreen:
                self._windowed_rect = (*glfw.get_window_pos(self._handle), *glfw.get_window_size(self._handle))
            target = find_monitor(self._monitor_spec)
            mode = glfw.get_video_mode(target)
            glfw.set_window_monitor(self._handle, target, 0, 0, mode.size.width, mode.size.height, mode.refresh_rate)
            glfw.set_input_mode(self._handle, glfw.CURSOR, glfw.CURSOR_HIDDEN)
            log.info("fullscreen on %s at %s", _name(target), _mode(mode))
        elif self._fullscreen:
            x, y, width, height = self._windowed_rect
            glfw.set_window_monitor(self._handle, None, x, y, width, height, 0)
            glfw.set_input_mode(self._handle, glfw.CURSOR, glfw.CURSOR_NORMAL)
            log.info("windowed %dx%d", width, height)
        self._fullscreen = bool(on)
        self._apply_vsync()
        self._size = tuple(glfw.get_framebuffer_size(self._handle))

    # -- internals ----------------------------------------------------------------------------

    def _place_on(self, monitor: object, width: int, height: int) -> None:
        """Centre the new window on `monitor`'s work area, so windowed mode opens where asked."""
        mx, my, mw, mh = glfw.get_monitor_workarea(monitor)
        glfw.set_window_pos(self._handle, mx + max(0, (mw - width) // 2), my + max(0, (mh - height) // 2))

    def _apply_vsync(self) -> None:
        self._swap_interval = 1 if self._vsync else 0
        glfw.swap_interval(self._swap_interval)

    def _on_glfw_resize(self, _handle: object, width: int, height: int) -> None:
        self._size = (int(width), int(height))

    def _on_glfw_key(self, _handle: object, key: int, _scancode: int, action: int, mods: int) -> None:
        """A key must never end a show: a failing handler is logged (with its traceback) and the
        show goes on. (pyglfw would otherwise re-raise it from the next `poll_events`.)"""
        event = self.keymap.handle(key, action, mods, self._clock())
        if event is None:
            return
        try:
            if event.action is Action.TOGGLE_FULLSCREEN:
                self.toggle_fullscreen()
            elif event.action is Action.QUIT:
                self.request_close()
            if self._on_key is not None:
                self._on_key(event)
        except Exception:
            log.exception("key %s failed; the show goes on", event.action.value)
