"""`stylevj project` as a user runs it: real photos and files, a real process, exit codes, outputs.

Every run gets its own empty TORCH_HOME, so a VGG16 file in the machine's real cache never
changes what is tested; the perceptual runs put a random-weight VGG16 there.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest
import torch
from PIL import Image

from realtime.images import to_rgb8
from realtime.latent.keyframes import load_keyframe
from realtime.models import load_generator
from realtime.models.seeds import z_from_seed
from realtime.presets import load_preset
from realtime.show import load_keyframes, player_from_preset

from .test_projection import gradient_rgb, install_fake_vgg16, png_bytes

RECOVERY_STEPS = 200  # demo generator, --loss mse: about 33 dB here, 15-25 s on 2 cores


def project(*args: str, torch_home, cwd=None, python_prefix: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, TORCH_HOME=str(torch_home))
    if python_prefix is None:
        command = [sys.executable, "-m", "realtime.cli", "project", *args]
    else:  # run the CLI after some set-up code (e.g. hiding a module)
        command = [sys.executable, "-c", f"{python_prefix}; import sys; from realtime.cli import main; "
                   f"sys.exit(main(['project', *sys.argv[1:]]))", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    assert "Traceback" not in result.stderr, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("stylevj: error:")]


def read_png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


# ---- recovering a known W+ ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
    """The demo generator draws a known W+ (two seeds mixed, psi 0.8); project that picture back."""
    root = tmp_path_factory.mktemp("recover")
    G = load_generator("demo")
    wa = G.mapping(z_from_seed(20, G.z_dim), truncation_psi=0.8)
    wb = G.mapping(z_from_seed(15, G.z_dim), truncation_psi=0.8)
    w_true = torch.cat([wa[:, :7], wb[:, 7:]], dim=1)
    target = to_rgb8(G.synthesis(w_true, noise_mode="const")[0])
    Image.fromarray(target).save(root / "known.png")
    result = project(str(root / "known.png"), "--checkpoint", "demo", "--loss", "mse", "--steps", str(RECOVERY_STEPS),
                     "--out", str(root / "out"), torch_home=root / "torch")
    return root, G, target, result


def test_projecting_a_generated_picture_recovers_it(recovered):
    root, _, target, result = recovered
    assert result.returncode == 0, result.stderr
    out = root / "out"
    assert sorted(p.name for p in out.iterdir()) == ["known.json", "known.png", "known.safetensors"]
    side = read_png(out / "known.png")
    assert side.shape == (256, 512, 3)
    assert np.array_equal(side[:, :256], target)  # left: the target as projected
    quality = psnr(side[:, 256:], target)
    assert quality >= 30.0, f"PSNR {quality:.2f} dB after {RECOVERY_STEPS} steps"
    record = json.loads((out / "known.json").read_text())
    assert record["final"]["psnr_db"] == pytest.approx(quality, abs=0.01)
    assert record["steps"] == RECOVERY_STEPS and record["loss"] == "mse" and record["checkpoint_sha256"] == "demo"
    assert record["image_sha256"] == hashlib.sha256((root / "known.png").read_bytes()).hexdigest()
    assert record["final"]["mse"] > 0 and record["seconds"] > 0 and record["keyframe"] == "known.safetensors"
    assert "projected 1 of 1 images" in result.stderr  # the summary (the progress bar shows on a terminal only)


def test_the_keyframe_plays_in_a_preset_and_renders_the_reconstruction(recovered):
    root, G, _, result = recovered
    assert result.returncode == 0, result.stderr
    kf = load_keyframe(root / "out" / "known.safetensors", G.num_ws, G.w_dim)
    assert kf.name == "known" and kf.w.shape == (G.num_ws, G.w_dim)
    preset_path = root / "show.toml"
    preset_path.write_text(
        '[generator]\nsource = "demo"\nnoise = "const"\n\n[play]\ntruncation = 1.0\n\n'
        '[[keyframes]]\nfile = "out/known.safetensors"\n\n[[keyframes]]\nseed = 3\n'
    )
    preset = load_preset(preset_path)
    keyframes = load_keyframes(preset, G)
    assert keyframes[0].name == "known"
    player = player_from_preset(preset, G)  # position 0 is the first keyframe
    for w in (keyframes[0].w, player.current().reshape(G.num_ws, G.w_dim)):
        with torch.no_grad():
            rendered = to_rgb8(G.synthesis(w[None], noise_mode=preset.generator.noise)[0]).astype(int)
        shown = read_png(root / "out" / "known.png")[:, 256:].astype(int)
        assert np.abs(rendered - shown).max() <= 1  # within 1/255


# ---- bad input in a batch ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def photo_batch(tmp_path_factory, fixtures):
    """Real files of every awkward kind, and one `project` run over all of them (32 px fixture)."""
    root = tmp_path_factory.mktemp("batch")
    G = load_generator(fixtures / "rosinality_tiny.pt")
    good = to_rgb8(G.synthesis(G.mapping(z_from_seed(7, G.z_dim)), noise_mode="const")[0])
    Image.fromarray(good).save(root / "good.png")
    (root / "notes.png").write_text("a text file wearing a .png name\n")
    data = png_bytes(gradient_rgb(64, 64))
    (root / "cut.png").write_bytes(data[: len(data) // 2])
    gradient_rgb(48, 48).convert("L").save(root / "gray.png")
    rgba = np.zeros((40, 60, 4), dtype=np.uint8)
    rgba[..., :3], rgba[:, 30:, 3] = 120, 255
    Image.fromarray(rgba, "RGBA").save(root / "cutout.png")
    gradient_rgb(64, 48).convert("CMYK").save(root / "print.jpg", format="JPEG")
    gradient_rgb(10, 10).save(root / "tiny.png")
    names = ["good.png", "notes.png", "cut.png", "gray.png", "cutout.png", "print.jpg", "tiny.png"]
    result = project(*[str(root / n) for n in names], "--checkpoint", str(fixtures / "rosinality_tiny.pt"),
                     "--loss", "mse", "--steps", "3", "--batch", "2", "--out", str(root / "out"), torch_home=root / "torch")
    return root, result


def test_one_bad_image_does_not_lose_the_others(photo_batch):
    root, result = photo_batch
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("stylevj: error: 3 of 7 images failed (4 written):")
    assert "notes.png: not an image" in line and "cut.png: damaged image file" in line
    assert "tiny.png: 10x10 pixels is too small" in line
    out = root / "out"
    for stem in ("good", "gray", "cutout", "print"):
        for ext in (".safetensors", ".png", ".json"):
            assert (out / f"{stem}{ext}").is_file(), f"{stem}{ext} missing"
        assert read_png(out / f"{stem}.png").shape == (32, 64, 3)
    assert not any((out / f"{stem}.json").exists() for stem in ("notes", "cut", "tiny"))
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left behind


def test_converted_images_say_what_was_done(photo_batch):
    root, _ = photo_batch
    notes = {stem: json.loads((root / "out" / f"{stem}.json").read_text())["input_notes"]
             for stem in ("good", "gray", "cutout", "print")}
    assert notes["good"] == []
    assert any("L converted to RGB" in n for n in notes["gray"])
    assert any("transparency put over white" in n for n in notes["cutout"])
    assert any("centre crop 60x40 -> 40x40" in n for n in notes["cutout"])
    assert any("CMYK converted to RGB" in n for n in notes["print"])
    gray = read_png(root / "out" / "gray.png")[:, :32]
    assert np.array_equal(gray[..., 0], gray[..., 1])


@pytest.mark.parametrize("name, reason", [("notes.png", "not an image"), ("cut.png", "damaged image file"),
                                          ("tiny.png", "too small to project")])
def test_a_lone_bad_image_is_one_line_and_exit_2(photo_batch, fixtures, tmp_path, name, reason):
    root, _ = photo_batch
    result = project(str(root / name), "--checkpoint", str(fixtures / "rosinality_tiny.pt"), "--loss", "mse",
                     "--steps", "2", "--out", str(tmp_path / "out"), torch_home=tmp_path)
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and name in lines[0] and reason in lines[0], result.stderr
    assert list((tmp_path / "out").iterdir()) == []


# ---- perceptual loss, weights, video -----------------------------------------------------------


def test_default_loss_is_both_when_vgg16_is_cached(photo_batch, fixtures, tmp_path):
    root, _ = photo_batch
    install_fake_vgg16(tmp_path / "torch")
    result = project(str(root / "good.png"), "--checkpoint", str(fixtures / "rosinality_tiny.pt"), "--steps", "3",
                     "--out", str(tmp_path / "out"), torch_home=tmp_path / "torch")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "out" / "good.json").read_text())
    assert record["loss"] == "both" and record["mse_weight"] == 1.0
    assert record["vgg16_weights"].endswith("vgg16-397923af.pth")
    final = record["final"]
    assert 0 < final["perceptual"] <= 4 and final["total"] == pytest.approx(final["perceptual"] + final["mse"], abs=1e-5)


def test_perceptual_without_weights_says_how_to_get_them(photo_batch, tmp_path):
    root, _ = photo_batch
    result = project(str(root / "good.png"), "--loss", "perceptual", "--out", str(tmp_path / "out"), torch_home=tmp_path)
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and "needs VGG16 ImageNet weights" in lines[0] and "--vgg-weights" in lines[0]
    assert not (tmp_path / "out").exists()  # refused before any work


def test_default_loss_without_weights_is_mse_and_logged(photo_batch, fixtures, tmp_path):
    root, _ = photo_batch
    result = project(str(root / "good.png"), "--checkpoint", str(fixtures / "rosinality_tiny.pt"), "--steps", "1",
                     "--out", str(tmp_path / "out"), torch_home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no VGG16 weights found" in result.stderr
    assert json.loads((tmp_path / "out" / "good.json").read_text())["loss"] == "mse"


def test_bad_vgg_weights_file_is_named(photo_batch, tmp_path):
    root, _ = photo_batch
    bad = tmp_path / "vgg.pth"
    bad.write_text("not weights")
    result = project(str(root / "good.png"), "--vgg-weights", str(bad), "--loss", "both", "--out", str(tmp_path / "out"),
                     torch_home=tmp_path)
    lines = error_lines(result)
    assert result.returncode == 2 and len(lines) == 1 and "vgg.pth" in lines[0]


def test_video_shows_the_optimisation(photo_batch, fixtures, tmp_path):
    root, _ = photo_batch
    result = project(str(root / "good.png"), "--checkpoint", str(fixtures / "rosinality_tiny.pt"), "--loss", "mse",
                     "--steps", "12", "--video", "--out", str(tmp_path / "out"), torch_home=tmp_path)
    assert result.returncode == 0, result.stderr
    video = tmp_path / "out" / "good.mp4"
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert frames[0].shape == (32, 64, 3)
    assert len(frames) == 12 + 30  # one per step, then the result held for a second
    last = read_png(tmp_path / "out" / "good.png")
    assert np.abs(frames[-1].astype(int) - last.astype(int)).mean() < 12  # lossy, but the same picture
    assert json.loads((tmp_path / "out" / "good.json").read_text())["video"] == "good.mp4"


def test_video_without_pyav_is_a_clear_error(photo_batch, tmp_path):
    root, _ = photo_batch
    result = project(str(root / "good.png"), "--video", "--loss", "mse", "--out", str(tmp_path / "out"),
                     torch_home=tmp_path, python_prefix="import sys; sys.modules['av'] = None")
    lines = error_lines(result)
    assert result.returncode == 2 and len(lines) == 1
    assert "--video needs PyAV" in lines[0] and "pip install" in lines[0]
    assert not (tmp_path / "out").exists()


def test_bad_numbers_are_refused(photo_batch, tmp_path):
    root, _ = photo_batch
    for flag, value, fragment in (("--steps", "0", "argument --steps: must be within"),
                                  ("--batch", "0", "argument --batch: must be within"),
                                  ("--mse-weight", "nan", "argument --mse-weight: must be")):
        result = project(str(root / "good.png"), flag, value, "--out", str(tmp_path / "out"), torch_home=tmp_path)
        lines = [line for line in result.stderr.splitlines() if line.startswith("stylevj project: error:")]
        assert "Traceback" not in result.stderr and result.returncode == 2, result.stderr
        assert len(lines) == 1 and fragment in lines[0], result.stderr  # argparse's line, at parse time


def test_out_must_be_a_folder(photo_batch, tmp_path):
    root, _ = photo_batch
    (tmp_path / "file").write_text("x")
    result = project(str(root / "good.png"), "--loss", "mse", "--out", str(tmp_path / "file"), torch_home=tmp_path)
    lines = error_lines(result)
    assert result.returncode == 2 and len(lines) == 1 and "is not a folder" in lines[0]
