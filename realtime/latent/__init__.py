"""Keyframes in W+ and the paths between them. Pure tensor math: no GL, no threads, no OSC.

    path = CatmullRomPath(keyframes, alpha=0.5, closed=True)   # keyframes: [K, num_ws, w_dim]
    ws = path.evaluate(t)                                      # t in keyframe units
    player = Player([keyframe_from_seed(G, 1), ...], G.w_avg)  # live position, speed, edits
"""

from .keyframes import (
    Keyframe, KeyframeError, check_wplus, keyframe_from_seed, load_keyframe, save_keyframe, snapshot,
)
from .paths import ArcLength, CatmullRomPath, LinearPath, Path
from ..params import SPLINES
from .player import POSITION, SPEED, TRUNCATION, Drive, PathSettings, Player, StyleMix, build_path

__all__ = [
    "ArcLength", "CatmullRomPath", "Drive", "POSITION", "SPEED", "TRUNCATION", "Keyframe", "KeyframeError", "LinearPath", "Path", "PathSettings",
    "Player", "SPLINES", "StyleMix", "build_path", "check_wplus", "keyframe_from_seed", "load_keyframe",
    "save_keyframe", "snapshot",
]
