"""StyleGAN3 in the live show and in every command (issue 23).

The input transform is three knobs of the parameter table (translate_x, translate_y, rotate): the
worker copies NVIDIA's buffer value (the inverse of rotate-then-translate) into
`G.synthesis.input.transform` before each frame, so the picture is what NVIDIA's visualizer
draws; the knobs glide, go through OSC, the state, the journal and presets, and a StyleGAN2
network refuses them in one line. Then every command runs on the smallest StyleGAN3 fixture,
and layer ranges, SeFa and bending speak StyleGAN3's own rows and layers.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from realtime.checkpoints.catalog import CATALOG, NGC3, describe_catalog, find_published
from realtime.display import HeadlessSurface
from realtime.images import to_pixels
from realtime.latent.directions import DirectionError, sefa
from realtime.latent.layer_ranges import LayerRangeError, parse_layers, rows_of
from realtime.models import StyleGAN3Config, StyleGAN3Generator, load_generator
from realtime.models.bending import Bend, BendError
from realtime.models.input_transform import transform_matrix
from realtime.models.sg3_config import channels_for
from realtime.params import PARAMS
from realtime.presets import load_preset, save_preset
from realtime.session import ShowSession, build_show
from realtime.show import capture
from realtime.show.commands import SetParam
from realtime.show.worker import GeneratorWorker

from .conftest import SHOW, FakeClock, Rig, osc_message, poll, stylevj
from .test_gpu_path import eager_capture
from .test_params import other_value

SG3 = Path(__file__).resolve().parent / "fixtures" / "sg3"
SMALL = SG3 / "sg3t_16.pkl"  # the smallest fixture: 16 px, 14 layers, num_ws 16


def reference() -> dict[str, torch.Tensor]:
    ref = np.load(SG3 / "sg3t_16_ref.npz")
    return {k: torch.from_numpy(ref[k]) for k in ref.files}


@pytest.fixture(scope="module")
def sg3():
    return load_generator(SMALL)


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


def by_hand(w: torch.Tensor, matrix: torch.Tensor) -> np.ndarray:
    """What NVIDIA's visualizer draws: a fresh copy of the network, the buffer set by hand."""
    G = load_generator(SMALL)
    G.synthesis.input.transform.copy_(matrix)
    with torch.inference_mode():
        return to_pixels(G.synthesis(w[None], noise_mode="const")).numpy()


def transform_of(G) -> torch.Tensor:
    return G.synthesis.input.transform.clone()


# ---- the input transform ---------------------------------------------------------------------


def test_the_knobs_make_nvidias_buffer_value():
    """NVIDIA's fixture stores inv(make_transform((0.3, -0.2), 25)), the value its visualizer copies in."""
    assert torch.allclose(transform_matrix(0.3, -0.2, 25.0), reference()["transform"], atol=1e-6)
    assert torch.equal(transform_matrix(0.0, 0.0, 0.0), torch.eye(3))


def test_the_worker_draws_the_transform_as_nvidias_visualizer_and_graphs_replay_it():
    G = load_generator(SMALL)
    ref = reference()
    w = ref["ws"][0]
    captures = []

    def counting_capture(G, noise_mode, w_in):  # a "graph" that replays on the buffers it was captured on
        captures.append(1)
        return eager_capture(G, noise_mode, w_in)

    worker = GeneratorWorker(G, capture=counting_capture).start()
    try:
        worker.request(w, 1.0, None, "const", (0.3, -0.2, 25.0))
        poll(lambda: worker.frames_done == 1, "the transformed frame")
        turned = worker.latest().pixels[..., :3].numpy()
        assert np.array_equal(turned, by_hand(w, ref["transform"]))
        nvidia = to_pixels(ref["img_transform"][0]).numpy().astype(int)  # NVIDIA's own code drew this
        assert np.abs(turned.astype(int) - nvidia).max() <= 1
        worker.request(w, 2.0, None, "const", (0.0, 0.0, 0.0))
        poll(lambda: worker.frames_done == 2, "the frame back at the identity")
        assert np.array_equal(worker.latest().pixels[..., :3].numpy(), by_hand(w, torch.eye(3)))
        assert not np.array_equal(turned, by_hand(w, torch.eye(3)))  # the transform did change the picture
        assert len(captures) == 1 and worker.graph_replays == 2  # copied into the buffer: no new capture
    finally:
        worker.stop()


def test_the_transform_glides_at_its_slew(sg3, tmp_path):
    (tmp_path / "show.toml").write_text(SHOW)
    clock = FakeClock()
    G = load_generator(SMALL)
    show = build_show(G, load_preset(tmp_path / "show.toml"), HeadlessSurface((32, 32)), upload="host")
    show.clock = clock
    with ShowSession(show):
        assert show.wait_for_first_frame()
        show.step()
        show.submit(SetParam("rotate", 90.0))
        clock.advance(1 / 60)
        show.step()  # one refresh in: 360 degrees a second (720 over 2 s), so 6 degrees
        assert show.params.rotate == 90.0
        poll(lambda: torch.allclose(transform_of(G), transform_matrix(0, 0, 6.0), atol=1e-6), "rotate at 6 degrees")
        for _ in range(30):
            clock.advance(1 / 60)
            show.step()
        poll(lambda: torch.allclose(transform_of(G), transform_matrix(0, 0, 90.0), atol=1e-6),
             "rotate at 90 degrees", step=show.step)


