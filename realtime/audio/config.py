"""The analyser's settings in one frozen value, checked when it is made."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import AudioError

SAMPLE_RATE = 48_000
"""The rate everything is analysed at: files are resampled to it, devices are opened at it."""

MAX_BLOCK = 512
"""Largest block a live device hands over (10.7 ms at 48 kHz): small, so an onset is seen fast."""


@dataclass(frozen=True, slots=True)
class AnalyserConfig:
    """How the streaming analyser listens. Defaults suit music at 48 kHz; times are in seconds.

    The analysis runs on a fixed hop grid, whatever the size of the blocks fed to it, so live
    input (any block size) and offline renders (blocks cut at video frame times) give the same
    features at the same stream time.
    """

    sample_rate: int = SAMPLE_RATE
    hop: int = 256
    """Samples between analysis frames: 5.3 ms at 48 kHz, the time grid of onsets and beats."""
    window: int = 1024
    """FFT size (Hann window) for the flux and the level, 21.3 ms: short, for crisp onsets."""
    band_window: int = 2048
    """FFT size for the band energies, 42.7 ms: 23 Hz bins, so a 150 Hz bass note stays out of
    the mid band (a 1024-point Hann spreads it past 250 Hz)."""
    low_band: tuple[float, float] = (20.0, 250.0)
    """Hz: kick drum and bass."""
    mid_band: tuple[float, float] = (250.0, 2_000.0)
    """Hz: voice, snare body, most instruments' fundamentals."""
    high_band: tuple[float, float] = (2_000.0, 16_000.0)
    """Hz: hats, cymbals, consonants, air."""
    band_floor: float = 0.1
    """A band is normalised by at least this fraction of the whole spectrum's gain, so a band
    that holds nothing but leakage (the highs under a pure bass tone) stays near zero."""

    gain_release: float = 10.0
    """Automatic gain: the remembered peak decays with this time constant (s), so a quiet passage
    after a loud one moves the picture again within some seconds, but a breath does not pump it."""
    level_floor: float = 1e-4
    """RMS below which the gain stops rising (-80 dBFS): digital near-silence is not amplified."""
    level_attack: float = 0.005
    level_release: float = 0.15
    band_attack: float = 0.01
    band_release: float = 0.2
    flux_attack: float = 0.0
    flux_release: float = 0.1

    onset_history: float = 0.5
    """Seconds of past flux whose median sets the adaptive threshold of onset events."""
    onset_ratio: float = 2.5
    """An onset event needs flux above this multiple of the recent median ..."""
    onset_delta: float = 0.1
    """... and above this fraction of the gain-tracked peak flux (ignores tiny ripples)."""
    refractory: float = 0.06
    """Seconds after an onset event during which no other is reported (a 16th note at 250 BPM)."""

    tempo_min: float = 60.0
    tempo_max: float = 200.0
    tempo_prior: float = 120.0
    """Centre of the log-Gaussian preference that resolves octave doubts (60 vs 120 vs 240)."""
    tempo_prior_octaves: float = 1.0
    tempo_history: float = 8.0
    """Seconds of onset envelope the tempo is estimated from (16 beats at 120 BPM)."""
    tempo_warmup: float = 2.5
    """No tempo is reported before this much audio has been heard."""
    tempo_interval: float = 0.25
    """Seconds between tempo and beat-phase re-estimates; the beat clock runs freely between."""
    tempo_min_confidence: float = 0.15
    """Below this periodicity an estimate is ignored and the previous tempo kept."""

    def __post_init__(self) -> None:
        if self.sample_rate < 8_000:
            raise AudioError(f"sample rate must be at least 8000 Hz, got {self.sample_rate}")
        for name in ("window", "band_window"):
            size = getattr(self, name)
            if size < 64 or size & (size - 1):
                raise AudioError(f"{name} must be a power of two of at least 64 samples, got {size}")
        if not 0 < self.hop <= self.window:
            raise AudioError(f"hop must be 1..window ({self.window}) samples, got {self.hop}")
        nyquist = self.sample_rate / 2
        for name in ("low_band", "mid_band", "high_band"):
            lo, hi = getattr(self, name)
            if not 0 <= lo < hi <= nyquist:
                raise AudioError(f"{name} must be 0 <= low < high <= {nyquist:g} Hz, got {lo:g}..{hi:g}")
        if not 0 < self.tempo_min < self.tempo_max:
            raise AudioError(f"tempo range must be 0 < min < max, got {self.tempo_min:g}..{self.tempo_max:g}")
        positive = ("gain_release", "level_floor", "onset_history", "onset_ratio", "tempo_history", "tempo_interval")
        for name in positive:
            if getattr(self, name) <= 0:
                raise AudioError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def history(self) -> int:
        """Samples the analyser keeps: the longer of the two windows."""
        return max(self.window, self.band_window)

    @property
    def frame_rate(self) -> float:
        """Analysis frames per second (187.5 with the defaults)."""
        return self.sample_rate / self.hop

    def frames(self, seconds: float) -> int:
        """A duration in whole analysis frames (at least 1)."""
        return max(1, round(seconds * self.frame_rate))
