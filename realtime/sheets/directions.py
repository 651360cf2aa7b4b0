"""`stylevj directions`: meaningful knobs for a checkpoint, written as `[N, w_dim]` .npy, and a
contact sheet to choose and name them before the show. No GL.

The sheet has a row per direction and a column per amount (-3 to +3 by default) applied to one
W+ (a seed or a keyframe) on the chosen layers; the middle column is the unchanged picture.
Amounts are in units of W's spread along each direction (its standard deviation, "sd"), so
"+3sd" reads the same on any checkpoint and for either method.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..errors import StylevjError
from ..images import save_png, to_rgb8
from ..latent.direction_files import cached_directions, save_directions
from ..latent.directions import GANSPACE_SAMPLES, METHODS, Directions, apply_direction, spread_along
from ..latent.keyframes import keyframe_from_seed, load_keyframe
from ..latent.layer_ranges import format_rows, parse_layers, rows_of

log = logging.getLogger(__name__)

DEFAULT_AMOUNTS = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
CENTRE_COLOUR = (255, 196, 0)
_LABEL_WIDTH = 96
_HEADER = 18
_PAD = 4


@torch.inference_mode()
def direction_sheet(
    G, directions: torch.Tensor, w: torch.Tensor, rows: Sequence[int] | None = None,
    amounts: Sequence[float] = DEFAULT_AMOUNTS, scale: float | Sequence[float] | torch.Tensor = 1.0,
    labels: Sequence[str] | None = None, unit: str = "", thumb: int = 128, noise_mode: str = "const",
) -> Image.Image:
    """A sheet: row i shows w moved by amounts × scale[i] × directions[i] on `rows`.

    directions: [N, w_dim] or [N, num_ws, w_dim]; w: W+ [num_ws, w_dim]; scale: one factor for
    all or one per direction (e.g. `spread_along`, with unit "sd"); labels: one per direction.
    """
    count = directions.shape[0]
    scales = torch.as_tensor(scale, dtype=torch.float32).expand(count).tolist()
    labels = list(labels) if labels is not None else [f"direction {i}" for i in range(count)]
    steps = torch.tensor([float(a) for a in amounts])  # [A]
    columns = len(steps)
    width = _LABEL_WIDTH + columns * (thumb + _PAD) + _PAD
    height = _HEADER + count * (thumb + _PAD) + _PAD
    sheet = Image.new("RGB", (width, height), (16, 16, 16))
    draw = ImageDraw.Draw(sheet)
    for j, a in enumerate(steps.tolist()):
        text = f"{a:+g}{unit}" if a else "0"
        draw.text((_LABEL_WIDTH + j * (thumb + _PAD) + thumb // 2 - 3 * len(text), 3), text, fill=(200, 200, 200))
    base = w.to(G.device).float().expand(columns, -1, -1)  # [A, num_ws, w_dim]
    for i in range(count):
        ws = apply_direction(base, directions[i].to(G.device), steps.to(G.device) * scales[i], rows)
        images = G.synthesis(ws, noise_mode=noise_mode)  # [A, 3, H, W]
        y = _HEADER + i * (thumb + _PAD)
        draw.text((6, y + thumb // 2 - 12), labels[i][:14], fill=(230, 230, 230))
        draw.text((6, y + thumb // 2 + 2), f"1{unit} = {scales[i]:.3g}" if unit else f"x{scales[i]:.3g}",
                  fill=(140, 140, 140))
        for j, img in enumerate(images):
            x = _LABEL_WIDTH + j * (thumb + _PAD)
            sheet.paste(Image.fromarray(to_rgb8(img)).resize((thumb, thumb), Image.LANCZOS), (x, y))
            if steps[j] == 0:
                draw.rectangle([x - 2, y - 2, x + thumb + 1, y + thumb + 1], outline=CENTRE_COLOUR, width=2)
    return sheet


def _check_out(path: Path, what: str) -> Path:
    path = path.expanduser()
    if not path.parent.is_dir():
        raise StylevjError(f"{path}: folder {path.parent} does not exist ({what})")
    return path


def make_directions(
    source: str, out: str | os.PathLike, method: str = "sefa", layers: str = "all", count: int = 10,
    sheet: str | os.PathLike | None = None, seed: int = 0, keyframe: str | os.PathLike | None = None,
    psi: float = 0.7, samples: int = GANSPACE_SAMPLES, sample_seed: int = 0,
    cache_dir: str | os.PathLike | None = None, device: str = "cpu", thumb: int = 128,
) -> Directions:
    """The whole `stylevj directions` job: compute (or reuse) directions, write them, draw the sheet.

    source: a checkpoint path, "demo" or "arch:NAME"; out: FILE.npy for [count, w_dim] float32;
    layers: a layer range (layer_ranges.py); sheet: an optional PNG, drawn from `keyframe` if
    given, else from `seed` at truncation `psi`; samples / sample_seed: GANSpace's sampling;
    cache_dir: None for ~/.cache/stylevj/directions. Every user error is a StylevjError line,
    raised before the generator loads where it can be.
    """
    from ..models import load_generator

    if method not in METHODS:
        raise StylevjError(f"direction method must be one of {', '.join(METHODS)}, not {method!r}")
    if count < 1:
        raise StylevjError(f"count must be at least 1, got {count}")
    out = _check_out(Path(out), "--out")
    sheet = _check_out(Path(sheet), "--sheet") if sheet is not None else None
    G = load_generator(source, device=device)
    rows = parse_layers(layers, rows_of(G))
    found = cached_directions(G, method, rows, samples=samples, seed=sample_seed, cache_dir=cache_dir).top(count)
    save_directions(out, found)
    log.info("wrote %s: %d %s directions for layers %s (%s)", out, count, method, format_rows(rows), G.cfg.describe())
    if sheet is not None:
        base = load_keyframe(keyframe, G.num_ws, G.w_dim) if keyframe is not None else keyframe_from_seed(G, seed, psi)
        sigma = spread_along(G, found.vectors, seed=sample_seed)
        labels = [f"{method} {i}" for i in range(count)]
        image = direction_sheet(G, found.vectors, base.w, rows, scale=sigma, labels=labels, unit="sd", thumb=thumb)
        save_png(np.asarray(image), sheet)
        log.info("wrote %s: %d directions x %d amounts from %s", sheet, count, len(DEFAULT_AMOUNTS), base.source)
    return found
