"""Network bending: exact and free when neutral, and each transform does what its name says."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from realtime.models import load_generator
from realtime.models.bending import Bend, BendError, bends_by_resolution, channel_gains


@pytest.fixture(scope="module")
def nvada(fixtures):
    return load_generator(fixtures / "nvada_tiny.pkl")


@pytest.fixture(scope="module")
def ws(nvada):
    z = torch.randn(8, nvada.z_dim, generator=torch.Generator().manual_seed(1))
    return nvada.mapping(z, truncation_psi=0.7)


def coarse_error(a: torch.Tensor, b: torch.Tensor, size: int = 4) -> float:
    """RMS difference of the pictures' coarse structure (average-pooled to size x size)."""
    return float((F.adaptive_avg_pool2d(a, size) - F.adaptive_avg_pool2d(b, size)).square().mean().sqrt())


# -- exact when neutral -------------------------------------------------------------------------


@torch.no_grad()
@pytest.mark.parametrize("res", [4, 8, 16, 32])
def test_a_neutral_bend_is_bit_identical_at_every_resolution(nvada, ws, res):
    plain = nvada.synthesis(ws)
    neutral = [
        Bend(res), Bend(res, translate=(0.0, 0.0), rotate=0.0, zoom=1.0), Bend(res, rotate=360.0),
        Bend(res, gain=(1.0,) * 64), [Bend(res), Bend(4 if res != 4 else 8)],
    ]
    for bend in neutral:
        assert torch.equal(nvada.synthesis(ws, bend=bend), plain), bend


def test_neutral_bends_are_dropped_before_the_loop():
    assert bends_by_resolution(Bend(8), (4, 8, 16)) is None
    assert bends_by_resolution([Bend(8), Bend(16, flip_x=True)], (4, 8, 16)) == {16: Bend(16, flip_x=True)}


@torch.no_grad()
def test_bend_none_costs_nothing_but_a_test(nvada, ws, monkeypatch):
    # With bend=None no bending code runs at all: a Bend.apply that raised would not be reached.
    def boom(*args, **kwargs):
        raise AssertionError("bending ran with no bend set")

    monkeypatch.setattr(Bend, "apply", boom)
    monkeypatch.setattr("realtime.models.generator.bends_by_resolution", boom)
    nvada.synthesis(ws)


# -- each transform ----------------------------------------------------------------------------


@torch.no_grad()
def test_flip_and_shift_at_the_output_resolution_mirror_and_move_the_picture_exactly(nvada, ws):
    # ToRGB is per pixel, so bending the last block's features (and the image so far) is the same
    # as bending the picture.
    plain = nvada.synthesis(ws)
    flipped = nvada.synthesis(ws, bend=Bend(32, flip_x=True))
    assert torch.allclose(flipped, plain.flip(3), atol=1e-6, rtol=0)
    moved = nvada.synthesis(ws, bend=Bend(32, translate=(0.25, -0.125)))
    assert torch.allclose(moved, plain.roll((-4, 8), dims=(2, 3)), atol=1e-6, rtol=0)


@torch.no_grad()
def test_flipping_the_coarsest_features_flips_the_coarse_structure(nvada, ws):
    plain = nvada.synthesis(ws)
    for res, at_most in ((4, 0.8), (8, 0.6)):
        bent = nvada.synthesis(ws, bend=Bend(res, flip_x=True))
        # Measured: 0.67 at 4 px and 0.40 at 8 px (later convolutions are not mirror-symmetric).
        assert coarse_error(bent, plain.flip(3)) < at_most * coarse_error(bent, plain), res


@torch.no_grad()
def test_translating_coarse_features_moves_the_content(nvada, ws):
    plain = nvada.synthesis(ws)
    bent = nvada.synthesis(ws, bend=Bend(8, translate=(0.25, 0.0)))  # 2 px of 8: a quarter
    to_moved = coarse_error(bent, plain.roll(8, dims=3), size=8)
    assert to_moved < 0.5 * coarse_error(bent, plain, size=8)  # measured 0.20 vs 1.01
    assert to_moved < 0.5 * coarse_error(bent, plain.roll(-8, dims=3), size=8)  # and the right way


def test_rotation_is_counter_clockwise_on_screen():
    x = torch.randn(2, 5, 8, 8)
    rotated, img = Bend(8, rotate=90.0).apply(x, None)
    assert img is None
    assert torch.allclose(rotated, torch.rot90(x, 1, dims=(2, 3)), atol=1e-5)  # numpy's rot90 is CCW as shown


def test_fractional_wrapped_shift_interpolates_across_the_seam():
    x = torch.randn(1, 3, 8, 8)
    half_pixel, _ = Bend(8, translate=(1 / 16, 0.0)).apply(x, None)
    assert torch.allclose(half_pixel, 0.5 * (x + x.roll(1, dims=3)), atol=1e-5)


def test_zoom_magnifies_about_the_centre():
    ramp = torch.arange(16.0).view(1, 1, 1, 16).expand(1, 1, 16, 16)
    zoomed, _ = Bend(16, zoom=2.0, edge="border").apply(ramp, None)
    slope = zoomed[0, 0, 8, 5:11].diff()
    assert torch.allclose(slope, torch.full_like(slope, 0.5))  # twice as wide
    assert abs(float(zoomed[0, 0, 8, 7:9].mean()) - 7.5) < 1e-4  # the centre stays put


@torch.no_grad()
def test_channel_gain_masks_channels(nvada, ws):
    plain = nvada.synthesis(ws)
    half_off = nvada.synthesis(ws, bend=Bend(16, gain=channel_gains(64, 0.0, range(32))))
    all_off = nvada.synthesis(ws, bend=Bend(16, gain=channel_gains(64, 0.0)))
    assert not torch.allclose(half_off, plain, atol=1e-3)
    assert not torch.allclose(half_off, all_off, atol=1e-3)
    twice = Bend(16, gain=channel_gains(64, 2.0, [3]))
    x = torch.ones(1, 64, 16, 16)
    out, _ = twice.apply(x, torch.zeros(1, 3, 16, 16))
    assert out[0, 3].eq(2).all() and out[0, 4].eq(1).all()


# -- refused settings ---------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, words", [
    ({"resolution": 12}, "power of two"),
    ({"resolution": 8, "zoom": 0.0}, "zoom"),
    ({"resolution": 8, "rotate": float("nan")}, "finite"),
    ({"resolution": 8, "edge": "mirror"}, "edge"),
    ({"resolution": 8, "translate": (1.0,)}, "translate"),
])
def test_bad_settings_are_one_line_errors(kwargs, words):
    with pytest.raises(BendError, match=words) as err:
        Bend(**kwargs)
    assert "\n" not in str(err.value)


@torch.no_grad()
def test_a_bend_that_does_not_fit_the_generator_names_why(nvada, ws):
    with pytest.raises(BendError, match="64 px: this generator's blocks are at 4, 8, 16, 32 px"):
        nvada.synthesis(ws, bend=Bend(64, flip_x=True))
    with pytest.raises(BendError, match="3 channel gains given, the layer has 64 channels"):
        nvada.synthesis(ws, bend=Bend(8, gain=(0.0, 1.0, 1.0)))
    with pytest.raises(BendError, match="two bends at 8 px"):
        nvada.synthesis(ws, bend=[Bend(8, flip_x=True), Bend(8, flip_y=True)])
    with pytest.raises(BendError, match="out of range"):
        channel_gains(4, 0.0, [4])
