"""Whole shows: loading a preset (read by the loader, off the render thread) and saving the live one."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from ...checks import TEXT, checked
from ...latent.controls import Controls
from ...presets import Preset, load_preset, save_preset
from ..build import LiveShow, build_controls, capture, check_mix, load_keyframes
from .base import Command, CommandError, Stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadPreset(Command):
    """load a preset from the presets folder"""

    name: str = checked(TEXT)

    def apply(self, show: Stage) -> None:
        saved = show.folders.confine(self.name, "saves", ".toml")
        path = saved if saved.exists() else show.folders.confine(self.name, "presets", ".toml")
        G = show.worker.G

        def job() -> Command:
            preset = load_preset(path)
            check_mix(preset, G.num_ws, len(preset.keyframes), str(path))
            return PresetLoaded(preset, tuple(load_keyframes(preset, G)), path,  # all or nothing
                                build_controls(preset, G, str(path)))

        show.load_later(job)


@dataclass(frozen=True)
class PresetLoaded(Command):
    """switch to a preset read and checked by the loader (made by LoadPreset, never sent)"""

    preset: Preset
    keyframes: tuple
    path: Path
    controls: Controls | None = None  # the preset's [[controls]], built by the loader

    def apply(self, show: Stage) -> None:
        preset, keyframes, path = self.preset, self.keyframes, self.path
        player = show.player
        if self.controls is not None:
            player.controls = self.controls
        player.clear()
        for kf in keyframes:
            player.add(kf)
        player.set_path_settings(preset.path)
        player.set_speed(preset.play.speed)
        player.set_truncation(preset.play.truncation)
        player.set_mix(preset.mix)
        show.worker.noise_mode = preset.generator.noise
        show.preset = replace(preset, generator=replace(preset.generator, source=show.preset.generator.source),
                              base_dir=show.preset.base_dir)
        log.info("loaded preset %s", path)


@dataclass(frozen=True)
class SavePreset(Command):
    """save the live show as a preset in the presets folder"""

    edits = False

    name: str = checked(TEXT)

    def apply(self, show: Stage) -> None:
        path = show.folders.confine(self.name, "saves", ".toml")
        path.parent.mkdir(parents=True, exist_ok=True)
        save_preset(capture(show.preset, LiveShow.of(show.player, show.worker.noise_mode), path), path, backup=True)
        log.info("saved preset %s", path)
        show.emit("preset/saved", str(path))


@dataclass(frozen=True)
class LoadFailed(Command):
    """report a file the loader could not use (never sent)"""

    edits = False
    reason: str

    def apply(self, show: Stage) -> None:
        raise CommandError(self.reason)
