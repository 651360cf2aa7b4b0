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
    if samples.size == 0:
        raise AudioFileError(f"{path}: contains no audio samples")
    peak = float(np.max(np.abs(samples)))
    if not np.isfinite(peak):
        raise AudioFileError(f"{path}: audio holds invalid (NaN or infinite) samples")
    if peak < 10 ** (SILENCE_DBFS / 20):
        raise AudioFileError(f"{path}: audio is silent (loudest sample below {SILENCE_DBFS:g} dBFS)")
    return peak


def read_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> AudioClip:
    """Decode a whole file to mono float32 at `sample_rate` (the first audio stream; the rate converted
    by PyAV's resampler, the channels averaged).

    Raises AudioFileError, naming the file and the reason, when it is missing, not decodable,
    has no audio stream, holds no samples, or is silent (every sample below -80 dBFS).
    """
    path = Path(path)
    chunks = list(decode_chunks(path, sample_rate))
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    peak = check_audible(samples, path)
    samples.flags.writeable = False
    log.info("read %s: %.2f s at %d Hz, peak %.1f dBFS", path, samples.size / sample_rate, sample_rate, 20 * np.log10(peak))
    return AudioClip(path=path, samples=samples, sample_rate=sample_rate)


def decode_chunks(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> Iterator[np.ndarray]:
    """Yield the file's first audio stream as mono float32 chunks at `sample_rate`, as decoded
    (channels averaged).

    Raises AudioFileError for a file that is missing, not decodable or without audio; it does
    not judge emptiness or silence (read_audio does, once it has seen everything).
    """
    for planes in decode_planes(path, sample_rate):
        yield planes.mean(axis=0, dtype=np.float32) if planes.shape[0] > 1 else planes[0].astype(np.float32)


def decode_planes(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE,
                  stereo_at_most: bool = False) -> Iterator[np.ndarray]:
    """Yield the file's first audio stream as float32 [channels, n] chunks at `sample_rate`
    (more than two channels mixed down to stereo when `stereo_at_most`). The one decoder: the
    analysis (`decode_chunks`) and the soundtrack played and muxed (`read_soundtrack`) use it.

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
