"""The live player: wall-clock motion, loops, and edits without visible jumps."""

from __future__ import annotations

import random

import pytest
import torch

from realtime.latent import Keyframe, PathSettings, Player, StyleMix

from .test_latent_paths import uneven_keyframes

FPS = 60
DT = 1.0 / FPS


def keyframes(P: torch.Tensor) -> list[Keyframe]:
    return [Keyframe(P[i].clone(), f"k{i}", "test") for i in range(P.shape[0])]


def make_player(**kw) -> Player:
    P = uneven_keyframes()
    return Player(keyframes(P), w_avg=torch.zeros(P.shape[-1]), **kw)


def test_motion_follows_the_wall_clock_not_the_frame_count():
    a, b = make_player(speed=0.5), make_player(speed=0.5)
    for _ in range(60):
        a.advance(1 / 60)
    for _ in range(24):
        b.advance(1 / 24)
    assert a.position == pytest.approx(0.5) and b.position == pytest.approx(0.5)
    assert torch.allclose(a.current(), b.current(), atol=1e-5)


def test_loop_event_each_pass_over_keyframe_zero_both_directions():
    p = make_player(speed=2.0)  # 6 keyframes closed: a loop every 3 s
    events = [e for _ in range(FPS * 7) for e in p.advance(DT)]
    assert events.count("loop") == 2
    p.set_speed(-2.0)
    events = [e for _ in range(FPS * 7) for e in p.advance(DT)]
    assert events.count("loop") == 2
    assert p.position == pytest.approx(0.0, abs=0.05) or p.position == pytest.approx(6.0, abs=0.05)


def test_negative_speed_plays_backwards_and_pause_holds():
    p = make_player(speed=-1.0)
    p.advance(0.25)
    assert p.position == pytest.approx(5.75)
    w = p.current().clone()
    p.pause()
    p.advance(1.0)
    assert torch.equal(p.current(), w)
    p.play()
    p.advance(0.25)
    assert p.position == pytest.approx(5.5)


def test_open_path_plays_back_and_forth_without_jumping():
    p = make_player(speed=1.0, settings=PathSettings(closed=False))
    positions = []
    for _ in range(FPS * 12):
        p.advance(DT)
        positions.append(p.position)
    assert max(positions) == pytest.approx(5.0, abs=0.02) and min(positions) >= 0.0
    steps = [abs(b - a) for a, b in zip(positions, positions[1:])]
    assert max(steps) <= DT + 1e-9


def test_goto_keyframe_arrives_there_after_the_blend():
    p = make_player(speed=0.0, settings=PathSettings(blend=0.5))
    p.goto_keyframe(3)
    assert p.position == pytest.approx(3.0)
    for _ in range(FPS):
        p.advance(DT)
    assert torch.allclose(p.current(), p.keyframes[3].w, atol=1e-5)


def test_truncation_and_mixing_apply_after_interpolation():
    P = uneven_keyframes()
    w_avg = torch.randn(P.shape[-1])
    p = Player(keyframes(P), w_avg=w_avg, speed=0.0, truncation=0.5)
    assert torch.allclose(p.current(), w_avg + 0.5 * (P[0] - w_avg), atol=1e-5)
    p.set_mix(StyleMix(keyframe=2, layers=(1, 2)))
    w = p.raw()
    assert torch.equal(w[1:3], P[2][1:3]) and torch.allclose(w[0], P[0][0]) and torch.allclose(w[3], P[0][3])


def worst_step_ratio_after_an_edit(edit, seed: int, constant_speed: bool = False) -> float:
    """Largest ratio, over the 3 s after an edit, of the shown W+ step to the normal step: the
    larger of the old curve's step just before the edit and the new curve's own (unblended)
    step at that frame. Keyframe spacing is very uneven, so the normal step varies a lot."""
    speed = 0.6 if not constant_speed else 8.0
    p = make_player(speed=speed, settings=PathSettings(constant_speed=constant_speed, blend=0.3))
    rng = random.Random(seed)
    for _ in range(rng.randrange(10, 300)):
        p.advance(DT)
    prev = p.current()
    p.advance(DT)
    old_step = float((p.current() - prev).norm())
    prev = p.current()
    edit(p, rng)
    prev_curve = p.path.evaluate(p.position)[0]
    worst = 0.0
    for _ in range(FPS * 3):
        p.advance(DT)
        w, curve = p.current(), p.path.evaluate(p.position)[0]
        normal = max(old_step, float((curve - prev_curve).norm()))
        worst = max(worst, float((w - prev).norm()) / normal)
        prev, prev_curve = w, curve
    return worst


def add_seed(p: Player, rng: random.Random) -> None:
    g = torch.Generator().manual_seed(rng.randrange(1000))
    p.add(Keyframe(torch.randn(4, 16, generator=g) * 2, "new", "test"), rng.randrange(len(p.keyframes) + 1))


def remove_one(p: Player, rng: random.Random) -> None:
    p.remove(rng.randrange(len(p.keyframes)))


def replace_one(p: Player, rng: random.Random) -> None:
    g = torch.Generator().manual_seed(rng.randrange(1000))
    p.replace(rng.randrange(len(p.keyframes)), Keyframe(torch.randn(4, 16, generator=g) * 2, "r", "test"))


def move_one(p: Player, rng: random.Random) -> None:
    p.move(rng.randrange(len(p.keyframes)), rng.randrange(len(p.keyframes)))


@pytest.mark.parametrize("edit", [add_seed, remove_one, replace_one, move_one], ids=["insert", "remove", "replace", "move"])
@pytest.mark.parametrize("constant_speed", [False, True], ids=["keyframe-time", "constant-speed"])
def test_live_edits_never_jump(edit, constant_speed):
    for seed in range(12):
        ratio = worst_step_ratio_after_an_edit(edit, seed, constant_speed)
        assert ratio <= 2.0, f"seed {seed}: a step {ratio:.2f}x the normal one"


def test_constant_speed_player_steps_evenly():
    p = make_player(speed=5.0, settings=PathSettings(constant_speed=True))
    prev = p.current()
    steps = []
    loops = 0
    while loops < 1:
        loops += p.advance(DT).count("loop")
        w = p.current()
        steps.append(float((w - prev).norm()))
        prev = w
    steps = torch.tensor(steps[:-1])
    assert float(steps.std() / steps.mean()) < 0.02


def test_clear_holds_the_last_picture_and_add_resumes():
    p = make_player(speed=0.5)
    p.advance(0.7)
    w = p.current().clone()
    p.clear()
    p.advance(1.0)
    assert torch.equal(p.current(), w) and p.keyframes == ()
    p.add(Keyframe(torch.zeros(4, 16), "z", "test"))
    p.advance(2.0)
    assert torch.allclose(p.current(), torch.zeros(4, 16), atol=1e-5)


def test_switching_to_constant_speed_keeps_place():
    p = make_player(speed=0.5)
    p.advance(1.3)
    t = p.position
    p.set_path_settings(PathSettings(constant_speed=True))
    assert p.position == pytest.approx(t, abs=1e-3)
    assert p.speed > 0


def test_bad_indices_raise():
    p = make_player()
    with pytest.raises(IndexError):
        p.remove(6)
    with pytest.raises(IndexError):
        p.move(0, 9)
