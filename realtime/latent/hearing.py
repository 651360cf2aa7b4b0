"""What the show hears of the music, declared once: `Heard`, and the one onset pulse.

The audio adapter makes a `Heard` from the analyser's snapshot (`realtime.audio.mapping.heard`);
the show publishes it unchanged (`ShowState.audio.heard`, the state JSON, `/stylevj/audio/...`
over OSC), and the preset's `[[audio.mappings]]` name its fields as features. Every one of
those lists is read from this dataclass's fields, so a feature added here appears everywhere.

It lives beside `Drive` (what the music does to the player) because the presets (which name
its fields) and the show (which publishes it) both sit above `realtime.latent`, and neither
may import `realtime.audio`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from ..checks import Checked, check_of, checked, integer, number

UNIT = number(0, 1)
ONSET_DECAY = 0.25
"""Seconds for the onset pulse to fall to 37 % when a preset says nothing else."""


@dataclass(frozen=True)
class Heard(Checked):
    """What the music is doing now, each value checked within its range when made."""

    level: float = checked(UNIT, 0.0, "loudness, normalised by an automatic gain and smoothed")
    onset: float = checked(UNIT, 0.0, "the onset pulse: 1 at each onset, then exp(-age / decay)")
    low: float = checked(UNIT, 0.0, "low-band energy (bass, kick)")
    mid: float = checked(UNIT, 0.0, "mid-band energy (voice, snare body, most instruments)")
    high: float = checked(UNIT, 0.0, "high-band energy (hats, cymbals, air)")
    bpm: float = checked(number(0, 400), 0.0, "tempo in beats per minute; 0 while unknown")
    beat_phase: float = checked(UNIT, 0.0, "where now falls within the beat: 0 on it, rising to 1")
    beat: int = checked(integer(0, 2**31 - 1), 0, "whole beats counted since the beat clock started")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every field, in order: the one list the state, OSC and the mappings use."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def levels(cls) -> tuple[str, ...]:
        """The 0..1 fields: what a mapping can stretch onto speed or truncation."""
        return tuple(f.name for f in fields(cls) if check_of(f) is UNIT)

    @classmethod
    def within(cls, **raw: Any) -> Heard:
        """A `Heard` from raw measures, each brought into its field's range (None, NaN or a
        missing name: 0), so a measurement never fails the check that guards the show."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            check = check_of(f)
            x = raw.get(f.name)
            x = 0.0 if x is None or not math.isfinite(float(x)) else min(max(float(x), check.lo), check.hi)
            values[f.name] = int(x) if check.kind == "integer" else x
        return cls(**values)

    @property
    def beat_position(self) -> float:
        """Beats since the beat clock started, with the fraction: `beat + beat_phase`."""
        return self.beat + self.beat_phase

    def to_json(self) -> dict[str, float | int]:
        """Every field by name, in order (the state's `audio` and the OSC feedback)."""
        return {name: getattr(self, name) for name in self.names()}


def onset_pulse(age: float | None, decay: float) -> float:
    """The one onset pulse: 1 at an onset, exp(-age / decay) `age` seconds after it, 0 before
    the first onset (`age` None)."""
    if age is None:
        return 0.0
    return math.exp(-max(age, 0.0) / decay)
