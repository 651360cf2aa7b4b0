"""Tap tempo: taps (a key, an OSC message) into a tempo and a beat, by a least-squares line.

The one home of the tap math: the beat clock's tap source and the audio analysis's tap both use
it (the analysis re-raises its errors as AudioError).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .errors import ClockError

TAP_RESET = 2.0
"""Seconds without a tap after which the next tap starts a new tempo."""
TAP_KEEP = 8
"""Taps remembered for the fit: enough to average out a shaky hand, few enough to follow a change."""
BPM_RANGE = (20.0, 400.0)
"""What an explicit or tapped tempo may be (the parameter table's `tempo` range)."""


def fit_taps(times: Sequence[float]) -> tuple[float, float]:
    """(period, time of the last beat) from tap times in seconds: a least-squares line through
    the taps, so one early or late tap shifts neither much. Raises ClockError when the taps
    cannot make a tempo."""
    t = np.asarray(times, dtype=np.float64)
    if t.ndim != 1 or len(t) < 2:
        raise ClockError(f"tap tempo needs at least two taps, got {t.size}")
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ClockError("tap times must be finite and increasing")
    index = np.arange(len(t), dtype=np.float64)
    period, start = np.polyfit(index, t, 1)
    bpm = 60.0 / period if period > 0 else float("inf")
    if not BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
        raise ClockError(f"taps give {bpm:.1f} BPM, outside {BPM_RANGE[0]:g}..{BPM_RANGE[1]:g}")
    return float(period), float(start + period * index[-1])


class TapTempo:
    """Collects taps into the list `fit_taps` wants.

    A pause longer than TAP_RESET starts over; only the newest TAP_KEEP taps count.
    """

    def __init__(self) -> None:
        self._taps: list[float] = []

    def tap(self, at: float) -> list[float]:
        """Record a tap at time `at` (seconds, any steady clock); return the taps that count."""
        if self._taps and not 0 < at - self._taps[-1] <= TAP_RESET:
            self._taps.clear()
        self._taps = (self._taps + [at])[-TAP_KEEP:]
        return list(self._taps)

    def restart(self, at: float) -> None:
        """Forget every tap but one at `at` (after taps that made no tempo)."""
        self._taps = [at]
