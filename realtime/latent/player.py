"""The player: where on the path the show is, moved by wall-clock time, edited live.

The show loop calls `advance(dt)` with real elapsed seconds and `current()` for the W+ to
render; nothing here reads a clock or starts a thread. Speed is in keyframes per second, or in
W+ distance per second in constant-speed mode. A closed path loops; an open one plays back and
forth (ping-pong), so the picture never jumps. A frame that passes keyframe 0 yields one "loop"
event. Every path has a defined motion: a constant-speed path of no length (its keyframes all
one W+) holds still, and a speed converted between the two modes stays within SPEED.

Live edits (add, remove, replace, move, path settings) rebuild the path and fade the difference
out: right after an edit the picture continues from where it was, and the offset between the
old curve and the new one decays with a smoothstep over at least `blend` seconds, longer when
the offset is large, so the per-frame W+ step stays within about twice the normal step.

A `Drive` (the music, `set_drive`) modulates on top of the knobs: a speed boost and a truncation
offset added to the base values, which stay what the user set (and what a preset saves), and an
optional beat lock that sets the travel from a beat clock so keyframes land on the beats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from ..checks import CheckError, Checked, checked, integer, integers, number
from ..models.generator import truncate
from ..params import TABLE, Params, table_field
from .controls import Controls
from .keyframes import Keyframe
from .paths import ArcLength, CatmullRomPath, LinearPath, Path

MAX_FADE_SECONDS = 20.0
MIN_SPAN = 1e-6  # W+ distance: a constant-speed path shorter than this is one point, nothing to travel
SPEED_FLOOR = 0.01  # keyframes/s: scaling the speed below this stops it (never a creeping 1e-40)
SPEED_START = 0.05  # keyframes/s: scaling the speed up from a stop starts here

# The knobs' ranges live in the parameter table (realtime/params.py); these are its checks.
SPEED = TABLE["speed"].check  # keyframes (or W+ distance) per second; negative plays backwards
TRUNCATION = TABLE["truncation"].check  # psi toward w_avg, applied after interpolation
POSITION = number(-1e6, 1e6)  # keyframe units
TRANSLATE_X, TRANSLATE_Y = TABLE["translate_x"].check, TABLE["translate_y"].check  # picture widths


@dataclass(frozen=True)
class PathSettings(Checked):
    """How keyframes become a path. blend: shortest fade after an edit, in seconds."""

    spline: str = table_field("spline")
    alpha: float = table_field("alpha")
    closed: bool = table_field("closed")
    constant_speed: bool = table_field("constant_speed")
    blend: float = table_field("blend")

    @classmethod
    def of(cls, params: Params) -> PathSettings:
        """The path settings a `Params` holds."""
        return cls(params.spline, params.alpha, params.closed, params.constant_speed, params.blend)


def _ordered(layers: tuple[int, int]) -> str | None:
    return None if layers[0] <= layers[1] else f"must satisfy 0 <= first <= last, got {list(layers)}"


@dataclass(frozen=True)
class StyleMix(Checked):
    """Take W+ rows first..last (inclusive) from keyframe `keyframe`: coarse/middle/fine styles."""

    keyframe: int = checked(integer(0, 100_000), doc="keyframe whose rows are taken")
    layers: tuple[int, int] = checked(integers(2, 0, 1000, extra=_ordered), doc="[first, last] W+ rows")

    @property
    def first(self) -> int:
        return self.layers[0]

    @property
    def last(self) -> int:
        return self.layers[1]


@dataclass(frozen=True)
class Drive(Checked):
    """Modulation on top of the knobs (the music): removed (`Drive()`), the show is back on its base
    speed, truncation and StyleGAN3 input transform, so a knob and the modulation never fight over
    one value. The player acts on speed, truncation and segments; the transform's offsets are
    read by whoever draws (`transform`: the show loop and the render)."""

    speed: float = checked(SPEED, 0.0, "added to the speed along the direction of play")
    truncation: float = checked(TRUNCATION, 0.0, "added to the truncation (the sum kept within its range)")
    segments: float | None = checked(number(-1e9, 1e9, optional=True), None,
                                     "beat lock: path segments travelled by the beat clock (None: free running)")
    translate_x: float = checked(TABLE["translate_x"].check, 0.0, "added to StyleGAN3's input translate_x")
    translate_y: float = checked(TABLE["translate_y"].check, 0.0, "added to StyleGAN3's input translate_y")
    rotate: float = checked(TABLE["rotate"].check, 0.0, "added to StyleGAN3's input rotate (degrees)")

    def transform(self, knobs: tuple[float, float, float]) -> tuple[float, float, float]:
        """StyleGAN3's input transform drawn: the knobs' (translate_x, translate_y, rotate) plus
        this drive's, each translation kept within its knob's range and the turn taken modulo
        360 (a turn of 370 degrees is one of 10). The live show (on its gliding knobs) and
        `render --audio` (on the preset's) both draw through this, so a song time gives one
        transform. Without a transform drive the knobs come back unchanged."""
        x, y, turn = knobs
        if self.translate_x:
            x = min(max(x + self.translate_x, TRANSLATE_X.lo), TRANSLATE_X.hi)
        if self.translate_y:
            y = min(max(y + self.translate_y, TRANSLATE_Y.lo), TRANSLATE_Y.hi)
        if self.rotate:
            turn = math.remainder(turn + self.rotate, 360.0)
        return x, y, turn


def _check(name: str, check, value):
    """value through check, with the knob's name in the error."""
    try:
        return check(value)
    except CheckError as exc:
        raise CheckError(f"{name} {exc}") from None


def build_path(points: torch.Tensor | Sequence[torch.Tensor], settings: PathSettings, previous: Path | None = None) -> Path:
    """The path the settings ask for through `points` ([K, num_ws, w_dim] or K tensors). With
    `previous` (the path before an edit) of the same kind, every unchanged segment is kept: an
    edit costs the few segments around it, never all of them (`Path.edited`)."""
    linear = settings.spline == "linear"
    if isinstance(previous, LinearPath) if linear else (
            isinstance(previous, CatmullRomPath) and previous.alpha == settings.alpha):
        return previous.edited(points, closed=settings.closed)
    if linear:
        return LinearPath(points, closed=settings.closed)
    return CatmullRomPath(points, alpha=settings.alpha, closed=settings.closed)


def smoothstep(x: float) -> float:
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass
class _Fade:
    """An offset (old curve minus new curve at the edit) fading to zero."""

    offset: torch.Tensor
    start: float
    duration: float

    def weight(self, clock: float) -> float:
        if self.duration <= 0:
            return 0.0
        return 1.0 - smoothstep((clock - self.start) / self.duration)


class Player:
    """Position, speed and keyframes of a live show; `current()` is the W+ to render now."""

    def __init__(
        self, keyframes: list[Keyframe], w_avg: torch.Tensor, settings: PathSettings = PathSettings(),
        speed: float = 0.25, truncation: float = 1.0, mix: StyleMix | None = None, position: float = 0.0,
        controls: Controls | None = None, num_ws: int | None = None,
    ) -> None:
        """num_ws: W+ rows, needed only when starting without keyframes (the average face holds)."""
        if not keyframes and num_ws is None:
            raise ValueError("a player without keyframes needs num_ws (the generator's W+ rows)")
        self.w_avg = w_avg.float()
        self.controls = controls if controls is not None else Controls()  # knobs, added after truncation
        self.settings = settings
        self.speed = _check("speed", SPEED, speed)
        self._direction = -1.0 if self.speed < 0 else 1.0  # the way Up starts a stopped show (scale_speed)
        self.truncation = _check("truncation", TRUNCATION, truncation)
        self.mix = mix
        self.paused = False
        self.drive = Drive()
        self._lock: int | None = None  # beat lock: keyframe travel = drive.segments + this whole number
        self._keyframes: list[Keyframe] = [kf.to(self.w_avg.device) for kf in keyframes]
        self._clock = 0.0
        self._phase = 0.0  # unwrapped travel: keyframe units, or W+ distance in constant-speed mode
        self._fades: list[_Fade] = []
        rows = keyframes[0].w.shape[0] if keyframes else num_ws
        self._hold = self.w_avg.expand(rows, -1).clone()  # shown when there are no keyframes
        self._path: Path | None = None
        self._rebuild()
        if self._path is not None:
            self._phase = self._phase_of_time(position)
            self._hold = self._path.evaluate(self.position)[0]

    # ---- what is shown -------------------------------------------------------------------

    @property
    def keyframes(self) -> tuple[Keyframe, ...]:
        return tuple(self._keyframes)

    @property
    def position(self) -> float:
        """Keyframe time now: t = i + u between keyframe i and i+1."""
        return self._time_of_phase(self._phase)

    @property
    def path(self) -> Path | None:
        return self._path

    def raw(self) -> torch.Tensor:
        """The interpolated W+ [num_ws, w_dim] with style mixing, before truncation."""
        if self._path is None:
            w = self._hold.clone()
        else:
            w = self._path.evaluate(self.position)[0]
        for fade in self._fades:
            w = w + fade.weight(self._clock) * fade.offset
        return self._mixed(w)

    def current(self) -> torch.Tensor:
        """The W+ to render now: interpolated, mixed, truncated toward w_avg, plus the controls' offset."""
        w = truncate(self.raw(), self.w_avg, self.driven_truncation)
        offset = self.controls.offset()  # None while no direction control is away from 0: no extra work
        return w if offset is None else w + offset.to(w.device, w.dtype)

    @property
    def driven_truncation(self) -> float:
        """The truncation rendered: the base plus the drive's offset, within TRUNCATION."""
        return min(max(self.truncation + self.drive.truncation, TRUNCATION.lo), TRUNCATION.hi)

    @property
    def driven_speed(self) -> float:
        """The speed played: the base plus the drive's boost along the direction of play."""
        return self.speed + (-self.drive.speed if self.speed < 0 else self.drive.speed)

    def sample(self, times: torch.Tensor) -> torch.Tensor:
        """W+ at keyframe times [N] as the show would render them (no edit fades): [N, num_ws, w_dim]."""
        if self._path is None:
            return truncate(self._hold.expand(len(times), -1, -1), self.w_avg, self.driven_truncation)
        return truncate(self._mixed(self._path.evaluate(times)), self.w_avg, self.driven_truncation)

    def _mixed(self, w: torch.Tensor) -> torch.Tensor:
        """Rows first..last of W+ taken from the mix keyframe (w: [..., num_ws, w_dim])."""
        if self.mix is None or not 0 <= self.mix.keyframe < len(self._keyframes):
            return w
        rows = slice(self.mix.first, self.mix.last + 1)
        w = w.clone()
        w[..., rows, :] = self._keyframes[self.mix.keyframe].w[rows]
        return w

    # ---- time ----------------------------------------------------------------------------

    def advance(self, dt: float) -> list[str]:
        """Move by dt seconds of wall clock; returns events: ["loop"] when the position passed
        keyframe 0 during dt (once, however many times: the work and the events of a frame
        never grow with the speed or with how short the path is), else [].

        The controls glide too, paused or not (a knob turned during a pause still moves)."""
        self._clock += dt
        self.controls.advance(dt)
        self._fades = [f for f in self._fades if f.weight(self._clock) > 0.0]
        if self.paused or self._path is None or self._period <= 0:
            return []
        before = math.floor(self._phase / self._period)
        if self.drive.segments is not None:
            self._follow_beat(self.drive.segments)
        else:
            self._phase += self.driven_speed * dt
        after = math.floor(self._phase / self._period)
        return ["loop"] if after != before else []  # crossed a multiple of the period, either way

    def play(self) -> None:
        self.paused = False

    def set_drive(self, drive: Drive) -> None:
        """Modulate speed and truncation on top of their base values, or lock the position to a
        beat clock (`drive.segments`); `Drive()` removes every modulation. The drive is kept
        whole (`self.drive`): its transform offsets are read by whoever draws the frame."""
        if drive.segments is None:
            self._lock = None
        self.drive = drive

    def _follow_beat(self, segments: float) -> None:
        """Beat lock: keyframe travel = segments + a whole number, so keyframes land where the
        beat clock is whole. The whole number is chosen (with a fade) when the lock starts, and
        again whenever the picture is more than half a segment away (a pause, a goto, an edit)."""
        travel = self._travel_of_phase(self._phase)
        if self._lock is None or abs(segments + self._lock - travel) > 0.5:
            before = self.raw()
            self._lock = round(travel - segments)
            self._phase = self._phase_of_travel(segments + self._lock)
            self._start_fade(before)
        else:
            self._phase = self._phase_of_travel(segments + self._lock)

    def pause(self) -> None:
        self.paused = True

    def set_speed(self, speed: float) -> None:
        """Keyframes per second (W+ distance/s in constant-speed mode); refused outside SPEED."""
        self.speed = _check("speed", SPEED, speed)
        if self.speed:
            self._direction = math.copysign(1.0, self.speed)

    def scale_speed(self, factor: float) -> None:
        """Multiply the speed (arrow keys, OSC speed/scale), kept within SPEED and with a floor:
        slowing below SPEED_FLOOR keyframes/s stops, and speeding up from below it starts at
        SPEED_START in the direction last played, so a held key never leaves a speed of 1e-40
        that sixty presses cannot bring back. In constant-speed mode both are the same pace in W+."""
        if not (math.isfinite(factor) and factor > 0):
            raise CheckError(f"speed factor must be a positive number, got {factor}")
        floor, magnitude = self._pace(SPEED_FLOOR), abs(self.speed)
        if factor > 1 and magnitude < floor:
            magnitude = self._pace(SPEED_START)
        elif factor < 1 and magnitude * factor < floor:
            magnitude = 0.0
        else:
            magnitude *= factor
        self.set_speed(self._direction * min(magnitude, SPEED.hi))

    def goto(self, t: float) -> None:
        """Jump to keyframe time t, with a cross-fade of `blend` seconds (a deliberate move)."""
        if self._path is None:
            return
        before = self.raw()
        self._phase = self._phase_of_time(t)
        self._start_fade(before)

    def seek(self, t: float) -> None:
        """Put the position at keyframe time t with no fade (cue timing, offline renders)."""
        if self._path is not None:
            self._phase = self._phase_of_time(t)

    def goto_keyframe(self, index: int) -> None:
        self.goto(float(self._check_index(index)))

    # ---- edits ---------------------------------------------------------------------------

    def add(self, keyframe: Keyframe, index: int | None = None) -> int:
        """Insert before `index` (append by default); returns the new keyframe's index."""
        index = len(self._keyframes) if index is None else index
        if not 0 <= index <= len(self._keyframes):
            raise IndexError(f"keyframe index {index} out of range 0..{len(self._keyframes)}")
        keyframe = keyframe.to(self.w_avg.device)
        self._edit(lambda kfs: kfs.insert(index, keyframe), lambda i: i + 1 if index <= i else i)
        return index

    def extend(self, keyframes: list[Keyframe]) -> int:
        """Append keyframes with one path rebuild (a burst of additions); returns the first new index."""
        first = len(self._keyframes)
        if keyframes:
            added = [kf.to(self.w_avg.device) for kf in keyframes]
            self._edit(lambda kfs: kfs.extend(added), lambda i: i)
        return first

    def remove(self, index: int) -> Keyframe:
        """Remove a keyframe; leaving it, the path continues from the one before."""
        index = self._check_index(index)
        removed = self._keyframes[index]
        self._edit(lambda kfs: kfs.pop(index), lambda i: i - 1 if index <= i else i)
        return removed

    def replace(self, index: int, keyframe: Keyframe) -> None:
        index = self._check_index(index)
        keyframe = keyframe.to(self.w_avg.device)
        self._edit(lambda kfs: kfs.__setitem__(index, keyframe), lambda i: i)

    def move(self, source: int, target: int) -> None:
        """Move keyframe `source` to position `target` (the others keep their order)."""
        source, target = self._check_index(source), self._check_index(target)
        order = list(range(len(self._keyframes)))
        order.insert(target, order.pop(source))
        self._edit(lambda kfs: kfs.insert(target, kfs.pop(source)), order.index)

    def clear(self) -> None:
        """Remove every keyframe; the last picture holds until one is added."""
        self._hold = self.raw()
        self._keyframes.clear()
        self._fades.clear()
        self._rebuild()

    def set_path_settings(self, settings: PathSettings) -> None:
        self._edit(lambda kfs: None, lambda i: i, settings)

    def set_truncation(self, psi: float) -> None:
        """Truncation toward w_avg after interpolation; refused outside TRUNCATION."""
        self.truncation = _check("truncation", TRUNCATION, psi)

    def set_mix(self, mix: StyleMix | None) -> None:
        self.mix = mix

    # ---- machinery -----------------------------------------------------------------------

    def _check_index(self, index: int) -> int:
        if not 0 <= index < len(self._keyframes):
            raise IndexError(f"keyframe index {index} out of range 0..{len(self._keyframes) - 1}")
        return index

    def _edit(self, change, remap, settings: PathSettings | None = None) -> None:
        """Apply `change` to the keyframe list and keep our place: the segment we were in
        starts at keyframe i, which is at remap(i) afterwards; then fade out the difference."""
        before = self.raw()
        old_rate = self._rate_ahead(0.0)
        t = self.position
        i = int(math.floor(t)) if self._path is not None else 0
        was_distance = self.settings.constant_speed
        change(self._keyframes)
        if settings is not None:
            self.settings = settings
        self._rebuild()
        if self._path is None:
            self._hold = before
            self._fades.clear()
            return
        self._phase = self._phase_of_time(remap(i) + (t - i))
        if self.settings.constant_speed != was_distance:
            self.speed = self._convert_speed(self.speed, to_distance=self.settings.constant_speed)
        self._start_fade(before, old_rate)

    def _start_fade(self, before: torch.Tensor, old_rate: float | None = None) -> None:
        """Fade from `before` to the curve now. With old_rate (W+/s before an edit), the fade
        is long enough that its own motion never exceeds the slower of the normal rates ahead,
        so a frame's step stays within about twice the normal step; without, it lasts `blend`."""
        offset = before - self.raw()
        gap = float(offset.norm())
        if gap == 0.0:
            return
        duration = self.settings.blend
        if old_rate is not None:
            for _ in range(3):  # the window ahead depends on the duration: settle it
                rate = max(old_rate, self._rate_ahead(duration))
                if rate <= 0.0:
                    break
                duration = min(max(self.settings.blend, 1.5 * gap / rate), MAX_FADE_SECONDS)
        self._fades.append(_Fade(offset, self._clock, duration))

    def _rate_ahead(self, seconds: float, samples: int = 16) -> float:
        """Slowest W+ distance per second on the curve over the next `seconds` (0: here)."""
        if self.paused or self._path is None:
            return 0.0
        if self.settings.constant_speed:
            return abs(self.speed)
        ahead = torch.linspace(0.0, seconds, samples if seconds > 0 else 1).tolist()
        times = torch.tensor([self._time_of_phase(self._phase + self.speed * s) for s in ahead], dtype=torch.float64)
        return abs(self.speed) * float(self._path.velocity(times).flatten(1).norm(dim=1).min())

    def _convert_speed(self, speed: float, to_distance: bool) -> float:
        """Keep the average pace when switching constant-speed mode on or off, within SPEED.
        A path of no length (shorter than MIN_SPAN) has no pace to keep: the number stays."""
        if self._path is None or self._path.length <= 0:
            return speed
        total = (self._arc or ArcLength(self._path)).total  # the path keeps its segments' tables
        if total < MIN_SPAN:
            return speed
        mean_chord = total / self._path.length
        converted = speed * mean_chord if to_distance else speed / mean_chord
        return min(max(converted, SPEED.lo), SPEED.hi)

    def _pace(self, keyframes_per_second: float) -> float:
        """A pace given in keyframes/s in the speed's current unit (W+ distance/s in constant-speed mode)."""
        if not self.settings.constant_speed:
            return keyframes_per_second
        return self._convert_speed(keyframes_per_second, to_distance=True)

    def _rebuild(self) -> None:
        if not self._keyframes:
            self._path, self._arc, self._period = None, None, 0.0
            return
        # Only the segments around the edit are computed again (the path keeps the rest), and
        # the keyframes are never stacked: an edit on the render thread costs the same at 1,000.
        self._path = build_path([kf.w for kf in self._keyframes], self.settings, self._path)
        self._arc = ArcLength(self._path) if self.settings.constant_speed else None
        span = self._arc.total if self._arc is not None else self._path.length
        if self._arc is not None and span < MIN_SPAN:
            span = 0.0  # one point (its keyframes all one W+): holds still, never loops 1e12 times a frame
        self._period = span if self.settings.closed else 2.0 * span

    def _time_of_phase(self, phase: float) -> float:
        if self._path is None or self._period <= 0:
            return 0.0
        p = phase % self._period
        if not self.settings.closed and p > self._period / 2:  # ping-pong: coming back
            p = self._period - p
        if self._arc is not None:
            return float(self._arc.time_at(p)[0])
        return p

    def _travel_of_phase(self, phase: float) -> float:
        """Unwrapped keyframe time travelled at `phase` (both legs of a ping-pong count)."""
        length, legs = self._path.length, 1 if self.settings.closed else 2
        cycle = math.floor(phase / self._period)
        back = not self.settings.closed and phase - cycle * self._period > self._period / 2
        t = self._time_of_phase(phase)
        return cycle * legs * length + (2 * length - t if back else t)

    def _phase_of_travel(self, travel: float) -> float:
        """The phase that has travelled `travel` keyframe units (inverse of _travel_of_phase)."""
        length, legs = self._path.length, 1 if self.settings.closed else 2
        cycle = math.floor(travel / (legs * length))
        r = travel - cycle * legs * length
        def distance(t: float) -> float:
            return float(self._arc.distance_at(t)[0]) if self._arc is not None else t
        p = distance(r) if r <= length else self._period - distance(2 * length - r)
        return cycle * self._period + p

    def _phase_of_time(self, t: float) -> float:
        """The phase for keyframe time t in the current cycle (forward leg when open)."""
        if self._path is None:
            return 0.0
        t = t % self._path.length if self.settings.closed and self._path.length > 0 else min(max(t, 0.0), self._path.length)
        p = float(self._arc.distance_at(t)[0]) if self._arc is not None else t
        cycle = math.floor(self._phase / self._period) * self._period if self._period > 0 else 0.0
        return cycle + p
