"""The show's parameters, declared once: every live knob with its type, range, unit and default.

Each `Param` says what the knob is (name, check, default, unit, one-line doc), how it moves
(`slew`: seconds a jump across its whole range takes; 0 is instant), and where it is reachable:
whether presets save it (`saved`, at `preset` = "section.key"), whether MIDI may learn it
(`learnable`). Everything else derives from this table: presets read and write by walking it,
the OSC address of a knob is `/stylevj/<name>` unless it says otherwise (`stylevj osc list`), the operator page builds
its sliders from `GET /api/params`, `/stylevj/state` reports `params.<name>`, the journal keeps
the saved ones, and `stylevj run --set NAME=VALUE` sets any of them at start.

The live values are one frozen `Params`: a change makes a new value (`params.replace(...)`),
checked against the table, so a value handed to another thread can never change under it.

To add a knob: one `Param` here, its one use (read `params.<name>` where it acts), and tests.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from .checks import FLAG, Check, CheckError, checked, choice, number
from .choices import CLOCK_SOURCES, NOISE_MODES

SPLINES = ("catmull-rom", "linear")


@dataclass(frozen=True)
class Param:
    """One knob of the show. Its range lives in `check` and nowhere else."""

    name: str  # one name everywhere: OSC /stylevj/<name>, state params.<name>, --set <name>=...
    check: Check
    default: Any
    doc: str
    unit: str = ""
    slew: float = 0.0  # seconds a jump across the whole range glides over; 0: instant
    saved: bool = True  # presets (and so the journal) keep it
    learnable: bool = True  # MIDI learn may map a controller to it
    preset: str = ""  # "section.key" in a preset file; "" when not saved
    address: str = ""  # the OSC address after /stylevj/ when it is not the name ("overlay/gpu")
    needs: str = ""  # what the generator must have for the knob to act (a key of NEEDS); "": any

    @property
    def requirement(self) -> str:
        """What the knob needs, in words ("a StyleGAN3 network"), or "" when any generator will do."""
        return NEEDS.get(self.needs, "")

    @property
    def osc(self) -> str:
        """The knob's OSC address."""
        return "/stylevj/" + (self.address or self.name)

    @property
    def kind(self) -> str:
        """float, int, bool or choice: what the page draws (slider, stepper, toggle, menu)."""
        return {"number": "float", "integer": "int", "flag": "bool", "choice": "choice"}[self.check.kind]

    @property
    def low(self) -> float | None:
        return self.check.lo if self.check.kind in ("number", "integer") else None

    @property
    def high(self) -> float | None:
        return self.check.hi if self.check.kind in ("number", "integer") else None

    def __call__(self, value: Any) -> Any:
        """The value checked against this knob's range, or a CheckError naming the knob. A float
        is kept as the user gave it: 0.6 sent as an OSC float32 is 0.6 (`shortest`)."""
        try:
            value = self.check(value)
        except CheckError as exc:
            raise CheckError(f"{self.name} {exc}") from None
        return shortest(value) if isinstance(value, float) else value

    def to_json(self) -> dict:
        """The entry `GET /api/params` serves: what a page or controller needs to draw the knob."""
        entry = {"name": self.name, "osc": self.osc, "type": self.kind, "min": self.low,
                 "max": self.high, "default": self.default, "unit": self.unit, "slew": self.slew,
                 "saved": self.saved, "learnable": self.learnable, "doc": self.doc, "needs": self.needs,
                 "requirement": self.requirement}
        if self.check.kind == "choice":
            entry["choices"] = list(self.check.choices)
        return entry


# What a knob may need of the generator (`Param.needs`), in the words of the one-line refusal.
# "stylegan3": the Fourier input's transform (`G.synthesis.input.transform`).
NEEDS: dict[str, str] = {"stylegan3": "a StyleGAN3 network"}

