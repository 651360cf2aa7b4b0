"""Live controls: named knobs with meaning. Pure tensor math: no threads, no clock, no OSC.

A control is a knob with a range of values. A *direction* control adds value × direction to
chosen W+ rows (directions.py, layer_ranges.py); a *bend* control sets one setting of a network
bend at one block resolution (models/bending.py). Each control keeps a target (what the
performer asked for) and a current value (what is rendered); `advance(dt)` moves current toward
target by at most (high - low) × dt / slew, so `slew` is the seconds a jump across the whole
range takes and a knob jump is spread over that time, never one visual jump (0: instant).

    controls = Controls()
    controls.add(Knob.direction("smile", unit_offset, (-3, 3), slew=0.5))
    controls.set("smile", 1.5)              # target; refused outside the control's range
    controls.advance(1 / 60)                # each frame: current glides toward target
    w = truncated_w + controls.offset()     # the summed offset of every direction control
    G.synthesis(w[None], bend=controls.bends())

The player adds `offset()` to the W+ it produces after truncation, so every consumer of
`Player.current()` (the show, the terminal print, offline renders) sees the same W+.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import torch

from ..checks import Check, within_range
from ..errors import StylevjError
from ..models.bending import EDGES, Bend

BEND_KINDS = ("translate_x", "translate_y", "rotate", "zoom", "flip_x", "flip_y", "gain")
NEUTRAL = {"zoom": 1.0, "gain": 1.0}  # every other bend kind is neutral at 0
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,31}")


def _name_problem(value: str) -> str | None:
    if NAME_RE.fullmatch(value) is None:
        return f"must be a name of letters, digits, '_' or '-' (at most 32, not starting with a digit or '-'), got {value!r}"
    return None


CONTROL_NAME = Check("text", extra=_name_problem, max_length=32)  # also an OSC address segment


def neutral(kind: str | None) -> float:
    """The value at which a control changes nothing: 1 for zoom and gain, else 0."""
    return NEUTRAL.get(kind or "", 0.0)


class ControlError(StylevjError):
    """A control that does not exist, or a value outside its range."""


@dataclass(frozen=True)
class Knob:
    """What a control is: its name, range, slew and effect (a W+ offset per unit, or a bend).

    `source` is what it was made from (a preset's [[controls]] entry), kept so a save can
    write it back; the controls never read it.
    """

    name: str
    low: float
    high: float
    slew: float = 0.0  # seconds for a jump across the whole range (0: instant)
    unit_offset: torch.Tensor | None = field(default=None, repr=False, compare=False)  # [num_ws, w_dim]: value 1's offset
    bend: str | None = None  # one of BEND_KINDS
    resolution: int = 0  # bends: the block resolution
    edge: str = "wrap"  # bends: what shows past the border
    channels: int = 0  # gain bends: the block's channel count
    source: Any = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ControlError(f"control '{self.name}': range must be [low, high] with low < high")
        if not (math.isfinite(self.slew) and self.slew >= 0):
            raise ControlError(f"control '{self.name}': slew must be >= 0 seconds")
        if (self.unit_offset is None) == (self.bend is None):
            raise ControlError(f"control '{self.name}': needs a direction or a bend, not both")
        if self.bend is not None and self.bend not in BEND_KINDS:
            raise ControlError(f"control '{self.name}': bend must be one of {', '.join(BEND_KINDS)}")
        if self.edge not in EDGES:
            raise ControlError(f"control '{self.name}': edge must be one of {', '.join(EDGES)}")
        if self.bend == "zoom" and self.low <= 0:
            raise ControlError(f"control '{self.name}': a zoom range must stay above 0")

    @property
    def kind(self) -> str:
        """'direction' or the bend kind."""
        return self.bend or "direction"

    @property
    def rate(self) -> float:
        """Largest change per second (inf: instant)."""
        return math.inf if self.slew == 0 else (self.high - self.low) / self.slew

    def check(self, value: float) -> float:
        """value as a float, or a ControlError when it is outside the range."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ControlError(f"control '{self.name}' takes a finite number, got {value!r}")
        value = within_range(float(value), self.low, self.high)  # an OSC float32 of an end is that end
        if not self.low <= value <= self.high:
            raise ControlError(f"control '{self.name}' must be within [{self.low:g}, {self.high:g}], got {value:g}")
        return float(value)


@dataclass(frozen=True)
class ControlReading:
    """One control at one frame, for snapshots, the state JSON and saving."""

    name: str
    kind: str
    value: float  # the target
    current: float  # what is rendered now
    low: float
    high: float
    slew: float
    source: Any = field(default=None, compare=False, repr=False)


@dataclass
class _Live:
    knob: Knob
    target: float
    current: float


class Controls:
    """Every control of a show, by name: targets, slew-limited current values, their effect."""

    def __init__(self, knobs: list[Knob] | tuple[Knob, ...] = ()) -> None:
        self._live: dict[str, _Live] = {}
        for knob in knobs:
            self.add(knob)

    def __len__(self) -> int:
        return len(self._live)

    def __contains__(self, name: str) -> bool:
        return name in self._live

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._live)

    def knob(self, name: str) -> Knob:
        return self._get(name).knob

    def _get(self, name: str) -> _Live:
        live = self._live.get(name)
        if live is None:
            known = ", ".join(self._live) or "none"
            raise ControlError(f"no control named '{name}' (controls: {known})")
        return live

    def add(self, knob: Knob, value: float | None = None, current: float | None = None) -> None:
        """Add (or replace) a control at `value` (default: its neutral value clamped into range);
        it is rendered at `current` (default: `value`) and glides to `value` from there."""
        if value is None:
            value = min(max(neutral(knob.bend), knob.low), knob.high)
        value = knob.check(value)
        start = value if current is None else min(max(float(current), knob.low), knob.high)
        self._live[knob.name] = _Live(knob, value, start)

    def remove(self, name: str) -> None:
        del self._live[self._get(name).knob.name]

    def set(self, name: str, value: float) -> None:
        """The control's target (it glides there at its slew); refused outside its range."""
        live = self._get(name)
        live.target = live.knob.check(value)

    def set_unit(self, name: str, amount: float) -> None:
        """The target as a fraction 0..1 of the control's range (for mappings and MIDI)."""
        live = self._get(name)
        amount = within_range(amount, 0.0, 1.0)
        if not 0.0 <= amount <= 1.0:
            raise ControlError(f"control '{name}': a unit amount must be within [0, 1], got {amount:g}")
        knob = live.knob
        live.target = knob.low + amount * (knob.high - knob.low)

    def value(self, name: str) -> float:
        return self._get(name).target

    def current(self, name: str) -> float:
        return self._get(name).current

    def advance(self, dt: float) -> None:
        """dt seconds pass: every current value moves toward its target by at most rate × dt."""
        for live in self._live.values():
            if live.current == live.target:
                continue
            rate = live.knob.rate
            step = math.inf if math.isinf(rate) else rate * max(dt, 0.0)  # inf x 0 would be NaN
            delta = live.target - live.current
            live.current = live.target if abs(delta) <= step else live.current + math.copysign(step, delta)

    def offset(self) -> torch.Tensor | None:
        """The summed W+ offset [num_ws, w_dim] of the direction controls; None when it is zero."""
        total = None
        for live in self._live.values():
            if live.knob.unit_offset is None or live.current == 0.0:
                continue
            unit = live.knob.unit_offset
            part = torch.as_tensor(live.current, dtype=unit.dtype, device=unit.device) * unit
            total = part if total is None else total + part
        return total

    def bends(self) -> tuple[Bend, ...] | None:
        """One frozen Bend per resolution with a bend control away from neutral; None when none is."""
        settings: dict[int, dict] = {}
        edges: dict[int, str] = {}
        for live in self._live.values():
            knob = live.knob
            if knob.bend is None or live.current == neutral(knob.bend):
                continue
            s = settings.setdefault(knob.resolution, {})
            edges.setdefault(knob.resolution, knob.edge)
            v = live.current
            if knob.bend in ("translate_x", "translate_y"):
                x, y = s.get("translate", (0.0, 0.0))
                s["translate"] = (x + v, y) if knob.bend == "translate_x" else (x, y + v)
            elif knob.bend == "rotate":
                s["rotate"] = s.get("rotate", 0.0) + v
            elif knob.bend == "zoom":
                s["zoom"] = s.get("zoom", 1.0) * v
            elif knob.bend == "gain":
                g = s.get("gain", (1.0,) * knob.channels)
                s["gain"] = tuple(x * v for x in g)
            else:  # flips: on from half way
                s[knob.bend] = s.get(knob.bend, False) or v >= 0.5
        if not settings:
            return None
        return tuple(Bend(res, edge=edges[res], **s) for res, s in sorted(settings.items()))

    def readings(self) -> tuple[ControlReading, ...]:
        return tuple(ControlReading(name, live.knob.kind, live.target, live.current, live.knob.low, live.knob.high,
                                    live.knob.slew, live.knob.source) for name, live in self._live.items())
