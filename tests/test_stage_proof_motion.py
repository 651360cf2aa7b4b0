"""Stage-proof II, motion and ranges: valid commands that once killed the show (a path of no
length, huge speeds over tiny segments), a speed held down to 1e-46, and range ends that OSC's
float32 rounds just outside. Real players, a real show with its OSC server on 127.0.0.1."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from realtime.checks import CheckError, integer, number, within_range
from realtime.control.keys import KEY_COMMANDS
from realtime.display.keys import Action
from realtime.latent import Keyframe, Player
from realtime.latent.controls import Controls, Knob
from realtime.latent.paths import ArcLength, CatmullRomPath, LinearPath
from realtime.latent.player import SPEED, SPEED_FLOOR, SPEED_START, PathSettings
from realtime.models import load_generator

from .conftest import SHOW, Rig
from .conftest import osc_message as message


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


def keyframes(*points: torch.Tensor) -> list[Keyframe]:
    return [Keyframe(p.clone(), f"k{n}", f"k{n}") for n, p in enumerate(points)]


def errors(replies) -> list[str]:
    return [p[0] for a, p in replies if a == "/stylevj/error"]


# ---- 1. a path of no length, huge speeds, tiny segments ---------------------------------------


def test_the_six_commands_that_killed_the_show_leave_it_running(demo, tmp_path):
    """Two identical keyframes (psi 0), constant speed on, speed 1, constant speed off: each one
    valid, together once a MemoryError (5e12 loop events in one frame) that ended the show."""
    r = Rig(demo, tmp_path)
    try:
        for address, *args in (("/stylevj/keyframe/clear",), ("/stylevj/keyframe/add/seed", 1, 0.0),
                               ("/stylevj/keyframe/add/seed", 2, 0.0), ("/stylevj/constant_speed", 1),
                               ("/stylevj/speed", 1.0)):
            r.send(message(address, *args))
            r.state()  # applied in turn, the show stepping (with the wall clock) in between
        r.steps(5)
        r.send(message("/stylevj/constant_speed", 0))
        state = r.state()
        r.steps(5)
        r.send(message("/stylevj/speed", 1000.0))  # the top of the range, on a path of no length
        r.steps(5)
        state = r.state()
        assert r.show.running and r.osc.listening
        assert state["commands"]["failed"] == 0
        assert SPEED.lo <= r.show.player.speed <= SPEED.hi
        assert math.isfinite(r.show.player.position)
        assert torch.isfinite(r.show.player.current()).all()
    finally:
        r.close()


@pytest.mark.parametrize("constant_speed", [True, False])
@pytest.mark.parametrize("spline", ["catmull-rom", "linear"])
def test_a_frame_reports_at_most_one_loop_however_fast_and_short_the_path(constant_speed, spline):
    """Speed 1000 over segments 1e-5 long: about 10^6 passes a frame, one event, a finite picture."""
    w = torch.randn(4, 8)
    settings = PathSettings(spline=spline, constant_speed=constant_speed)
    p = Player(keyframes(w, w + 1e-5, w + 2e-5), torch.zeros(8), settings, speed=1000.0)
    for dt in (1 / 60, 1.0, 3600.0):
        events = p.advance(dt)
        assert events in ([], ["loop"])
        assert math.isfinite(p.position) and torch.isfinite(p.current()).all()
    p.set_speed(-1000.0)
    assert p.advance(1 / 60) in ([], ["loop"])


def test_a_constant_speed_path_of_no_length_holds_still_and_keeps_its_speed():
    w = torch.randn(4, 8)
    p = Player(keyframes(w, w), torch.zeros(8), speed=0.25)
    p.set_path_settings(replace(p.settings, constant_speed=True))
    p.set_speed(1.0)
    for _ in range(10):
        assert p.advance(1 / 60) == []
    assert p.position == 0.0 and torch.equal(p.current(), w)
    p.set_path_settings(replace(p.settings, constant_speed=False))
    assert p.speed == 1.0  # no pace to keep on a point: the number stays (was 1e12, outside SPEED)
    p.advance(1 / 60)
    assert math.isfinite(p.position)


def test_a_converted_speed_stays_within_its_range():
    """W+ far apart (10^4) make the mean chord huge: speed 500 in keyframes/s is clamped, not 10^8."""
    w = torch.randn(4, 8)
    p = Player(keyframes(w * 0, w * 1e4, -w * 1e4), torch.zeros(8), speed=500.0)
    p.set_path_settings(replace(p.settings, constant_speed=True))
    assert p.speed == SPEED.hi
    p.set_speed(1e-3)
    p.set_path_settings(replace(p.settings, constant_speed=False))
    assert SPEED.lo <= p.speed <= SPEED.hi


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("closed", [True, False])
def test_catmull_rom_through_coincident_keyframes_is_finite(alpha, closed):
    w = torch.randn(4, 8)
    times = torch.linspace(-3, 5, 97)
    for points in ([w], [w, w], [w, w, w], [w, w + 1e-30, w + 1e-7, w], [w * 1e4, w * 1e4, -w * 1e4]):
        for path in (CatmullRomPath(torch.stack(points), alpha=alpha, closed=closed),
                     LinearPath(torch.stack(points), closed=closed)):
            assert torch.isfinite(path.evaluate(times)).all() and torch.isfinite(path.velocity(times)).all()
            arc = ArcLength(path)
            assert torch.isfinite(arc.distance_at(torch.tensor([0.0, 0.5, 9.0]))).all()
            assert torch.isfinite(arc.time_at(torch.tensor([0.0, 1e-13, 9.0]))).all()


def test_a_single_keyframe_in_constant_speed_then_another_moves_finitely():
    """One open keyframe has no span at all: its distance was 0/0 = NaN, which poisoned the position."""
    w = torch.randn(4, 8)
    p = Player(keyframes(w), torch.zeros(8), PathSettings(closed=False, constant_speed=True), speed=1.0)
    p.advance(0.5)
    p.add(keyframes(w + 1.0)[0])
    for _ in range(30):
        p.advance(1 / 30)
        assert math.isfinite(p.position) and torch.isfinite(p.current()).all()


# ---- 2. the speed floor ---------------------------------------------------------------------------


def test_holding_down_stops_and_up_starts_at_a_useful_speed():
    w = torch.randn(4, 8)
    p = Player(keyframes(w, w + 1, w - 1), torch.zeros(8), speed=0.5)
    for _ in range(400):  # Down held: 0.8 per repeat
        p.scale_speed(0.8)
    assert p.speed == 0.0  # not 3.5e-46
    p.scale_speed(1.25)
    assert p.speed == SPEED_START
    for _ in range(60):
        p.scale_speed(1.25)
    assert p.speed == SPEED.hi  # 60 presses reach the top again
    p.set_speed(-0.02)  # playing backwards: stops, then starts backwards
    p.scale_speed(0.25)
    assert p.speed == 0.0
    p.scale_speed(1.25)
    assert p.speed == -SPEED_START
    p.set_speed(SPEED_FLOOR / 2)  # set exactly (OSC speed): kept, a slow show is allowed
    assert p.speed == SPEED_FLOOR / 2
    p.scale_speed(1.0)
    assert p.speed == SPEED_FLOOR / 2


def test_the_floor_is_a_pace_in_constant_speed_mode_too():
    w = torch.randn(4, 8)
    p = Player(keyframes(w, w + 1, w - 1), torch.zeros(8), PathSettings(constant_speed=True), speed=5.0)
    for _ in range(400):
        p.scale_speed(0.8)
    assert p.speed == 0.0
    p.scale_speed(1.25)
    chord = ArcLength(p.path).total / p.path.length
    assert p.speed == pytest.approx(SPEED_START * chord)


def test_the_down_key_and_osc_speed_scale_share_the_floor(demo, tmp_path):
    r = Rig(demo, tmp_path, text=SHOW.replace("speed = 0.0", "speed = 0.5"))
    try:
        for _ in range(400):
            assert r.show.submit(KEY_COMMANDS[Action.SPEED_DOWN], "keys")
            r.show.step()
        assert r.state()["speed"] == 0.0
        r.send(message("/stylevj/speed/scale", 1.25))
        assert r.state()["speed"] == SPEED_START
        for _ in range(30):
            r.send(message("/stylevj/speed/scale", 0.5))
        state = r.state()
        assert state["speed"] == 0.0 and state["commands"]["failed"] == 0
        r.show.submit(KEY_COMMANDS[Action.SPEED_UP], "keys")
        r.show.step()
        assert r.show.player.speed == SPEED_START
    finally:
        r.close()


# ---- 3. range ends as float32 ---------------------------------------------------------------------


@pytest.mark.parametrize("lo, hi", [(1e-9, 4.0), (-1000.0, 1000.0), (0.1, 0.7), (-2.0, 2.0), (0.01, 100.0)])
def test_every_number_range_accepts_its_own_ends_as_float32(lo, hi):
    check = number(lo, hi)
    for end in (lo, hi):
        as_float32 = float(np.float32(end))  # may round just outside the range, or just inside
        accepted = check(as_float32)
        assert lo <= accepted <= hi and abs(accepted - end) <= abs(end) * 2**-23
        assert accepted == (end if not lo <= as_float32 <= hi else as_float32)  # outside: clamped to the end
        assert within_range(as_float32, lo, hi) == accepted
    below = lo - abs(lo) * 1e-5 - 1e-12
    with pytest.raises(CheckError):
        check(below)  # further out than float32 rounding: still refused


def test_integers_are_exact():
    with pytest.raises(CheckError):
        integer(0, 10)(11)


def test_a_knob_takes_its_range_ends_as_float32():
    controls = Controls()
    controls.add(Knob("z", 1e-9, 4.0, bend="zoom", resolution=8))
    controls.set("z", float(np.float32(1e-9)))
    assert controls.value("z") == 1e-9
    controls.set("z", float(np.float32(4.0)))
    assert controls.value("z") == 4.0
    with pytest.raises(Exception, match="must be within"):
        controls.set("z", 5e-10)


def test_zoom_low_end_sent_over_osc_as_float32_is_accepted(demo, tmp_path):
    text = SHOW + '[[controls]]\nname = "z"\nbend = "zoom"\nresolution = 8\nrange = [1e-9, 4]\n'
    r = Rig(demo, tmp_path, text=text)
    try:
        r.send(message("/stylevj/control/z", 1e-9))  # pythonosc sends a Python float as float32
        r.send(message("/stylevj/speed", 1000.0))
        r.send(message("/stylevj/speed", -1000.0))
        got = errors(r.replies(1.0))
        assert got == [], got
        assert r.show.player.controls.value("z") == 1e-9 and r.show.player.speed == -1000.0
    finally:
        r.close()


def test_render_loops_of_a_path_of_no_length_is_a_clear_refusal():
    from realtime.record.render import loop_frames

    w = torch.randn(4, 8)
    for settings in (PathSettings(closed=False), PathSettings(constant_speed=True)):
        points = [w] if not settings.closed else [w, w]
        with pytest.raises(ValueError, match="all one point"):
            loop_frames(Player(keyframes(*points), torch.zeros(8), settings, speed=1.0), 60, 2)
