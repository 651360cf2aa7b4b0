"""Video frame times in samples, exactly: frame n of a video at fps shows time n / fps."""

from __future__ import annotations

import math
from fractions import Fraction


def frame_rate(fps: float) -> Fraction:
    """`fps` as the nearest fraction with a denominator up to 1001, as the video writer reads it
    (30000/1001 stays NTSC, 29.97 is 2997/100), so audio and video frame times agree exactly and
    never drift with accumulated rounding."""
    return Fraction(fps).limit_denominator(1001)


def sample_at(frame: int, fps: float, sample_rate: int) -> int:
    """How many samples lie before video frame `frame`'s time: floor(frame / fps * rate)."""
    return math.floor(frame * sample_rate / frame_rate(fps))


def frames_covering(samples: int, fps: float, sample_rate: int) -> int:
    """How many video frames start inside `samples` samples (a last partial frame counts)."""
    return math.ceil(samples * frame_rate(fps) / sample_rate)
