"""The overlay panels drawn for real (headless EGL): text pixels where the panel is, the picture
untouched everywhere else, exact bar widths, glyphs in the atlas, and the switches."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from realtime.display import Compositor, HeadlessSurface, HostSink, Overlay
from realtime.display.keys import Action, KeyEvent
from realtime.models import load_generator
from realtime.overlay import GlyphAtlas, GpuPanel, TerminalPanel, build_overlays, find_font, pixel_size, \
    telemetry_lines
from realtime.overlay.panel import BACKGROUND
from realtime.overlay.text import BOX, EIGHTHS, plain
from realtime.control import key_handler
from realtime.presets import OverlaySettings, default_preset_path, load_preset
from realtime.session import ShowSession, build_show
from realtime.show.commands import SetParam

from .conftest import fixed_snapshot, poll

SIZE = (640, 360)
FONT = find_font()
AUBERGINE = np.round(np.array(BACKGROUND[:3]) * 255).astype(int)


@pytest.fixture
def picture(egl_ctx, frame_pattern):
    """A compositor with a known picture loaded: `render(overlays)` -> RGBA [H, W, 4]."""
    compositor, sink = Compositor(egl_ctx, fit="stretch"), HostSink(egl_ctx)
    image = sink.upload(frame_pattern(*SIZE))

    def render(overlays=(), size=SIZE):
        with HeadlessSurface(size, ctx=egl_ctx) as surface:
            compositor.draw(surface, image, overlays=overlays)
            return surface.read_pixels()

    yield render
    sink.release()
    compositor.release()


def window_box(panel, size=SIZE) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) rows/columns of the panel's window in a top-row-first image."""
    x, y, w, _ = panel.window((0, 0, *size))
    h = panel._gl.size[1]  # the height drawn (the GPU panel fits its text)
    return y, y + h, x, x + w


def outside_equal(with_panel: np.ndarray, without: np.ndarray, box) -> bool:
    top, bottom, left, right = box
    mask = np.ones(with_panel.shape[:2], dtype=bool)
    mask[top:bottom, left:right] = False
    return bool((with_panel[mask] == without[mask]).all())


def distinct_colours(pixels: np.ndarray) -> int:
    return len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0))


def test_terminal_panel_draws_its_text_and_leaves_the_rest_alone(picture):
    panel = TerminalPanel(FONT, rect=(0.02, 0.05, 0.96, 0.7), font_size=24, opacity=0.9, rows=(0, 2))  # > 80 columns
    assert isinstance(panel, Overlay)
    w = torch.randn(14, 16)
    panel.update(w, 0.0)
    plain_render = picture()
    pixels = picture([panel])
    top, bottom, left, right = box = window_box(panel)
    assert outside_equal(pixels, plain_render, box)
    inside = pixels[top:bottom, left:right]
    assert not (inside == plain_render[top:bottom, left:right]).all()
    assert distinct_colours(inside) > 20  # title bar, buttons, aubergine over the picture, anti-aliased text
    assert (pixels[..., 3] == 255).all()  # the target stays opaque
    # what was laid out is PyTorch's print of w[0:2], then the cursor
    layout = panel.layout((right - left, bottom - top), panel.atlas(SIZE[1]))
    shown = plain(panel.lines(layout.columns, layout.rows))
    expected = [panel.text.prompt(), *str(w[0:2]).split("\n"), "█"]
    assert shown == expected[-len(shown):] and len(shown) == min(len(expected), layout.rows)
    # light text pixels on the text rows, as bright as the font's stems
    x0, y0 = left + layout.text_origin[0], top + layout.text_origin[1]
    ch = panel.atlas(SIZE[1]).cell[1]
    text_rows = pixels[y0:y0 + ch * (len(shown) - 1), x0:right]
    assert (text_rows[..., :3].min(axis=-1) > 200).sum() > 200


