"""The streaming analyser: blocks of samples in, an `AudioFeatures` snapshot out, no look-ahead.

The same object serves a live device (blocks of any size as they arrive) and an offline render
(blocks cut at video frame times): the analysis itself runs on a fixed grid of `hop` samples,
so the features at a given stream time do not depend on how the audio was cut into blocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .config import AnalyserConfig
from .envelope import AttackRelease, AutoGain
from .features import AudioFeatures
from .onsets import OnsetPicker, locate_onset
from .spectrum import SpectralAnalyser
from .tempo import TempoTracker

FLUX_FLOOR_RATIO = 0.02
"""Flux floor as a fraction of `level_floor`: the flux of steady white noise is about 0.02 times
its RMS (mean rise per bin), so the flux gain stops rising where the level gain does."""


class AudioAnalyser:
    """Level, onsets, bands, tempo and beat phase of a mono stream, one block at a time.

    Not thread-safe: one thread feeds it (see `AudioListener` for live input). Each `process`
    returns a new frozen snapshot, which is safe to hand to any thread.
    """

    def __init__(self, config: AnalyserConfig | None = None) -> None:
        self.config = config = config or AnalyserConfig()
        step = 1.0 / config.frame_rate
        self._buffer = np.zeros(config.history, dtype=np.float32)  # newest sample last
        self._pending = 0  # samples since the last analysis frame
        self._samples = 0  # samples consumed in all
        self._spectral = SpectralAnalyser(config)
        self._level_gain = AutoGain(config.gain_release, step, config.level_floor)
        self._total_gain = AutoGain(config.gain_release, step, config.level_floor)
        self._band_gains = [AutoGain(config.gain_release, step, config.level_floor) for _ in range(3)]
        self._flux_gain = AutoGain(config.gain_release, step, config.level_floor * FLUX_FLOOR_RATIO)
        self._level = AttackRelease(config.level_attack, config.level_release, step)
        self._bands = [AttackRelease(config.band_attack, config.band_release, step) for _ in range(3)]
        self._flux = AttackRelease(config.flux_attack, config.flux_release, step)
        self._picker = OnsetPicker(config)
        self._tempo = TempoTracker(config)
        self._onset_count = 0
        self._last_onset: float | None = None
        self._rms = 0.0
        self._features = AudioFeatures()

    @property
    def features(self) -> AudioFeatures:
        """The newest snapshot (the one the last `process` returned)."""
        return self._features

    @property
    def time(self) -> float:
        """Seconds of audio consumed so far."""
        return self._samples / self.config.sample_rate

    def process(self, block: np.ndarray) -> AudioFeatures:
        """Analyse the next samples (mono float, any length; [n, channels] is mixed down) and
        return the features valid at the end of them."""
        samples = np.asarray(block, dtype=np.float32)
        if samples.ndim == 2:
            samples = samples.mean(axis=1, dtype=np.float32)
        if samples.ndim != 1:
            raise ValueError(f"audio block must be [samples] or [samples, channels], got shape {samples.shape}")
        if not np.all(np.isfinite(samples)):
            samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
        hop = self.config.hop
        start = 0
        while start < len(samples):
            take = min(hop - self._pending, len(samples) - start)
            self._buffer[:-take] = self._buffer[take:]
            self._buffer[-take:] = samples[start:start + take]
            start += take
            self._pending += take
            self._samples += take
            if self._pending == hop:
                self._pending = 0
                self._analyse_frame()
        self._features = self._snapshot()
        return self._features

    def set_bpm(self, bpm: float | None) -> None:
        """Override the estimated tempo with `bpm` (the phase still follows the onsets); None
        returns to the estimate. Raises AudioError for a BPM outside 20..400."""
        self._tempo.set_bpm(bpm)
        self._features = self._snapshot()

    def tap(self, times: Sequence[float]) -> float:
        """Set tempo and beat from tap times (seconds on this analyser's stream clock; the last
        tap is a beat). Returns the tapped BPM; raises AudioError for fewer than two taps or a
        tempo outside 20..400 BPM. Holds until `set_bpm` is called."""
        now = (self._samples - self._pending) / self.config.sample_rate
        bpm = self._tempo.tap(times, now)
        self._features = self._snapshot()
        return bpm

    # -- inside ----------------------------------------------------------------------------------

    def _analyse_frame(self) -> None:
        cfg = self.config
        frame = self._spectral.analyse(self._buffer)
        self._rms = frame.rms
        self._level.update(self._level_gain.update(frame.rms))
        self._total_gain.update(frame.total)
        least = cfg.band_floor * self._total_gain.peak
        for gain, smooth, energy in zip(self._band_gains, self._bands, frame.bands):
            smooth.update(gain.update(energy, least))
        self._flux.update(self._flux_gain.update(frame.flux))
        if self._picker.update(frame.flux, self._flux_gain.peak):
            search = self._buffer[-min(3 * cfg.hop, cfg.window):]
            where = locate_onset(search)
            self._last_onset = (self._samples - len(search) + where) / cfg.sample_rate
            self._onset_count += 1
        self._tempo.update(frame.flux, frame.low_flux)

    def _snapshot(self) -> AudioFeatures:
        tempo = self._tempo
        beats = float(tempo.beats_after(self._pending / self.config.hop))
        whole = math.floor(beats)
        return AudioFeatures(
            time=self._samples / self.config.sample_rate,
            level=min(self._level.value, 1.0),
            flux=min(self._flux.value, 1.0),
            onset_count=self._onset_count,
            last_onset_time=self._last_onset,
            low=min(self._bands[0].value, 1.0),
            mid=min(self._bands[1].value, 1.0),
            high=min(self._bands[2].value, 1.0),
            bpm=None if tempo.bpm is None else float(tempo.bpm),
            beat_phase=beats - whole,
            beat=whole,
            tempo_source=tempo.source,  # type: ignore[arg-type]
            tempo_confidence=float(tempo.confidence),
            rms_db=max(20.0 * math.log10(self._rms), -120.0) if self._rms > 0 else -120.0,
        )
