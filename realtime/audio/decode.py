"""Reading audio files: any format PyAV decodes, as mono float32 at the analysis rate."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import SAMPLE_RATE
from .errors import AudioFileError
from .timing import frames_covering

log = logging.getLogger(__name__)

SILENCE_DBFS = -80.0
"""A file whose loudest sample stays below this is treated as silent (nothing to react to)."""
MAX_CLIP_SECONDS = 600.0
"""The longest clip `read_audio` holds in memory (110 MB of float32 at 48 kHz); songs stream."""


@dataclass(frozen=True, slots=True, eq=False)
class AudioClip:
    """A decoded file: mono float32 samples (read-only) at `sample_rate`."""

    path: Path
    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate

    def frame_count(self, fps: float) -> int:
        """Video frames at `fps` that the clip covers (a last partial frame counts)."""
        return frames_covering(len(self.samples), fps, self.sample_rate)


def check_audible(samples: np.ndarray, path: Path) -> float:
    """The peak of decoded samples, or an AudioFileError naming the file: none, NaN/inf, or silent."""
    meter = PeakMeter(path)
    meter.add(samples)
    return meter.check()


class PeakMeter:
    """The audibility check, fed chunk by chunk, so a song is judged without being held whole.

    `add` raises at once for NaN or infinite samples; `check` raises for no samples at all or
    a silent stream (every sample below SILENCE_DBFS) and otherwise returns the peak.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.samples = 0  # per channel
        self.peak = 0.0

    @property
    def audible(self) -> bool:
        """Whether a sample at or above SILENCE_DBFS has been seen."""
        return self.peak >= 10 ** (SILENCE_DBFS / 20)

    def add(self, chunk: np.ndarray) -> None:
        if chunk.size == 0:
            return
        peak = float(np.max(np.abs(chunk)))
        if not np.isfinite(peak):
            raise AudioFileError(f"{self.path}: audio holds invalid (NaN or infinite) samples")
        self.samples += chunk.shape[-1]
        self.peak = max(self.peak, peak)

    def check(self) -> float:
        if self.samples == 0:
            raise AudioFileError(f"{self.path}: contains no audio samples")
        if not self.audible:
            raise AudioFileError(f"{self.path}: audio is silent (loudest sample below {SILENCE_DBFS:g} dBFS)")
        return self.peak


def read_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE,
               max_seconds: float = MAX_CLIP_SECONDS) -> AudioClip:
    """Decode a whole clip to mono float32 at `sample_rate` (the first audio stream; the rate
    converted by PyAV's resampler, the channels averaged), held in memory: for clips of at most
    `max_seconds`. Songs stream instead (`realtime.audio.soundtrack.read_soundtrack`).

    Raises AudioFileError, naming the file and the reason, when it is missing, not decodable,
    has no audio stream, is longer than `max_seconds`, holds no samples, or is silent (every
    sample below -80 dBFS).
    """
    path = Path(path)
    limit = int(max_seconds * sample_rate)
    meter, chunks = PeakMeter(path), []
    stream = decode_chunks(path, sample_rate)
    try:
        for chunk in stream:
            meter.add(chunk)
            if meter.samples > limit:
                raise AudioFileError(f"{path}: longer than {max_seconds:g} s, too long to hold in memory "
                                     "(a song is streamed: read_soundtrack)")
            chunks.append(chunk)
    finally:
        stream.close()
    peak = meter.check()
    samples = np.concatenate(chunks)
    samples.flags.writeable = False
    log.info("read %s: %.2f s at %d Hz, peak %.1f dBFS", path, samples.size / sample_rate, sample_rate, 20 * np.log10(peak))
    return AudioClip(path=path, samples=samples, sample_rate=sample_rate)


def decode_chunks(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Yield the file's first audio stream as mono float32 chunks at `sample_rate`, as decoded
    (channels averaged).

    Raises AudioFileError for a file that is missing, not decodable or without audio; it does
    not judge emptiness or silence (PeakMeter does, as the chunks go by).
    """
    for planes in decode_planes(path, sample_rate):
        yield planes.mean(axis=0, dtype=np.float32) if planes.shape[0] > 1 else planes[0].astype(np.float32)


def decode_planes(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE,
                  stereo_at_most: bool = False) -> Iterator[np.ndarray]:
    """Yield the file's first audio stream as float32 [channels, n] chunks at `sample_rate`
    (more than two channels mixed down to stereo when `stereo_at_most`). The one decoder: the
    analysis (`decode_chunks`) and the soundtrack played and muxed (`Soundtrack.planes`) use it.
    It streams: each chunk is one decoded frame (a few thousand samples), nothing is kept, and
    closing the generator closes the file.

    Raises AudioFileError for a file that is missing, not decodable or without audio.
    """
    av = _require_av(path)
    path = Path(path)
    if not path.is_file():
        raise AudioFileError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    try:
        container = av.open(str(path), mode="r")
    except PermissionError:
        raise AudioFileError(f"{path}: cannot be opened (permission denied)") from None
    except (OSError, av.FFmpegError) as exc:
        raise AudioFileError(f"{path}: not an audio file PyAV can read ({_reason(exc)})") from None
    with container:
        if not container.streams.audio:
            raise AudioFileError(f"{path}: has no audio stream")
        stream = container.streams.audio[0]
        layout = "stereo" if stereo_at_most and stream.codec_context.channels > 2 else None
        # planar float at the target rate, channels kept: a mix-down to mono is a plain average
        # (decode_chunks), where libswresample's own mono mix would lift correlated stereo by 3 dB
        resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
        try:
            for frame in container.decode(stream):
                frame.pts = None  # the resampler keeps its own timeline: no gaps from odd timestamps
                for out in resampler.resample(frame):
                    yield out.to_ndarray()[:, : out.samples]
            for out in resampler.resample(None):
                yield out.to_ndarray()[:, : out.samples]
        except av.FFmpegError as exc:
            raise AudioFileError(f"{path}: audio cannot be decoded ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    """An FFmpeg error's text without the file name it repeats."""
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).split(":")[0].strip() or type(exc).__name__


def _require_av(path: str | os.PathLike):
    try:
        import av
    except ImportError:
        raise AudioFileError(f"{path}: reading audio files needs PyAV, which is not installed (pip install av)") from None
    return av