def test_every_knob_works_on_stylegan3_and_the_journal_keeps_the_transform(sg3, tmp_path):
    rig = Rig(load_generator(SMALL), tmp_path)
    try:
        for p in PARAMS:  # the whole table, the transform included, over the wire
            value = other_value(p)
            rig.send(osc_message(p.osc, int(value) if p.kind == "bool" else value))
        state = rig.state()
        for name in ("translate_x", "translate_y", "rotate"):
            assert state["params"][name] == pytest.approx(other_value(PARAMS_BY[name]))
        snapshot = rig.show.publish()
        out = tmp_path / "journal.toml"
        save_preset(capture(snapshot.preset, snapshot, out), out)
        text = out.read_text()
        assert "translate_x = " in text and "rotate = " in text
        again = load_preset(out).params
        assert all(again[p.name] == snapshot.params[p.name] for p in PARAMS if p.saved)
    finally:
        rig.close()


PARAMS_BY = {p.name: p for p in PARAMS}


def test_stylegan2_refuses_the_transform_in_one_line(demo, tmp_path):
    rig = Rig(demo, tmp_path)
    try:
        rig.send(osc_message("/stylevj/rotate", 10.0))
        errors = [p[0] for a, p in rig.replies(1.0) if a == "/stylevj/error"]
        assert any("rotate needs a StyleGAN3 network" in e for e in errors), errors
        assert all("\n" not in e for e in errors)
        rig.send(osc_message("/stylevj/rotate", 0.0))  # the identity is what StyleGAN2 draws anyway
        rig.send(osc_message("/stylevj/fader", 0.5))
        state = rig.state()["params"]
        assert state["rotate"] == 0.0 and state["fader"] == pytest.approx(0.5)
    finally:
        rig.close()


def test_a_stylegan3_preset_on_stylegan2_warns_once_and_plays(demo, tmp_path, caplog):
    (tmp_path / "show.toml").write_text(SHOW.replace('source = "demo"\n', 'source = "demo"\ntranslate_x = 0.5\nrotate = 15\n'))
    preset = load_preset(tmp_path / "show.toml")
    assert preset.params.rotate == 15.0
    with caplog.at_level(logging.WARNING):
        show = build_show(demo, preset, HeadlessSurface((32, 32)), upload="host")
    warnings = [r.getMessage() for r in caplog.records if "needs" in r.getMessage() or "need" in r.getMessage()]
    assert warnings == ["translate_x, rotate ignored: they need a StyleGAN3 network"]
    assert show.params.translate_x == 0.0 and show.params.rotate == 0.0
    with ShowSession(show):
        assert show.wait_for_first_frame()


# ---- layer ranges, directions, bending -------------------------------------------------------


def test_layer_ranges_name_stylegan3s_own_rows(sg3):
    cfg = StyleGAN3Config(z_dim=4, w_dim=4, resolution=1024, channels=channels_for(1024, channel_max=4))
    rows = rows_of(StyleGAN3Generator(cfg))  # NVIDIA's 1024 px design, narrow: only its rows matter
    assert rows.num_ws == 16 and rows.layers[0] == ("input",) and rows.layers[1] == ("L0_36_4",)
    assert parse_layers("coarse", rows) == (0, 1, 2, 3)
    assert parse_layers("middle", rows) == (4, 5, 6)
    assert parse_layers("fine", rows) == tuple(range(7, 16))
    assert parse_layers("coarse", 16) == (0, 1, 2)  # a StyleGAN2 512 px network's 16 rows mean other things
    with pytest.raises(LayerRangeError, match="16 px StyleGAN3 generator has no layers at 64 px"):
        parse_layers("fine", rows_of(sg3))


def test_sefa_reads_stylegan3s_layer_affines(sg3):
    rows = (2, 3, 4)  # layers L1-L3
    a = torch.cat([sg3.synthesis.layers[r - 1].affine.weight.detach().double().T for r in rows], dim=1)
    a = a / a.norm(dim=0, keepdim=True)
    values, vectors = torch.linalg.eigh(a @ a.T)
    found = sefa(sg3, rows)
    for k in range(3):
        assert abs(float(found.vectors[k].double() @ vectors[:, -1 - k])) > 0.999
    with pytest.raises(DirectionError, match="rows 0,15 style the input or ToRGB only"):
        sefa(sg3, (0,))


def test_bending_acts_at_stylegan3_layers(sg3):
    ws = reference()["ws"][:1]
    with torch.inference_mode():
        plain = sg3.synthesis(ws)
        assert torch.equal(sg3.synthesis(ws, bend=Bend(8)), plain)  # a neutral bend is skipped
        flipped = sg3.synthesis(ws, bend=Bend(16, flip_x=True))
        assert (flipped - plain).abs().max() > 0.01
        channels = sg3.synthesis.bend_channels[8]
        masked = sg3.synthesis(ws, bend=Bend(8, gain=(0.0,) * channels))
        assert (masked - plain).abs().max() > 0.01
    assert tuple(sg3.synthesis.resolutions) == (4, 8, 16)
    with pytest.raises(BendError, match="bend at 64 px: this generator's blocks are at 4, 8, 16 px"):
        sg3.synthesis(ws, bend=Bend(64))


