"""Photos in, projection targets out: read, check, convert to RGB, crop square, resize.

Whatever users bring (phone JPEGs turned by EXIF, grayscale scans, PNGs with transparency,
CMYK prints, 16-bit TIFFs, animated GIFs) becomes an 8-bit RGB square at the generator's
resolution, and each conversion is noted so the record says what was done. What cannot be
used (not an image, a damaged file, too small, absurdly large) is an `ImageInputError` whose
one-line message names the file and the reason.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import StylevjError
from .crop import centre_crop

log = logging.getLogger(__name__)

MIN_SIDE = 32  # below this there is no face to recover
MAX_PIXELS = 178_000_000  # larger is a mistake or a decompression bomb (Pillow refuses these too)
ALPHA_BACKGROUND = (255, 255, 255)  # transparent pixels become white, like a cut-out on paper

_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError)


class ImageInputError(StylevjError):
    """An input image that cannot be projected; the message names the file and the reason."""


@dataclass(frozen=True)
class Target:
    """One image ready to project: `pixels` uint8 [R, R, 3] at the generator's resolution."""

    path: Path
    pixels: np.ndarray
    sha256: str
    size: tuple[int, int]  # width, height as stored in the file
    notes: tuple[str, ...] = field(default=())

    def tensor(self) -> torch.Tensor:
        """[3, R, R] float in [-1, 1], mapping back to exactly these bytes through `to_rgb8`."""
        return torch.from_numpy(self.pixels).permute(2, 0, 1).float() / 127.5 - 1.0


def read_image(path: Path, least: int = 0) -> tuple[Image.Image, tuple[int, int], str, list[str]]:
    """The decoded image, its stored size, the sha256 of the file's bytes, and notes.

    least: JPEGs may decode at 1/2, 1/4 or 1/8 scale as long as both sides stay >= least
    (a 50-megapixel photo projected at 256 px need not be decoded in full).
    """
    if path.is_dir():
        raise ImageInputError(f"{path}: is a folder, not an image")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageInputError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImageInputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not data:
        raise ImageInputError(f"{path}: is empty")
    digest = hashlib.sha256(data).hexdigest()
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # MAX_PIXELS decides
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ImageInputError(f"{path}: not an image (or a format Pillow cannot read)") from None
        except Image.DecompressionBombError:
            raise ImageInputError(f"{path}: too large to read (over {MAX_PIXELS // 1_000_000} megapixels)") from None
        except _DECODE_ERRORS as exc:
            raise ImageInputError(f"{path}: damaged image file ({_reason(exc)})") from None
        width, height = img.size
        if width * height > MAX_PIXELS:
            raise ImageInputError(
                f"{path}: {width}x{height} pixels is too large (limit {MAX_PIXELS // 1_000_000} megapixels); downscale it first"
            )
        if least:
            img.draft(None, (least, least))
        frames = getattr(img, "n_frames", 1)
        if frames > 1:
            notes.append(f"first of {frames} frames")
        try:
            img.load()
        except _DECODE_ERRORS as exc:
            raise ImageInputError(f"{path}: damaged image file ({_reason(exc)})") from None
    if _exif_orientation(img) not in (1, None):
        try:
            img = ImageOps.exif_transpose(img)
            notes.append("turned upright (EXIF orientation)")
        except _DECODE_ERRORS:
            notes.append("EXIF orientation unreadable: kept as stored")
    return img, (width, height), digest, notes


def _exif_orientation(img: Image.Image) -> int | None:
    try:
        return img.getexif().get(0x0112)
    except _DECODE_ERRORS:
        return None


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:120]


def to_rgb(img: Image.Image, path: Path, notes: list[str]) -> Image.Image:
    """8-bit RGB: alpha over white, palettes and grayscale expanded, CMYK and 16-bit converted."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P" and "transparency" in img.info:
        img, mode = img.convert("RGBA"), "PA"
    try:
        if mode in _ALPHA_MODES:
            rgba = img.convert("RGBA")
            background = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
            notes.append(f"{mode} with transparency put over white")
            return Image.alpha_composite(background, rgba).convert("RGB")
        if mode.startswith("I") or mode == "F":
            notes.append(f"{mode} ({'16-bit' if mode.startswith('I;16') else 'high bit depth'}) scaled to 8-bit")
            return Image.fromarray(_to_uint8(np.asarray(img))).convert("RGB")
        notes.append(f"{mode} converted to RGB")
        return img.convert("RGB")
    except (ValueError, OSError) as exc:
        raise ImageInputError(f"{path}: colour mode {mode} cannot be converted to RGB ({_reason(exc)})") from None


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """A 16-bit, 32-bit or float grayscale array to 8 bits, by the range its type implies."""
    values = values.astype(np.float64)
    top = float(np.nanmax(values)) if values.size else 0.0
    if top <= 1.0:
        scale = 1.0  # float images in [0, 1]
    elif top <= 255:
        scale = 255.0
    elif top <= 65535:
        scale = 65535.0
    else:
        scale = top
    return np.clip(np.nan_to_num(values) / scale * 255 + 0.5, 0, 255).astype(np.uint8)


def load_target(path: str | os.PathLike, resolution: int) -> Target:
    """The image at `path` as a projection target [resolution, resolution, 3], or an ImageInputError."""
    path = Path(path)
    img, (width, height), digest, notes = read_image(path, least=resolution)
    if min(width, height) < MIN_SIDE:
        raise ImageInputError(
            f"{path}: {width}x{height} pixels is too small to project (the short side needs at least {MIN_SIDE})"
        )
    img = to_rgb(img, path, notes)
    img, crop_note = centre_crop(img, stored=(width, height))
    if crop_note:
        notes.append(crop_note)
    side = img.size[0]
    if side < resolution:
        notes.append(f"upscaled from {side} to {resolution} px (the result will look soft)")
    if side != resolution:
        img = img.resize((resolution, resolution), Image.Resampling.LANCZOS, reducing_gap=3.0)
    pixels = np.asarray(img, dtype=np.uint8).copy()
    for note in notes:
        log.info("%s: %s", path.name, note)
    return Target(path, pixels, digest, (width, height), tuple(notes))

