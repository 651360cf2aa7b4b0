"""Puts a frame on a surface: black background, the image fitted by aspect, overlay panels, level.

The compositor owns the GL programs (built once, from `shaders/`); frame textures come from a
frame sink and overlays bring their own drawing. Frames are stored top row first (texture
row 0 = the picture's top), and the quad maps that row to the top of the target, so the picture
is upright on screen and in `Surface.read_pixels()`.

The output level (the master fader, and blackout as level 0) is applied last, to everything on
the surface at once: one full-target quad multiplies every pixel by the level (blending ZERO,
SRC_COLOR). So 0 is exactly black, picture and panels alike, and 1 skips the pass and leaves the
output bit-identical. Windows, snapshots, recordings and the offline render all read this
surface, so each sees what the stage sees.
"""

from __future__ import annotations

import enum
import logging
import math
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
        library = library or ShaderLibrary()
        self._program = library.program(ctx, "image")
        self._program["current"] = 0
        self._program["previous"] = 1
        self._quad = ctx.vertex_array(self._program, [])
        self._level_program = library.program(ctx, "level")
        self._level_quad = ctx.vertex_array(self._level_program, [])

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
        level: float = 1.0,
    ) -> None:
        """Clear `surface` to black, draw `image` (cross-faded from `prev` by `mix`), overlays, then
        dim all of it by `level`.

        `mix` runs from 0 (only `prev`) to 1 (only `image`); a `prev` of another size is ignored.
        With no image yet only the black background (and overlays) are drawn. `level` is the
        output level, 0 (black) to 1 (unchanged), clamped; it is not a number (NaN) -> ValueError.
        """
        level = output_level(level)
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
        if level < 1.0:
            self._dim(surface, level)

    def _dim(self, surface: Surface, level: float) -> None:
        """Multiply every pixel of `surface` by `level` (alpha kept). The surface is bound again
        first, which also resets viewport and scissor: whatever an overlay left behind, the
        whole output is dimmed."""
        ctx = self.ctx
        surface.use()
        self._level_program["level"] = level
        ctx.enable(moderngl.BLEND)
        ctx.blend_func = (moderngl.ZERO, moderngl.SRC_COLOR)
        try:
            self._level_quad.render(moderngl.TRIANGLE_STRIP, vertices=4)
        finally:
            ctx.disable(moderngl.BLEND)
            ctx.blend_func = moderngl.DEFAULT_BLENDING

    def release(self) -> None:
        """Free the GL objects (the context stays)."""
        self._quad.release()
        self._program.release()
        self._level_quad.release()
        self._level_program.release()


def output_level(value: float) -> float:
    """`value` as an output level: a float clamped to 0..1 (a glide may overshoot by a rounding
    error). NaN is refused: it would leave the output's brightness up to the driver."""
    level = float(value)
    if math.isnan(level):
        raise ValueError(f"output level must be a number from 0 to 1, got {value!r}")
    return min(max(level, 0.0), 1.0)
