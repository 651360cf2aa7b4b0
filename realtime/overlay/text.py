"""Monospace text on the GPU: a glyph atlas built once per pixel size, drawn as instanced quads.

    atlas = GlyphAtlas(find_font(None), pixel_size(15, 1080))   # CPU: Pillow rasterises the TTF
    quads = QuadBatch(ctx)                                      # GL: one instance buffer, one draw
    quads.set(np.concatenate([rect_instances, text_instances(lines, atlas, x, y, cols, rows)]))
    quads.draw(viewport, atlas)                                 # panels draw into their own texture

Every instance is one quad: a character cell (glyph index >= 0, sampled 1:1 from the atlas, so
text is as crisp as the font at that size) or a solid rectangle (glyph -1, optionally with
rounded corners: window chrome, buttons, backgrounds). The block elements that bars use
(`▏▎▍▌▋▊▉█`, `░`) and the box-drawing lines are drawn into the atlas as exact pixel rectangles,
as terminal emulators do, so bars have exact eighth-cell widths and frames join without gaps.

Instances are laid out only when the text changes; the panel keeps the buffer and redraws it.
"""

from __future__ import annotations

import importlib.util
import io
import logging
import string
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import moderngl
import numpy as np

from ..display.shaders import ShaderLibrary
from ..errors import StylevjError
from ..files import read_bounded

log = logging.getLogger(__name__)

Color = tuple[float, float, float, float]  # RGBA, 0..1
Span = tuple[str, Color]  # a run of text in one colour
Line = tuple[Span, ...]

EIGHTHS = "▏▎▍▌▋▊▉█"  # left 1/8 .. 8/8 blocks
SHADES = "░▒▓"
# Box drawing: arms (up, right, down, left); 0 none, 1 light, 2 double.
BOX: dict[str, tuple[int, int, int, int]] = {
    "─": (0, 1, 0, 1), "│": (1, 0, 1, 0), "┌": (0, 1, 1, 0), "┐": (0, 0, 1, 1), "└": (1, 1, 0, 0),
    "┘": (1, 0, 0, 1), "├": (1, 1, 1, 0), "┤": (1, 0, 1, 1), "┬": (0, 1, 1, 1), "┴": (1, 1, 0, 1),
    "┼": (1, 1, 1, 1), "═": (0, 2, 0, 2), "║": (2, 0, 2, 0), "╒": (0, 2, 1, 0), "╕": (0, 0, 1, 2),
    "╘": (1, 2, 0, 0), "╛": (1, 0, 0, 2), "╞": (1, 2, 1, 0), "╡": (1, 0, 1, 2), "╤": (0, 2, 1, 2),
    "╧": (1, 2, 0, 2), "╪": (1, 2, 1, 2),
}
CHARSET = "".join(dict.fromkeys(
    string.printable[:95] + "…°×·–—±µ□" + EIGHTHS + SHADES + "▀▄" + "".join(BOX)
))
SOLID = -1.0  # glyph index of a plain rectangle

# One instance: x, y, w, h (pixels from the viewport's top-left), r, g, b, a, glyph, radius top, radius bottom.
INSTANCE_FLOATS = 11
INSTANCE_FORMAT = "4f 4f 3f/i"

REFERENCE_HEIGHT = 1080  # font sizes in presets are pixels at this output height


def hex_color(code: str, alpha: float = 1.0) -> Color:
    """'#300A24' -> (r, g, b, a) in 0..1."""
    code = code.lstrip("#")
    return (int(code[0:2], 16) / 255, int(code[2:4], 16) / 255, int(code[4:6], 16) / 255, float(alpha))


def pixel_size(font_size: float, output_height: int) -> int:
    """Font pixel size for an output: `font_size` is in pixels at 1080 lines, so 4K doubles it."""
    return max(6, round(font_size * output_height / REFERENCE_HEIGHT))


# ---- the font ---------------------------------------------------------------------------------


