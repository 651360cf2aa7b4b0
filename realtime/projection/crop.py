"""How a photo becomes the square the generator draws: the largest centred square.

A face-aligned (FFHQ-style) crop needs a facial landmark model, and no installable package ships
one that works without a download at run time; so stylevj crops the centre, which suits a roughly
centred portrait, and says in the record what it cut. Crop photos yourself for off-centre faces.
"""

from __future__ import annotations

from PIL import Image


def centre_crop(img: Image.Image, stored: tuple[int, int] | None = None) -> tuple[Image.Image, str]:
    """The largest centred square, and a note when anything was cut.

    stored: the size the file holds, when `img` was decoded smaller (a JPEG draft): the note
    speaks of the file's pixels, not of the reduced decode.
    """
    width, height = img.size
    if width == height:
        return img, ""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    w, h = stored or (width, height)
    return img.crop((left, top, left + side, top + side)), f"centre crop {w}x{h} -> {min(w, h)}x{min(w, h)}"
