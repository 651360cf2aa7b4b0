"""Generator output to pictures: float [-1, 1] tensors to 8-bit RGB, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import StylevjError


def to_rgb8(img: torch.Tensor) -> np.ndarray:
    """One image [3, H, W] (about [-1, 1]) as uint8 [H, W, 3], rounded the way NVIDIA's tools do."""
    if img.ndim != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"expected an image [3, H, W], got {list(img.shape)}")
    x = (img.detach().float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    return x.permute(1, 2, 0).cpu().numpy()


def save_png(pixels: np.ndarray, path: str | os.PathLike) -> Path:
    """Write uint8 [H, W, 3] to `path` via a temporary file, so no half-written picture remains."""
    path = Path(path).expanduser()
    if not path.parent.is_dir():
        raise StylevjError(f"{path}: folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        Image.fromarray(pixels).save(tmp, format="PNG")
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StylevjError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path
