"""The analyser's output: one immutable snapshot of what the music is doing right now."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

TempoSource = Literal["none", "estimate", "tap", "manual"]


@dataclass(frozen=True, slots=True)
class AudioFeatures:
    """Features of the audio heard up to `time`, each normalised to about [0, 1] and smoothed.

    Frozen and built of plain values, so one thread can publish it and any other read it. Onset
    *events* are counted (`onset_count`), not flagged: a reader that samples snapshots at its own
    rate (a display frame, a video frame) compares counts and misses none. The names it shares
    with the show's `Heard` (level, low, mid, high, bpm, beat_phase, beat) mean the same there;
    `Heard.onset` (the pulse) is made from `last_onset_time` by `realtime.audio.mapping.heard`.
    """

    time: float = 0.0
    """Seconds of audio analysed so far (the stream clock); the features describe audio before it."""
    level: float = 0.0
    """Loudness (RMS), normalised by an automatic gain and smoothed with attack/release."""
    flux: float = 0.0
    """Spectral flux, normalised and smoothed: how much the sound just changed (what onset
    events are picked from; the show's `onset` is the pulse made from those events)."""
    onset_count: int = 0
    """Onset events since the analysis started (only grows)."""
    last_onset_time: float | None = None
    """Estimated stream time of the newest onset event, or None before the first."""
    low: float = 0.0
    """Low-band energy (bass, kick), normalised and smoothed."""
    mid: float = 0.0
    """Mid-band energy (voice, snare body, most instruments), normalised and smoothed."""
    high: float = 0.0
    """High-band energy (hats, cymbals, air), normalised and smoothed."""
    bpm: float | None = None
    """Tempo in beats per minute (estimated, tapped or set), or None while unknown."""
    beat_phase: float = 0.0
    """Where `time` falls within the current beat: 0 on the beat, rising towards 1."""
    beat: int = 0
    """Whole beats counted since the beat clock started (only grows)."""
    tempo_source: TempoSource = "none"
    """Where `bpm` comes from: 'estimate' (the music), 'tap', 'manual' (an explicit BPM) or 'none'."""
    tempo_confidence: float = 0.0
    """How periodic the onsets are at the estimated tempo, 0..1 (1 for tapped or manual tempo)."""
    rms_db: float = -120.0
    """Raw (unnormalised) level in dBFS, floored at -120: for meters and diagnostics."""

    @property
    def beat_position(self) -> float:
        """Beats since the beat clock started, with the fraction: `beat + beat_phase`."""
        return self.beat + self.beat_phase

    def as_dict(self) -> dict[str, float | int | str | None]:
        """Plain values by name (for OSC replies, logs, JSON); NaN never appears."""
        values = {name: getattr(self, name) for name in self.__slots__}
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}
