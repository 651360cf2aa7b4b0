"""The show loop on a real offscreen GL surface: exact pictures, pacing, errors, commands."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from realtime.display import Compositor, HeadlessSurface, choose_sink
from realtime.display.keys import Action, KeyEvent
from realtime.latent import Keyframe, Player
from realtime.models import load_generator
from realtime.presets import default_preset_path, load_preset, player_from_preset
from realtime.show import GeneratorWorker, Show


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


class SlowGenerator:
    """The demo generator made deliberately slow (or failing): the display must not care."""

    def __init__(self, G, delay: float = 0.0, fail_after: int | None = None) -> None:
        self.G, self.delay, self.fail_after, self.calls = G, delay, fail_after, 0
        self.resolution, self.device = G.resolution, G.device

    def synthesis(self, ws, noise_mode="const"):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("CUDA out of memory (simulated)")
        time.sleep(self.delay)
        return self.G.synthesis(ws, noise_mode=noise_mode)


def make_show(G, player, generator=None, fit="stretch", size=None):
    surface = HeadlessSurface(size or (G.resolution, G.resolution))
    sink, _ = choose_sink("host", surface.ctx, G.device)
    worker = GeneratorWorker(generator or G).start()
    return Show(player, worker, surface, Compositor(surface.ctx, fit=fit), sink), surface, worker


def expected_pixels(G, w: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        img = G.synthesis(w.unsqueeze(0))[0]
    return (img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


def test_screen_equals_the_generators_own_frame_for_that_path_time(demo):
    player = player_from_preset(load_preset(default_preset_path()), demo)
    show, surface, worker = make_show(demo, player)
    try:
        show.run(seconds=0.5, pace_hz=60)
        player.pause()
        assert show.wait_for_first_frame()
        time.sleep(0.2)
        show.step()
        frame = show.shown
        assert torch.allclose(frame.w, player.sample(torch.tensor([frame.path_time], dtype=torch.float64))[0], atol=1e-5)
        pixels = surface.read_pixels()[..., :3].astype(int)
        assert np.abs(pixels - expected_pixels(demo, frame.w)).max() <= 1
    finally:
        worker.stop()
        surface.close()


def test_display_keeps_its_pace_and_motion_follows_the_clock_with_a_slow_generator(demo):
    player = player_from_preset(load_preset(default_preset_path()), demo)
    show, surface, worker = make_show(demo, player, SlowGenerator(demo, delay=0.25))
    try:
        start = time.perf_counter()
        stats = show.run(seconds=1.5, pace_hz=60)
        elapsed = time.perf_counter() - start
        assert stats.refreshes >= 45  # ~60 Hz asked; the slow generator never holds the display
        assert 1 <= stats.frames_shown <= 8
        assert player.position == pytest.approx(player.speed * elapsed, rel=0.1)
    finally:
        worker.stop()
        surface.close()


def test_generator_errors_keep_the_last_good_frame(demo, caplog):
    player = player_from_preset(load_preset(default_preset_path()), demo)
    show, surface, worker = make_show(demo, player, SlowGenerator(demo, fail_after=1))
    try:
        assert show.wait_for_first_frame()
        good = surface.read_pixels().copy()
        with caplog.at_level("ERROR"):
            show.run(seconds=1.0, pace_hz=60)
        assert worker.errors >= 2
        assert caplog.text.count("CUDA out of memory (simulated)") == 1  # logged once, not per frame
        assert np.array_equal(surface.read_pixels(), good)
        assert good[..., :3].std() > 5  # a picture, not black
    finally:
        worker.stop()
        surface.close()


def test_commands_and_keys_apply_at_frame_boundaries(demo):
    player = Player([Keyframe(torch.zeros(demo.num_ws, demo.w_dim), "a", "t")], demo.w_avg, speed=1.0)
    show, surface, worker = make_show(demo, player)
    try:
        show.on_key(KeyEvent(Action.TOGGLE_PAUSE, 32, 0, 0.0))
        show.on_key(KeyEvent(Action.SPEED_UP, 265, 0, 0.0))
        assert not player.paused and player.speed == 1.0  # queued, not applied yet
        show.step()
        assert player.paused and player.speed == pytest.approx(1.25)
        show.submit(lambda s: s.player.remove(5))  # a bad command is logged, the show goes on
        show.step()
        assert show.running
    finally:
        worker.stop()
        surface.close()


def test_contain_letterboxes_a_square_picture_on_a_wide_stage(demo):
    player = player_from_preset(load_preset(default_preset_path()), demo)
    show, surface, worker = make_show(demo, player, fit="contain", size=(512, 256))
    try:
        assert show.wait_for_first_frame()
        pixels = surface.read_pixels()
        assert pixels[:, :128, :3].max() == 0 and pixels[:, -128:, :3].max() == 0  # black bars
        assert pixels[:, 128:384, :3].std() > 5
    finally:
        worker.stop()
        surface.close()


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
    result = subprocess.run([sys.executable, "-m", "realtime.cli", "run", "--headless", "--frames", "1", "--upload", "interop",
                             "--no-osc", "--journal", str(tmp_path / "journal.toml")],
                            capture_output=True, text=True, timeout=120)
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert result.returncode == 2 and "Traceback" not in result.stderr and "interop" in result.stderr


def test_stylevj_run_in_a_real_window_and_monitors(xvfb_display, tmp_path):
    env = {**__import__("os").environ, "DISPLAY": xvfb_display}
    monitors = subprocess.run([sys.executable, "-m", "realtime.cli", "monitors"], capture_output=True, text=True, timeout=60, env=env)
    assert monitors.returncode == 0 and "1280x720" in monitors.stdout
    result = subprocess.run([sys.executable, "-m", "realtime.cli", "run", "--seconds", "1.5", "--size", "640x360",
                             "--no-osc", "--journal", str(tmp_path / "journal.toml")],
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "window 640x360" in result.stderr and "refreshes" in result.stderr
