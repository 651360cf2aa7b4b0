"""The show loop on a real offscreen GL surface: exact pictures, pacing, errors, commands."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
from PIL import Image

from realtime.control import key_handler
from realtime.display import HeadlessSurface
from realtime.display.keys import Action, KeyEvent
from realtime.latent import Keyframe, Player
from realtime.models import load_generator
from realtime.presets import Preset, default_preset_path, load_preset
from realtime.session import ShowSession, build_show
from realtime.show.loop import MAX_COMMANDS_PER_FRAME
from realtime.show.commands import AddSeedKeyframe, RemoveKeyframe

from .conftest import FakeClock, SlowGenerator, poll


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


def make_show(G, preset=None, generator=None, fit="stretch", size=None, clock=None):
    """A running headless show and its session (close the session to end it)."""
    show = build_show(G, preset or load_preset(default_preset_path()), HeadlessSurface(size or (G.resolution, G.resolution)),
                      upload="host", fit=fit)
    if generator is not None:
        show.worker.G = generator
    if clock is not None:
        show.clock = clock
    return show, ShowSession(show).__enter__()


def expected_pixels(G, w: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        img = G.synthesis(w.unsqueeze(0))[0]
    return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def test_screen_equals_the_generators_own_frame_for_that_path_time(demo):
    show, session = make_show(demo)
    player = show.player
    try:
        show.run(frames=20, pace_hz=60)
        player.pause()
        assert show.wait_for_first_frame()
        # refresh until the generator's frame for the paused place is the one on screen
        frame = poll(lambda: show.shown if show.shown.path_time == player.position else None,
                     "the paused place's frame on screen", step=show.step)
        assert frame.path_time == player.position
        assert torch.allclose(frame.w, player.sample(torch.tensor([frame.path_time], dtype=torch.float64))[0], atol=1e-5)
        pixels = show.surface.read_pixels()[..., :3].astype(int)
        assert np.abs(pixels - expected_pixels(demo, frame.w)).max() <= 1
    finally:
        session.close()


def test_display_never_waits_for_a_held_generator_and_motion_follows_the_clock(demo):
    gate = threading.Event()  # the generator is stuck inside synthesis until the test opens it
    clock = FakeClock()
    show, session = make_show(demo, generator=SlowGenerator(demo, gate=gate), clock=clock)
    try:
        for _ in range(120):  # two seconds of refreshes while no frame can be finished
            clock.advance(1 / 60)
            show.step()
        assert show.stats.refreshes == 120 and show.stats.frames_shown == 0
        assert show.player.position == pytest.approx(show.player.speed * 119 / 60)  # 119 clock steps after the first
        gate.set()
        assert show.wait_for_first_frame(timeout=60)
        while show.stats.frames_shown < 2:
            show.step()
        # the held request was the first; the next frame is the newest request, the 118 between skipped
        assert show.worker.frames_done == 2 and show.shown.path_time == pytest.approx(show.player.position)
    finally:
        gate.set()
        session.close()


def test_generator_errors_keep_the_last_good_frame(demo, caplog):
    clock = FakeClock()  # every refresh asks for a new place, however fast the machine is
    show, session = make_show(demo, generator=SlowGenerator(demo, fail_after=1), clock=clock)
    surface, worker = show.surface, show.worker

    def refresh() -> None:
        clock.advance(1 / 60)
        show.step()

    try:
        assert show.wait_for_first_frame()
        good = surface.read_pixels().copy()
        with caplog.at_level("ERROR"):
            poll(lambda: worker.errors >= 3, "three failed frames", step=refresh)
            for _ in range(5):  # refreshes after the failures: the screen must still hold the good frame
                refresh()
        assert worker.errors >= 3
        assert caplog.text.count("CUDA out of memory (simulated)") == 1  # logged once, not per frame
        assert np.array_equal(surface.read_pixels(), good)
        assert good[..., :3].std() > 5  # a picture, not black
        state = show.board.latest()
        assert state.generator_errors >= 2 and "simulated" in state.generator_error  # published for the adapters
    finally:
        session.close()


def test_commands_and_keys_apply_at_frame_boundaries(demo):
    preset = Preset()
    show, session = make_show(demo, preset)
    show.player = player = Player([Keyframe(torch.zeros(demo.num_ws, demo.w_dim), "a", "t")], demo.w_avg, speed=1.0)
    on_key = key_handler(show.submit)
    try:
        on_key(KeyEvent(Action.TOGGLE_PAUSE, 32, 0, 0.0))
        on_key(KeyEvent(Action.SPEED_UP, 265, 0, 0.0))
        assert not player.paused and player.speed == 1.0  # queued, not applied yet
        show.step()
        assert player.paused and player.speed == pytest.approx(1.25)
        for _ in range(200):  # held Up: the speed stops at the top of its range, never beyond
            on_key(KeyEvent(Action.SPEED_UP, 265, 0, 0.0))
        show.step()
        assert len(show.commands) >= 200 - MAX_COMMANDS_PER_FRAME  # a burst waits for later frames
        while len(show.commands):
            show.step()
        assert player.speed == 1000.0
        show.submit(RemoveKeyframe(5), origin="test")  # refused when applied: reported, nothing changes
        show.submit(AddSeedKeyframe(7), origin="test")  # the next command still applies
        show.step()
        state = show.board.latest()
        errors = [e for e in state.events if e.name == "error"]
        assert [(e.origin, e.args[0]) for e in errors] == [("test", "keyframe 5 does not exist (there are 1)")]
        assert [k.source for k in state.keyframes] == ["t", "seed:7"] and state.commands.failed == 1
        assert show.running
    finally:
        session.close()


def test_contain_letterboxes_a_square_picture_on_a_wide_stage(demo):
    show, session = make_show(demo, fit="contain", size=(512, 256))
    try:
        assert show.wait_for_first_frame()
        pixels = show.surface.read_pixels()
        assert pixels[:, :128, :3].max() == 0 and pixels[:, -128:, :3].max() == 0  # black bars
        assert pixels[:, 128:384, :3].std() > 5
    finally:
        session.close()


def test_stylevj_run_headless_writes_a_snapshot(tmp_path):
    out = tmp_path / "snap.png"
    result = subprocess.run([sys.executable, "-m", "realtime.cli", "run", "--headless", "--frames", "20", "--snapshot", str(out),
                             "--no-osc", "--journal", str(tmp_path / "journal.toml")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "upload: host copy" in result.stderr
    pixels = np.asarray(Image.open(out))
    assert pixels.shape == (256, 256, 3) and pixels.std() > 5


def test_stylevj_run_with_a_bad_preset_is_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[path]\nalpha = 3\n")
    result = subprocess.run([sys.executable, "-m", "realtime.cli", "run", str(bad), "--headless", "--frames", "1"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "[path] alpha" in result.stderr


def test_interop_upload_without_cuda_is_a_clear_error(tmp_path):
    env = {**__import__("os").environ, "CUDA_VISIBLE_DEVICES": ""}  # no CUDA, on any machine
    result = subprocess.run([sys.executable, "-m", "realtime.cli", "run", "--headless", "--frames", "1", "--upload", "interop",
                             "--no-osc", "--journal", str(tmp_path / "journal.toml")],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == ["stylevj: error: interop impossible: generator on CPU"]


def test_stylevj_run_in_a_real_window_and_monitors(xvfb_display, tmp_path):
    env = {**__import__("os").environ, "DISPLAY": xvfb_display}
    monitors = subprocess.run([sys.executable, "-m", "realtime.cli", "monitors"], capture_output=True, text=True, timeout=60, env=env)
    assert monitors.returncode == 0 and "1280x720" in monitors.stdout
    result = subprocess.run([sys.executable, "-m", "realtime.cli", "run", "--seconds", "1.5", "--size", "640x360",
                             "--no-osc", "--journal", str(tmp_path / "journal.toml")],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "window 640x360" in result.stderr and "refreshes" in result.stderr
