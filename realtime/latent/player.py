"""The player: where on the path the show is, moved by wall-clock time, edited live.

The show loop calls `advance(dt)` with real elapsed seconds and `current()` for the W+ to
render; nothing here reads a clock or starts a thread. Speed is in keyframes per second, or in
W+ distance per second in constant-speed mode. A closed path loops; an open one plays back and
forth (ping-pong), so the picture never jumps. Each pass over keyframe 0 yields a "loop" event.

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

import torch

from ..checks import FLAG, CheckError, Checked, checked, choice, integer, integers, number
from ..models.generator import truncate
from .controls import Controls
from .keyframes import Keyframe
from .paths import ArcLength, CatmullRomPath, LinearPath, Path

SPLINES = ("catmull-rom", "linear")
MAX_FADE_SECONDS = 20.0

# The ranges of the show's knobs, declared once: presets, commands, OSC and the page use these.
SPEED = number(-1000, 1000)  # keyframes (or W+ distance) per second; negative plays backwards
TRUNCATION = number(-2, 2)  # psi toward w_avg, applied after interpolation
POSITION = number(-1e6, 1e6)  # keyframe units


@dataclass(frozen=True)
class PathSettings(Checked):
    """How keyframes become a path. blend: shortest fade after an edit, in seconds."""

    spline: str = checked(choice(SPLINES), "catmull-rom", "path kind")
    alpha: float = checked(number(0, 1), 0.5, "Catmull-Rom alpha: 0 uniform, 0.5 centripetal, 1 chordal")
    closed: bool = checked(FLAG, True, "loop (true) or play back and forth (false)")
    constant_speed: bool = checked(FLAG, False, "speed is W+ distance per second")
    blend: float = checked(number(0, 60), 0.5, "seconds to melt into the new path after a live edit")


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
    speed and truncation, so a knob and the modulation never fight over one value."""

    speed: float = checked(SPEED, 0.0, "added to the speed along the direction of play")
    truncation: float = checked(TRUNCATION, 0.0, "added to the truncation (the sum kept within its range)")
    segments: float | None = checked(number(-1e9, 1e9, optional=True), None,
                                     "beat lock: path segments travelled by the beat clock (None: free running)")


def _check(name: str, check, value):
    """value through check, with the knob's name in the error."""
    try:
        return check(value)
    except CheckError as exc:
        raise CheckError(f"{name} {exc}") from None


def build_path(points: torch.Tensor, settings: PathSettings) -> Path:
    if settings.spline == "linear":
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
        """Move by dt seconds of wall clock; returns events ("loop" per pass over keyframe 0).

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
        return ["loop"] * abs(after - before)  # crossing a multiple of the period, either way

    def play(self) -> None:
        self.paused = False

    def set_drive(self, drive: Drive) -> None:
        """Modulate speed and truncation on top of their base values, or lock the position to a
        beat clock (`drive.segments`); `Drive()` removes every modulation."""
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
        """Keep the average pace when switching constant-speed mode on or off."""
        if self._path is None or self._path.length <= 0:
            return speed
        mean_chord = ArcLength(self._path).total / self._path.length
        return speed * mean_chord if to_distance else speed / max(mean_chord, 1e-12)

    def _rebuild(self) -> None:
        if not self._keyframes:
            self._path, self._arc, self._period = None, None, 0.0
            return
        points = torch.stack([kf.w for kf in self._keyframes])
        self._path = build_path(points, self.settings)
        self._arc = ArcLength(self._path) if self.settings.constant_speed else None
        span = self._arc.total if self._arc is not None else self._path.length
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