PARAMS: tuple[Param, ...] = (
    Param("speed", number(-1000, 1000), 0.25, "how fast the path plays (negative: backwards)",
          unit="keyframes/s", preset="play.speed"),
    Param("truncation", number(-2, 2), 0.7, "pull toward the average W (psi): 1 = none, 0 = the average face",
          unit="psi", preset="play.truncation"),
    Param("spline", choice(SPLINES), "catmull-rom", "path kind: smooth Catmull-Rom or linear",
          preset="path.spline", learnable=False),
    Param("alpha", number(0, 1), 0.5, "Catmull-Rom alpha: 0 uniform, 0.5 centripetal, 1 chordal",
          preset="path.alpha"),
    Param("closed", FLAG, True, "loop the path (on) or play it back and forth (off)", preset="path.closed"),
    Param("constant_speed", FLAG, False, "speed is W+ distance per second (even pace between keyframes)",
          preset="path.constant_speed"),
    Param("blend", number(0, 60), 0.5, "seconds to melt into the new path after a live edit", unit="s",
          preset="path.blend"),
    Param("noise", choice(NOISE_MODES), "const", "the generator's noise inputs", preset="generator.noise",
          learnable=False),
    Param("overlay", FLAG, True, "all overlay panels shown (on) or hidden (off)", preset="overlay.visible"),
    Param("overlay_tensor", FLAG, False, "the terminal print of the live W+", preset="overlay.tensor",
          address="overlay/tensor"),
    Param("overlay_gpu", FLAG, False, "the nvitop-style GPU panel", preset="overlay.gpu", address="overlay/gpu"),
    Param("overlay_opacity", number(0, 1), 0.85, "the panels' window background (text stays opaque)",
          preset="overlay.opacity", address="overlay/opacity"),
    Param("fader", number(0, 1), 1.0, "master fader: dims the whole stage output, 0 is black", slew=0.25,
          preset="stage.fader"),
    Param("blackout", FLAG, False, "stage output black at once; off brings the picture back",
          preset="stage.blackout"),
    # The beat clock (realtime/clock): where tempo and beat come from, and the fixed clock's tempo,
    # which is also the range every source is held to (a Link session at 999 BPM is followed at 400).
    Param("clock", choice(CLOCK_SOURCES), "audio",
          "beat clock source: the music's tempo, taps, a fixed tempo, Ableton Link or a MIDI clock",
          preset="clock.source", learnable=False),
    Param("tempo", number(20, 400), 120.0, "the fixed clock's tempo; proposed to the Link session when following it",
          unit="BPM", preset="clock.tempo", address="clock/tempo"),
    # StyleGAN3's input transform, as NVIDIA's visualizer sets it: the picture is rotated, then
    # translated (in picture widths: 1 moves it by its whole width). Glides: 2 s over the range.
    Param("translate_x", number(-4, 4), 0.0, "move the picture right (StyleGAN3 input transform)",
          unit="picture widths", slew=2.0, preset="generator.translate_x", needs="stylegan3"),
    Param("translate_y", number(-4, 4), 0.0, "move the picture down (StyleGAN3 input transform)",
          unit="picture widths", slew=2.0, preset="generator.translate_y", needs="stylegan3"),
    Param("rotate", number(-360, 360), 0.0, "turn the picture (StyleGAN3 input transform)",
          unit="degrees", slew=2.0, preset="generator.rotate", needs="stylegan3"),
)

TABLE: dict[str, Param] = {p.name: p for p in PARAMS}


def table_field(name: str) -> Any:
    """A dataclass field that holds parameter `name` (a preset table's key): its check, default
    and doc come from the table, so its range is still written once."""
    entry = TABLE[name]
    return checked(entry.check, entry.default, entry.doc)


def param(name: str) -> Param:
    """The table's entry for `name`, or a CheckError listing the names there are."""
    entry = TABLE.get(name)
    if entry is None:
        raise CheckError(f"unknown parameter '{name}' (parameters: {', '.join(TABLE)})")
    return entry


class Params(Mapping[str, Any]):
    """Every parameter's value at once, frozen. `params.fader` or `params["fader"]`.

    Made from the table's defaults plus checked overrides; `replace` returns a new value, so a
    `Params` handed to another thread (the generator worker, a snapshot) never changes under it.
    """

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, Any] | None = None) -> None:
        merged = {p.name: p.default for p in PARAMS}
        for name, value in (values or {}).items():
            merged[name] = param(name)(value)
        object.__setattr__(self, "_values", merged)

    def replace(self, **changes: Any) -> Params:
        """A copy with `changes` applied, each checked (CheckError naming the knob and its range);
        the values kept were checked when they were set."""
        if not changes:
            return self
        new = object.__new__(Params)
        object.__setattr__(new, "_values", {**self._values, **{k: param(k)(v) for k, v in changes.items()}})
        return new

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Params is frozen: use replace()")

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Params) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(self._values.items()))

    def __repr__(self) -> str:
        return "Params(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"

    def changed(self) -> dict[str, Any]:
        """The values that differ from the table's defaults (what a journal or preset must say)."""
        return {k: v for k, v in self._values.items() if v != TABLE[k].default}

    def to_json(self) -> dict[str, Any]:
        return dict(self._values)


def shortest(value: float) -> float:
    """The number as the user gave it. A value that is exactly a float32 (an OSC float) becomes
    the shortest decimal that is the same float32: 0.6000000238418579 is 0.6. Any other float
    (typed in a preset, on the command line) is already what was given and stays exact."""
    if not math.isfinite(value) or value == 0 or _single(value) != value:
        return value
    for digits in range(1, 10):  # 9 significant digits always round-trip a float32
        candidate = float(f"{value:.{digits}g}")
        if _single(candidate) == value:
            return candidate
    return value


def _single(value: float) -> float:
    """`value` rounded to the nearest float32 (inf beyond its range)."""
    try:
        return struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:
        return math.inf


class Glide:
    """Where a gliding knob is now: it follows its set value at the table's slew (a jump across
    the whole range takes `slew` seconds; 0 is instant). Owned by the render thread."""

    def __init__(self, value: float, slew: float, span: float = 1.0) -> None:
        self.value = float(value)
        self._rate = math.inf if slew <= 0 else span / slew

    def toward(self, target: float, dt: float) -> float:
        """Move toward `target` by `dt` seconds of glide; returns where it is now."""
        step = self._rate * max(dt, 0.0)
        self.value = target if abs(target - self.value) <= step else self.value + math.copysign(step, target - self.value)
        return self.value


class Glides:
    """Several gliding knobs at once (each at its own slew over its own range), e.g. the input
    transform's translate_x, translate_y and rotate. Owned by the render thread."""

    def __init__(self, params: Params, names: tuple[str, ...]) -> None:
        self.names = names
        self._glides = tuple(Glide(params[n], TABLE[n].slew, TABLE[n].high - TABLE[n].low) for n in names)

    def toward(self, params: Params, dt: float) -> tuple[float, ...]:
        """Move each knob toward its value in `params` by `dt` seconds of glide; where they are now."""
        return tuple(g.toward(params[n], dt) for n, g in zip(self.names, self._glides))
