"""The doctor's checks of what puts the picture on a screen: an OpenGL 3.3 context made the way
`stylevj run` makes one, the frame path into it (the show's own `choose_sink` probe and a test
frame through it and back), and the monitors."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .report import Finding, one_line

if TYPE_CHECKING:
    from ..display import Surface

SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast")  # Mesa's CPU rasterisers
GL_FIX = "apt install libegl1 libegl-mesa0 libgl1-mesa-dri"  # Debian/Ubuntu: EGL and Mesa (CI's packages)
HEADLESS_RUN = "stylevj run --headless --seconds 5 --snapshot out.png"

SurfaceMaker = Callable[[], "Surface"]


def has_display(environ: Mapping[str, str]) -> bool:
    """Whether a window could open here: an X11 or Wayland display is named."""
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def show_surfaces(environ: Mapping[str, str]) -> list[tuple[str, SurfaceMaker]]:
    """The ways `stylevj run` gets a GL context here, in the order the doctor tries them."""
    headless = ("headless EGL", headless_surface)
    return [("window", hidden_window), headless] if has_display(environ) else [headless]


def hidden_window() -> Surface:
    """A GL context as `stylevj run` makes one with a display: a glfw window, hidden."""
    from ..display import Window

    return Window((64, 64), title="stylevj doctor", visible=False)


def headless_surface() -> Surface:
    """A GL context as `stylevj run --headless` makes one: EGL, no window."""
    from ..display import HeadlessSurface

    return HeadlessSurface((16, 16))


def open_gl(surfaces: Sequence[tuple[str, SurfaceMaker]]) -> tuple[Finding, Surface | None]:
    """The OpenGL line and the first surface that could be made (the caller closes it)."""
    failed: list[str] = []
    for label, make in surfaces:
        try:
            surface = make()
            info = surface.ctx.info
        except Exception as exc:  # noqa: BLE001 - DisplayError, or anything a driver raises
            failed.append(f"{label}: {one_line(exc)}")
            continue
        renderer, version = info.get("GL_RENDERER", "unknown renderer"), info.get("GL_VERSION", "?")
        text = f"{renderer}, OpenGL {version} ({label})"
        status, fix = "ok", ""
        if any(name in renderer.lower() for name in SOFTWARE_RENDERERS):
            status, text = "degraded", f"software rendering: {text}"
        if failed:
            status, fix = "degraded", HEADLESS_RUN
            text = f"{'; '.join(failed)}; {label} works: {text}"
        return Finding("OpenGL", status, text, fix=fix), surface
    reasons = "; ".join(failed) or "no way to make one was given"
    return Finding("OpenGL", "fail", f"no 3.3 context could be made ({reasons})", fix=GL_FIX), None


def check_frame_path(surface: Surface | None, device: str) -> Finding:
    """The show's own choice (`choose_sink('auto')`, which probes interop with a real texture),
    then a test frame through it and read back from the texture; the sink is released here,
    before the caller closes the context."""
    if surface is None:
        return Finding("frame path", "fail", "not tried: no OpenGL context")
    import numpy as np
    import torch

    from ..display import choose_sink

    sink, why = choose_sink("auto", surface.ctx, device)
    try:
        frame = torch.arange(8 * 8 * 4).remainder(251).to(torch.uint8).reshape(8, 8, 4)
        texture = sink.upload(frame.to(device))
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        back = np.frombuffer(texture.read(), dtype=np.uint8).reshape(8, 8, 4)
        if not np.array_equal(back, frame.numpy()):
            return Finding("frame path", "fail", f"{why}; a test frame came back changed",
                           fix="stylevj run --upload host" if sink.kind == "interop" else "")
    finally:
        sink.release()
    return Finding("frame path", "ok" if sink.kind == "interop" else "degraded", why)


def check_monitors(environ: Mapping[str, str], lister: Callable[[], Sequence[Any]] | None) -> Finding:
    """The monitors a fullscreen show could use."""
    if not has_display(environ):
        return Finding("monitors", "degraded", "no display (DISPLAY, WAYLAND_DISPLAY unset): shows run offscreen",
                       fix=HEADLESS_RUN)
    if lister is None:
        from ..display import list_monitors as lister
    from ..display import DisplayError

    try:
        found = list(lister())
    except DisplayError as exc:
        return Finding("monitors", "degraded", f"{exc}: shows run offscreen", fix=HEADLESS_RUN)
    if not found:
        return Finding("monitors", "degraded", "no monitor connected: shows run offscreen", fix=HEADLESS_RUN)
    names = "; ".join(f"{m.index}: {m.name} {m.current}{' (primary)' if m.primary else ''}" for m in found)
    return Finding("monitors", "ok", names)
