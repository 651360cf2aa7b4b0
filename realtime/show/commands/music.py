"""Music: made by the audio adapter (realtime.audio), or a tap/BPM the show passes on to it."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import Any

from ...checks import Check, checked, number
from ...latent import Drive
from ...latent.hearing import UNIT, Heard  # UNIT: re-exported by .commands
from ..state import AudioState
from .base import Command, Stage

log = logging.getLogger(__name__)

BPM = number(20, 400, optional=True)


def _line(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    return None if len(value) <= 512 and "\n" not in value else "must be one line of at most 512 characters"


LINE = Check("any", extra=_line)  # text that may be empty ("": none)


@dataclass(frozen=True)
class SetAudioDrive(Command):
    """the music's modulation on top of the knobs: speed boost, truncation offset, beat-locked travel, StyleGAN3's input moves"""

    coalesce = True
    edits = False  # the base values are what a preset saves; the drive is recomputed every frame
    drive: Drive = Drive()  # checked when made (Drive's own fields); Drive(): no modulation

    def apply(self, show: Stage) -> None:
        show.player.set_drive(self.drive)


@dataclass(frozen=True)
class AudioHeard(Command):
    """what the music is doing now (published in the state and over --osc-reply as /stylevj/audio/...)"""

    coalesce = True
    edits = False
    heard: Heard = Heard()  # checked when made (Heard's own fields)

    def apply(self, show: Stage) -> None:
        show.audio = replace(show.audio, heard=self.heard)
        show.beat_clock.audio.update(self.heard.bpm or None, self.heard.beat_position, show.now())  # the `audio` clock


@dataclass(frozen=True)
class SetAudioSource(Command):
    """where the sound comes from, or why the show runs without it (one line)"""

    coalesce = True
    edits = False
    source: str = checked(LINE, "")
    problem: str = checked(LINE, "")

    def apply(self, show: Stage) -> None:
        show.audio = AudioState(source=self.source, problem=self.problem) if self.problem or not self.source \
            else replace(show.audio, source=self.source, problem="")
        show.emit("audio/status", self.source, self.problem)


@dataclass(frozen=True)
class Tap(Command):
    """tap the tempo (key T): two or more taps set the beat clock (proposed to Link when following it)"""

    edits = False

    def apply(self, show: Stage) -> None:
        bpm = show.beat_clock.tap(show.now())  # the `tap` clock
        if bpm is not None:
            log.info("tapped tempo: %.1f BPM", bpm)
        show.emit("audio/tap", show.now())  # the audio adapter passes it to its listener


@dataclass(frozen=True)
class SetBpm(Command):
    """set the tempo in BPM (the clock's tempo; proposed to Link when following it); no value: the music's tempo is estimated again"""

    edits = True  # a tempo given is the table's `tempo`, which presets (and so the journal) keep
    bpm: float | None = checked(BPM, None)

    def apply(self, show: Stage) -> None:
        if self.bpm is not None:
            show.set_params(show.params.replace(tempo=self.bpm))
        show.emit("audio/bpm", 0.0 if self.bpm is None else self.bpm)  # the audio adapter passes it on
