"""A song as it should be heard: its own channels (mono or stereo), for playing and for muxing.

The analysis hears the mono mix (`read_audio`); what goes to the speakers in `run --audio` and
into the video file in `render --audio` is the original sound, channels kept (more than two are
mixed down to stereo), at the analysis rate so that sample n of both is the same instant.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import SAMPLE_RATE
from .decode import AudioClip, check_audible, decode_planes
from .errors import AudioFileError


@dataclass(frozen=True, slots=True, eq=False)
class Soundtrack:
    """Float32 samples [channels, n] (read-only) at `sample_rate`."""

    path: Path
    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        return self.samples.shape[1] / self.sample_rate

    def mono(self) -> np.ndarray:
        """The channels averaged (what the analyser hears)."""
        return self.samples.mean(axis=0, dtype=np.float32) if self.channels > 1 else self.samples[0]

    def clip(self) -> AudioClip:
        """The mono mix as an AudioClip: what the analysis reads (one decode serves both)."""
        return AudioClip(path=self.path, samples=self.mono(), sample_rate=self.sample_rate)


def read_soundtrack(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> Soundtrack:
    """Decode the file's first audio stream, channels kept (at most two), at `sample_rate`.

    Raises AudioFileError naming the file for anything PyAV cannot read, an empty stream or a
    silent one (the same checks, with the same decoder, as `read_audio`).
    """
    path = Path(path)
    chunks = list(decode_planes(path, sample_rate, stereo_at_most=True))
    if not chunks or sum(c.shape[1] for c in chunks) == 0:
        raise AudioFileError(f"{path}: contains no audio samples")
    samples = np.concatenate(chunks, axis=1).astype(np.float32, copy=False)
    check_audible(samples, path)
    samples.flags.writeable = False
    return Soundtrack(path=path, samples=samples, sample_rate=sample_rate)
