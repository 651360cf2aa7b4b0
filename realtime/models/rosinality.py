"""rosinality/stylegan2-pytorch checkpoints (`.pt`): read safely, convert to our names.

A training checkpoint is a `torch.save` dict with `g`, `g_ema`, `d`, optimiser states,
`latent_avg` and `args` (an argparse.Namespace); converted FFHQ files hold only `g_ema` and
`latent_avg`. It is read with `torch.load(weights_only=True)` and an explicit allow-list, so no
code in the file can run.
"""

from __future__ import annotations

import argparse
import logging
import pickle
import re
from pathlib import Path
from typing import BinaryIO

import torch

from ..errors import CheckpointError
from .config import GeneratorConfig
from .convert import Converted, require
from .layers import fir_filter_2d

log = logging.getLogger(__name__)

# Globals a rosinality checkpoint may carry beyond tensors and containers.
ALLOWED_GLOBALS = [argparse.Namespace]
MAPPING_LR = 0.01  # rosinality's lr_mlp: fixed in its training script, not stored in files


def load_torch_file(path: Path, file: BinaryIO | None = None) -> object:
    """torch.load with weights_only=True and our allow-list, of `path` (or `file`, already open
    on it: what was judged is what is read); errors name the file and reason."""
    try:
        with torch.serialization.safe_globals(ALLOWED_GLOBALS):
            return torch.load(path if file is None else file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL ([\w.]+)", str(exc))
        if found:
            raise CheckpointError(
                f"{path}: refused to load, it contains the Python object '{found.group(1)}',"
                " which is not on stylevj's allow-list"
            ) from None
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint ({_first_line(exc)})") from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, MemoryError) as exc:
        raise CheckpointError(f"{path}: truncated or corrupt PyTorch checkpoint ({_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def is_rosinality(obj: object) -> bool:
    if not isinstance(obj, dict):
        return False
    return any(k in obj for k in ("g_ema", "g")) or "style.1.weight" in obj


def convert_rosinality(ckpt: dict, origin: str) -> Converted:
    """A rosinality checkpoint (or a bare g_ema state dict) as our architecture and weights."""
    if "g_ema" in ckpt:
        sd = ckpt["g_ema"]
    elif "g" in ckpt:
        log.warning("%s has no g_ema (the averaged generator); using g, which looks noisier", origin)
        sd = ckpt["g"]
    else:
        sd = ckpt
    if not isinstance(sd, dict):
        raise CheckpointError(f"{origin}: 'g_ema' is a {type(sd).__name__}, not a state dict")

    n_mlp = 0
    while f"style.{n_mlp + 1}.weight" in sd:
        n_mlp += 1
    if n_mlp == 0:
        raise CheckpointError(f"{origin}: tensor 'style.1.weight' is missing (no mapping network)")
    first = require(sd, "style.1.weight", origin)
    last = require(sd, f"style.{n_mlp}.weight", origin)
    n_convs = 0
    while f"convs.{n_convs}.conv.weight" in sd:
        n_convs += 1
    if n_convs % 2:
        raise CheckpointError(f"{origin}: tensor 'convs.{n_convs}.conv.weight' is missing")
    const = require(sd, "input.input", origin)
    channels = [const.shape[1]] + [require(sd, f"convs.{2 * j}.conv.weight", origin).shape[1] for j in range(n_convs // 2)]
    cfg = GeneratorConfig(
        z_dim=int(first.shape[1]), w_dim=int(last.shape[0]), resolution=4 * 2 ** (n_convs // 2),
        channels=tuple(int(c) for c in channels), mapping_layers=n_mlp,
        mapping_hidden=int(first.shape[0]), mapping_lr=MAPPING_LR,
    )

    state: dict[str, torch.Tensor] = {}
    names: dict[str, str] = {}

    def put(ours: str, theirs: str, reshape=None) -> None:
        t = require(sd, theirs, origin)
        state[ours] = reshape(t) if reshape is not None else t
        names[ours] = theirs

    for i in range(n_mlp):
        put(f"mapping.layers.{i}.weight", f"style.{i + 1}.weight")
        put(f"mapping.layers.{i}.bias", f"style.{i + 1}.bias")
    put("synthesis.blocks.0.const", "input.input", _squeeze_to(3))

    def styled_conv(ours: str, theirs: str, noise_index: int) -> None:
        put(f"{ours}.weight", f"{theirs}.conv.weight", _squeeze_to(4))
        put(f"{ours}.affine.weight", f"{theirs}.conv.modulation.weight")
        put(f"{ours}.affine.bias", f"{theirs}.conv.modulation.bias")
        put(f"{ours}.noise_strength", f"{theirs}.noise.weight", _squeeze_to(0))
        put(f"{ours}.bias", f"{theirs}.activate.bias")
        put(f"{ours}.noise_const", f"noises.noise_{noise_index}", _squeeze_to(2))

    def to_rgb(ours: str, theirs: str) -> None:
        put(f"{ours}.weight", f"{theirs}.conv.weight", _squeeze_to(4))
        put(f"{ours}.affine.weight", f"{theirs}.conv.modulation.weight")
        put(f"{ours}.affine.bias", f"{theirs}.conv.modulation.bias")
        put(f"{ours}.bias", f"{theirs}.bias", lambda t: t.reshape(-1))

    styled_conv("synthesis.blocks.0.conv1", "conv1", 0)
    to_rgb("synthesis.blocks.0.torgb", "to_rgb1")
    for j in range(1, n_convs // 2 + 1):
        styled_conv(f"synthesis.blocks.{j}.conv0", f"convs.{2 * j - 2}", 2 * j - 1)
        styled_conv(f"synthesis.blocks.{j}.conv1", f"convs.{2 * j - 1}", 2 * j)
        to_rgb(f"synthesis.blocks.{j}.torgb", f"to_rgbs.{j - 1}")
        _check_filter(sd, f"convs.{2 * j - 2}.conv.blur.kernel", origin)
        _check_filter(sd, f"to_rgbs.{j - 1}.upsample.kernel", origin)

    w_avg = ckpt.get("latent_avg") if sd is not ckpt else None
    if w_avg is not None:
        if not isinstance(w_avg, torch.Tensor) or w_avg.numel() != cfg.w_dim:
            raise CheckpointError(f"{origin}: 'latent_avg' has {getattr(w_avg, 'shape', '?')}, expected [{cfg.w_dim}]")
        w_avg = w_avg.reshape(cfg.w_dim).float()
    return Converted(cfg, state, w_avg, names)


def _squeeze_to(ndim: int):
    """rosinality keeps leading singleton dims ([1, out, in, k, k], [1, 1, r, r], [1])."""

    def squeeze(t: torch.Tensor) -> torch.Tensor:
        while t.ndim > ndim and t.shape[0] == 1:
            t = t[0]
        return t

    return squeeze


def _check_filter(sd: dict, key: str, origin: str) -> None:
    """We implement the standard [1,3,3,1] resampling filter only; refuse anything else."""
    kernel = sd.get(key)
    if kernel is None:
        return  # older files do not store the (non-learned) filter
    if tuple(kernel.shape) != (4, 4) or not torch.allclose(kernel.float(), fir_filter_2d(gain=4.0), atol=1e-6):
        raise CheckpointError(f"{origin}: '{key}' is not the standard [1,3,3,1] filter; not supported")
