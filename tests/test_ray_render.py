"""`stylevj render --workers N`: one render split over Ray workers is the single-process render.

One local Ray instance (2 CPU workers at a time) serves the module: its workers render PNG frames bit-identical to
one process, survive a worker killed mid-range, and finish after Ctrl-C with --resume only what was
missing; a CLI render joins that instance by --ray-address and muxes a song into H.264 on 2
workers (frame count and sound exact). Without the extra, or with an address nobody answers, the
CLI says so in one line and writes nothing; a full disk at the join keeps the finished ranges.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from realtime.errors import StylevjError

REPO = Path(__file__).resolve().parent.parent
FPS, FRAMES, SIZE = 10.0, 12, (64, 64)


def stylevj(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "realtime.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})}, cwd=REPO)


def pictures(folder: Path) -> dict[str, np.ndarray]:
    from PIL import Image

    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("frame_*.png"))}


def test_workers_below_one_exit_2_at_parse_time(capsys):
    from realtime.cli.parser import build_parser

    for bad in ("0", "-3"):
        with pytest.raises(SystemExit) as stop:
            build_parser().parse_args(["render", "--out", "x.mp4", "--workers", bad])
        assert stop.value.code == 2
        assert f"must be at least 1, got {bad}" in capsys.readouterr().err
    assert build_parser().parse_args(["render", "--out", "x.mp4", "--workers", "auto"]).workers == "auto"


BLOCK_RAY = """
import importlib.abc, sys
class _NoRay(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ImportError("No module named 'ray' (hidden by the test)")
sys.meta_path.insert(0, _NoRay())
"""


def test_without_the_extra_workers_say_how_to_install_it_and_one_worker_needs_no_ray(tmp_path):
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(BLOCK_RAY)
    env = {"PYTHONPATH": f"{hide}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = tmp_path / "farm.mp4"
    refused = stylevj("render", "--out", str(out), "--workers", "2", "--seconds", "0.2", "--size", "64x64", env=env)
    assert refused.returncode == 2, refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert "pip install 'stylevj[ray]'" in last and "Traceback" not in refused.stderr
    assert not out.exists() and not out.with_name("farm.mp4.parts").exists()
    single = tmp_path / "single"
    done = stylevj("render", "--out", str(single), "--workers", "1", "--format", "png", "--fps", "10",
                   "--seconds", "0.3", "--size", "64x64", env=env)
    assert done.returncode == 0, done.stderr
    assert len(pictures(single)) == 3


def test_an_unreachable_ray_address_is_one_line_quickly_and_writes_nothing(tmp_path):
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'stylevj[ray]')")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "nowhere.mp4"
    started = time.monotonic()
    result = stylevj("render", "--out", str(out), "--ray-address", f"127.0.0.1:{port}", "--workers", "2",
                     "--seconds", "0.2", "--size", "64x64", timeout=60)
    assert time.monotonic() - started < 30
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("stylevj: error: --ray-address 127.0.0.1") and "no Ray cluster answers" in lines[-1]
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


# ---- on a local Ray instance ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'stylevj[ray]')")
    # 2 cores, but 6 CPU slots: the module's farm holds 2 while other tests start their own workers
    ray.init(num_cpus=6, num_gpus=0, include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=200 * 2**20)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def show(tmp_path_factory):
    """The default show on the demo generator, and its frames rendered by one process (PNG)."""
    from realtime.models import load_generator
    from realtime.presets import default_preset_path, load_preset
    from realtime.record.encoder import VideoWriter
    from realtime.record.render import render
    from realtime.show import player_from_preset

    preset = load_preset(default_preset_path())
    G = load_generator(preset.generator_source())
    reference = tmp_path_factory.mktemp("single") / "frames"
    writer = VideoWriter(reference, FPS, SIZE, "png")
    result = render(G, player_from_preset(preset, G), preset, writer, FRAMES, FPS, SIZE)
    assert result.whole and result.frames == FRAMES
    return preset, player_from_preset(preset, G), pictures(reference)


@pytest.fixture(scope="module")
def farm(ray_instance, show):
    """Two workers holding the PNG job (shared by the tests that render it)."""
    from realtime.record.distributed import Checkpoint, RenderJob, start_farm

    preset, player, _ = show
    job = RenderJob(Checkpoint("demo"), player, preset, FPS, FRAMES, SIZE, "png", device="cpu")
    farm = start_farm(job, 2, None)
    yield job, farm
    farm.close()


def test_png_frames_on_two_workers_are_bit_identical_to_one_process(farm, show, tmp_path, caplog):
    from realtime.record.distributed import render_on_farm

    job, workers = farm
    caplog.set_level("INFO")
    out = tmp_path / "frames"
    result = render_on_farm(job, workers, out)
    assert result.whole and result.frames == FRAMES
    got, want = pictures(out), show[2]
    assert list(got) == list(want)
    for name in want:
        assert np.array_equal(got[name], want[name]), name
    assert not out.with_name("frames.parts").exists()  # the parts go once the output is whole
    assert "2 Ray workers on a local Ray instance rendered 12 frames" in caplog.text


def test_a_worker_killed_mid_render_has_its_range_rendered_again(farm, show, tmp_path, caplog):
    from realtime.record.distributed import render_on_farm

    job, workers = farm
    killed: list[int] = []

    def kill_the_other(r, farm_, finished) -> None:
        if not killed:  # the other worker is busy with its range now
            for actor in list(farm_.actors):
                if actor is not finished and actor in farm_.pids:
                    os.kill(farm_.pids[actor], signal.SIGKILL)
                    killed.append(farm_.pids[actor])

    caplog.set_level("INFO")
    out = tmp_path / "frames"
    result = render_on_farm(job, workers, out, after_range=kill_the_other)
    assert killed and result.whole
    assert "a worker died rendering frames" in caplog.text
    got, want = pictures(out), show[2]
    assert list(got) == list(want) and all(np.array_equal(got[n], want[n]) for n in want)


@pytest.fixture
def ctrl_c_reaches_python():
    """Python's own Ctrl-C handler, as a command started from a terminal has it. A test run started
    in the background (`pytest &` in a script) inherits SIGINT ignored, and the Ctrl-C these tests
    send would then do nothing; the handler the run had is back afterwards."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the render put it back
    finally:
        signal.signal(signal.SIGINT, before)


def test_ctrl_c_keeps_finished_ranges_and_resume_renders_only_the_rest(farm, show, tmp_path, ctrl_c_reaches_python):
    from realtime.record.distributed import render_on_farm
    from realtime.record.distributed_parts import Parts

    job, workers = farm
    out = tmp_path / "frames"

    def ctrl_c(r, farm_, finished) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # as the terminal does

    result = render_on_farm(job, workers, out, after_range=ctrl_c)
    assert "Ctrl-C" in result.interrupted and "--resume" in result.interrupted
    parts = Parts(out, "png")
    finished = sorted(p.name for p in parts.folder.glob("*.done"))
    assert 1 <= len(finished) < FRAMES // 2  # 6 ranges of 2 frames: some done, not all
    rendered: list = []
    again = render_on_farm(job, workers, out, resume=True, after_range=lambda r, f, a: rendered.append(r))
    assert again.whole and again.frames == FRAMES
    assert {f"{a:08d}-{b:08d}.done" for a, b in rendered}.isdisjoint(finished)
    assert len(rendered) + len(finished) == FRAMES // 2
    got, want = pictures(out), show[2]
    assert list(got) == list(want) and all(np.array_equal(got[n], want[n]) for n in want)


def test_ctrl_c_during_a_farm_render_is_noted_not_raised_and_a_handler_set_elsewhere_is_kept(ctrl_c_reaches_python):
    from realtime.record.distributed import ctrl_c_noted

    with ctrl_c_noted() as pressed:
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt, wherever the main thread is
        assert pressed.is_set()
    with pytest.raises(KeyboardInterrupt):  # Python's handler is back after the render
        os.kill(os.getpid(), signal.SIGINT)
    seen: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with ctrl_c_noted() as pressed:
            os.kill(os.getpid(), signal.SIGINT)
        assert seen == [signal.SIGINT] and not pressed.is_set()
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def test_resume_refuses_the_parts_of_another_render(farm, show, tmp_path, ctrl_c_reaches_python):
    from realtime.record.distributed import RenderJob, render_on_farm

    job, workers = farm
    out = tmp_path / "frames"
    stopped = render_on_farm(job, workers, out, after_range=lambda r, f, a: os.kill(os.getpid(), signal.SIGINT))
    assert "Ctrl-C" in stopped.interrupted
    other = RenderJob(job.checkpoint, job.player, job.preset, FPS * 2, FRAMES, SIZE, "png", device="cpu")
    with pytest.raises(StylevjError, match=r"frames\.parts: holds a different render"):
        render_on_farm(other, workers, out, resume=True)


def test_a_non_finite_frame_fails_the_render_naming_the_frame(ray_instance, show, tmp_path):
    import torch

    from realtime.models import load_generator
    from realtime.models.native import save_native
    from realtime.record.distributed import RenderJob, Checkpoint, FarmError, render_on_farm, start_farm

    G = load_generator("demo")
    with torch.no_grad():  # finite weights (the loader refuses NaN) whose sum overflows: every picture inf
        for block in G.synthesis.blocks[-2:]:
            block.torgb.bias.fill_(3e38)
    broken = tmp_path / "nan.safetensors"  # a file on the driver only: shipped to the workers
    save_native(G, broken)
    preset, player, _ = show
    job = RenderJob(Checkpoint(str(broken)), player, preset, FPS, 4, SIZE, "png", device="cpu")
    farm = start_farm(job, 1, None, checkpoint_file=broken)
    try:
        with pytest.raises(FarmError) as failed:
            render_on_farm(job, farm, tmp_path / "frames")
    finally:
        farm.close()
    message = str(failed.value)
    assert message.startswith("frame 0: the generator gave non-finite values") and "\n" not in message
    assert len(job.checkpoint.sha256) == 64


def write_song(path: Path, seconds: float, rate: int = 8000) -> Path:
    """A mono 16-bit WAV: a 220 Hz tone with a click every half second."""
    t = np.arange(int(seconds * rate)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    tone[(np.arange(t.size) % (rate // 2)) < 40] = 0.9
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.round(tone * 32767).astype("<i2").tobytes())
    return path


def decoded(path: Path) -> tuple[int, np.ndarray]:
    """Video frames and the decoded sound of a file."""
    import av

    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        sound = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    return frames, sound


def render_in_one_process(song: Path, out: Path) -> None:
    """The default show moving with `song` into H.264 with the song muxed, in this process."""
    from realtime.audio.mapping import frame_hook
    from realtime.audio.soundtrack import read_soundtrack
    from realtime.models import load_generator
    from realtime.models.input_transform import features
    from realtime.presets import default_preset_path, load_preset
    from realtime.record.encoder import AudioVideoWriter
    from realtime.record.render import render
    from realtime.show import player_from_preset

    preset = load_preset(default_preset_path())
    G = load_generator(preset.generator_source())
    track = read_soundtrack(str(song), scan=True)
    frames = track.frame_count(FPS)
    writer = AudioVideoWriter(out, FPS, SIZE, "h264", audio=track.planes(), audio_rate=track.sample_rate)
    hook = frame_hook(track, FPS, frames, preset.audio, features(G))
    assert render(G, player_from_preset(preset, G), preset, writer, frames, FPS, SIZE, before_frame=hook).whole


def test_a_song_muxed_into_h264_on_two_workers_has_the_frames_and_sound_of_one_process(ray_instance, tmp_path):
    pytest.importorskip("av")
    song = write_song(tmp_path / "song.wav", 1.6)
    address = ray_instance.get_runtime_context().gcs_address
    split = stylevj("render", "--out", str(tmp_path / "two.mp4"), "--workers", "2", "--ray-address", address,
                    "--audio", str(song), "--fps", "10", "--size", "64x64")
    render_in_one_process(song, tmp_path / "one.mp4")  # what `stylevj render --audio` does (cmd_render)
    assert split.returncode == 0, split.stderr
    assert f"2 Ray workers on the Ray cluster at {address}" in split.stderr
    assert "joined" in split.stderr
    one, two = decoded(tmp_path / "one.mp4"), decoded(tmp_path / "two.mp4")
    assert one[0] == two[0] == 16
    assert one[1].shape == two[1].shape and np.array_equal(one[1], two[1])
    assert not (tmp_path / "two.mp4.parts").exists()


def test_the_join_is_exact_and_a_full_disk_keeps_the_finished_ranges(tmp_path, full_disk):
    pytest.importorskip("av")
    from realtime.record.distributed_parts import Parts, join_segments
    from realtime.record.encoder import VideoWriter

    rng = np.random.default_rng(0)
    parts = Parts(tmp_path / "clip.mp4", "h264")
    ranges = [(0, 4), (4, 8), (8, 12)]
    parts.start(ranges, "test")
    for first, end in ranges:  # noise: x264 cannot shrink it, so the joined file outgrows the full disk
        path = parts.segments([(first, end)])[0]
        writer = VideoWriter(path, FPS, (256, 256), "h264")
        for _ in range(first, end):
            writer.write(rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
        writer.close()
    segments = parts.segments(ranges)
    assert join_segments(segments, [4, 4, 4], tmp_path / "clip.mp4", "h264", FPS) == 12
    with pytest.raises(StylevjError) as failed:
        join_segments(segments, [4, 4, 4], full_disk / "clip.mp4", "h264", FPS)
    message = str(failed.value)
    assert "\n" not in message and "cannot write the joined video (No space left on device)" in message
    assert "--resume" in message
    assert all(p.is_file() for p in segments)
