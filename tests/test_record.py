"""Offline renders and live recordings: exact frames, cues on time, files that always play."""

from __future__ import annotations

import subprocess
import sys
import time

import av
import numpy as np
import pytest
import torch

from realtime.latent.cues import CueTimeline, parse_time
from realtime.models import load_generator
from realtime.presets import load_preset
from realtime.record import VideoWriter
from realtime.record.render import path_times, render
from realtime.show import player_from_preset

from .conftest import FakeClock, Rig, SlowGenerator, stylevj
from .conftest import osc_message as message

SHOW = """
[generator]
source = "demo"
[play]
speed = 0.5
truncation = 0.8
[[keyframes]]
seed = 1
[[keyframes]]
seed = 4
[[keyframes]]
seed = 20
"""


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


def decode(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def generator_frames(G, preset, fps, frames) -> list[np.ndarray]:
    player = player_from_preset(preset, G)
    out = []
    with torch.no_grad():
        for w, _ in path_times(player, preset, fps, frames):
            img = G.synthesis(w.unsqueeze(0))[0]
            out.append((img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy())
    return out


def yuv420p_round_trip(rgb: np.ndarray) -> np.ndarray:
    """The picture as yuv420p can hold it, with no compression (what any H.264 file starts from)."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    return frame.reformat(format="yuv420p").reformat(format="rgb24").to_ndarray()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def test_png_render_is_exactly_the_generators_frames(demo, tmp_path):
    (tmp_path / "show.toml").write_text(SHOW)
    out = tmp_path / "frames"
    result = stylevj("render", str(tmp_path / "show.toml"), "--out", str(out), "--format", "png", "--fps", "30",
                     "--seconds", "2", "--fit", "stretch")
    assert result.returncode == 0, result.stderr
    files = sorted(out.glob("frame_*.png"))
    assert len(files) == 60
    expected = generator_frames(demo, load_preset(tmp_path / "show.toml"), 30, 60)
    for n in (0, 17, 59):
        got = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(files[n]).convert("RGB"))
        assert np.abs(got.astype(int) - expected[n].astype(int)).max() <= 1, n


def test_h264_render_decodes_to_the_frames_within_a_psnr_floor(demo, tmp_path):
    # CRF 18 is x264's "visually lossless" setting: every frame stays within 2 dB of what yuv420p
    # itself allows (it halves the colour resolution, which bounds the PSNR of the demo's
    # saturated petal edges near 35 dB before any compression), and above 30 dB.
    (tmp_path / "show.toml").write_text(SHOW)
    out = tmp_path / "show.mp4"
    result = stylevj("render", str(tmp_path / "show.toml"), "--out", str(out), "--fps", "30", "--seconds", "2", "--fit", "stretch")
    assert result.returncode == 0, result.stderr
    frames = decode(out)
    assert len(frames) == 60
    expected = generator_frames(demo, load_preset(tmp_path / "show.toml"), 30, 60)
    allowed = [psnr(yuv420p_round_trip(e), e) for e in expected]
    assert all(psnr(f, e) > max(bound - 2.0, 30.0) for f, e, bound in zip(frames, expected, allowed))
    with av.open(str(out)) as c:
        stream = c.streams.video[0]
        assert stream.average_rate == 30


def test_render_refuses_to_overwrite_without_force(tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"precious")
    result = stylevj("render", "--out", str(out), "--seconds", "0.1")
    assert result.returncode == 2 and "already exists" in result.stderr and out.read_bytes() == b"precious"


def test_cues_are_hit_within_one_frame(demo, tmp_path):
    text = SHOW.replace("seed = 1\n", 'seed = 1\nat = "0:00.5"\n').replace("seed = 4\n", 'seed = 4\nat = 1.25\n')
    text = text.replace("seed = 20\n", 'seed = 20\nat = "0:02"\n')
    (tmp_path / "cue.toml").write_text(text)
    preset = load_preset(tmp_path / "cue.toml")
    player = player_from_preset(preset, demo)
    fps = 30
    positions = [p for _, p in path_times(player, preset, fps, 75)]
    assert all(b >= a - 1e-9 for a, b in zip(positions, positions[1:]))  # never backwards
    for k, at in enumerate((0.5, 1.25, 2.0)):
        n = round(at * fps)
        assert abs(positions[n] - k) < max(abs(positions[n + 1] - positions[n]), abs(positions[n] - positions[n - 1]))  + 1e-9


def test_cue_timeline_math():
    assert parse_time("1:12.5") == 72.5 and parse_time(3) == 3.0
    with pytest.raises(ValueError):
        parse_time("soon")
    with pytest.raises(ValueError):
        CueTimeline([(2.0, 0), (1.0, 1)], 0.1)
    timeline = CueTimeline([(1.0, 0), (2.0, 1), (6.0, 2)], speed_after=0.5)
    assert timeline.position(0.0) == 0 and timeline.position(2.0) == 1 and timeline.position(8.0) == pytest.approx(3.0)
    h = 1e-5
    for t in (2.0,):  # C1 at an inner cue
        left = (timeline.position(t) - timeline.position(t - h)) / h
        right = (timeline.position(t + h) - timeline.position(t)) / h
        assert left == pytest.approx(right, rel=1e-3)


def test_interrupted_render_leaves_a_playable_file(demo, tmp_path):
    (tmp_path / "show.toml").write_text(SHOW)
    preset = load_preset(tmp_path / "show.toml")
    out = tmp_path / "cut.mp4"
    writer = VideoWriter(out, 30, (256, 256))
    result = render(SlowGenerator(demo, fail_after=12), player_from_preset(preset, demo), preset, writer, 60, 30, (256, 256))
    assert result.interrupted.startswith("generator error") and result.frames == 12
    assert len(decode(out)) == 12


def test_killed_render_is_still_playable(tmp_path):
    out = tmp_path / "killed.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "realtime.cli", "render", "--out", str(out), "--seconds", "60", "--fps", "30"],
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not out.exists() or out.stat().st_size < 20_000):
        time.sleep(0.2)
    proc.kill()
    proc.wait(10)
    frames = 0  # fragmented MP4: everything up to the last complete fragment plays
    with av.open(str(out)) as container:
        try:
            for _ in container.decode(video=0):
                frames += 1
        except av.error.InvalidDataError:
            pass  # the fragment being written when the process died
    assert frames >= 10


def test_record_over_osc_on_a_headless_show(demo, tmp_path):
    from realtime.record.recorder import LiveRecorder

    clock = FakeClock()
    r = Rig(demo, tmp_path, recorder=LiveRecorder(tmp_path / "recordings", fps=30))
    assert r.show.wait_for_first_frame()  # a picture to record
    r.show.clock = clock
    try:
        r.send(message("/stylevj/record/start", "take1"))
        while not r.show.recorder.recording:  # the command lands at a frame boundary
            clock.advance(1 / 60)
            r.show.step()
        for _ in range(120):  # two seconds of the show's clock at 60 refreshes a second
            clock.advance(1 / 60)
            r.show.step()
        r.send(message("/stylevj/record/stop"))
        state = r.state()
        assert state["recording"]["file"] is None
        path = tmp_path / "recordings" / "take1.mp4"
        frames = decode(path)
        dropped = r.show.recorder.dropped  # an encoder behind (a busy machine) drops frames, counted
        assert dropped <= 30 and abs(len(frames) + dropped - 2.0 * 30) <= 2  # every slot of the time recorded
        assert frames[-1].std() > 5
        r.send(message("/stylevj/record/start", "../escape"))
        assert any(a == "/stylevj/error" and "plain file name" in p[0] for a, p in r.replies(0.5))
    finally:
        r.close()


def test_run_with_cues_follows_the_track_clock(demo, tmp_path):
    from realtime.display import HeadlessSurface
    from realtime.presets import cue_timeline
    from realtime.session import ShowSession, build_show

    text = SHOW.replace("seed = 1\n", "seed = 1\nat = 0.2\n").replace("seed = 20\n", "seed = 20\nat = 1.0\n")
    (tmp_path / "cue.toml").write_text(text)
    preset = load_preset(tmp_path / "cue.toml")
    timeline = cue_timeline(preset)
    show = build_show(demo, preset, HeadlessSurface((64, 64)), upload="host", timeline=timeline)
    clock = show.clock = FakeClock()
    with ShowSession(show):
        for n in range(90):
            show.step()
            assert show.player.position == pytest.approx(timeline.position(n / 60), abs=1e-9)
            clock.advance(1 / 60)
    assert show.player.position == pytest.approx(2.0 + 0.5 * (89 / 60 - 1.0))  # past the last cue, at speed


def test_prores_render_decodes(tmp_path):
    out = tmp_path / "edit.mov"
    result = stylevj("render", "--out", str(out), "--format", "prores", "--fps", "10", "--seconds", "0.5")
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "prores"
        assert len([f for f in container.decode(stream)]) == 5
