"""StyleGAN3, the rest of issue 23: the music moves StyleGAN3's input, and the commands that
tests/test_stylegan3_show.py does not run (bench, --compile, GANSpace) run on a StyleGAN3 fixture.

An [[audio.mappings]] entry may target translate_x, translate_y or rotate: the drive adds to the
knobs (translations kept in range, the turn taken modulo 360), the live show and `render --audio`
draw the same transform for the same song time, and a StyleGAN2 network leaves such mappings out
with one warning (as it does a preset's own translate/rotate values)."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from realtime.audio import AudioListener
from realtime.audio.decode import AudioClip
from realtime.audio.drive import AudioDriver
from realtime.audio.mapping import commands, drive, frame_drives, frame_hook, mappings_of
from realtime.audio.offline import frame_features
from realtime.display import HeadlessSurface
from realtime.images import to_pixels
from realtime.latent import Drive
from realtime.latent.directions import ganspace
from realtime.latent.hearing import Heard
from realtime.models import compile_synthesis, load_generator
from realtime.models.compiled import compiler_missing
from realtime.models.input_transform import features, transform_matrix
from realtime.presets import PresetError, load_preset, parse_preset
from realtime.record import VideoWriter
from realtime.record.render import render
from realtime.session import ShowSession, build_show
from realtime.show import player_from_preset
from realtime.show.worker import GeneratorWorker

from .conftest import SHOW, FakeClock, Rig, poll
from .test_audio_synth import beat_times, click, place

SG3 = Path(__file__).resolve().parent / "fixtures" / "sg3"
SMALL = SG3 / "sg3t_16.pkl"  # 16 px, num_ws 16, w_dim 16

# The preset example: a beat turns the picture (one whole turn per beat, no jump on the beat),
# and each onset kicks it a tenth of its width to the right, falling back within a fifth of a second.
TURNING = """
[audio]
bpm = 120
[[audio.mappings]]
feature = "beat_phase"
target = "rotate"
amount = 360
[[audio.mappings]]
feature = "onset"
target = "translate_x"
amount = 0.1
decay = 0.2
"""


@pytest.fixture(scope="module")
def sg3():
    return load_generator(SMALL)


def audio_of(text: str):
    return parse_preset(__import__("tomllib").loads(text), "show.toml", Path(".")).audio


def sg3_preset(folder: Path) -> Path:
    """SHOW on the StyleGAN3 fixture, held still (speed 0), turned 10 degrees, with TURNING."""
    text = SHOW.replace('source = "demo"\n', f'source = "{SMALL}"\nrotate = 10\n') + TURNING
    path = folder / "turning.toml"
    path.write_text(text)
    return path


def drawn(G, w: torch.Tensor, transform: tuple[float, float, float]) -> np.ndarray:
    """What NVIDIA's visualizer draws for this transform: the buffer set by hand, then synthesis."""
    G.synthesis.input.transform.copy_(transform_matrix(*transform))
    with torch.inference_mode():
        return to_pixels(G.synthesis(w[None], noise_mode="const"))[..., :3].numpy()


# ---- the mapping ------------------------------------------------------------------------------


def test_a_beat_turns_the_picture_and_an_onset_moves_it():
    mappings = audio_of(TURNING).mappings
    assert [(m.feature, m.target, m.amount) for m in mappings] == [("beat_phase", "rotate", 360.0),
                                                                   ("onset", "translate_x", 0.1)]
    quarter = drive(Heard(beat_phase=0.25, onset=1.0, bpm=120), mappings)
    assert (quarter.rotate, quarter.translate_x, quarter.translate_y) == (90.0, pytest.approx(0.1), 0.0)
    assert quarter.speed == 0.0 and quarter.truncation == 0.0 and quarter.segments is None
    late = drive(Heard(beat_phase=0.75, bpm=120), mappings)
    assert late.rotate == pytest.approx(-90.0)  # 270 degrees is a quarter turn back: the sum is taken modulo 360
    assert late.transform((0.5, -0.25, 20.0)) == (0.5, -0.25, pytest.approx(-70.0))  # on top of the knobs
    assert torch.allclose(transform_matrix(0, 0, 270.0), transform_matrix(0, 0, -90.0), atol=1e-6)
    # a turn past the knob's range wraps (the picture keeps turning); a move past it stops at the edge
    assert Drive(rotate=300.0).transform((0.0, 0.0, 350.0))[2] == pytest.approx(-70.0)
    pushed = Drive(translate_x=3.0, translate_y=-3.0).transform((2.0, -2.0, 0.0))
    assert pushed == (4.0, -4.0, 0.0)
    knobs = (0.3, 0.2, 40.0)
    assert Drive(speed=1.0, truncation=0.2).transform(knobs) == knobs  # no transform drive: the knobs as they are
    summed = drive(Heard(level=1.0), audio_of('[[audio.mappings]]\nfeature = "level"\ntarget = "translate_y"\n'
                                              'amount = 3\n[[audio.mappings]]\nfeature = "level"\n'
                                              'target = "translate_y"\namount = 3\n').mappings)
    assert summed.translate_y == 4.0  # two mappings of one target add, kept within the knob's range