def test_text_is_laid_out_only_when_it_changes(picture):
    panel = TerminalPanel(FONT, rect=(0.5, 0.5, 0.45, 0.45), font_size=20)
    first = torch.randn(3, 4)
    panel.update(first, 0.0)
    frames = [picture([panel]) for _ in range(3)]
    assert panel.layouts == 1 and all((f == frames[0]).all() for f in frames)
    panel.update(first, 1.0)  # the same frame again: nothing to print
    picture([panel])
    assert panel.layouts == 1
    panel.update(torch.randn(3, 4), 2.0)
    changed = picture([panel])
    assert panel.layouts == 2 and not (changed == frames[0]).all()


def test_gpu_panel_renders_the_snapshot_with_exact_bar_widths(picture, tmp_path):
    snapshot = fixed_snapshot(tmp_path)
    panel = GpuPanel(FONT, lambda: snapshot, rect=(0.02, 0.02, 0.96, 0.96), font_size=24, opacity=1.0)
    plain_render = picture()
    pixels = picture([panel])
    top, bottom, left, right = box = window_box(panel)
    assert outside_equal(pixels, plain_render, box)
    assert bottom < SIZE[1] - 20  # fitted to its text: the picture shows below it
    atlas = panel.atlas(SIZE[1])
    cw, ch = atlas.cell
    layout = panel.layout((right - left, bottom - top), atlas)
    lines = telemetry_lines(snapshot)
    texts = plain(lines)
    row = next(i for i, t in enumerate(texts) if "MEM:" in t)
    y = top + layout.text_origin[1] + row * ch + ch // 2
    for label, cells, eighths in (("MEM:", 6, 0), ("UTL:", 10, 6)):  # 25 % and 45 % of 24 cells
        column = texts[row].index(label) + len(label) + 1
        x0 = left + layout.text_origin[0] + column * cw
        color = dict((t.strip(), c) for t, c in lines[row] if t.strip())[label]
        rgb = np.round(np.array(color[:3]) * 255).astype(int)
        lit = (np.abs(pixels[y, x0:x0 + 24 * cw, :3].astype(int) - rgb).max(axis=-1) == 0)
        expected = cells * cw + round(cw * eighths / 8)
        assert lit.sum() == expected and lit[:expected].all()  # one solid run from the bar's start
    inside = pixels[top:bottom, left:right]
    assert distinct_colours(inside) > 20
    aubergine = (np.abs(inside[..., :3].astype(int) - AUBERGINE).max(axis=-1) <= 1).mean()
    assert aubergine > 0.5  # opacity 1: the window's own background


def test_hidden_panels_and_zero_opacity(picture, tmp_path):
    snapshot = fixed_snapshot(tmp_path)
    panel = GpuPanel(FONT, lambda: snapshot, rect=(0.1, 0.1, 0.8, 0.8), font_size=16, opacity=0.0)
    plain_render = picture()
    see_through = picture([panel])
    top, bottom, left, right = window_box(panel)
    title = panel.layout((right - left, bottom - top), panel.atlas(SIZE[1])).title_height
    body = (see_through[top + title:bottom, left:right] == plain_render[top + title:bottom, left:right]).all(axis=-1)
    assert 0.5 < body.mean() < 1.0  # the picture shows through the body; only the text covers it
    panel.visible = False
    assert (picture([panel]) == plain_render).all()


def test_atlas_has_exact_block_elements_and_joined_box_lines():
    for height, size in ((1080, 15), (2160, 30)):  # the font follows the output: 4K doubles it
        atlas = GlyphAtlas(FONT, pixel_size(15, height))
        assert atlas.size == size
        cw, ch = atlas.cell
        assert cw == round(0.6 * size + 0.1) or abs(cw - 0.6 * size) <= 1
        cells = atlas.bitmap.reshape(-1, ch, atlas.columns, cw).transpose(0, 2, 1, 3).reshape(-1, ch, cw)
        for k, c in enumerate(EIGHTHS, start=1):
            cell = cells[atlas.index[c]]
            lit = round(cw * k / 8)
            assert (cell[:, :lit] == 255).all() and (cell[:, lit:] == 0).all()
        horizontal, vertical = cells[atlas.index["─"]], cells[atlas.index["│"]]
        assert (horizontal.max(axis=0) == 255).all() and (vertical.max(axis=1) == 255).all()  # edge to edge
        for c, (up, right, down, left) in BOX.items():
            cell = cells[atlas.index[c]]
            assert bool(cell[0].any()) == bool(up) and bool(cell[-1].any()) == bool(down)
            assert bool(cell[:, 0].any()) == bool(left) and bool(cell[:, -1].any()) == bool(right)
        letter = cells[atlas.index["M"]]
        assert letter.max() == 255 and 0 < (letter > 0).mean() < 0.6
        assert (atlas.glyphs("a ☃") == [atlas.index["a"], -2, atlas.index["?"]]).all()


