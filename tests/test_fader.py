"""The output level (master fader, blackout) on a real EGL framebuffer, and the blackout key.

The compositor dims everything it drew, picture and overlay panels, after compositing: level 1
is bit-identical to no level, 0 is exactly black, 0.5 halves within rounding, whatever state the
overlays left behind. Snapshots and recordings read this same surface (`read_pixels`).
"""

from __future__ import annotations

import glfw
import moderngl
import numpy as np
import pytest
import torch

from realtime.control.keys import KEY_COMMANDS, key_handler
from realtime.display import Compositor, HeadlessSurface, HostSink
from realtime.display import keys
from realtime.display.keys import Action, KeyMap
from realtime.overlay import TerminalPanel, find_font
from realtime.show.commands import ToggleParam

SIZE = (320, 180)  # wider than the 4:3 picture: contain leaves black bars the panel overlaps
PICTURE = (160, 120)
BLACK = np.array([0, 0, 0, 255], dtype=np.uint8)


class WhiteBox:
    """An overlay that paints a white rectangle at the top-left (GL coordinates given as a viewport)."""

    def draw(self, ctx: moderngl.Context, viewport) -> None:
        ctx.clear(1.0, 1.0, 1.0, 1.0, viewport=(0, viewport[3] - 40, 60, 40))


class LeavesScissor(WhiteBox):
    """Paints, then leaves a 1-pixel scissor on the target behind (a careless overlay)."""

    def draw(self, ctx: moderngl.Context, viewport) -> None:
        super().draw(ctx, viewport)
        ctx.scissor = (0, 0, 1, 1)


class LeavesOwnFramebuffer(WhiteBox):
    """Paints, then leaves its own offscreen framebuffer bound (a panel that failed mid-render)."""

    def __init__(self, ctx: moderngl.Context) -> None:
        self.texture = ctx.texture((8, 8), 4)
        self.fbo = ctx.framebuffer(color_attachments=[self.texture])

    def draw(self, ctx: moderngl.Context, viewport) -> None:
        super().draw(ctx, viewport)
        self.fbo.use()

    def release(self) -> None:
        self.fbo.release()
        self.texture.release()


@pytest.fixture
def stage(egl_ctx, frame_pattern):
    """`render(level=..., overlays=..., image=True)` -> RGBA [H, W, 4] of a known picture, contained."""
    compositor, sink = Compositor(egl_ctx, fit="contain"), HostSink(egl_ctx)
    picture = sink.upload(frame_pattern(*PICTURE))

    def render(overlays=(), image=True, **level):
        with HeadlessSurface(SIZE, ctx=egl_ctx) as surface:
            compositor.draw(surface, picture if image else None, overlays=overlays, **level)
            return surface.read_pixels()

    yield render
    sink.release()
    compositor.release()


@pytest.fixture
def panel():
    """A real terminal panel with text on it, over the picture and the right-hand black bar."""
    font = find_font()
    if font is None:
        pytest.skip("no monospace font found for the overlay panel")
    p = TerminalPanel(font, rect=(0.4, 0.1, 0.58, 0.8), font_size=14, opacity=0.9)
    p.update(torch.randn(6, 8, generator=torch.Generator().manual_seed(3)), 0.0)
    return p


def test_level_one_is_bit_identical_to_no_level(stage, panel):
    plain = stage([panel])
    assert not (plain[..., :3] == 0).all()
    assert (stage([panel], level=1.0) == plain).all()
    assert (stage([panel], level=7.0) == plain).all()  # above 1 is clamped, never brighter


@pytest.mark.parametrize("level", [0.0, -0.5])
def test_level_zero_is_exactly_black_picture_and_overlay(stage, panel, level):
    assert (stage([panel, WhiteBox()], level=level) == BLACK).all()


def test_level_zero_before_the_first_frame_is_black_too(stage, panel):
    assert not (stage([panel], image=False)[..., :3] == 0).all()  # the panel alone shows
    assert (stage([panel], image=False, level=0.0) == BLACK).all()


def test_half_level_halves_the_picture_and_the_overlay(stage, panel):
    full, half = stage([panel]), stage([panel], level=0.5)
    assert full[..., :3].max() == 255  # the picture's and the panel's brightest pixels
    error = np.abs(half[..., :3].astype(int) - full[..., :3].astype(int) / 2.0)
    assert error.max() <= 1.0
    assert (half[..., 3] == 255).all()  # the output stays opaque
    # the panel's own pixels (where it differs from the bare picture) are dimmed as well
    drawn = (full != stage()).any(axis=-1)
    assert drawn.sum() > 1000
    assert (half[drawn][:, :3].astype(int) <= full[drawn][:, :3].astype(int) // 2 + 1).all()
    assert (half[drawn][:, :3] < full[drawn][:, :3]).any()


@pytest.mark.parametrize("leaky", ["scissor", "framebuffer"])
def test_dimming_covers_the_whole_output_whatever_an_overlay_left_behind(egl_ctx, stage, leaky):
    overlay = LeavesScissor() if leaky == "scissor" else LeavesOwnFramebuffer(egl_ctx)
    try:
        bright = stage([overlay])
        assert (bright[:40, :60] == 255).all()  # the overlay really painted
        assert (stage([overlay], level=0.0) == BLACK).all()
    finally:
        getattr(overlay, "release", lambda: None)()


def test_a_level_that_is_not_a_number_is_refused_in_one_line(stage):
    with pytest.raises(ValueError, match=r"^output level must be a number from 0 to 1, got nan$"):
        stage(level=float("nan"))


# ---- the blackout key -----------------------------------------------------------------------


def test_key_b_toggles_blackout_once_per_press():
    keymap = KeyMap()
    assert keys.KEY_B == glfw.KEY_B
    event = keymap.handle(glfw.KEY_B, glfw.PRESS, 0, 1.0)
    assert event is not None and event.action is Action.TOGGLE_BLACKOUT
    assert keymap.handle(glfw.KEY_B, glfw.REPEAT, 0, 1.1) is None  # holding B must not flicker
    assert keymap.handle(glfw.KEY_B, glfw.PRESS, glfw.MOD_CONTROL, 1.2) is None  # a desktop shortcut


def test_key_b_submits_the_blackout_toggle():
    sent = []
    on_key = key_handler(lambda command, origin: sent.append((command, origin)) or True)
    on_key(KeyMap().handle(glfw.KEY_B, glfw.PRESS, 0, 0.0))
    assert sent == [(ToggleParam("blackout"), "keys")]
    assert KEY_COMMANDS[Action.TOGGLE_BLACKOUT] == ToggleParam("blackout")