@pytest.mark.parametrize("table, match", [
    ('feature = "beat"\ntarget = "rotate"', "feature 'beat' cannot drive target 'rotate' (beat drives path;"),
    ('feature = "onset"\ntarget = "rotate"\namount = 720', "amount must be within [-360, 360], got 720"),
    ('feature = "onset"\ntarget = "zoom"', "target must be one of speed, truncation, path, translate_x, translate_y, rotate"),
])
def test_a_mapping_the_show_cannot_play_is_one_line(table, match):
    with pytest.raises(PresetError) as caught:
        audio_of(f"[[audio.mappings]]\n{table}\n")
    assert match in str(caught.value) and "\n" not in str(caught.value)
    assert "[[audio.mappings]] #1" in str(caught.value)


# ---- live and rendered alike ------------------------------------------------------------------


def test_the_live_show_and_the_render_draw_one_transform_for_one_song_time(tmp_path):
    fps, seconds = 10, 2.0
    clip = AudioClip(Path("clicks.wav"), place(seconds, beat_times(120, seconds, 0.25), click(), 0.8))
    frames = clip.frame_count(fps)
    preset = load_preset(sg3_preset(tmp_path))
    G_ref, G_render, G_live = (load_generator(SMALL) for _ in range(3))
    has = features(G_ref)
    drives = list(frame_drives(clip, fps, frames, preset.audio, has))
    assert len({round(d.rotate, 3) for d in drives}) >= 5 and max(d.translate_x for d in drives) > 0.05  # it moves
    w = player_from_preset(preset, G_ref).current()  # speed 0: one W+ all along, only the input moves
    expected = [drawn(G_ref, w, d.transform((0.0, 0.0, 10.0))) for d in drives]
    assert sum(not np.array_equal(a, b) for a, b in zip(expected, expected[1:])) > 5  # the picture moves

    # offline: `render --audio`'s own path (the frame hook before frame n, then the render thread)
    out = tmp_path / "frames"
    result = render(G_render, player_from_preset(preset, G_render), preset, VideoWriter(out, fps, (16, 16), "png"),
                    frames, fps, (16, 16), fit="stretch", before_frame=frame_hook(clip, fps, frames, preset.audio, has))
    assert result.whole and result.frames == frames
    for n, file in enumerate(sorted(out.glob("frame_*.png"))):
        got = np.asarray(Image.open(file).convert("RGB")).astype(int)
        assert np.abs(got - expected[n]).max() <= 1, n  # through GL and PNG: within one level

    # live: the adapter's commands for the features of the same instants, one refresh each
    show = build_show(G_live, preset, HeadlessSurface((16, 16)), upload="host")
    show.clock = clock = FakeClock()
    mappings = mappings_of(preset.audio, has)
    with ShowSession(show):
        assert show.wait_for_first_frame()
        for n, heard_now in enumerate(frame_features(clip, fps, frames, bpm=preset.audio.bpm)):
            for command in commands(heard_now, mappings):
                show.submit(command, "audio")
            clock.advance(1 / fps)
            show.step()
            poll(lambda: np.array_equal(show.worker.latest().pixels[..., :3].numpy(), expected[n]),
                 f"live frame {n} drawn with the render's transform")
        state = show.publish().to_json()
        assert state["drive"]["rotate"] == pytest.approx(drives[-1].rotate)
        assert state["params"]["rotate"] == 10.0  # the knob stays what the preset set: the drive sits on top


