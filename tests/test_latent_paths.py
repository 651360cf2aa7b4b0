"""Motion quality of the paths through W+: the contract formula, C1 continuity, constant speed."""

from __future__ import annotations

import math

import pytest
import torch

from realtime.latent import ArcLength, CatmullRomPath, LinearPath


def uneven_keyframes(seed: int = 0, K: int = 6) -> torch.Tensor:
    """Keyframes with very uneven spacing: some close together, some far apart."""
    g = torch.Generator().manual_seed(seed)
    points = torch.randn(K, 4, 16, generator=g)
    scale = torch.tensor([1.0, 0.05, 3.0, 0.2, 1.5, 0.02][:K]).view(-1, 1, 1)
    return torch.cumsum(points * scale, dim=0)


def contract_formula(P: torch.Tensor, i: int, u: float, closed: bool) -> torch.Tensor:
    K = P.shape[0]
    idx = [(i + k) % K if closed else min(max(i + k, 0), K - 1) for k in (-1, 0, 1, 2)]
    p0, p1, p2, p3 = (P[j].double() for j in idx)
    return 0.5 * (2 * p1 + (-p0 + p2) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u**2 + (-p0 + 3 * p1 - 3 * p2 + p3) * u**3)


def angle_deg(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten().double(), b.flatten().double()
    cos = float(a @ b / (a.norm() * b.norm()))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


@pytest.mark.parametrize("closed", [True, False])
def test_uniform_alpha_0_equals_the_contract_formula(closed):
    P = uneven_keyframes()
    path = CatmullRomPath(P, alpha=0.0, closed=closed)
    for i in range(path.num_segments):
        for u in (0.0, 0.13, 0.5, 0.77, 0.999):
            expected = contract_formula(P, i, u, closed)
            got = path.evaluate(torch.tensor([i + u], dtype=torch.float64))[0].double()
            assert (got - expected).abs().max() <= 1e-5 * expected.abs().max()


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("closed", [True, False])
def test_passes_through_every_keyframe(alpha, closed):
    P = uneven_keyframes()
    path = CatmullRomPath(P, alpha=alpha, closed=closed)
    assert torch.allclose(path.evaluate(torch.arange(P.shape[0]).double()), P, atol=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_catmull_rom_direction_is_continuous_at_keyframes_and_linear_is_not(alpha):
    P = uneven_keyframes()
    K = P.shape[0]
    spline, linear = CatmullRomPath(P, alpha=alpha, closed=True), LinearPath(P, closed=True)
    eps = 1e-4
    for k in range(K):
        before, after = torch.tensor([k - eps], dtype=torch.float64), torch.tensor([k + eps], dtype=torch.float64)
        assert angle_deg(spline.velocity(before)[0], spline.velocity(after)[0]) < 1.0
        assert angle_deg(linear.velocity(before)[0], linear.velocity(after)[0]) > 10.0


def test_velocity_is_the_derivative():
    path = CatmullRomPath(uneven_keyframes(), alpha=0.5, closed=True)
    t = torch.tensor([0.3, 2.71, 4.5], dtype=torch.float64)
    h = 1e-3
    numeric = (path.evaluate(t + h) - path.evaluate(t - h)) / (2 * h)
    assert torch.allclose(path.velocity(t), numeric, rtol=1e-3, atol=1e-3)


def test_centripetal_does_not_overshoot_where_uniform_does():
    # Two close keyframes between far ones: the uniform spline loops past them.
    P = torch.tensor([[0.0, 0.0], [10.0, 0.0], [10.2, 0.0], [20.0, 0.0]]).view(4, 1, 2)
    t = torch.linspace(1.0, 2.0, 201, dtype=torch.float64)
    uniform_x = CatmullRomPath(P, alpha=0.0, closed=False).evaluate(t)[:, 0, 0]
    centripetal_x = CatmullRomPath(P, alpha=0.5, closed=False).evaluate(t)[:, 0, 0]
    assert uniform_x.min() < 10.0 - 1e-3 or uniform_x.max() > 10.2 + 1e-3
    assert centripetal_x.min() >= 10.0 - 1e-4 and centripetal_x.max() <= 10.2 + 1e-4


def test_repeated_keyframes_are_finite():
    P = torch.randn(4, 2, 3)
    P[2] = P[1]
    path = CatmullRomPath(P, alpha=0.5, closed=True)
    assert torch.isfinite(path.evaluate(torch.linspace(0, 4, 50))).all()


def test_constant_speed_steps_are_even_on_uneven_keyframes():
    path = CatmullRomPath(uneven_keyframes(), alpha=0.5, closed=True)
    arc = ArcLength(path)
    frames = 600
    s = torch.linspace(0.0, arc.total, frames + 1, dtype=torch.float64)[:-1]
    w = path.evaluate(arc.time_at(s)).flatten(1).double()
    steps = (w[1:] - w[:-1]).norm(dim=1)
    cv = float(steps.std() / steps.mean())
    assert cv < 0.02
    # while plain keyframe-time stepping is very uneven on the same path
    plain = path.evaluate(torch.linspace(0.0, path.length, frames + 1, dtype=torch.float64)[:-1]).flatten(1).double()
    plain_steps = (plain[1:] - plain[:-1]).norm(dim=1)
    assert float(plain_steps.std() / plain_steps.mean()) > 0.5


def test_arc_length_inverse_round_trips():
    arc = ArcLength(CatmullRomPath(uneven_keyframes(), alpha=0.5, closed=False))
    t = torch.tensor([0.0, 0.5, 1.7, 3.3, 5.0], dtype=torch.float64)
    assert torch.allclose(arc.time_at(arc.distance_at(t)), t, atol=1e-6)


def test_single_keyframe_path_is_constant():
    P = torch.randn(1, 3, 4)
    for closed in (True, False):
        path = CatmullRomPath(P, closed=closed)
        assert torch.allclose(path.evaluate(torch.tensor([0.0, 0.4, 3.0])), P.expand(3, -1, -1))
