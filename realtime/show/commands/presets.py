"""Whole shows: loading a preset and saving the live one, both off the render thread (the loader
reads and writes; the render thread only takes a frozen picture of the live show to save)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from ...checks import checked
from ...latent.controls import Controls
from ...presets import PRESET_NAME, Preset, load_preset, save_preset
from ..build import LiveShow, build_controls, capture, check_mix, load_keyframes
from .base import Command, CommandError, Stage
from .sends import open_outputs_of_preset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadPreset(Command):
    """load a preset from the presets folder"""

    name: str = checked(PRESET_NAME)

    def apply(self, show: Stage) -> None:
        folders, name, G = show.folders, self.name, show.worker.G

        def job() -> Command:  # the loader's thread: even a stat of a hung folder never holds a frame
            saved = folders.confine(name, "saves", ".toml")
            path = saved if saved.exists() else folders.confine(name, "presets", ".toml")
            preset = load_preset(path)
            check_mix(preset, G.num_ws, len(preset.keyframes), str(path))
            return PresetLoaded(preset, tuple(load_keyframes(preset, G)), path,  # all or nothing
                                build_controls(preset, G, str(path)))

        show.load_later(job, what=f"preset {name}")


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
        player.extend(keyframes)  # one path rebuild for all of them
        player.set_mix(preset.mix)
        show.set_params(preset.params, lenient=True)  # knobs this generator lacks: one warning
        show.midi = replace(show.midi, mappings=preset.midi, learning=None)  # the preset's [[midi]]
        show.preset = replace(preset, generator=replace(preset.generator, source=show.preset.generator.source),
                              base_dir=show.preset.base_dir)
        open_outputs_of_preset(show, preset.outputs)  # on the loader's thread; running ones are kept
        log.info("loaded preset %s", path)


@dataclass(frozen=True)
class SavePreset(Command):
    """save the live show as a preset in the presets folder"""

    edits = False

    name: str = checked(PRESET_NAME)

    def apply(self, show: Stage) -> None:
        # render thread: a frozen picture of the live show (references, no copies, no files)
        live = LiveShow.of(show.player, show.params, show.midi, show.outputs.reports())
        preset, folders, name = show.preset, show.folders, self.name

        def job() -> Command:  # the loader's thread: keyframe files, the backup and the preset
            path = folders.confine(name, "saves", ".toml")
            path.parent.mkdir(parents=True, exist_ok=True)
            save_preset(capture(preset, live, path), path, backup=True)
            log.info("saved preset %s", path)
            return FileSaved("preset/saved", str(path))

        show.load_later(job, what=f"saving preset {name}")  # the sender's next commands (a state) see it saved


@dataclass(frozen=True)
class FileSaved(Command):
    """tell the sender a file was written off the render thread (made by the loader, never sent)"""

    edits = False
    event: str
    path: str

    def apply(self, show: Stage) -> None:
        show.emit(self.event, self.path)


@dataclass(frozen=True)
class LoadFailed(Command):
    """report a file the loader could not use (never sent)"""

    edits = False
    reason: str

    def apply(self, show: Stage) -> None:
        raise CommandError(self.reason)
