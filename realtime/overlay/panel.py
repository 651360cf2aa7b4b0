"""A panel: an Ubuntu terminal window (title bar, aubergine body) holding lines of coloured text.

Subclasses say what the text is (`content_key()` and `lines()`); this class places the window
on the output and sizes the font to the output height. Work happens only when something changes:

- the text is laid out into instances (one quad per character) when `content_key()` changes;
- the instances are drawn into the panel's own texture (premultiplied alpha) only then;
- every frame, that texture is blended over the picture as one quad.

So a frame where nothing changed costs one textured quad per panel, wherever it runs. Panels
satisfy `realtime.display.Overlay`, and carry `name`, `visible` and `opacity` for the show's
switches (keys, OSC).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import moderngl
import numpy as np

from ..display.shaders import ShaderLibrary
from .text import INSTANCE_FLOATS, Color, GlyphAtlas, Line, QuadBatch, glyph_instances, hex_color, pixel_size, \
    rect_instance, text_instances

log = logging.getLogger(__name__)

Rect = tuple[int, int, int, int]  # GL viewport: x, y from the bottom-left, width, height

# Ubuntu's terminal: aubergine background, Tango text colours, Yaru's dark title bar.
BACKGROUND = hex_color("#300A24")
TITLE_BAR = hex_color("#2B2B2B")
TITLE_TEXT = hex_color("#F2F2F2")
CLOSE_BUTTON = hex_color("#E95420")  # Ubuntu orange
OTHER_BUTTON = hex_color("#464646")
TEXT = hex_color("#EEEEEC")
FRAME = hex_color("#D3D7CF")
DIM = hex_color("#A0A39B")
GREEN = hex_color("#8AE234")
YELLOW = hex_color("#FCE94F")
RED = hex_color("#EF2929")
BLUE = hex_color("#729FCF")
CYAN = hex_color("#34E2E2")


@dataclass(frozen=True)
class Layout:
    """A panel's window, in pixels from its own top-left corner."""

    size: tuple[int, int]  # width, height of the whole window
    title_height: int
    text_origin: tuple[int, int]
    columns: int
    rows: int