def find_font(path: str | Path | None = None) -> Path:
    """The TrueType font to use: `path` if given, else DejaVu Sans Mono inside matplotlib.

    matplotlib is located with importlib and never imported (no pyplot, no backend start-up).
    Raises `StylevjError` saying how to get a font when neither exists.
    """
    if path is not None:  # judged when read (`check_font`), by what was opened, never by a stat before
        return Path(path).expanduser()
    spec = importlib.util.find_spec("matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        font = Path(folder) / "mpl-data" / "fonts" / "ttf" / "DejaVuSansMono.ttf"
        if font.is_file():
            return font
    raise StylevjError(
        "the overlay needs a monospace TrueType font: pip install 'stylevj[overlay]' (DejaVu Sans Mono "
        "from matplotlib), or give one with --font PATH or [overlay] font = \"...\""
    )


MAX_FONT_BYTES = 64 * 2**20  # DejaVu Sans Mono is 340 KB, the largest CJK fonts about 30 MB


class FontError(StylevjError):
    """A font file that cannot be used, in one line."""


@lru_cache(maxsize=4)
def _font_bytes(path: str) -> bytes:
    """The font file's bytes, read once (at start-up, by `check_font`) through the one bounded
    reader: a FIFO or a device named as the font is one line, never a blocked open; later
    atlases at other sizes are made from these bytes, never from the file again."""
    try:
        return read_bounded(path, MAX_FONT_BYTES, "font", FontError)
    except FontError as exc:
        raise FontError(f"font {exc} (give a monospace .ttf with --font or [overlay] font)") from None


@lru_cache(maxsize=8)
def _load_font(path: str, size: int):
    from PIL import ImageFont

    data = _font_bytes(path)
    try:
        return ImageFont.truetype(io.BytesIO(data), size)
    except OSError as exc:
        raise FontError(f"font {path}: cannot be read as a TrueType font ({exc})") from None


def check_font(path: Path) -> None:
    """Raise `StylevjError` now (at start-up) if the font cannot be used; warn if not monospace."""
    font = _load_font(str(path), 16)
    widths = {round(font.getlength(c), 2) for c in "iMW.0"}
    if len(widths) > 1:
        log.warning("font %s is not monospace: overlay columns will not line up", path)


class GlyphAtlas:
    """Every character of `charset`, rasterised at `size` pixels into one grid of equal cells.

    `bitmap` is uint8 [rows * cell_h, columns * cell_w], top row first (coverage, 0..255).
    `cell` is (width, height) in pixels: the font's advance and line height at this size.
    """

    def __init__(self, font_path: str | Path, size: int, charset: str = CHARSET) -> None:
        from PIL import Image, ImageDraw

        self.font_path = str(font_path)
        self.size = int(size)
        font = _load_font(self.font_path, self.size)
        ascent, descent = font.getmetrics()
        cw, ch = max(1, round(font.getlength("M"))), max(1, ascent + descent)
        self.cell = (cw, ch)
        chars = "".join(dict.fromkeys(charset + "?"))
        self.columns = min(len(chars), 32)
        rows = -(-len(chars) // self.columns)
        bitmap = np.zeros((rows * ch, self.columns * cw), dtype=np.uint8)
        for i, c in enumerate(chars):
            y, x = divmod(i, self.columns)
            cell = bitmap[y * ch:(y + 1) * ch, x * cw:(x + 1) * cw]
            if not _draw_procedural(c, cell):
                image = Image.new("L", (cw, ch), 0)
                ImageDraw.Draw(image).text((0, 0), c, font=font, fill=255, anchor="la")
                cell[:] = np.asarray(image)
        self.bitmap = bitmap
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}
        unknown = self.index["?"]
        top = max(ord(c) for c in chars) + 1
        self._lut = np.full(top + 1, unknown, dtype=np.float32)  # code point -> glyph index
        for c, i in self.index.items():
            self._lut[ord(c)] = i
        self._lut[ord(" ")] = -2  # spaces make no instance
        self._top = top

    def glyphs(self, text: str) -> np.ndarray:
        """Glyph index per character (float32; -2 for a space; '?' for anything not in the atlas)."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        return self._lut[np.minimum(codes, self._top)]


def _draw_procedural(c: str, cell: np.ndarray) -> bool:
    """Block elements and box drawing as exact pixel rectangles; False for ordinary glyphs."""
    h, w = cell.shape
    if c in EIGHTHS:
        cell[:, : round(w * (EIGHTHS.index(c) + 1) / 8)] = 255
        return True
    if c in SHADES:
        level = (SHADES.index(c) + 1) * 64
        yy, xx = np.mgrid[0:h, 0:w]
        cell[(yy + xx) % 2 == 0] = min(255, level * 2)  # a dither, like the font's shade glyphs
        return True
    if c == "▀":
        cell[: h // 2] = 255
        return True
    if c == "▄":
        cell[h // 2:] = 255
        return True
    if c in BOX:
        _draw_box(BOX[c], cell)
        return True
    return False


def _draw_box(arms: tuple[int, int, int, int], cell: np.ndarray) -> None:
    """Lines through the cell's centre to the edges named by `arms`; a light arm crossing a
    double line reaches its far line, so `╤ ╞ ╪` join their frames without gaps."""
    h, w = cell.shape
    t = max(1, round(h / 18))  # line thickness
    d = t + max(1, round(h / 14))  # offset of each line of a double arm from the centre line
    cx, cy = (w - t) // 2, (h - t) // 2
    up, right, down, left = arms
    double_h, double_v = 2 in (left, right), 2 in (up, down)
    for y in ((cy - d, cy + d) if double_h else (cy,)):
        if left:
            cell[max(y, 0):y + t, : cx + t] = 255
        if right:
            cell[max(y, 0):y + t, cx:] = 255
    reach = d if double_h else 0
    for x in ((cx - d, cx + d) if double_v else (cx,)):
        if up:
            cell[: cy + t + reach, max(x, 0):x + t] = 255
        if down:
            cell[max(cy - reach, 0):, max(x, 0):x + t] = 255


# ---- layout -----------------------------------------------------------------------------------


def rect_instance(x: float, y: float, w: float, h: float, color: Color, radius_top: float = 0.0,
                  radius_bottom: float = 0.0) -> np.ndarray:
    """One solid rectangle (pixels from the viewport's top-left), corners rounded top/bottom."""
    return np.array([[x, y, w, h, *color, SOLID, radius_top, radius_bottom]], dtype=np.float32)


def glyph_instances(text: str, colors: np.ndarray | Color, atlas: GlyphAtlas, x: int, y: int) -> np.ndarray:
    """One instance per visible character of `text` on one row starting at pixel (x, y)."""
    glyphs = atlas.glyphs(text)
    keep = glyphs >= 0
    n = int(keep.sum())
    out = np.zeros((n, INSTANCE_FLOATS), dtype=np.float32)
    if n == 0:
        return out
    cw, ch = atlas.cell
    out[:, 0] = x + cw * np.nonzero(keep)[0]
    out[:, 1] = y
    out[:, 2] = cw
    out[:, 3] = ch
    colors = np.asarray(colors, dtype=np.float32)
    out[:, 4:8] = colors[keep] if colors.ndim == 2 else colors
    out[:, 8] = glyphs[keep]
    return out


def text_instances(lines: Sequence[Line], atlas: GlyphAtlas, x: int, y: int, columns: int, rows: int) -> np.ndarray:
    """Instances for up to `rows` lines of coloured spans, each cut to `columns` characters."""
    cw, ch = atlas.cell
    parts = []
    for row, line in enumerate(lines[:rows]):
        text = "".join(s for s, _ in line)[:columns]
        if not text.strip():
            continue
        colors = np.concatenate([np.tile(np.asarray(c, dtype=np.float32), (len(s), 1)) for s, c in line if s])
        parts.append(glyph_instances(text, colors[: len(text)], atlas, x, y + row * ch))
    return np.concatenate(parts) if parts else np.zeros((0, INSTANCE_FLOATS), dtype=np.float32)


def plain(lines: Iterable[Line]) -> list[str]:
    """The text of laid-out lines without colours (what a test or a log compares)."""
    return ["".join(s for s, _ in line) for line in lines]


# ---- GL ---------------------------------------------------------------------------------------


class QuadBatch:
    """An instance buffer drawn in one call with the `text` program; owned by one panel.

    `set()` uploads new instances (only when the layout changed); `draw()` draws them with alpha
    blending; drawn into a target cleared to transparent, the result is premultiplied RGBA.
    """

    def __init__(self, ctx: moderngl.Context, library: ShaderLibrary | None = None) -> None:
        self.ctx = ctx
        self.program = (library or ShaderLibrary()).program(ctx, "text")
        self.program["atlas"] = 0
        self._buffer: moderngl.Buffer | None = None
        self._vao: moderngl.VertexArray | None = None
        self._capacity = 0
        self.count = 0
        self._textures: dict[tuple[str, int], moderngl.Texture] = {}

    def set(self, instances: np.ndarray) -> None:
        data = np.ascontiguousarray(instances, dtype=np.float32)
        self.count = len(data)
        if self.count == 0:
            return
        if self.count > self._capacity:
            self._release_buffer()
            self._capacity = max(self.count, 2 * self._capacity, 256)
            self._buffer = self.ctx.buffer(reserve=self._capacity * INSTANCE_FLOATS * 4, dynamic=True)
            self._vao = self.ctx.vertex_array(
                self.program, [(self._buffer, INSTANCE_FORMAT, "in_rect", "in_color", "in_extra")]
            )
        self._buffer.write(data.tobytes())

    def texture(self, atlas: GlyphAtlas) -> moderngl.Texture:
        key = (atlas.font_path, atlas.size)
        texture = self._textures.get(key)
        if texture is None:
            if len(self._textures) >= 4:  # sizes from earlier window sizes
                for old in self._textures.values():
                    old.release()
                self._textures.clear()
            h, w = atlas.bitmap.shape
            texture = self.ctx.texture((w, h), 1, atlas.bitmap.tobytes(), alignment=1)
            texture.filter = (moderngl.NEAREST, moderngl.NEAREST)
            self._textures[key] = texture
        return texture

    def draw(self, viewport: tuple[int, int, int, int], atlas: GlyphAtlas) -> None:
        if self.count == 0 or self._vao is None:
            return
        ctx = self.ctx
        self.texture(atlas).use(location=0)
        self.program["target"] = (float(viewport[2]), float(viewport[3]))
        self.program["cell"] = atlas.cell
        self.program["columns"] = atlas.columns
        ctx.viewport = viewport
        ctx.enable(moderngl.BLEND)
        # Over a transparent target this accumulates premultiplied colour: what the panel's copy expects.
        ctx.blend_func = (moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA, moderngl.ONE, moderngl.ONE_MINUS_SRC_ALPHA)
        try:
            self._vao.render(moderngl.TRIANGLE_STRIP, vertices=4, instances=self.count)
        finally:
            ctx.disable(moderngl.BLEND)
            ctx.blend_func = moderngl.DEFAULT_BLENDING

    def _release_buffer(self) -> None:
        if self._vao is not None:
            self._vao.release()
        if self._buffer is not None:
            self._buffer.release()
        self._vao = self._buffer = None

    def release(self) -> None:
        self._release_buffer()
        for texture in self._textures.values():
            texture.release()
        self._textures.clear()
        self.program.release()
