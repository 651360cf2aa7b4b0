"""The music's path: analysis time per device block and how late an onset is seen."""

from __future__ import annotations

import statistics
import time

from .results import Row


def bench_audio(seconds: float = 8.0, block: int = 256) -> list[Row]:
    """The music's path: the analysis time per device block (256 samples, 5.3 ms of sound) on a
    synthetic 120 BPM kick pattern, and how late an onset is seen (the audio time from a kick to
    its onset event). The drive it makes applies at the next frame boundary: add at most one
    display frame, plus one generation, for the picture."""
    import numpy as np

    from ..audio import SAMPLE_RATE, AudioAnalyser

    rate = SAMPLE_RATE
    kicks = np.arange(0.25, seconds - 0.2, 0.5)
    t = np.arange(int(0.12 * rate)) / rate
    kick = (np.sin(2 * np.pi * (50 * t + 3 * (1 - np.exp(-t / 0.03)))) * np.exp(-t / 0.05)).astype(np.float32)
    x = (0.01 * np.random.default_rng(0).standard_normal(int(seconds * rate))).astype(np.float32)
    for k in kicks:
        i = int(k * rate)
        x[i:i + len(kick)] += 0.6 * kick[: len(x) - i]
    analyser, times, delays, seen = AudioAnalyser(), [], [], 0
    for start in range(0, len(x), block):
        tick = time.perf_counter()
        features = analyser.process(x[start:start + block])
        times.append((time.perf_counter() - tick) * 1000)
        if features.onset_count > seen:
            seen = features.onset_count
            before = kicks[kicks <= features.time]
            if len(before):
                delays.append(float(features.time - before[-1]) * 1000)
    median = statistics.median(times)
    rows = [Row("audio-analysis", "120 BPM kicks", "cpu", "float32", block, len(times), round(median, 4),
                round(min(times), 4), round(1000 / median, 1), f"per {block}-sample block ({block / rate * 1000:.1f} ms of sound)")]
    if delays:
        rows.append(Row("audio-onset", "120 BPM kicks", "cpu", "float32", block, len(delays),
                        round(statistics.median(delays), 2), round(min(delays), 2), 0.0,
                        "ms of audio from a kick to its onset event; applied at the next frame boundary"))
    return rows
