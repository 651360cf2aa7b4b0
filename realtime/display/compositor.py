"""Puts a frame on a surface: black background, the image fitted by aspect, then overlay panels.

The compositor owns the GL programs (built once, from `shaders/`); frame textures come from a
frame sink and overlays bring their own drawing. Frames are stored top row first (texture
row 0 = the picture's top), and the quad maps that row to the top of the target, so the picture
is upright on screen and in `Surface.read_pixels()`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import moderngl

from .shaders import ShaderLibrary
from .surface import Surface

log = logging.getLogger(__name__)

Rect = tuple[int, int, int, int]  # GL viewport: x, y from the bottom-left, width, height
UVRect = tuple[float, float, float, float]  # u0, v0 (top-left), u1, v1 (bottom-right) of the image


class Fit(str, enum.Enum):
    """How an image of one aspect fills a target of another."""

    CONTAIN = "contain"  # all of the image, black bars left/right or top/bottom
    COVER = "cover"  # all of the target, the image cropped evenly on the long side
    STRETCH = "stretch"  # all of both, aspect ignored


@runtime_checkable
class Overlay(Protocol):
    """A panel drawn over the image. `viewport` is the whole target (x, y, width, height)."""

    def draw(self, ctx: moderngl.Context, viewport: Rect) -> None: ...


def fit_image(image_size: tuple[int, int], target_size: tuple[int, int], fit: Fit | str) -> tuple[Rect, UVRect]:
    """Where an image goes in a target (GL viewport) and which part of it shows (uv rectangle).

    Pure arithmetic, no GL. With `contain` an odd leftover pixel goes to the bottom/right bar.
    """
    fit = Fit(fit)
    iw, ih = image_size
    tw, th = target_size
    full_uv: UVRect = (0.0, 0.0, 1.0, 1.0)
    if tw <= 0 or th <= 0:  # a minimised window
        return (0, 0, 0, 0), full_uv
    if fit is Fit.STRETCH or iw * th == ih * tw:
        return (0, 0, tw, th), full_uv
    if fit is Fit.CONTAIN:
        scale = min(tw / iw, th / ih)
        w = max(1, min(tw, round(iw * scale)))
        h = max(1, min(th, round(ih * scale)))
        left = (tw - w) // 2
        top = (th - h) // 2
        return (left, th - top - h, w, h), full_uv
    scale = max(tw / iw, th / ih)  # cover: the visible part of the image, in image pixels
    du = (1.0 - tw / (iw * scale)) / 2.0
    dv = (1.0 - th / (ih * scale)) / 2.0
    return (0, 0, tw, th), (du, dv, 1.0 - du, 1.0 - dv)


class Compositor:
    """Draws frame textures (RGBA8, top row first) onto any `Surface` sharing its context."""

    def __init__(self, ctx: moderngl.Context, fit: Fit | str = Fit.CONTAIN, library: ShaderLibrary | None = None) -> None:
        self.ctx = ctx
        self.fit = fit
        self._program = (library or ShaderLibrary()).program(ctx, "image")
        self._program["current"] = 0
        self._program["previous"] = 1
        self._quad = ctx.vertex_array(self._program, [])

    @property
    def fit(self) -> Fit:
        """How the image keeps its aspect; set from a `Fit` or its name ('contain', 'cover', 'stretch')."""
        return self._fit

    @fit.setter
    def fit(self, value: Fit | str) -> None:
        try:
            self._fit = Fit(value)
        except ValueError:
            raise ValueError(f"fit must be one of {[f.value for f in Fit]}, got {value!r}") from None

    def draw(
        self,
        surface: Surface,
        image: moderngl.Texture | None,
        prev: moderngl.Texture | None = None,
        mix: float = 1.0,
        overlays: Iterable[Overlay] = (),
    ) -> None:
        """Clear `surface` to black, draw `image` (cross-faded from `prev` by `mix`), then overlays.

        `mix` runs from 0 (only `prev`) to 1 (only `image`); a `prev` of another size is ignored.
        With no image yet only the black background (and overlays) are drawn.
        """
        ctx = self.ctx
        surface.use()
        target = surface.size
        ctx.disable(moderngl.BLEND)
        ctx.clear(0.0, 0.0, 0.0, 1.0)
        if image is not None:
            if prev is not None and prev.size != image.size:
                log.debug("cross-fade skipped: previous frame %s, current %s", prev.size, image.size)
                prev = None
            rect, uv = fit_image(image.size, target, self._fit)
            image.use(location=0)
            (prev if prev is not None else image).use(location=1)
            self._program["uv_rect"] = uv
            self._program["mix_factor"] = 1.0 if prev is None else min(max(float(mix), 0.0), 1.0)
            ctx.viewport = rect
            self._quad.render(moderngl.TRIANGLE_STRIP, vertices=4)
        full: Rect = (0, 0, *target)
        for overlay in overlays:
            ctx.viewport = full
            overlay.draw(ctx, full)
        ctx.viewport = full

    def release(self) -> None:
        """Free the GL objects (the context stays)."""
        self._quad.release()
        self._program.release()
