"""Broken checkpoints give one clear error naming the file and the reason, never a half generator."""

from __future__ import annotations

import pytest
import torch

from realtime.errors import CheckpointError
from realtime.models import GeneratorConfig, load_generator

from .forge import random_generator, to_rosinality

SMALL = GeneratorConfig(z_dim=16, w_dim=16, resolution=16, channels=(8, 8, 8), mapping_layers=2)


@pytest.mark.parametrize("name", ["rosinality_tiny.pt", "nvada_tiny.pkl"])
def test_truncated_checkpoint(fixtures, tmp_path, name):
    data = (fixtures / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as err:
        load_generator(path)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_truncated_safetensors(tmp_path):
    from realtime.models import save_native

    path = tmp_path / "g.safetensors"
    save_native(random_generator(SMALL), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_generator(path)


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "is empty"), (b"GIF89a not a checkpoint at all", "not a StyleGAN2 checkpoint"), (bytes(range(256)) * 4, "not a StyleGAN2 checkpoint")],
    ids=["empty", "text", "binary"],
)
def test_not_a_checkpoint(tmp_path, content, reason):
    path = tmp_path / "model.pkl"  # the name says pickle; the content decides
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=reason):
        load_generator(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_generator(tmp_path / "nope.pkl")
    with pytest.raises(CheckpointError, match="is a folder"):
        load_generator(tmp_path)


def test_format_detected_from_content_not_name(fixtures, tmp_path):
    renamed = tmp_path / "actually_a_pickle.pt"
    renamed.write_bytes((fixtures / "nvada_tiny.pkl").read_bytes())
    assert load_generator(renamed).cfg.conv_clamp == 256.0


def test_missing_tensor_is_named(tmp_path):
    ckpt = to_rosinality(random_generator(SMALL))
    del ckpt["g_ema"]["convs.1.noise.weight"]
    path = tmp_path / "missing.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=r"'convs\.1\.noise\.weight' is missing"):
        load_generator(path)


def test_misshapen_tensor_is_named_with_both_shapes(tmp_path):
    ckpt = to_rosinality(random_generator(SMALL))
    ckpt["g_ema"]["convs.2.conv.modulation.weight"] = torch.zeros(5, 16)
    path = tmp_path / "misshapen.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=r"'convs\.2\.conv\.modulation\.weight' has shape \[5, 16\], expected \[8, 16\]"):
        load_generator(path)


def test_nan_weights_are_refused(tmp_path):
    ckpt = to_rosinality(random_generator(SMALL))
    ckpt["g_ema"]["style.2.bias"][3] = float("nan")
    path = tmp_path / "nan.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match=r"'style\.2\.bias' holds NaN"):
        load_generator(path)


def test_wrong_latent_avg_is_refused(tmp_path):
    ckpt = to_rosinality(random_generator(SMALL))
    ckpt["latent_avg"] = torch.zeros(7)
    path = tmp_path / "avg.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="latent_avg"):
        load_generator(path)


def test_torch_file_that_is_not_stylegan(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, path)
    with pytest.raises(CheckpointError, match="not a rosinality StyleGAN2 checkpoint"):
        load_generator(path)


def test_safetensors_without_stylevj_header(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(3)}, str(path))
    with pytest.raises(CheckpointError, match="without a stylevj header"):
        load_generator(path)


def test_unknown_arch_lists_the_known_ones():
    with pytest.raises(CheckpointError, match="arch:ffhq-1024"):
        load_generator("arch:ffhq-2048")
