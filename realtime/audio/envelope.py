"""Envelope followers: automatic gain (normalise) and attack/release smoothing, per analysis frame."""

from __future__ import annotations

import math


def _coefficient(time_constant: float, step: float) -> float:
    """One-pole coefficient for a time constant (s) at a step (s); 0 means follow instantly."""
    return math.exp(-step / time_constant) if time_constant > 0 else 0.0


class AttackRelease:
    """Smooths a value: rises with the attack time constant, falls with the release one.

    A short attack keeps hits sharp; a longer release keeps the picture from flickering.
    """

    def __init__(self, attack: float, release: float, step: float) -> None:
        self._up = _coefficient(attack, step)
        self._down = _coefficient(release, step)
        self.value = 0.0

    def update(self, x: float) -> float:
        """Follow `x` by one step and return the smoothed value."""
        k = self._up if x > self.value else self._down
        self.value = k * self.value + (1.0 - k) * x
        return self.value


class AutoGain:
    """Normalises a non-negative value by its recent peak, so quiet and loud music both fill 0..1.

    The peak jumps up at once (no overshoot above 1) and decays slowly (`release`, seconds), never
    below `floor`, so silence is not amplified into noise.
    """

    def __init__(self, release: float, step: float, floor: float) -> None:
        self._decay = _coefficient(release, step)
        self.floor = floor
        self.peak = 0.0

    def update(self, x: float, peak_at_least: float = 0.0) -> float:
        """Take one value; return it over the tracked peak (0..1), that peak at least `peak_at_least`.

        `peak_at_least` lets a related, louder signal set a minimum scale (see `band_floor`).
        """
        self.peak = max(x, self.peak * self._decay, self.floor)
        return x / max(self.peak, peak_at_least)
