"""Offline render speed: frames/s of `stylevj render` (generate, draw, encode H.264)."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from ..models import load_generator
from .results import Row


def bench_render(source: str, device: str, frames: int = 60, fps: float = 30.0) -> Row:
    """Offline render speed: frames/s of `stylevj render` (generate, draw, encode H.264) at the generator's size."""
    from ..presets import default_preset_path, load_preset
    from ..record import VideoWriter
    from ..record.render import render
    from ..show import player_from_preset

    G = load_generator(source, device=device)
    preset = load_preset(default_preset_path())
    folder = Path(tempfile.mkdtemp(prefix="stylevj-bench-"))
    try:
        size = (G.resolution, G.resolution)
        start = time.perf_counter()
        result = render(G, player_from_preset(preset, G), preset, VideoWriter(folder / "r.mp4", fps, size), frames, fps, size)
        elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Row("render", source, str(G.device), "h264", 1, result.frames, round(1000 * elapsed / max(result.frames, 1), 3),
               0.0, round(result.frames / elapsed, 2), f"{size[0]}x{size[1]}, generate + draw + encode overlapped")
