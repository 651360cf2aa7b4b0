"""A song as it should be heard: its own channels (mono or stereo), for playing and for muxing.

The analysis hears the mono mix; what goes to the speakers in `run --audio` and into the video
file in `render --audio` is the original sound, channels kept (more than two are mixed down to
stereo), at the analysis rate so that sample n of both is the same instant.

A song is never held whole: a `Soundtrack` names the file and what was learnt checking it, and
each reader (the live player, the render's analysis, the muxer) decodes it afresh as a stream of
chunks (`planes`, `mono_chunks`). Memory per reader is one decoded chunk plus that reader's own
bounded buffer, whatever the song's length.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import SAMPLE_RATE
from .decode import PeakMeter, decode_planes
from .errors import AudioError
from .timing import frames_covering

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class Soundtrack:
    """A checked song file: its channels (1 or 2) at `sample_rate`, and its length in samples
    when it was read through (`read_soundtrack(..., scan=True)`), else None."""

    path: Path
    channels: int
    sample_rate: int = SAMPLE_RATE
    length: int | None = None

    @property
    def duration(self) -> float | None:
        """Length in seconds, or None when the song was not read through."""
        return None if self.length is None else self.length / self.sample_rate

    def frame_count(self, fps: float) -> int:
        """Video frames at `fps` that the song covers (a last partial frame counts)."""
        if self.length is None:
            raise AudioError(f"{self.path}: the song's length is not known (read it with scan=True)")
        return frames_covering(self.length, fps, self.sample_rate)

    def planes(self) -> Iterator[np.ndarray]:
        """The song from its start as float32 [channels, n] chunks, decoded as they are pulled
        (close the iterator to close the file). Non-finite samples become 0: what reaches the
        speakers or the video is always finite."""
        for chunk in decode_planes(self.path, self.sample_rate, stereo_at_most=True):
            if chunk.shape[0] != self.channels:  # a stream that changes its layout midway
                chunk = np.repeat(chunk.mean(axis=0, dtype=np.float32, keepdims=True), self.channels, axis=0)
            if not np.all(np.isfinite(chunk)):
                chunk = np.nan_to_num(chunk, nan=0.0, posinf=0.0, neginf=0.0)
            yield chunk

    def mono_chunks(self) -> Iterator[np.ndarray]:
        """The channels averaged, chunk by chunk (what the analyser hears)."""
        for chunk in self.planes():
            yield chunk.mean(axis=0, dtype=np.float32) if chunk.shape[0] > 1 else chunk[0].astype(np.float32, copy=False)


def read_soundtrack(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE, scan: bool = False) -> Soundtrack:
    """Check a song file and return its `Soundtrack`, without holding its samples.

    Raises AudioFileError naming the file for anything PyAV cannot read, an empty stream, a
    silent one or NaN samples (the same decoder and checks as `read_audio`). The check decodes
    only until the first audible sample (a song's first second), so a show starts at once
    whatever the song's length; with `scan` it reads the whole file through once (streaming),
    which gives the exact length a render needs and finds a decoding error anywhere in it.
    """
    path = Path(path)
    if scan:
        log.debug("reading %s through once (its length sets the video's)", path.name)
    meter, channels = PeakMeter(path), 0
    chunks = decode_planes(path, sample_rate, stereo_at_most=True)
    try:
        for chunk in chunks:
            channels = channels or chunk.shape[0]
            meter.add(chunk)
            if meter.audible and not scan:
                break
    finally:
        chunks.close()
    meter.check()
    log.debug("%s: %d channel(s), %s", path, channels,
              f"{meter.samples / sample_rate:.1f} s" if scan else "checked up to its first sound")
    return Soundtrack(path=path, channels=channels, sample_rate=sample_rate, length=meter.samples if scan else None)