class Panel:
    """Base of the overlay panels. `rect` is (x, y, width, height) as fractions of the output,
    from its top-left; `font_size` is in pixels at 1080 lines (scaled with the output height);
    `opacity` is the window's background (text is always opaque; 0 leaves text over the picture).
    """

    name = "panel"  # what `Show.set_overlay(name, on)` and OSC call it
    title = "user@stage: ~"
    fit_content = False  # shrink the window's height to its text

    def __init__(self, font: str | Path, rect: tuple[float, float, float, float],
                 font_size: float = 15.0, opacity: float = 0.85) -> None:
        self.font = str(font)
        self.rect = tuple(float(v) for v in rect)
        self.font_size = float(font_size)
        self.opacity = float(opacity)
        self.visible = True
        self._atlases: dict[int, GlyphAtlas] = {}
        self._gl: _PanelGL | None = None
        self._key: object = None
        self._lines: list[Line] = []
        self._last_error = ""
        self.layouts = 0  # how often the text was laid out and drawn into the panel's texture

    # ---- what subclasses provide -------------------------------------------------------------

    def content_key(self) -> object:
        """Anything that changes exactly when the text changes."""
        raise NotImplementedError

    def lines(self, columns: int, rows: int) -> list[Line]:
        """The text for a window of `columns` x `rows` cells."""
        raise NotImplementedError

    def update(self, w: object, now: float) -> bool:
        """The show hands every panel the W+ on screen each refresh; most ignore it."""
        return False

    # ---- geometry ----------------------------------------------------------------------------

    def atlas(self, output_height: int) -> GlyphAtlas:
        size = pixel_size(self.font_size, output_height)
        if size not in self._atlases:
            if len(self._atlases) >= 4:
                self._atlases.clear()
            self._atlases[size] = GlyphAtlas(self.font, size)
        return self._atlases[size]

    def window(self, viewport: Rect) -> tuple[int, int, int, int]:
        """The window's largest extent (x, y from the viewport's top-left, width, height)."""
        _, _, vw, vh = viewport
        fx, fy, fw, fh = self.rect
        x, y = round(fx * vw), round(fy * vh)
        return x, y, max(0, min(round(fw * vw), vw - x)), max(0, min(round(fh * vh), vh - y))

    def layout(self, size: tuple[int, int], atlas: GlyphAtlas) -> Layout:
        w, h = size
        cw, ch = atlas.cell
        title = round(ch * 1.8)
        pad_x, pad_y = cw, max(1, round(ch * 0.4))
        columns = max(0, (w - 2 * pad_x) // cw)
        rows = max(0, (h - title - 2 * pad_y) // ch)
        return Layout((w, h), title, (pad_x, title + pad_y), columns, rows)

    # ---- drawing -----------------------------------------------------------------------------

    def draw(self, ctx: moderngl.Context, viewport: Rect) -> None:
        """The Overlay protocol: draw this panel over whatever is in the target.

        A failure here (a GL error, a font that cannot render) is logged once and the panel
        skips drawing: decoration never stops the show."""
        if not self.visible:
            return
        try:
            self._draw(ctx, viewport)
        except Exception as exc:
            self._failed("draw", exc)
            ctx.viewport = viewport

    def _failed(self, what: str, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        if message != self._last_error:
            self._last_error = message
            log.error("overlay panel %r %s failed (the show goes on): %s", self.name, what, message)

    def _draw(self, ctx: moderngl.Context, viewport: Rect) -> None:
        x, y, w, h = self.window(viewport)
        atlas = self.atlas(viewport[3])
        layout = self.layout((w, h), atlas)
        if w <= 0 or h <= layout.title_height:
            return
        if self._gl is None or self._gl.ctx is not ctx:
            self._gl = _PanelGL(ctx)
            self._key = None
        key = (self.content_key(), layout, atlas.size, self.opacity)
        if key != self._key:
            self._lines = self.lines(layout.columns, layout.rows)
            if self.fit_content:
                used = min(len(self._lines), layout.rows)
                h = min(h, 2 * layout.text_origin[1] - layout.title_height + used * atlas.cell[1])
                layout = self.layout((w, h), atlas)
            self._gl.render(self.instances(layout, atlas), layout.size, atlas)
            self._key = key
            self.layouts += 1
        w, h = self._gl.size
        self._gl.blit(viewport, (viewport[0] + x, viewport[1] + viewport[3] - y - h, w, h))

    def instances(self, layout: Layout, atlas: GlyphAtlas) -> np.ndarray:
        """Window chrome, then the text: everything this panel draws, in drawing order."""
        text = text_instances(self._lines, atlas, *layout.text_origin, layout.columns, layout.rows)
        return np.concatenate([self.chrome(layout, atlas), text])

    def chrome(self, layout: Layout, atlas: GlyphAtlas) -> np.ndarray:
        w, h = layout.size
        t = layout.title_height
        cw, ch = atlas.cell
        radius = round(ch * 0.6)
        alpha = self.opacity
        parts = [
            rect_instance(0, 0, w, t, _with_alpha(TITLE_BAR, alpha), radius_top=radius),
            rect_instance(0, t, w, h - t, _with_alpha(BACKGROUND, alpha)),
        ]
        d = max(4, round(t * 0.58))  # title-bar buttons, right to left: close, maximise, minimise
        gap = round(d * 0.45)
        by = (t - d) // 2
        for n, (color, glyph) in enumerate(((CLOSE_BUTTON, "×"), (OTHER_BUTTON, "□"), (OTHER_BUTTON, "–"))):
            bx = w - round(cw * 1.2) - d - n * (d + gap)
            if bx < cw:
                break
            parts.append(rect_instance(bx, by, d, d, _with_alpha(color, max(alpha, 0.9)), d / 2, d / 2))
            parts.append(glyph_instances(glyph, TITLE_TEXT, atlas, bx + (d - cw) // 2, by + (d - ch) // 2))
        title = self.title[: max(0, (w - 8 * cw) // cw)]
        parts.append(glyph_instances(title, TITLE_TEXT, atlas, (w - len(title) * cw) // 2, (t - ch) // 2))
        return np.concatenate(parts) if parts else np.zeros((0, INSTANCE_FLOATS), np.float32)

    def release(self) -> None:
        """Free this panel's GL objects (call with its context current)."""
        if self._gl is not None:
            self._gl.release()
            self._gl = None
        self._key = None


class _PanelGL:
    """A panel's GL side: its instances, the texture they are drawn into, and the copy onto the target."""

    def __init__(self, ctx: moderngl.Context, library: ShaderLibrary | None = None) -> None:
        library = library or ShaderLibrary()
        self.ctx = ctx
        self.batch = QuadBatch(ctx, library)
        self.program = library.program(ctx, "panel")
        self.program["panel"] = 0
        self.quad = ctx.vertex_array(self.program, [])
        self.texture: moderngl.Texture | None = None
        self.fbo: moderngl.Framebuffer | None = None
        self.size = (0, 0)

    def render(self, instances: np.ndarray, size: tuple[int, int], atlas: GlyphAtlas) -> None:
        """Draw the instances into the panel's texture (transparent where nothing is)."""
        if size != self.size:
            self._release_target()
            self.texture = self.ctx.texture(size, 4)
            self.fbo = self.ctx.framebuffer(color_attachments=[self.texture])
            self.size = size
        self.batch.set(instances)
        previous = self.ctx.fbo
        try:
            self.fbo.use()
            self.fbo.clear(0.0, 0.0, 0.0, 0.0)
            self.batch.draw((0, 0, *size), atlas)
        finally:
            previous.use()

    def blit(self, viewport: Rect, rect: Rect) -> None:
        """Blend the texture over the target at `rect` (GL coordinates); the target keeps its alpha."""
        ctx = self.ctx
        x, y, w, h = rect
        ctx.viewport = rect
        self.texture.use(location=0)
        self.program["origin"] = (x, y)
        ctx.enable(moderngl.BLEND)
        ctx.blend_func = (moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA, moderngl.ZERO, moderngl.ONE)
        try:
            self.quad.render(moderngl.TRIANGLE_STRIP, vertices=4)
        finally:
            ctx.disable(moderngl.BLEND)
            ctx.blend_func = moderngl.DEFAULT_BLENDING
            ctx.viewport = viewport

    def _release_target(self) -> None:
        if self.fbo is not None:
            self.fbo.release()
        if self.texture is not None:
            self.texture.release()
        self.fbo = self.texture = None

    def release(self) -> None:
        self._release_target()
        self.quad.release()
        self.program.release()
        self.batch.release()


def _with_alpha(color: Color, alpha: float) -> Color:
    return (color[0], color[1], color[2], color[3] * alpha)
