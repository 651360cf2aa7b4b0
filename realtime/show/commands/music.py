"""Music: made by the audio adapter (realtime.audio), or a tap/BPM the show passes on to it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...checks import Check, checked, number
from ...latent import Drive
from ...latent.hearing import UNIT, Heard  # UNIT: re-exported by .commands
from ..state import AudioState
from .base import Command, Stage

BPM = number(20, 400, optional=True)


def _line(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    return None if len(value) <= 512 and "\n" not in value else "must be one line of at most 512 characters"


LINE = Check("any", extra=_line)  # text that may be empty ("": none)


@dataclass(frozen=True)
class SetAudioDrive(Command):
    """the music's modulation on top of the knobs: speed boost, truncation offset, beat-locked travel"""

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
    """tap the tempo (key T): two or more taps set the beat clock"""

    edits = False

    def apply(self, show: Stage) -> None:
        show.emit("audio/tap", show.now())  # the audio adapter passes it to its listener


@dataclass(frozen=True)
class SetBpm(Command):
    """set the tempo in beats per minute; without a value the music's own tempo is estimated again"""

    edits = False
    bpm: float | None = checked(BPM, None)

    def apply(self, show: Stage) -> None:
        show.emit("audio/bpm", 0.0 if self.bpm is None else self.bpm)  # the audio adapter passes it on
