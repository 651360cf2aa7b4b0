"""Generator output to pictures: float [-1, 1] tensors to 8-bit RGB, written atomically."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .errors import StylevjError
from .files import atomic_write


def to_pixels(img: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
    """Generator output [3, H, W] or [1, 3, H, W] (about [-1, 1]) as uint8 [H, W, 3] on its device,
    rounded the way NVIDIA's tools do.

    out: a uint8 [H, W, 3 or 4] buffer to write into instead (the show's RGBA8 frames: its alpha
    is left as it is); returned.
    """
    if img.ndim == 4 and img.shape[0] == 1:
        img = img[0]
    if img.ndim != 3 or img.shape[0] not in (1, 3):
        raise ValueError(f"expected an image [3, H, W], got {list(img.shape)}")
    x = (img.detach().float() * 127.5 + 128).clamp_(0, 255).to(torch.uint8).expand(3, -1, -1)  # [3, H, W]
    if out is None:
        return x.permute(1, 2, 0).contiguous()
    out[..., :3].copy_(x.permute(1, 2, 0))
    return out


def to_rgb8(img: torch.Tensor) -> np.ndarray:
    """`to_pixels` as a numpy array on the host (for PNGs and PIL)."""
    return to_pixels(img).cpu().numpy()


def save_png(pixels: np.ndarray, path: str | os.PathLike) -> Path:
    """Write uint8 [H, W, 3] to `path` atomically, so no half-written picture remains."""
    path = Path(path).expanduser()
    if not path.parent.is_dir():
        raise StylevjError(f"{path}: folder {path.parent} does not exist")
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    try:
        return atomic_write(path, buffer.getvalue())
    except OSError as exc:
        raise StylevjError(f"{path}: cannot write ({exc.strerror or exc})") from None