def test_stylegan2_leaves_transform_mappings_out_with_one_warning(tmp_path, caplog):
    demo = load_generator("demo")
    settings = audio_of(TURNING + '[[audio.mappings]]\nfeature = "low"\ntarget = "truncation"\namount = 0.2\n')
    warning = "audio mappings to rotate, translate_x ignored: they need a StyleGAN3 network"

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "realtime.audio.mapping"]

    with caplog.at_level(logging.WARNING, logger="realtime.audio.mapping"):
        kept = mappings_of(settings, features(demo))
        assert [m.target for m in kept] == ["truncation"]
        assert drive(Heard(beat_phase=0.25, onset=1.0, low=1.0), kept) == Drive(truncation=0.2)
        frame_hook(AudioClip(Path("c.wav"), place(0.5, [0.1], click())), 10, 5, settings, features(demo))
        assert said() == [warning, warning]  # the render: once, at its start
    caplog.clear()
    rig = Rig(demo, tmp_path, text=SHOW + TURNING)  # live: the driver reads what the show's generator offers
    driver = AudioDriver(rig.show.submit, rig.show.board, AudioListener(), None, "test input")
    try:
        with caplog.at_level(logging.WARNING, logger="realtime.audio.mapping"):
            driver.start()
            poll(lambda: driver.submitted >= 3, "three refreshes mapped", step=rig.show.step)
            assert said() == [warning]  # once, when the preset arrived
        assert rig.state()["drive"]["rotate"] == 0.0 and rig.show.player.drive == Drive()
    finally:
        driver.stop()
        rig.close()


# ---- the commands not run elsewhere on StyleGAN3 ----------------------------------------------


@pytest.mark.skipif(compiler_missing("cpu") is not None, reason=f"torch.compile on CPU: {compiler_missing('cpu')}")
def test_compile_draws_the_input_transform_on_stylegan3(sg3):
    G = load_generator(SMALL)
    compiled, why = compile_synthesis(G)  # what `run --compile` does before the show
    assert compiled is not None, why
    calls = []

    def counted(ws: torch.Tensor) -> torch.Tensor:  # the compiled function itself, its calls counted
        calls.append(1)
        return compiled(ws)

    w = sg3.mapping(torch.randn(1, sg3.z_dim, generator=torch.Generator().manual_seed(3)), truncation_psi=0.7)[0]
    worker = GeneratorWorker(G, compiled=counted).start()
    try:
        for n, transform in enumerate([(0.3, -0.2, 25.0), (0.0, 0.0, 0.0)], 1):
            worker.request(w, float(n), None, "const", transform)
            poll(lambda: worker.frames_done == n, f"compiled frame {n}")
            got = worker.latest().pixels[..., :3].numpy().astype(int)
            assert np.abs(got - drawn(sg3, w, transform)).max() <= 1, transform  # compiled reads the buffer
        assert len(calls) == 2  # both frames came from the compiled code, not eager synthesis
    finally:
        worker.stop()


def test_bench_times_a_stylegan3_network_and_its_knobs():
    from realtime.bench.generator import bench_knobs, run_bench

    rows = run_bench([str(SMALL)], ["cpu"], 0.05)
    assert [(r.part, r.precision, r.batch) for r in rows] == [("generator", "fp32", 1)]
    assert rows[0].frames >= 3 and rows[0].ms_per_frame > 0
    knobs = {r.part: r for r in bench_knobs(str(SMALL), "cpu", 0.05)}  # SeFa on its affines, a bend at 8 px
    assert set(knobs) == {"controls x8", "bend"} and knobs["bend"].note.startswith("rotate + zoom at 8 px")
    assert all(r.frames >= 3 for r in knobs.values())


def test_ganspace_on_stylegan3_is_the_pca_of_its_w(sg3):
    found = ganspace(sg3, samples=512, seed=0)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        w = sg3.mapping(torch.randn(512, sg3.z_dim, generator=gen), truncation_psi=1.0)[:, 0].double()
    values, vectors = torch.linalg.eigh(torch.cov(w.T))
    assert found.vectors.shape == (sg3.w_dim, sg3.w_dim)
    for k in range(3):
        assert abs(float(found.vectors[k].double() @ vectors[:, -1 - k])) > 0.999
        assert math.isclose(float(found.values[k]), float(values[-1 - k]), rel_tol=1e-4)
