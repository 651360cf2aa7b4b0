"""One analysis frame: the newest samples in; level, spectral flux and band energies out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import AnalyserConfig


@dataclass(frozen=True, slots=True)
class SpectralFrame:
    """Raw (unnormalised) measurements of one analysis frame."""

    rms: float
    """Root mean square of the frame's samples (a full-scale sine: 0.707)."""
    flux: float
    """Spectral flux: the mean rise of the magnitude spectrum over the previous frame's (each bin
    compared with the largest of its previous self and two neighbours), in amplitude units (a
    sine of amplitude A shows a peak bin of about A)."""
    low_flux: float
    """The same rise, within the low band only: where the kick and the bass hit, which is
    where a listener puts the beat."""
    bands: tuple[float, float, float]
    """RMS-equivalent energy of the low, mid and high bands (a sine of amplitude A inside a
    band: about A / sqrt(2) there)."""
    total: float
    """RMS-equivalent energy of the three bands together."""


class SpectralAnalyser:
    """Hann-windowed FFTs of each frame: a short one for flux (its previous magnitudes kept) and
    level, a longer one for the band energies, which need finer frequency resolution.

    Magnitudes are scaled so that they read in the signal's own units, which keeps every raw
    measurement proportional to the input's amplitude: the automatic gain then removes it.
    """

    def __init__(self, config: AnalyserConfig) -> None:
        n, m = config.window, config.band_window
        self._window = _hann(n)
        self._amplitude_scale = 2.0 / float(self._window.sum())
        self._flux_low = _band_mask(n, config.sample_rate, config.low_band)
        self._band_window = _hann(m)
        # Parseval: twice the one-sided power over M * sum(w^2) is the mean square of the signal
        self._power_scale = 2.0 / (m * float(np.square(self._band_window, dtype=np.float64).sum()))
        bands = (config.low_band, config.mid_band, config.high_band)
        self._band_masks = [_band_mask(m, config.sample_rate, band) for band in bands]
        self._previous: np.ndarray | None = None

    def analyse(self, history: np.ndarray) -> SpectralFrame:
        """Measure one frame: the newest samples of `history` (float32, oldest first, at least
        as long as the longer window)."""
        frame = history[-len(self._window):]
        magnitude = np.abs(np.fft.rfft(frame * self._window)) * self._amplitude_scale
        if self._previous is None:
            flux = low_flux = 0.0  # nothing to compare with: the first frame is not an onset
        else:
            rise = np.maximum(magnitude - self._previous, 0.0)
            flux = float(rise.mean())
            low_flux = float(rise[self._flux_low].mean())
        # compare with the previous frame's maximum over neighbouring bins (as in Böck's
        # SuperFlux): the random ripple of steady noise and vibrato then rarely counts as a rise
        spread = magnitude.copy()
        np.maximum(spread[1:], magnitude[:-1], out=spread[1:])
        np.maximum(spread[:-1], magnitude[1:], out=spread[:-1])
        self._previous = spread
        spectrum = np.fft.rfft(history[-len(self._band_window):] * self._band_window)
        power = spectrum.real**2 + spectrum.imag**2
        bands = tuple(float(np.sqrt(power[mask].sum() * self._power_scale)) for mask in self._band_masks)
        total = float(np.sqrt(sum(b * b for b in bands)))
        rms = float(np.sqrt(np.mean(np.square(frame, dtype=np.float64))))
        return SpectralFrame(rms=rms, flux=flux, low_flux=low_flux, bands=bands, total=total)  # type: ignore[arg-type]


def _hann(n: int) -> np.ndarray:
    """The periodic Hann window of n samples (the one whose 75 % overlaps add up flat)."""
    return np.hanning(n + 1)[:n].astype(np.float32)


def _band_mask(n: int, sample_rate: int, band: tuple[float, float]) -> np.ndarray:
    """Which bins of an n-point real FFT lie in [low, high) Hz."""
    freqs = np.fft.rfftfreq(n, d=1.0 / sample_rate)
    return (freqs >= band[0]) & (freqs < band[1])