# ---- every command on a StyleGAN3 network ----------------------------------------------------


def sg3_show(folder: Path, extra: str = "") -> Path:
    text = SHOW.replace('source = "demo"\n', f'source = "{SMALL}"\n{extra}').replace("speed = 0.0", "speed = 1.0")
    path = folder / f"show{len(extra)}.toml"
    path.write_text(text)
    return path


def ok(result) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


def test_still_preview_and_directions_sheet_run_on_stylegan3(tmp_path):
    ok(stylevj("still", "--seed", "3", "--checkpoint", str(SMALL), "--out", str(tmp_path / "still.png")))
    assert Image.open(tmp_path / "still.png").size == (16, 16)
    plain, turned = sg3_show(tmp_path), sg3_show(tmp_path, "rotate = 40\ntranslate_x = 0.1\n")
    for preset, out in ((plain, "plain.png"), (turned, "turned.png")):
        ok(stylevj("preview", str(preset), "--out", str(tmp_path / out), "--thumb", "16"))
    a, b = (np.asarray(Image.open(tmp_path / n)) for n in ("plain.png", "turned.png"))
    assert a.shape == b.shape and not np.array_equal(a, b)  # the preview shows the preset's transform
    log = ok(stylevj("directions", str(SMALL), "--method", "sefa", "--layers", "coarse", "--count", "2",
                     "--out", str(tmp_path / "d.npy"), "--sheet", str(tmp_path / "d.png"), "--thumb", "16"))
    assert "layers 0-9" in log and np.load(tmp_path / "d.npy").shape == (2, 16)
    assert Image.open(tmp_path / "d.png").size[0] > 16


def test_render_with_audio_and_the_live_show_with_the_tensor_print_run_on_stylegan3(tmp_path):
    from .test_audio_files import write_audio

    song = (0.3 * np.sin(np.arange(24000) / 48000 * 2 * np.pi * 220)).astype(np.float32)
    write_audio(tmp_path / "song.wav", song, 48000, "pcm_s16le")
    preset = sg3_show(tmp_path, "rotate = 20\n")
    ok(stylevj("render", str(preset), "--audio", str(tmp_path / "song.wav"), "--out", str(tmp_path / "clip.mp4"),
               "--fps", "10", "--size", "32x32"))
    import av

    with av.open(str(tmp_path / "clip.mp4")) as container:
        assert container.streams.audio and sum(1 for _ in container.decode(video=0)) == 5
    ok(stylevj("run", str(preset), "--headless", "--frames", "5", "--no-osc", "--no-control", "--overlay", "tensor",
               "--snapshot", str(tmp_path / "snap.png"), "--journal", str(tmp_path / "journal.toml"), cwd=tmp_path))
    assert (tmp_path / "snap.png").stat().st_size > 0
    assert "rotate = 20" in (tmp_path / "journal.toml").read_text()


def test_projection_into_w_plus_runs_on_stylegan3(sg3, tmp_path):
    with torch.inference_mode():
        target = to_pixels(sg3.synthesis(reference()["ws"][:1])).numpy()
    Image.fromarray(target).resize((64, 64), Image.NEAREST).save(tmp_path / "target.png")  # photos are >= 32 px
    ok(stylevj("project", str(tmp_path / "target.png"), "--checkpoint", str(SMALL), "--loss", "mse", "--steps", "10",
               "--out", str(tmp_path / "out"), env={**__import__("os").environ, "TORCH_HOME": str(tmp_path / "torch")}))
    from realtime.latent.keyframes import load_keyframe

    saved = sorted((tmp_path / "out").glob("*.safetensors"))
    assert saved and load_keyframe(saved[0], sg3.num_ws, sg3.w_dim).w.shape == (sg3.num_ws, sg3.w_dim)


def test_doctor_checks_a_stylegan3_generator():
    from realtime.doctor.runtime import check_generator

    finding = check_generator(str(SMALL), "cpu")
    assert finding.status == "ok", finding


# ---- published networks ------------------------------------------------------------------------


def test_nvidias_stylegan3_networks_are_published_by_name():
    files = {p.file for p in CATALOG if p.base == NGC3}
    expected = {f"stylegan3-{c}-{d}.pkl" for c in "tr" for d in (
        "ffhq-1024x1024", "ffhqu-1024x1024", "ffhqu-256x256", "metfaces-1024x1024", "metfacesu-1024x1024",
        "afhqv2-512x512")}
    assert files == expected
    entry = find_published("sg3r-afhqv2-512")
    assert entry.url == NGC3 + "stylegan3-r-afhqv2-512x512.pkl" and entry.sha256 is None
    assert len({p.name for p in CATALOG}) == len(CATALOG)
    listing = describe_catalog(Path("/nonexistent"))
    assert "sg3t-ffhq-1024" in listing and "models/stylegan3" in listing
