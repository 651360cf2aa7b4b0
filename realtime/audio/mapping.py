"""From what the music is doing to what the show does: `AudioFeatures` in, `Heard` and `Drive` out.

Pure functions of one features snapshot and the preset's `[audio]` mappings, so the live driver
(`realtime.audio.drive`) and the offline render (`stylevj render --audio`) move the picture the
same way for the same sound. The show never imports this: it receives the commands.

- `heard(features, mappings)` -> `Heard`: what the show publishes (state, OSC feedback), with
  the one onset pulse (`onset`), made here from the analyser's onset events.
- `drive(heard, mappings)` -> `Drive`: a speed boost and a truncation offset on top of the
  user's base values, and the beat-locked path travel (`segments`) when a beat mapping and a
  tempo exist. It reads only the `Heard`: a mapping moves the show by what the show publishes.
- `commands(features, mappings)`: both, as the show's commands (`SetAudioDrive`, `AudioHeard`).
- `mappings_of(settings)`: the preset's mappings, or the default mapping when it has none.
- `frame_hook(clip, fps, frames, settings)`: the render's per-frame hook (features at n / fps).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..latent import SPEED, TRUNCATION, Drive
from ..latent.hearing import ONSET_DECAY, Heard, onset_pulse
from ..presets import DEFAULT_AUDIO_MAPPINGS, AudioMapping, AudioSettings
from ..show.commands import AudioHeard, SetAudioDrive
from .decode import AudioClip
from .soundtrack import Soundtrack
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


def onset_decay(mappings: tuple[AudioMapping, ...]) -> float:
    """Seconds for the onset pulse to fall to 37 %: the onset mappings' `decay` (a preset's
    onset mappings share one: `AudioSettings` checks it), else the default."""
    return next((m.decay for m in mappings if m.feature == "onset"), ONSET_DECAY)


def heard(features: AudioFeatures, mappings: tuple[AudioMapping, ...]) -> Heard:
    """What the show publishes of these features (ShowState.audio, `/stylevj/audio/...`): every
    field of `Heard` read by name from the analyser's snapshot, brought into its range, and
    `onset` the one onset pulse (1 at the newest onset event, decaying with `onset_decay`)."""
    last = features.last_onset_time
    pulse = onset_pulse(None if last is None else features.time - last, onset_decay(mappings))
    measured = {name: getattr(features, name) for name in Heard.names() if name != "onset"}
    return Heard.within(**measured, onset=pulse)


def value(mapping: AudioMapping, now: Heard) -> float:
    """What one speed/truncation mapping adds now (in the target's units): its feature's
    `range` stretched to 0..1, shaped by `curve`, times `amount`."""
    lo, hi = mapping.range
    x = (float(getattr(now, mapping.feature)) - lo) / (hi - lo)
    return mapping.amount * shape(x, mapping.curve)


def segments(mapping: AudioMapping, now: Heard) -> float | None:
    """Beat lock: path segments travelled by the beat clock (one per `every` beats), or None
    while the tempo is unknown (bpm 0: the path then runs freely)."""
    if now.bpm <= 0:
        return None
    return now.beat_position / mapping.every


def drive(now: Heard, mappings: tuple[AudioMapping, ...]) -> Drive:
    """The show's modulation for these features: the sum of the speed mappings, the sum of the
    truncation mappings (each kept within its knob's range), and the first beat mapping's lock."""
    speed = truncation = 0.0
    locked: float | None = None
    for mapping in mappings:
        if mapping.target == "speed":
            speed += value(mapping, now)
        elif mapping.target == "truncation":
            truncation += value(mapping, now)
        elif locked is None:
            locked = segments(mapping, now)
    return Drive(speed=min(max(speed, SPEED.lo), SPEED.hi),
                 truncation=min(max(truncation, TRUNCATION.lo), TRUNCATION.hi), segments=locked)


def commands(features: AudioFeatures, mappings: tuple[AudioMapping, ...]) -> tuple[SetAudioDrive, AudioHeard]:
    """The show's commands for these features: the drive, and what was heard."""
    now = heard(features, mappings)
    return SetAudioDrive(drive(now, mappings)), AudioHeard(now)


def frame_hook(clip: AudioClip | Soundtrack, fps: float, frames: int, settings: AudioSettings | None) -> Callable[[int, Player], None]:
    """`render --audio`: a hook that, before frame n, sets the player's drive from the features of
    exactly t = n / fps (`frame_features`, no look-ahead) through the same `drive` as live.
    Frames must be asked for in order 0, 1, 2, ... (as the render does). A `Soundtrack` is
    decoded as the frames are asked for (streaming: memory does not grow with the song)."""
    features = frame_features(clip, fps, frames, bpm=settings.bpm if settings is not None else None)
    mappings = mappings_of(settings)
    expected = 0

    def before_frame(n: int, player: Player) -> None:
        nonlocal expected
        if n != expected:
            raise ValueError(f"audio features are computed in order: frame {expected} is next, not {n}")
        expected += 1
        player.set_drive(drive(heard(next(features), mappings), mappings))

    return before_frame
