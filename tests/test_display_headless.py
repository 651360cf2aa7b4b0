"""The compositor on an offscreen EGL framebuffer: pixels read back as a user would see them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realtime.display import Compositor, Fit, HeadlessSurface, HostSink, Surface, fit_image

BLACK = np.array([0, 0, 0, 255], dtype=np.uint8)
MAGENTA = np.array([255, 0, 255, 255], dtype=np.uint8)


@pytest.fixture
def compositor(egl_ctx):
    comp = Compositor(egl_ctx)
    yield comp
    comp.release()


@pytest.fixture
def sink(egl_ctx):
    s = HostSink(egl_ctx)
    yield s
    s.release()


def render(ctx, compositor, size, image, prev=None, mix=1.0, overlays=(), fit="stretch"):
    with HeadlessSurface(size, ctx=ctx) as surface:
        compositor.fit = fit
        compositor.draw(surface, image, prev, mix, overlays)
        return surface.read_pixels()


def close(a: np.ndarray, b: np.ndarray, tol: int = 1) -> bool:
    return a.shape == b.shape and int(np.abs(a.astype(int) - b.astype(int)).max()) <= tol


def test_headless_surface_is_a_surface_and_reads_top_row_first(egl_ctx):
    with HeadlessSurface((8, 4), ctx=egl_ctx) as surface:
        assert isinstance(surface, Surface)
        surface.use()
        egl_ctx.clear(1.0, 0.0, 0.0, 1.0)
        egl_ctx.clear(0.0, 0.0, 1.0, 1.0, viewport=(0, 3, 8, 1))  # GL y=3 is the top row
        pixels = surface.read_pixels()
        assert pixels.shape == (4, 8, 4) and pixels.dtype == np.uint8
        assert (pixels[0] == [0, 0, 255, 255]).all() and (pixels[1:] == [255, 0, 0, 255]).all()
        assert not surface.should_close
    assert surface.should_close


def test_headless_surface_with_its_own_context():
    with HeadlessSurface((16, 16)) as surface:
        assert surface.ctx.version_code >= 330
        surface.use()
        surface.ctx.clear(0.0, 1.0, 0.0, 1.0)
        assert (surface.read_pixels() == [0, 255, 0, 255]).all()


def test_stretch_same_size_is_exact_and_upright(egl_ctx, compositor, sink, frame_pattern):
    frame = frame_pattern(64, 48)
    pixels = render(egl_ctx, compositor, (64, 48), sink.upload(frame))
    assert close(pixels, frame.numpy())
    assert (pixels[0, 0] == MAGENTA).all()  # the marker stays top-left: not flipped either way
    for corner in (pixels[0, -1], pixels[-1, 0], pixels[-1, -1]):
        assert not (corner == MAGENTA).all()


def test_contain_in_a_wider_target_pillarboxes(egl_ctx, compositor, sink, frame_pattern):
    frame = frame_pattern(64, 48)
    pixels = render(egl_ctx, compositor, (128, 48), sink.upload(frame), fit="contain")
    assert (pixels[:, :32] == BLACK).all() and (pixels[:, 96:] == BLACK).all()
    assert close(pixels[:, 32:96], frame.numpy())
    assert (pixels[0, 32] == MAGENTA).all()


def test_contain_in_a_taller_target_letterboxes_and_scales(egl_ctx, compositor, sink, frame_pattern):
    frame = frame_pattern(64, 48)
    pixels = render(egl_ctx, compositor, (128, 192), sink.upload(frame), fit="contain")  # image scaled x2 to 128x96
    assert (pixels[:48] == BLACK).all() and (pixels[144:] == BLACK).all()
    assert not (pixels[48:144, :, :3] == 0).all(axis=-1).any()  # no black inside the picture
    # the 4x4 marker became 8x8 at the picture's top-left (its inner 7x7 untouched by filtering)
    assert (pixels[48:55, 0:7] == MAGENTA).all()
    assert not (pixels[137:144, 0:7] == MAGENTA).all(axis=-1).any()
    assert close(pixels[143, 127], frame.numpy()[47, 63]) and close(pixels[48, 127], frame.numpy()[0, 63])


def test_cover_crops_evenly(egl_ctx, compositor, sink, frame_pattern):
    frame = frame_pattern(64, 48)
    pixels = render(egl_ctx, compositor, (48, 48), sink.upload(frame), fit="cover")
    assert close(pixels, frame.numpy()[:, 8:56])  # 8 columns cut from each side
    tall = render(egl_ctx, compositor, (64, 32), sink.upload(frame), fit="cover")
    assert close(tall, frame.numpy()[8:40])  # 8 rows cut from top and bottom


def test_cross_fade_mixes_previous_and_current(egl_ctx, compositor, sink, frame_pattern):
    first = frame_pattern(32, 32, seed=0)
    second = frame_pattern(32, 32, seed=1).flip(1).contiguous()
    sink.upload(first)
    sink.upload(second)
    assert sink.current is not sink.previous
    average = (first.int() + second.int()).div(2).numpy()
    half = render(egl_ctx, compositor, (32, 32), sink.current, sink.previous, mix=0.5)
    assert close(half, average)
    assert close(render(egl_ctx, compositor, (32, 32), sink.current, sink.previous, mix=0.0), first.numpy())
    assert close(render(egl_ctx, compositor, (32, 32), sink.current, sink.previous, mix=1.0), second.numpy())


def test_cross_fade_ignores_a_previous_frame_of_another_size(egl_ctx, compositor, frame_pattern):
    small, big = HostSink(egl_ctx), HostSink(egl_ctx)
    try:
        prev = small.upload(frame_pattern(16, 16, seed=1))
        frame = frame_pattern(32, 32)
        pixels = render(egl_ctx, compositor, (32, 32), big.upload(frame), prev, mix=0.0)
        assert close(pixels, frame.numpy())
    finally:
        small.release()
        big.release()


class RedBox:
    """An overlay panel: fills a rectangle at the top-right, remembering what it was handed."""

    def __init__(self) -> None:
        self.viewports = []

    def draw(self, ctx, viewport):
        self.viewports.append(viewport)
        x, y, w, h = viewport
        ctx.clear(1.0, 0.0, 0.0, 1.0, viewport=(x + w - 10, y + h - 6, 10, 6))


def test_overlays_draw_after_the_image(egl_ctx, compositor, sink, frame_pattern):
    frame = frame_pattern(40, 30)
    box = RedBox()
    pixels = render(egl_ctx, compositor, (40, 30), sink.upload(frame), overlays=[box])
    assert box.viewports == [(0, 0, 40, 30)]
    assert (pixels[:6, 30:] == [255, 0, 0, 255]).all()  # over the picture, top-right
    assert close(pixels[6:], frame.numpy()[6:]) and close(pixels[:6, :30], frame.numpy()[:6, :30])


def test_no_frame_yet_draws_black(egl_ctx, compositor):
    assert (render(egl_ctx, compositor, (20, 10), None) == BLACK).all()


def test_host_sink_rebuilds_on_resize_and_keeps_a_ring(egl_ctx, sink, frame_pattern):
    assert sink.current is None and sink.size is None
    a = sink.upload(frame_pattern(16, 8))
    b = sink.upload(frame_pattern(16, 8, seed=1))
    c = sink.upload(frame_pattern(16, 8, seed=2))
    assert c is a and sink.previous is b  # two slots, reused in turn
    resized = sink.upload(frame_pattern(24, 12))
    assert resized.size == (24, 12) and sink.size == (24, 12)
    assert sink.previous is None  # nothing of the new size to fade from yet
    assert np.frombuffer(resized.read(), np.uint8).reshape(12, 24, 4)[0, 0].tolist() == [255, 0, 255, 255]


def test_host_sink_takes_views_and_rejects_what_is_not_rgba8(sink, frame_pattern):
    view = frame_pattern(32, 16)[:, ::2]  # non-contiguous CPU view is fine
    assert sink.upload(view).size == (16, 16)
    with pytest.raises(ValueError, match=r"uint8 \[H, W, 4\]"):
        sink.upload(torch.zeros(8, 8, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="uint8"):
        sink.upload(torch.zeros(8, 8, 4))


def test_fit_validation(compositor):
    compositor.fit = "cover"
    assert compositor.fit is Fit.COVER
    with pytest.raises(ValueError, match="contain"):
        compositor.fit = "zoom"


@pytest.mark.parametrize("image, target, fit, rect, uv", [
    ((64, 48), (128, 48), "contain", (32, 0, 64, 48), (0.0, 0.0, 1.0, 1.0)),
    ((64, 48), (64, 97), "contain", (0, 25, 64, 48), (0.0, 0.0, 1.0, 1.0)),  # odd spare row goes to the bottom
    ((1024, 1024), (1920, 1080), "contain", (420, 0, 1080, 1080), (0.0, 0.0, 1.0, 1.0)),
    ((1024, 1024), (1920, 1080), "cover", (0, 0, 1920, 1080), (0.0, 0.21875, 1.0, 0.78125)),
    ((64, 48), (48, 48), "cover", (0, 0, 48, 48), (0.125, 0.0, 0.875, 1.0)),
    ((64, 48), (10, 300), "stretch", (0, 0, 10, 300), (0.0, 0.0, 1.0, 1.0)),
    ((64, 48), (0, 0), "cover", (0, 0, 0, 0), (0.0, 0.0, 1.0, 1.0)),  # minimised window
])
def test_fit_image(image, target, fit, rect, uv):
    got_rect, got_uv = fit_image(image, target, fit)
    assert got_rect == rect
    assert got_uv == pytest.approx(uv)
