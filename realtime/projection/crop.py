"""How a photo becomes the square the generator draws: a centre crop, or (`--align`) a face crop.

An FFHQ-style face crop needs facial landmarks, and those need a landmark model. stylevj
downloads nothing at run time, so alignment may only use a landmark model that ships inside an
installed Python package. No such backend is wired in yet: with `--align`, `face_crop` falls back
to the centre crop and its note says so, which suits a roughly centred portrait. A backend would
return eye and mouth positions; the oriented square around them would then be cut here.
"""

from __future__ import annotations

from PIL import Image


def centre_crop(img: Image.Image) -> tuple[Image.Image, str]:
    """The largest centred square, and a note when anything was cut."""
    width, height = img.size
    if width == height:
        return img, ""
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return img.crop((left, top, left + side, top + side)), f"centre crop {width}x{height} -> {side}x{side}"


def face_crop(img: Image.Image) -> tuple[Image.Image, str]:
    """An aligned face crop when a landmark model is available; today always the centre crop, noted."""
    cropped, note = centre_crop(img)
    reason = "--align: no facial landmark model ships with the installed packages, so centre crop"
    return cropped, f"{reason} ({note})" if note else reason
