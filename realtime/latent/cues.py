"""Cue timing: keyframes that must be reached at given times of a track.

A preset keyframe may carry `at = "1:12.5"`. The path position then follows the clock through
those cue points: keyframe k exactly at its time, monotone in between (never backwards), and
C1 wherever the times allow (monotone cubic Hermite, Fritsch-Carlson). Before the first cue the
show holds it; after the last it goes on at the preset's speed.
"""

from __future__ import annotations

import math
import re

_TIME = re.compile(r"^(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d*)?)$")


def parse_time(text: str | float | int) -> float:
    """Seconds from 72.5, "72.5", "1:12.5" or "1:01:12.5"; ValueError otherwise."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        match = _TIME.match(str(text).strip())
        if not match:
            raise ValueError(f"not a time: {text!r} (use seconds, m:ss.s or h:mm:ss.s)")
        first, second, seconds = match.groups()
        parts = [p for p in (first, second) if p is not None]
        value = float(seconds)
        for scale, part in zip((60, 3600), reversed(parts)):
            value += scale * int(part)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"not a time: {text!r}")
    return value


class CueTimeline:
    """Path position (keyframe units) as a function of show time, through (time, index) cues."""

    def __init__(self, cues: list[tuple[float, float]], speed_after: float) -> None:
        if not cues:
            raise ValueError("a cue timeline needs at least one cue")
        for (t0, k0), (t1, k1) in zip(cues, cues[1:]):
            if not (t1 > t0 and k1 > k0):
                raise ValueError(f"cue times must increase with the keyframes: {t0:g}s -> {t1:g}s")
        self.times = [float(t) for t, _ in cues]
        self.positions = [float(k) for _, k in cues]
        self.speed_after = speed_after
        self.slopes = self._tangents()

    def _tangents(self) -> list[float]:
        t, k = self.times, self.positions
        n = len(t)
        if n == 1:
            return [0.0]
        secants = [(k[i + 1] - k[i]) / (t[i + 1] - t[i]) for i in range(n - 1)]
        m = [secants[0]] + [(secants[i - 1] + secants[i]) / 2 for i in range(1, n - 1)] + [secants[-1]]
        for i, d in enumerate(secants):  # Fritsch-Carlson: keep each segment monotone
            a, b = m[i] / d, m[i + 1] / d
            if a * a + b * b > 9:
                tau = 3 / math.sqrt(a * a + b * b)
                m[i], m[i + 1] = tau * a * d, tau * b * d
        return m

    def position(self, t: float) -> float:
        times, pos, m = self.times, self.positions, self.slopes
        if t <= times[0]:
            return pos[0]
        if t >= times[-1]:
            return pos[-1] + self.speed_after * (t - times[-1])
        i = max(j for j in range(len(times) - 1) if times[j] <= t)
        h = times[i + 1] - times[i]
        s = (t - times[i]) / h
        h00, h10, h01, h11 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s, -2 * s**3 + 3 * s**2, s**3 - s**2
        return h00 * pos[i] + h10 * h * m[i] + h01 * pos[i + 1] + h11 * h * m[i + 1]
