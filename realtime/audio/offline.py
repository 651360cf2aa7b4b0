"""Offline analysis for renders: the live analyser walked through a file, frame time by frame time.

Frame n of a video at `fps` shows time t = n / fps; its features are those of the streaming
analyser after it has heard exactly the samples before t (no look-ahead), fed in blocks of at
most MAX_BLOCK samples as a live device would. Two walks over the same input give identical
features. A song (`Soundtrack`) is decoded as the walk goes: the walk holds one decoded chunk,
and the features are yielded, not kept, so memory does not grow with the song.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np

from .analyser import AudioAnalyser
from .config import MAX_BLOCK, AnalyserConfig
from .decode import AudioClip
from .errors import AudioError
from .features import AudioFeatures
from .soundtrack import Soundtrack
from .stream import ChunkReader
from .timing import frames_covering, sample_at


def frame_features(audio: AudioClip | Soundtrack | np.ndarray, fps: float, frames: int | None = None,
                   config: AnalyserConfig | None = None, bpm: float | None = None) -> Iterator[AudioFeatures]:
    """Yield the features valid at t = n / fps for n = 0, 1, ... (frame 0 has heard nothing).

    `audio` is a clip from `read_audio`, a song from `read_soundtrack` (streamed: decoded as the
    frames are pulled), or mono float32 samples at the config's rate. `frames` defaults to the
    frames the audio covers (a render stops at the end of the song; a song must then have been
    read with scan=True); beyond the end the analyser hears silence, so features decay as they
    would live. `bpm` overrides the tempo estimate from the start, as `AudioAnalyser.set_bpm`
    does live.
    """
    config = config or AnalyserConfig()
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise AudioError(f"fps must be a positive number, got {fps!r}")
    if isinstance(audio, (AudioClip, Soundtrack)) and audio.sample_rate != config.sample_rate:
        raise AudioError(f"{audio.path}: clip is at {audio.sample_rate} Hz, the analyser at {config.sample_rate} Hz")
    if isinstance(audio, Soundtrack):
        if frames is None:
            frames = audio.frame_count(fps)
        chunks: Iterable[np.ndarray] = audio.mono_chunks()  # opens the file only when the walk starts
    else:
        samples = audio.samples if isinstance(audio, AudioClip) else np.asarray(audio, dtype=np.float32)
        if samples.ndim != 1:
            raise AudioError(f"audio samples must be mono (1-D), got shape {samples.shape}")
        if frames is None:
            frames = frames_covering(len(samples), fps, config.sample_rate)
        chunks = (samples,)
    if frames < 0:
        raise AudioError(f"frames must be zero or more, got {frames}")
    analyser = AudioAnalyser(config)
    if bpm is not None:
        analyser.set_bpm(bpm)
    return _walk(analyser, chunks, fps, frames)


def _walk(analyser: AudioAnalyser, chunks: Iterable[np.ndarray], fps: float, frames: int) -> Iterator[AudioFeatures]:
    """The generator behind frame_features (kept apart so bad arguments fail at the call)."""
    rate = analyser.config.sample_rate
    reader = ChunkReader(chunks)
    consumed = 0
    for n in range(frames):
        target = sample_at(n, fps, rate)
        features = analyser.features
        while consumed < target:
            want = min(MAX_BLOCK, target - consumed)
            block = reader.take(want)
            if len(block) < want:  # past the end of the audio: silence
                block = np.concatenate([block, np.zeros(want - len(block), dtype=np.float32)])
            features = analyser.process(block)
            consumed += want
        yield features
