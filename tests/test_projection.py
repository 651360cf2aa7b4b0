"""Projection pieces as a library: VGG16 weights, the perceptual distance, the schedule, photo inputs.

VGG16 here has random weights (there is no download): a state dict with torchvision's key names
and shapes, saved as torchvision's cache file in a temporary TORCH_HOME. That tests the plumbing
(loading, the five stages, normalisation, gradients) but not how good the distance is on faces.
"""

from __future__ import annotations

import io
import logging
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from realtime.models import load_generator
from realtime.projection import (
    ImageInputError,
    PerceptualDistance,
    ProjectionSettings,
    VGG16Features,
    VggWeightsError,
    choose_loss,
    default_weights_path,
    failure_summary,
    find_weights,
    load_target,
    load_vgg16,
    project,
)
from realtime.projection.job import Outcome, output_stems
from realtime.projection.vgg import VGG16_FILE

# torchvision's vgg16().features: conv index -> (out, in) channels.
TORCHVISION_CONVS = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256),
                     14: (256, 256), 17: (512, 256), 19: (512, 512), 21: (512, 512), 24: (512, 512),
                     26: (512, 512), 28: (512, 512)}


def fake_vgg16_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A torchvision-style VGG16 state dict with random (He-initialised) features and a stub classifier."""
    rng = torch.Generator().manual_seed(seed)
    state = {}
    for index, (out_ch, in_ch) in TORCHVISION_CONVS.items():
        state[f"features.{index}.weight"] = torch.randn(out_ch, in_ch, 3, 3, generator=rng) * (2 / (in_ch * 9)) ** 0.5
        state[f"features.{index}.bias"] = torch.zeros(out_ch)
    for index, size in ((0, 4096), (3, 4096), (6, 1000)):  # the real file has these (and big weights we skip)
        state[f"classifier.{index}.bias"] = torch.zeros(size)
    return state


def install_fake_vgg16(torch_home: Path) -> Path:
    """Save the fake state dict where torchvision caches VGG16 under TORCH_HOME=torch_home."""
    path = torch_home / "hub" / "checkpoints" / VGG16_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fake_vgg16_state(), path)
    return path


@pytest.fixture(scope="module")
def vgg_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("torch_home")
    install_fake_vgg16(home)
    return home


@pytest.fixture
def tiny_G(fixtures):
    return load_generator(fixtures / "rosinality_tiny.pt")


def png_bytes(img: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt)
    return buffer.getvalue()


# ---- VGG16 -------------------------------------------------------------------------------------


def test_vgg16_has_torchvisions_key_names_and_shapes():
    keys = VGG16Features().state_dict()
    expected = {f"features.{i}.weight": (o, c, 3, 3) for i, (o, c) in TORCHVISION_CONVS.items()}
    expected |= {f"features.{i}.bias": (o,) for i, (o, _) in TORCHVISION_CONVS.items()}
    assert {k: tuple(v.shape) for k, v in keys.items()} == expected


def test_weights_are_found_in_torch_home_and_load(vgg_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(vgg_home))
    path = find_weights()
    assert path == default_weights_path() == vgg_home / "hub" / "checkpoints" / VGG16_FILE
    net = load_vgg16(path)
    assert torch.equal(net.features[28].weight, fake_vgg16_state()["features.28.weight"])
    taps = net.taps(torch.zeros(1, 3, 64, 64))
    assert [tuple(t.shape[1:]) for t in taps] == [(64, 64, 64), (128, 32, 32), (256, 16, 16), (512, 8, 8), (512, 4, 4)]


def test_no_weights_means_mse_by_default_and_a_how_to_for_perceptual(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with caplog.at_level(logging.INFO):
        assert choose_loss(None, None) == ("mse", None)
    assert "no VGG16 weights found" in caplog.text
    for loss in ("perceptual", "both"):
        with pytest.raises(VggWeightsError) as err:
            choose_loss(loss, None)
        message = str(err.value)
        assert "\n" not in message and "vgg16-397923af.pth" in message and "--vgg-weights" in message
        assert "torchvision.models.vgg16(weights='DEFAULT')" in message and str(tmp_path) in message
    assert choose_loss("mse", None) == ("mse", None)


def test_found_weights_mean_both_by_default(vgg_home, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(vgg_home))
    loss, path = choose_loss(None, None)
    assert loss == "both" and path.name == VGG16_FILE


@pytest.mark.parametrize("content, reason", [
    (b"not torch at all", "not a"),
    ("missing", "tensor 'features.28.weight' is missing"),
    ("shape", "features.0.weight' has shape [64, 1, 3, 3], expected [64, 3, 3, 3]"),
    ("object", "not a plain state dict"),
])
def test_bad_vgg_weights_are_named(tmp_path, content, reason):
    path = tmp_path / "vgg.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        state = fake_vgg16_state()
        if content == "missing":
            del state["features.28.weight"]
        elif content == "shape":
            state["features.0.weight"] = torch.zeros(64, 1, 3, 3)
        else:
            state = {"model": logging.getLogger("x")}  # an arbitrary object: weights_only refuses it
        torch.save(state, path)
    with pytest.raises(VggWeightsError) as err:
        load_vgg16(find_weights(str(path)))
    assert reason in str(err.value) and str(path) in str(err.value)
    with pytest.raises(VggWeightsError, match="no such VGG16 weights file"):
        find_weights(str(tmp_path / "gone.pth"))


# ---- perceptual distance and projection --------------------------------------------------------


@pytest.fixture(scope="module")
def perceptual(vgg_home) -> PerceptualDistance:
    return PerceptualDistance(load_vgg16(vgg_home / "hub" / "checkpoints" / VGG16_FILE))


def test_perceptual_distance_is_zero_for_equal_images_and_bounded(perceptual):
    rng = torch.Generator().manual_seed(0)
    a = torch.rand(2, 3, 64, 64, generator=rng) * 2 - 1
    b = torch.rand(2, 3, 64, 64, generator=rng) * 2 - 1
    assert perceptual(a, a).abs().max() < 1e-6
    d = perceptual(a, b)
    assert d.shape == (2,) and (d > 0).all() and (d <= 4).all()
    # compared at 256 px: a 1024 px picture of 4x4 blocks is the same as its 256 px original
    small = torch.rand(1, 3, 256, 256, generator=rng) * 2 - 1
    big = torch.nn.functional.interpolate(small, scale_factor=4, mode="nearest")
    assert perceptual(big, small).abs().max() < 1e-5


def test_perceptual_loss_decreases_while_projecting(tiny_G, perceptual):
    ws = tiny_G.mapping(torch.randn(1, tiny_G.z_dim, generator=torch.Generator().manual_seed(3)))
    target = tiny_G.synthesis(ws, noise_mode="const").clamp(-1, 1)
    seen = []
    settings = ProjectionSettings(steps=8, loss="perceptual", learning_rate=0.05, w_noise=0.0)
    result = project(tiny_G, target, settings, perceptual, on_step=lambda info: seen.append(float(info.losses["perceptual"])))
    assert len(seen) == 8
    assert float(result.losses["perceptual"]) < 0.8 * seen[0]
    assert seen[-1] < seen[0]
    assert set(result.losses) == {"total", "mse", "perceptual", "psnr_db"}


def test_perceptual_projection_needs_the_distance(tiny_G):
    target = torch.zeros(1, 3, 32, 32)
    with pytest.raises(ValueError, match="needs a PerceptualDistance"):
        project(tiny_G, target, ProjectionSettings(steps=1, loss="both"))


def test_projection_never_touches_the_generator_or_its_noise(tiny_G):
    before = {k: v.clone() for k, v in tiny_G.state_dict().items()}
    target = torch.zeros(2, 3, 32, 32)
    result = project(tiny_G, target, ProjectionSettings(steps=3, loss="mse"))
    assert result.ws.shape == (2, tiny_G.num_ws, tiny_G.w_dim)
    assert all(torch.equal(v, tiny_G.state_dict()[k]) for k, v in before.items())
    assert not any(p.requires_grad for p in tiny_G.parameters())
    # the images reported are what the saved W+ renders with the constant noise buffers
    assert torch.equal(result.images, tiny_G.synthesis(result.ws, noise_mode="const"))


def test_schedule_ramps_up_holds_and_ramps_down():
    s = ProjectionSettings(steps=1000)
    lrs = [s.learning_rate_at((i + 0.5) / 1000) for i in range(1000)]
    assert 0 < lrs[0] < 0.02 * s.learning_rate
    assert max(lrs) == pytest.approx(s.learning_rate)
    assert lrs[500] == pytest.approx(s.learning_rate)
    tail = lrs[750:]
    assert all(a >= b for a, b in zip(tail, tail[1:])) and tail[-1] < 1e-4 * s.learning_rate
    assert s.noise_at(0.0) == pytest.approx(s.w_noise) and s.noise_at(0.75) == 0 and s.noise_at(0.9) == 0
    assert s.noise_at(0.375) == pytest.approx(s.w_noise / 4)


# ---- photo inputs ------------------------------------------------------------------------------


def write(path: Path, img: Image.Image, fmt: str = "PNG") -> Path:
    path.write_bytes(png_bytes(img, fmt))
    return path


def gradient_rgb(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width, dtype=np.float64)[None, :, None]
    y = np.linspace(0, 255, height, dtype=np.float64)[:, None, None]
    rgb = np.concatenate([np.broadcast_to(x, (height, width, 1)), np.broadcast_to(y, (height, width, 1)),
                          np.full((height, width, 1), 90.0)], axis=2)
    return Image.fromarray(rgb.round().astype(np.uint8))


def test_rgb_square_at_resolution_is_taken_as_is(tmp_path):
    img = gradient_rgb(32, 32)
    target = load_target(write(tmp_path / "a.png", img), 32)
    assert np.array_equal(target.pixels, np.asarray(img)) and target.notes == ()
    # and the tensor maps back to the same bytes through the PNG writer's rounding
    from realtime.images import to_rgb8
    assert np.array_equal(to_rgb8(target.tensor()), target.pixels)


def test_wide_photo_is_centre_cropped_and_downscaled(tmp_path):
    target = load_target(write(tmp_path / "wide.jpg", gradient_rgb(1200, 800), "JPEG"), 64)
    assert target.pixels.shape == (64, 64, 3) and target.size == (1200, 800)
    assert "centre crop 1200x800 -> 800x800" in target.notes
    red = target.pixels[:, :, 0].astype(int)
    assert 40 < red[:, 0].mean() < 80 and 175 < red[:, -1].mean() < 215  # the middle third of the ramp


@pytest.mark.parametrize("mode, note", [("L", "L converted"), ("CMYK", "CMYK converted"), ("I;16", "16-bit")])
def test_other_colour_modes_become_rgb(tmp_path, mode, note):
    base = gradient_rgb(40, 40)
    if mode == "I;16":
        img = Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257)
        assert img.mode.startswith("I;16")
        fmt = "PNG"
    else:
        img, fmt = base.convert(mode), "JPEG" if mode == "CMYK" else "PNG"
    target = load_target(write(tmp_path / f"x.{fmt.lower()}", img, fmt), 40)
    assert target.pixels.shape == (40, 40, 3)
    assert any(note in n for n in target.notes), target.notes
    gray = np.asarray(base.convert("L")).astype(int)
    if mode in ("L", "I;16"):
        assert np.abs(target.pixels[:, :, 0].astype(int) - gray).max() <= 1
        assert np.array_equal(target.pixels[:, :, 0], target.pixels[:, :, 2])
    else:
        assert np.abs(target.pixels.astype(int) - np.asarray(base).astype(int)).mean() < 12


def test_transparency_goes_over_white(tmp_path):
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)
    rgba[:, :, 0] = 200
    rgba[:, 20:, 3] = 255  # left half transparent
    target = load_target(write(tmp_path / "cut.png", Image.fromarray(rgba, "RGBA")), 40)
    assert (target.pixels[:, :20] == 255).all()
    assert (target.pixels[:, 20:] == [200, 0, 0]).all()
    assert any("transparency" in n for n in target.notes)


def test_exif_rotation_is_applied(tmp_path):
    img = gradient_rgb(60, 40)  # landscape as stored, portrait as meant
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "phone.jpg"
    img.save(path, format="JPEG", exif=exif)
    target = load_target(path, 40)
    assert any("EXIF" in n for n in target.notes)
    # after turning, red (x ramp) runs top to bottom
    red = target.pixels[:, :, 0].astype(int)
    assert red[:5].mean() < red[-5:].mean() - 100


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("name, content, reason", [
    ("notes.png", b"this is a text file, not a picture\n", "not an image"),
    ("empty.png", b"", "is empty"),
    ("tiny.png", "tiny", "10x10 pixels is too small"),
    ("cut.png", "truncated", "damaged image file"),
    ("huge.png", _png_header_only(13_360, 13_360), "13360x13360 pixels is too large"),
    ("bomb.png", _png_header_only(40_000, 40_000), "too large"),
])
def test_unusable_images_are_refused_with_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    if content == "tiny":
        write(path, gradient_rgb(10, 10))
    elif content == "truncated":
        data = png_bytes(gradient_rgb(64, 64))
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(ImageInputError) as err:
        load_target(path, 32)
    message = str(err.value)
    assert reason in message and str(path) in message and "\n" not in message


def test_missing_file_and_folder_are_refused(tmp_path):
    with pytest.raises(ImageInputError, match="no such file"):
        load_target(tmp_path / "gone.jpg", 32)
    with pytest.raises(ImageInputError, match="is a folder"):
        load_target(tmp_path, 32)


# ---- naming and summaries ---------------------------------------------------------------------


def test_output_names_stay_distinct_and_keep_dots():
    paths = [Path("a/face.jpg"), Path("b/face.png"), Path("c/Face.jpg"), Path("my.face.jpg")]
    assert output_stems(paths) == ["face", "face-2", "Face-3", "my.face"]


def test_failure_summary_is_one_line():
    ok = Outcome(Path("a.png"))
    bad = [Outcome(Path(f"{n}.png"), error=f"{n}.png: not an image") for n in "bcdef"]
    assert failure_summary([ok]) is None
    assert failure_summary([bad[0]]) == "b.png: not an image"
    line = failure_summary([ok] + bad)
    assert line.startswith("5 of 6 images failed (1 written): b.png: not an image;") and "and 2 more" in line
    assert "\n" not in line
