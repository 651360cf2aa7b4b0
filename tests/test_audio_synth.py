"""Synthetic test signals for the audio tests (made here, with numpy), and checks that they are
what they claim: the other audio tests measure the analyser against these known truths."""

from __future__ import annotations

import numpy as np

SR = 48_000


def click(length: float = 0.003) -> np.ndarray:
    """A metronome click: a full-scale first sample, then noise dying away within a millisecond."""
    n = int(length * SR)
    x = np.random.default_rng(7).uniform(-1, 1, n) * np.exp(-np.arange(n) / (0.0003 * SR))
    x[0] = 1.0
    return x.astype(np.float32)


def hat(length: float = 0.03, seed: int = 0) -> np.ndarray:
    """A hi-hat: white noise with a 6 ms decay."""
    t = np.arange(int(length * SR)) / SR
    return (np.random.default_rng(seed).standard_normal(t.size) * np.exp(-t / 0.006)).astype(np.float32)


def kick(length: float = 0.15) -> np.ndarray:
    """A kick drum: a sine sweeping from 150 down to 50 Hz, decaying over 50 ms."""
    t = np.arange(int(length * SR)) / SR
    phase = 2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / SR
    return (np.sin(phase) * np.exp(-t / 0.05)).astype(np.float32)


def tone(freq: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    """A steady sine."""
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def place(seconds: float, times, sound: np.ndarray, amplitude: float = 1.0) -> np.ndarray:
    """Silence `seconds` long with `sound` starting at each of `times` (seconds, rounded to a sample)."""
    out = np.zeros(int(seconds * SR), dtype=np.float32)
    for t in times:
        i = int(round(t * SR))
        piece = sound[: max(0, len(out) - i)]
        out[i:i + len(piece)] += amplitude * piece
    return out


def noise(seconds: float, rms: float, seed: int = 1) -> np.ndarray:
    """White noise at a given RMS: a room, a hiss, a busy background."""
    return (rms * np.random.default_rng(seed).standard_normal(int(seconds * SR))).astype(np.float32)


def beat_times(bpm: float, seconds: float, first: float) -> np.ndarray:
    """Beat times from `first`, one period apart, ending a little before `seconds`."""
    period = 60.0 / bpm
    times = first + period * np.arange(int(seconds / period) + 1)
    return times[times < seconds - 0.2]


def house_loop(bpm: float, seconds: float, first: float) -> np.ndarray:
    """Four-to-the-floor: a kick on each beat, a louder-in-flux hi-hat on each off-beat, a pad
    (220 + 277 Hz) and a little hiss. The beat is on the kicks."""
    beats = beat_times(bpm, seconds, first)
    x = place(seconds, beats, kick(), 0.6) + place(seconds, beats + 30.0 / bpm, hat(), 0.2)
    return x + tone(220, seconds, 0.05) + tone(277, seconds, 0.05) + noise(seconds, 0.01)


def blocks(x: np.ndarray, size: int):
    """`x` cut into consecutive blocks of `size` samples (the last may be shorter)."""
    return [x[i:i + size] for i in range(0, len(x), size)]


# -- the signals are what they claim ----------------------------------------------------------


def test_place_puts_each_sound_at_its_sample():
    x = place(1.0, [0.1, 0.5], click())
    starts = np.flatnonzero((np.abs(x) > 0.5) & (np.abs(np.roll(x, 1)) < 1e-6))
    assert starts.tolist() == [4800, 24000]


def test_beat_times_are_one_period_apart():
    times = beat_times(120, 5.0, 0.25)
    assert np.allclose(np.diff(times), 0.5) and times[0] == 0.25 and times[-1] < 4.8


def test_tone_and_noise_levels():
    assert abs(np.sqrt(np.mean(tone(1000, 1.0, 0.5) ** 2)) - 0.5 / np.sqrt(2)) < 1e-3
    assert abs(np.sqrt(np.mean(noise(1.0, 0.1) ** 2)) - 0.1) < 2e-3
