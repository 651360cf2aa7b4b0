"""Music: made by the audio adapter (realtime.audio), or a tap/BPM the show passes on to it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...checks import Check, checked, integer, number
from ...latent import SPEED, TRUNCATION, Drive
from ..state import AudioState
from .base import Command, Stage

UNIT = number(0, 1)
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
    speed: float = checked(SPEED, 0.0)
    truncation: float = checked(TRUNCATION, 0.0)
    segments: float | None = checked(number(-1e9, 1e9, optional=True), None)

    def as_drive(self) -> Drive:
        """The player's value (an offline render sets it on its player directly)."""
        return Drive(self.speed, self.truncation, self.segments)

    def apply(self, show: Stage) -> None:
        show.player.set_drive(self.as_drive())


@dataclass(frozen=True)
class AudioHeard(Command):
    """what the music is doing now (published in the state and over --osc-reply as /stylevj/audio/...)"""

    coalesce = True
    edits = False
    level: float = checked(UNIT, 0.0)
    onset: float = checked(UNIT, 0.0)
    low: float = checked(UNIT, 0.0)
    mid: float = checked(UNIT, 0.0)
    high: float = checked(UNIT, 0.0)
    bpm: float = checked(number(0, 400), 0.0)
    beat_phase: float = checked(UNIT, 0.0)
    beat: int = checked(integer(0, 2**31 - 1), 0)

    def apply(self, show: Stage) -> None:
        show.audio = replace(show.audio, level=self.level, onset=self.onset, low=self.low, mid=self.mid,
                             high=self.high, bpm=self.bpm, beat_phase=self.beat_phase, beat=self.beat)


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
