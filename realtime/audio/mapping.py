"""From what the music is doing to what the show does: `AudioFeatures` in, show commands out.

Pure functions of one features snapshot and the preset's `[audio]` mappings, so the live driver
(`realtime.audio.drive`) and the offline render (`stylevj render --audio`) move the picture the
same way for the same sound. The show never imports this: it receives the commands.

- `drive(features, mappings)` -> `SetAudioDrive`: a speed boost and a truncation offset on top of
  the user's base values, and the beat-locked path travel (`segments`) when a beat mapping and
  a tempo exist.
- `heard(features)` -> `AudioHeard`: the features the show publishes (state, OSC feedback).
- `mappings_of(settings)`: the preset's mappings, or the default mapping when it has none.
- `frame_hook(clip, fps, frames, settings)`: the render's per-frame hook (features at n / fps).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..latent import SPEED, TRUNCATION
from ..presets import DEFAULT_AUDIO_MAPPINGS, AudioMapping, AudioSettings
from ..show.commands import AudioHeard, SetAudioDrive
from .decode import AudioClip
from .features import AudioFeatures
from .offline import frame_features

if TYPE_CHECKING:  # pragma: no cover
    from ..latent import Player


def mappings_of(settings: AudioSettings | None) -> tuple[AudioMapping, ...]:
    """The mappings a show uses: the preset's `[[audio.mappings]]`, else the default mapping
    (onsets push the speed, the low band breathes the truncation)."""
    if settings is not None and settings.mappings:
        return settings.mappings
    return DEFAULT_AUDIO_MAPPINGS


def shape(x: float, curve: str) -> float:
    """A 0..1 value through a curve: linear, square (calm until loud), sqrt (eager), smooth."""
    x = min(max(x, 0.0), 1.0)
    if curve == "square":
        return x * x
    if curve == "sqrt":
        return math.sqrt(x)
    if curve == "smooth":
        return x * x * (3.0 - 2.0 * x)
    return x


def pulse(features: AudioFeatures, decay: float) -> float:
    """1 at the newest onset event, then exp(-age / decay); 0 before the first onset."""
    if features.last_onset_time is None:
        return 0.0
    age = max(features.time - features.last_onset_time, 0.0)
    return math.exp(-age / decay)


def value(mapping: AudioMapping, features: AudioFeatures) -> float:
    """What one speed/truncation mapping adds now (in the target's units)."""
    if mapping.feature == "onset":
        return mapping.amount * shape(pulse(features, mapping.decay), mapping.curve)
    lo, hi = mapping.range
    x = (float(getattr(features, mapping.feature)) - lo) / (hi - lo)
    return mapping.amount * shape(x, mapping.curve)


def segments(mapping: AudioMapping, features: AudioFeatures) -> float | None:
    """Beat lock: path segments travelled by the beat clock (one per `every` beats), or None
    while the tempo is unknown (the path then runs freely)."""
    if features.bpm is None:
        return None
    return features.beat_position / mapping.every


def drive(features: AudioFeatures, mappings: tuple[AudioMapping, ...]) -> SetAudioDrive:
    """The show's modulation for these features: the sum of the speed mappings, the sum of the
    truncation mappings (each kept within its knob's range), and the first beat mapping's lock."""
    speed = truncation = 0.0
    locked: float | None = None
    for mapping in mappings:
        if mapping.target == "speed":
            speed += value(mapping, features)
        elif mapping.target == "truncation":
            truncation += value(mapping, features)
        elif locked is None:
            locked = segments(mapping, features)
    return SetAudioDrive(speed=min(max(speed, SPEED.lo), SPEED.hi),
                         truncation=min(max(truncation, TRUNCATION.lo), TRUNCATION.hi), segments=locked)


def heard(features: AudioFeatures) -> AudioHeard:
    """The features as the show publishes them (ShowState.audio, `/stylevj/audio/...`)."""
    def unit(x: float) -> float:
        return 0.0 if not math.isfinite(x) else min(max(float(x), 0.0), 1.0)

    return AudioHeard(level=unit(features.level), onset=unit(features.onset), low=unit(features.low),
                      mid=unit(features.mid), high=unit(features.high),
                      bpm=0.0 if features.bpm is None else min(max(float(features.bpm), 0.0), 400.0),
                      beat_phase=unit(features.beat_phase), beat=max(int(features.beat_count), 0))


def frame_hook(clip: AudioClip, fps: float, frames: int, settings: AudioSettings | None) -> Callable[[int, Player], None]:
    """`render --audio`: a hook that, before frame n, sets the player's drive from the features of
    exactly t = n / fps (`frame_features`, no look-ahead) through the same `drive` as live.
    Frames must be asked for in order 0, 1, 2, ... (as the render does)."""
    features = frame_features(clip, fps, frames, bpm=settings.bpm if settings is not None else None)
    mappings = mappings_of(settings)
    expected = 0

    def before_frame(n: int, player: Player) -> None:
        nonlocal expected
        if n != expected:
            raise ValueError(f"audio features are computed in order: frame {expected} is next, not {n}")
        expected += 1
        player.set_drive(drive(next(features), mappings).as_drive())

    return before_frame