def test_show_feeds_the_terminal_and_the_overlay_toggles(egl_ctx):
    G = load_generator("demo")
    overlays = build_overlays(OverlaySettings(), panels={"tensor"})
    tensor, gpu = overlays.panels
    surface = HeadlessSurface((320, 180), ctx=egl_ctx)
    show = build_show(G, load_preset(default_preset_path()), surface, upload="host", overlays=overlays.panels)
    player, on_key = show.player, key_handler(show.submit)
    assert not overlays.poller.running  # no thread before the session starts
    session = ShowSession(show, telemetry=overlays.poller).__enter__()

    def settle() -> np.ndarray:
        """Refresh (once at least, so the last change is drawn) until the paused show's frame is on
        screen and the tensor panel's print is of that frame (paused, it stays so); what is on screen."""
        show.step()
        poll(lambda: show.shown.path_time == player.position and tensor.text.last_text == str(show.shown.w[0:2]),
             "the paused frame and its print on screen", step=show.step)
        return surface.read_pixels()

    try:
        assert show.wait_for_first_frame(timeout=30)
        player.pause()
        with_panel = settle()
        assert tensor.text.version >= 1 and tensor.text.last_text == str(show.shown.w[0:2])
        box = window_box(tensor, (320, 180))
        show.overlays = []
        bare = settle()
        assert outside_equal(with_panel, bare, box) and not (with_panel == bare).all()
        show.overlays = overlays.panels
        assert gpu.visible is False and overlays.poller.running  # the session started the telemetry thread
        on_key(KeyEvent(Action.TOGGLE_OVERLAY, 79, 0, 0.0))  # key O
        hidden = settle()  # the key lands at the next frame boundary
        assert not show.params.overlay and (hidden == bare).all()
        on_key(KeyEvent(Action.TOGGLE_OVERLAY, 79, 0, 0.0))
        show.submit(SetParam("overlay_gpu", True))  # as OSC /stylevj/overlay/gpu 1 does
        both = settle()
        assert show.params.overlay and gpu.visible and not (both == with_panel).all()
        show.submit(SetParam("overlay_tensor", False))
        assert (settle()[box[0]:box[1], box[2]:box[3]] == bare[box[0]:box[1], box[2]:box[3]]).all()
    finally:
        session.close()
        show.sink.release()
    assert not overlays.poller.running


def test_stylevj_run_headless_with_both_panels(tmp_path):
    out = tmp_path / "overlay.png"
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "realtime.cli", "run", "--headless", "--size", "480x270", "--overlay", "tensor,gpu",
         "--frames", "10", "--snapshot", str(out), "--no-osc", "--journal", str(tmp_path / "journal.toml")],
        capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "overlay: gpu, tensor" in result.stderr
    pixels = np.asarray(Image.open(out)).astype(int)
    aubergine = np.abs(pixels - AUBERGINE).max(axis=-1) <= 40
    assert aubergine[:, :200].mean() > 0.2 and aubergine[:, 280:].mean() > 0.05  # terminal left, nvitop right


@pytest.mark.parametrize("args, message", [
    (["--overlay", "tensor,cpu"], "--overlay takes a comma list of tensor, gpu"),
    (["--overlay", "gpu", "--font", "/no/such/font.ttf"], "argument --font: /no/such/font.ttf: no such file"),
])
def test_overlay_mistakes_are_one_line(args, message, capsys, tmp_path):
    from realtime.cli import main

    try:
        code = main(["run", "--headless", "--frames", "1", "--no-osc", "--journal", str(tmp_path / "j.toml"), *args])
    except SystemExit as exc:  # refused while the arguments are parsed (argparse's own one line)
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
