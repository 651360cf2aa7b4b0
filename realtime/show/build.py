"""Presets and the running show: a preset into keyframes and a player, the live show back into a preset.

    player = player_from_preset(preset, G)                  # keyframes mapped/loaded for G
    saved = capture(preset, state, path)                    # state: a ShowState or LiveShow.of(player, noise)
    save_preset(saved, path)

Live keyframes that exist only in memory (snapshots, projected faces added live) are written as
.safetensors beside the preset when captured, each once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..latent import Keyframe, PathSettings, Player, StyleMix, keyframe_from_seed, load_keyframe, save_keyframe
from ..models import truncate
from ..presets import KeyframeSpec, Preset, relative_path

if TYPE_CHECKING:  # pragma: no cover
    from .state import ShowState


@dataclass(frozen=True)
class LiveShow:
    """What `capture` reads of a live show (a `ShowState` has the same fields)."""

    keyframes: tuple[Keyframe, ...]
    speed: float
    truncation: float
    position: float
    path: PathSettings
    mix: StyleMix | None
    noise: str

    @classmethod
    def of(cls, player: Player, noise: str) -> LiveShow:
        """The player as it stands now (call on the thread that moves it)."""
        return cls(player.keyframes, player.speed, player.truncation, player.position, player.settings, player.mix, noise)


def load_keyframes(preset: Preset, G) -> list[Keyframe]:
    """Every keyframe of the preset, mapped or loaded for generator G (all or nothing)."""
    keyframes = []
    for spec in preset.keyframes:
        if spec.seed is not None:
            keyframes.append(keyframe_from_seed(G, spec.seed, spec.truncation, spec.name))
        else:
            kf = load_keyframe(preset.resolve(spec.file), G.num_ws, G.w_dim, spec.name)
            if spec.truncation is not None:
                kf = Keyframe(truncate(kf.w, G.w_avg.to(kf.w.device), spec.truncation), kf.name, kf.source)
            keyframes.append(kf)
    return [kf.to(G.device) for kf in keyframes]


def player_from_preset(preset: Preset, G) -> Player:
    """A player ready to run the preset's show on generator G."""
    return Player(
        load_keyframes(preset, G), G.w_avg, settings=preset.path, speed=preset.play.speed,
        truncation=preset.play.truncation, mix=preset.mix, position=preset.play.position,
    )


_SEED_SOURCE = re.compile(r"^seed:(\d+)(?:@([-0-9.e]+))?$")


def keyframe_specs(keyframes: tuple[Keyframe, ...] | list[Keyframe], preset_path: Path,
                   saved: dict | None = None) -> tuple[KeyframeSpec, ...]:
    """Specs for live keyframes: seeds stay seeds, files stay files, anything else (snapshots,
    projections) is written as .safetensors into '<preset stem>.keyframes/' beside the preset.

    saved: {id(keyframe.w): (keyframe.w, path)} of tensors already written, reused and updated
    (a journal writes each live keyframe once, however often it records)."""
    folder = preset_path.parent / f"{preset_path.stem}.keyframes"
    specs, used = [], set()
    for n, kf in enumerate(keyframes):
        seed = _SEED_SOURCE.match(kf.source)
        if seed:
            psi = float(seed.group(2)) if seed.group(2) else None
            specs.append(KeyframeSpec(seed=int(seed.group(1)), name=kf.name, truncation=psi))
            continue
        if kf.source.startswith("file:"):
            file = Path(kf.source[5:])
        elif saved is not None and id(kf.w) in saved:
            file = saved[id(kf.w)][1]
        else:
            stem = re.sub(r"[^A-Za-z0-9_-]+", "-", kf.name).strip("-") or "keyframe"
            file = folder / f"{n:03d}-{stem}.safetensors"
            while file in used or (saved is not None and file.exists()):
                file = file.with_name(file.stem + "-x.safetensors")
            save_keyframe(kf, file)
            if saved is not None:
                saved[id(kf.w)] = (kf.w, file)
        used.add(file)
        specs.append(KeyframeSpec(file=relative_path(file, preset_path.parent), name=kf.name))
    return tuple(specs)


def capture(preset: Preset, live: LiveShow | ShowState, path: str | Path, saved: dict | None = None) -> Preset:
    """The preset as the live show stands now (keyframes, speed, position, look), ready to save
    at `path`; keyframes that exist only in memory are written beside it first."""
    path = Path(path).expanduser()
    return replace(
        preset, keyframes=keyframe_specs(live.keyframes, path, saved),
        play=replace(preset.play, speed=live.speed, truncation=live.truncation, position=round(live.position, 6)),
        path=live.path, mix=live.mix, generator=replace(preset.generator, noise=live.noise),
        base_dir=path.resolve().parent,
    )
