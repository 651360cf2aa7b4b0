"""What the operator page shows beside the show's own state: pictures as JPEG, the files it may
load, and the GPU and memory numbers. Plain functions, run on the page server's thread (JPEG in
its executor), so none of this work is the render thread's.

    encode_jpeg(pixels)                 # the frame on screen, small: a binary WebSocket message
    listed_files(folders)               # {"presets": [...], "keyframes": [...]}, at most MAX_LISTED each
    telemetry_json(poller_sample)       # {"gpus": [...], "gpu_reason": ..., "host": {...}} or None
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..show import Folders
from ..show.thumbnail import THUMBNAIL_SIZE

MAX_LISTED = 500  # files per folder on the page
KEYFRAME_SUFFIXES = (".safetensors", ".pt", ".pth", ".npy", ".npz")
JPEG_QUALITY = 75


def list_folder(folder: Path, suffixes: tuple[str, ...]) -> list[str]:
    """Plain file names in one folder (not below it) with these suffixes, sorted; [] if absent."""
    try:
        names = sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    except OSError:
        return []
    return names[:MAX_LISTED]


def listed_files(folders: Folders) -> dict[str, list[str]]:
    """The presets (read-only folder and the one presets are saved to, together) and keyframe
    files the page offers to load, by name only: the commands resolve them inside their folders."""
    presets = {folders.presets, getattr(folders, "saves", folders.presets)}  # saves: where presets are written
    return {"presets": sorted({n for f in presets for n in list_folder(f, (".toml",))})[:MAX_LISTED],
            "keyframes": list_folder(folders.keyframes, KEYFRAME_SUFFIXES)}


def telemetry_json(t: Any) -> dict | None:
    """The overlay telemetry's GPU and memory numbers, compact; None without a sample."""
    if t is None:
        return None
    host = t.host
    return {
        "gpus": [{"name": g.name, "utilization": g.utilization_percent, "memory_used": g.memory_used,
                  "memory_total": g.memory_total, "temperature": g.temperature_c, "power": g.power_w} for g in t.gpus],
        "gpu_reason": gpu_words(t.nvml_reason),
        "host": {"cpu": host.cpu_percent, "memory_used": host.memory_used, "memory_total": host.memory_total,
                 "process_rss": host.process_rss},
    }


def gpu_words(reason: str | None) -> str | None:
    """Why there is no GPU reading, in words a VJ reads on a phone: NVML's bare error names
    ('NVMLError_LibraryNotFound') become a sentence; anything already in words is kept."""
    if not reason:
        return reason
    if "LibraryNotFound" in reason or "DriverNotLoaded" in reason:
        return "no NVIDIA GPU or driver"
    if reason.startswith("NVMLError"):
        return "no GPU reading (the NVIDIA driver answered " + reason.removeprefix("NVMLError_").split(":")[0] + ")"
    return reason


def encode_jpeg(pixels: Any, size: int = THUMBNAIL_SIZE, quality: int = JPEG_QUALITY) -> bytes:
    """RGB8 [h, w, 3] -> JPEG bytes at most `size` a side (Pillow; area average when shrinking)."""
    from PIL import Image

    image = Image.fromarray(pixels)
    image.thumbnail((size, size), Image.Resampling.BOX)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
