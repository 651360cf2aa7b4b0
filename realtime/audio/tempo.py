"""Tempo and beat phase: estimated from the onset envelope, or set by taps or an explicit BPM.

Both work on a beat envelope: the spectral flux plus the low-band flux, each scaled by its mean
over the history, so the kick and the bass (where a listener puts the beat) outweigh off-beat
hi-hats that carry more broadband flux. The estimate autocorrelates that envelope, weighs the lags with a broad
preference around 120 BPM (which settles 60-or-120 doubts the way a listener would), takes a
twice or thrice faster tempo when the envelope is nearly as periodic there, and refines
the period on a multiple of the beat for sub-frame precision. The beat phase comes from a comb:
the offset at which the envelope, sampled one period apart, sums highest. A beat clock then runs
freely between re-estimates and is nudged (never stepped back) towards each new phase, so a
morph locked to it never jumps.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..clock.errors import ClockError
from ..clock.taps import BPM_RANGE, TapTempo  # noqa: F401 - TapTempo: the tap math's home, re-exported
from ..clock.taps import fit_taps as clock_fit_taps
from .config import AnalyserConfig
from .errors import AudioError

log = logging.getLogger(__name__)

FASTER_RATIO = 0.9
"""A lag a half or a third as long wins when its autocorrelation is at least this fraction."""
_BLUR = np.array([1.0, 2.0, 3.0, 2.0, 1.0]) / 9.0


@dataclass(frozen=True, slots=True)
class TempoEstimate:
    """One reading of the tempo from an onset envelope."""

    period: float
    """Beat period in analysis frames (fractional)."""
    confidence: float
    """Normalised autocorrelation at that period, 0..1: how periodic the onsets are."""


def estimate_tempo(envelope: np.ndarray, config: AnalyserConfig) -> TempoEstimate | None:
    """The beat period of an onset envelope (one value per analysis frame), or None if it has
    no usable periodicity (silence, too short for the slowest tempo)."""
    rate = config.frame_rate
    n = len(envelope)
    shortest = math.floor(rate * 60.0 / config.tempo_max)
    longest = math.ceil(rate * 60.0 / config.tempo_min)
    if n < 2 * longest:
        return None
    # a short triangular blur: a sharp peak sampled at a fractional period lands between frames,
    # which would make a one-beat lag look less periodic than a two-beat one
    x = np.convolve(envelope, _BLUR, mode="same")
    x -= x.mean()
    spectrum = np.fft.rfft(x, 2 * n)
    acf = np.fft.irfft(spectrum.real**2 + spectrum.imag**2)[:n]
    if acf[0] <= 1e-20:
        return None
    acf = acf / acf[0] * n / (n - np.arange(n))  # unbiased, 1 at lag 0
    lags = np.arange(shortest, longest + 1)
    bpm = rate * 60.0 / lags
    prior = np.exp(-0.5 * (np.log2(bpm / config.tempo_prior) / config.tempo_prior_octaves) ** 2)
    best = int(lags[np.argmax(acf[lags] * prior)])
    # the prior alone would halve a fast click track (its autocorrelation is as high at two beats
    # as at one): when a half or a third of the chosen lag is nearly as periodic, that is the beat
    for divisor in (3, 2):
        lag = round(best / divisor)
        if lag < shortest:
            continue
        lo, hi = max(lag - 2, shortest), min(lag + 2, longest)
        candidate = lo + int(np.argmax(acf[lo:hi + 1]))
        if acf[candidate] >= FASTER_RATIO * acf[best]:
            best = candidate
            break
    confidence = float(np.clip(acf[best], 0.0, 1.0))
    period = _peak(acf, best, 1)
    # a peak k periods out pins the period k times more finely; keep k*period inside half the
    # history, where the autocorrelation still rests on many beats
    for k in (2, 4, 8):
        if k * period + 3 >= n / 2:
            break
        period = _peak(acf, round(k * period), 3) / k
    return TempoEstimate(period=period, confidence=confidence)


def _peak(values: np.ndarray, near: int, reach: int) -> float:
    """The fractional index of the highest value within `reach` of `near` (parabolic fit)."""
    lo, hi = max(near - reach, 1), min(near + reach, len(values) - 2)
    i = lo + int(np.argmax(values[lo:hi + 1]))
    a, b, c = values[i - 1], values[i], values[i + 1]
    curvature = a - 2 * b + c
    return i + (0.5 * (a - c) / curvature if curvature < 0 else 0.0)


def beat_offset(envelope: np.ndarray, period: float) -> float | None:
    """Frames from the newest envelope value back to the envelope's most recent beat, in
    [0, period), or None when the envelope is flat (no onsets to lock to)."""
    n = len(envelope)
    beats = int((n - 1) // period)
    if beats < 1 or float(envelope.max()) <= 0.0:
        return None
    offsets = np.arange(math.ceil(period), dtype=np.float64)
    positions = (n - 1) - offsets[:, None] - period * np.arange(beats)[None, :]  # [offset, beat]
    inside = positions >= 0
    positions = np.where(inside, positions, 0.0)
    low = np.floor(positions).astype(np.int64)
    high = np.minimum(low + 1, n - 1)
    frac = positions - low
    values = (1 - frac) * envelope[low] + frac * envelope[high]
    score = np.where(inside, values, 0.0).sum(axis=1)
    best = int(np.argmax(score))
    # parabolic refinement on the cyclic score
    a, b, c = score[best - 1], score[best], score[(best + 1) % len(score)]
    curvature = a - 2 * b + c
    refined = best + (0.5 * (a - c) / curvature if curvature < 0 else 0.0)
    return refined % period


def fit_taps(times: Sequence[float]) -> tuple[float, float]:
    """(period, time of the last beat) from tap times in seconds (the beat clock's tap math,
    `realtime.clock.taps.fit_taps`); raises AudioError when the taps cannot make a tempo."""
    try:
        return clock_fit_taps(times)
    except ClockError as exc:
        raise AudioError(str(exc)) from None


def check_bpm(bpm: float) -> float:
    """An explicit tempo, checked: a finite number within BPM_RANGE."""
    if not isinstance(bpm, (int, float)) or not math.isfinite(bpm) or not BPM_RANGE[0] <= bpm <= BPM_RANGE[1]:
        raise AudioError(f"BPM must be a number in {BPM_RANGE[0]:g}..{BPM_RANGE[1]:g}, got {bpm!r}")
    return float(bpm)


class TempoTracker:
    """Follows the tempo frame by frame and runs the beat clock.

    Fed one flux value per analysis frame. Every `tempo_interval` it re-reads tempo (unless
    tapped or set) and phase (unless tapped) from the last `tempo_history` seconds of flux.
    """

    def __init__(self, config: AnalyserConfig) -> None:
        self._config = config
        self._rate = config.frame_rate
        self._flux = np.zeros(config.frames(config.tempo_history), dtype=np.float64)
        self._low_flux = np.zeros_like(self._flux)
        self._frames = 0
        self._interval = config.frames(config.tempo_interval)
        self._warmup = config.frames(config.tempo_warmup)
        # frames from a sharp attack to its flux peak: the Hann weight rises fastest a quarter
        # window in, and the frame that spans that rise ends about 3/8 of a window after the attack
        self._delay = 0.375 * config.window / config.hop
        self.period: float | None = None  # frames per beat
        self.confidence = 0.0
        self.source = "none"
        self._manual_period: float | None = None
        self._beats = 0.0  # beat clock position at the newest frame
        self._running = False
        self._nudge = 0.0

    # -- overrides -------------------------------------------------------------------------------

    def set_bpm(self, bpm: float | None) -> None:
        """Use an explicit tempo (phase still follows the onsets), or None to estimate again."""
        if bpm is None:
            self._manual_period = None
            self.source = "estimate" if self.period is not None else "none"
            self.confidence = 0.0
            return
        self._manual_period = self._rate * 60.0 / check_bpm(bpm)
        self.source = "manual"
        self.period, self.confidence = self._manual_period, 1.0
        if not self._running:
            self._start_clock(0.0)

    def tap(self, times: Sequence[float], now: float) -> float:
        """Take the tempo and the beat from taps (stream seconds); `now` is the newest frame's
        stream time. The beat clock then runs at the tapped tempo until set_bpm(None)."""
        period_s, last_beat = fit_taps(times)
        self._manual_period = None
        self.source = "tap"
        self.period, self.confidence = period_s * self._rate, 1.0
        phase = ((now - last_beat) / period_s) % 1.0
        self._step_clock_forward(phase)
        return 60.0 / period_s

    # -- per frame -------------------------------------------------------------------------------

    def update(self, flux: float, low_flux: float) -> None:
        """Advance one analysis frame with its flux and low-band flux."""
        for history, value in ((self._flux, flux), (self._low_flux, low_flux)):
            history[:-1] = history[1:]
            history[-1] = value
        self._frames += 1
        if self._running:
            self._beats += (1.0 + self._nudge) / self.period
        if self._frames >= self._warmup and self._frames % self._interval == 0 and self.source != "tap":
            self._reestimate()

    def beats_after(self, frames: float) -> float:
        """Beat clock position `frames` (fractional, >= 0) after the newest frame."""
        if not self._running:
            return 0.0
        return self._beats + frames * (1.0 + self._nudge) / self.period

    @property
    def bpm(self) -> float | None:
        return None if self.period is None else self._rate * 60.0 / self.period

    # -- inside ----------------------------------------------------------------------------------

    def _reestimate(self) -> None:
        envelope = self._beat_envelope()
        if self._manual_period is None:
            estimate = estimate_tempo(envelope, self._config)
            if estimate is None or estimate.confidence < self._config.tempo_min_confidence:
                return  # keep what we had: a break in the drums is no reason to forget the tempo
            if self.period is None:
                log.debug("tempo locked at %.2f BPM (confidence %.2f)", self._rate * 60 / estimate.period, estimate.confidence)
            self.period, self.confidence, self.source = estimate.period, estimate.confidence, "estimate"
        offset = beat_offset(envelope, self.period)
        if offset is None:
            return
        target = ((offset + self._delay) / self.period) % 1.0  # phase of the newest frame
        if not self._running:
            self._start_clock(target)
            return
        error = (target - self._beats) % 1.0
        error = error - 1.0 if error >= 0.5 else error
        # absorb the error by the next re-estimate, never running slower than half speed
        self._nudge = float(np.clip(error * self.period / self._interval, -0.5, 0.5))

    def _beat_envelope(self) -> np.ndarray:
        """Flux plus low-band flux over the history heard so far, each scaled to mean 1."""
        count = min(self._frames, len(self._flux))
        envelope = np.zeros(count)
        for history in (self._flux[-count:], self._low_flux[-count:]):
            mean = float(history.mean())
            if mean > 1e-12:
                envelope += history / mean
        return envelope

    def _start_clock(self, phase: float) -> None:
        self._beats, self._nudge, self._running = phase, 0.0, True

    def _step_clock_forward(self, phase: float) -> None:
        """Jump the clock to `phase` without ever counting backwards."""
        if not self._running:
            self._start_clock(phase)
            return
        whole = math.floor(self._beats)
        self._beats = whole + phase if whole + phase >= self._beats else whole + 1 + phase
        self._nudge = 0.0
