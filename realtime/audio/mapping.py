"""From what the music is doing to what the show does: `AudioFeatures` in, `Heard` and `Drive` out.

Pure functions of one features snapshot and the preset's `[audio]` mappings, so the live driver
(`realtime.audio.drive`) and the offline render (`stylevj render --audio`) move the picture the
same way for the same sound. The show never imports this: it receives the commands.

- `heard(features, mappings)` -> `Heard`: what the show publishes (state, OSC feedback), with
  the one onset pulse (`onset`), made here from the analyser's onset events.
- `drive(heard, mappings)` -> `Drive`: a speed boost, a truncation offset and StyleGAN3's
  input translate/rotate offsets on top of the user's base values, and the beat-locked path
  travel (`segments`) when a beat mapping and a tempo exist. It reads only the `Heard`: a
  mapping moves the show by what the show publishes.
- `commands(features, mappings)`: both, as the show's commands (`SetAudioDrive`, `AudioHeard`).
- `mappings_of(settings, has)`: the preset's mappings, or the default mapping when it has none,
  less those the generator cannot act on (translate/rotate on StyleGAN2: one warning).
- `frame_hook(clip, fps, frames, settings, has)`: the render's per-frame hook (features at n / fps).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ..clock import BeatReading
from ..latent import Drive
from ..latent.hearing import ONSET_DECAY, Heard, onset_pulse
from ..params import TABLE
from ..presets import DEFAULT_AUDIO_MAPPINGS, TRANSFORM_TARGETS, AudioMapping, AudioSettings
from ..show.commands import AudioHeard, SetAudioDrive
from .decode import AudioClip
from .soundtrack import Soundtrack
from .features import AudioFeatures
from .offline import frame_features

if TYPE_CHECKING:  # pragma: no cover
    from ..latent import Player

log = logging.getLogger(__name__)


def mappings_of(settings: AudioSettings | None, has: frozenset[str] | None = None) -> tuple[AudioMapping, ...]:
    """The mappings a show uses: the preset's `[[audio.mappings]]`, else the default mapping
    (onsets push the speed, the low band breathes the truncation). `has`: what the generator
    offers of the knobs' `needs` (`models.input_transform.features(G)`); a mapping whose target
    needs more (translate_x, translate_y or rotate on a StyleGAN2 network) is left out with one
    warning naming the targets, as a preset's own translate/rotate values are. None: all kept."""
    if settings is not None and settings.mappings:
        if has is None:
            return settings.mappings
        lacking = [m.target for m in settings.mappings if m.target in TABLE and TABLE[m.target].needs
                   and TABLE[m.target].needs not in has]
        if lacking:
            names = list(dict.fromkeys(lacking))
            log.warning("audio mappings to %s ignored: %s %s", ", ".join(names),
                        "they need" if len(names) > 1 else "it needs", TABLE[names[0]].requirement)
        return tuple(m for m in settings.mappings if m.target not in lacking)
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
    """What one level mapping (not beat) adds now (in the target's units): its feature's
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
    """The show's modulation for these features: per target the sum of its mappings (speed,
    truncation, translate_x and translate_y kept within their knobs' ranges, rotate taken modulo
    360), and the first beat mapping's lock."""
    sums = dict.fromkeys(("speed", "truncation") + TRANSFORM_TARGETS, 0.0)
    locked: float | None = None
    for mapping in mappings:
        if mapping.target in sums:
            sums[mapping.target] += value(mapping, now)
        elif locked is None:
            locked = segments(mapping, now)
    for name in ("speed", "truncation", "translate_x", "translate_y"):  # the knobs' own ranges
        sums[name] = min(max(sums[name], TABLE[name].check.lo), TABLE[name].check.hi)
    sums["rotate"] = math.remainder(sums["rotate"], 360.0)
    return Drive(segments=locked, **sums)


def on_clock(now: Heard, beat: BeatReading | None) -> Heard:
    """`now` with the beat clock's tempo and beat (the show's, whatever its source) in place of
    the analysis's, so beat_phase and beat mappings move on the show's one clock; `now` itself
    while there is no reading."""
    if beat is None:
        return now
    return Heard.within(**{**now.to_json(), "bpm": beat.bpm if beat.running else 0.0,
                           "beat": math.floor(beat.beat), "beat_phase": beat.phase})


def commands(features: AudioFeatures, mappings: tuple[AudioMapping, ...],
             beat: BeatReading | None = None) -> tuple[SetAudioDrive, AudioHeard]:
    """The show's commands for these features: the drive (on the beat clock's `beat` when given),
    and what was heard (the analysis's own tempo and beat: the `audio` clock follows them)."""
    now = heard(features, mappings)
    return SetAudioDrive(drive(on_clock(now, beat), mappings)), AudioHeard(now)


def frame_hook(clip: AudioClip | Soundtrack, fps: float, frames: int, settings: AudioSettings | None,
               has: frozenset[str] | None = None) -> Callable[[int, Player], None]:
    """`render --audio`: a hook that, before frame n, sets the player's drive from the features of
    exactly t = n / fps (`frame_features`, no look-ahead) through the same `drive` as live.
    Frames must be asked for in order 0, 1, 2, ... (as the render does). A `Soundtrack` is
    decoded as the frames are asked for (streaming: memory does not grow with the song).
    `has`: what the generator offers (`mappings_of`)."""
    drives = frame_drives(clip, fps, frames, settings, has)
    expected = 0

    def before_frame(n: int, player: Player) -> None:
        nonlocal expected
        if n != expected:
            raise ValueError(f"audio features are computed in order: frame {expected} is next, not {n}")
        expected += 1
        player.set_drive(next(drives))

    return before_frame


def frame_drives(clip: AudioClip | Soundtrack, fps: float, frames: int, settings: AudioSettings | None,
                 has: frozenset[str] | None = None) -> Iterator[Drive]:
    """The drive of each frame n = 0, 1, ... (features at exactly t = n / fps, through the same
    `drive` as live), yielded in order: the render's hook, and a distributed render's driver, which
    walks the song once and ships the list (the analyser has state: no worker may start it anew).
    `has`: what the generator offers (`mappings_of`)."""
    features = frame_features(clip, fps, frames, bpm=settings.bpm if settings is not None else None)
    mappings = mappings_of(settings, has)
    return (drive(heard(f, mappings), mappings) for f in features)
