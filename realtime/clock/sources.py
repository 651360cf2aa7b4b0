"""The beat clock's simple sources: a fixed tempo, tapped taps, the music's analysis.

Each says, for a time `now` (seconds of the show's clock), the tempo and the beat position as a
`Tempo`, or None while it has none. Each is thread-safe: one thread feeds it (the render thread,
the audio driver), the render thread reads it. The MIDI clock (`midi_clock.MidiClock`) and Link
(`link.LinkSession`) answer the same question.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from .errors import ClockError
from .taps import BPM_RANGE, TapTempo, fit_taps


@dataclass(frozen=True)
class Tempo:
    """A source's answer: tempo, beats since its start (with the fraction), and whether it runs."""

    bpm: float
    beat: float
    running: bool = True
    peers: int = 0


def check_tempo(bpm: float, what: str = "tempo") -> float:
    """A tempo, checked: a finite number within BPM_RANGE, or a ClockError naming the range."""
    if isinstance(bpm, bool) or not isinstance(bpm, (int, float)) or not math.isfinite(bpm) \
            or not BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
        raise ClockError(f"{what} must be a number in {BPM_RANGE[0]:g}..{BPM_RANGE[1]:g} BPM, got {bpm!r}")
    return float(bpm)


class Line:
    """A beat that runs at a tempo from an anchor: beat(now) = beat0 + (now - at) * bpm / 60.
    A new tempo re-anchors at the moment it is set, so the beat never jumps."""

    def __init__(self, bpm: float, at: float, beat: float = 0.0) -> None:
        self.bpm, self.at, self.beat0 = bpm, at, beat

    def beat(self, now: float) -> float:
        return self.beat0 + (now - self.at) * self.bpm / 60.0

    def retempo(self, bpm: float, now: float) -> None:
        self.beat0, self.at, self.bpm = self.beat(now), now, bpm


class FixedTempo:
    """A steady tempo (the table's `tempo`), its beat counted from when it was first read."""

    def __init__(self, bpm: float = 120.0) -> None:
        self._bpm = check_tempo(bpm)
        self._line: Line | None = None
        self._lock = threading.Lock()

    def set(self, bpm: float, now: float) -> None:
        bpm = check_tempo(bpm)
        with self._lock:
            self._bpm = bpm
            if self._line is not None:
                self._line.retempo(bpm, now)

    def read(self, now: float) -> Tempo:
        with self._lock:
            if self._line is None:
                self._line = Line(self._bpm, now)
            return Tempo(self._bpm, self._line.beat(now))


class TapClock:
    """Tempo and beat from taps: two or more set both (the last tap is on a beat); a tempo
    outside BPM_RANGE (a bounce) starts the count again from that tap."""

    def __init__(self) -> None:
        self._taps = TapTempo()
        self._line: Line | None = None
        self._lock = threading.Lock()

    def tap(self, at: float) -> float | None:
        """A tap at `at`; the tempo the taps so far give, or None (a first tap, or a bounce)."""
        with self._lock:
            taps = self._taps.tap(at)
            if len(taps) < 2:
                return None
            try:
                period, last = fit_taps(taps)
            except ClockError:
                self._taps.restart(at)
                return None
            bpm = 60.0 / period
            if self._line is None:
                self._line = Line(bpm, last)
            else:  # land on the tapped beat without counting backwards
                whole = math.ceil(self._line.beat(last) - 1e-9)
                self._line = Line(bpm, last, float(whole))
            return bpm

    def read(self, now: float) -> Tempo | None:
        with self._lock:
            return None if self._line is None else Tempo(self._line.bpm, self._line.beat(now))


class AudioFollower:
    """The music's tempo and beat as the audio analysis last reported them, run on between
    reports at that tempo (the analysis reports once a display refresh, on its own thread)."""

    def __init__(self) -> None:
        self._line: Line | None = None
        self._lock = threading.Lock()

    def update(self, bpm: float | None, beat: float, at: float) -> None:
        """The analysis's tempo (None: unknown, the follower forgets) and beat position at `at`."""
        with self._lock:
            self._line = None if not bpm or not math.isfinite(bpm) or bpm <= 0 else Line(float(bpm), at, float(beat))

    def read(self, now: float) -> Tempo | None:
        with self._lock:
            return None if self._line is None else Tempo(self._line.bpm, self._line.beat(now))
