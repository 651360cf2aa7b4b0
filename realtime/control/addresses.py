"""The OSC address table: every address, its arguments, what it does. One table, two uses:
the server validates and applies messages with it, and `stylevj osc list` prints it, so the
documentation and the code cannot drift apart.

Arguments are checked on the OSC thread (types, NaN/inf, ranges); the action runs on the render
thread at a frame boundary. Integers may arrive as whole floats (TouchDesigner sends floats).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

from ..errors import StylevjError
from ..latent import SPLINES, StyleMix, keyframe_from_seed, load_keyframe, snapshot
from ..models.generator import NOISE_MODES

if TYPE_CHECKING:  # pragma: no cover
    from ..show import Show
    from .controller import Controller

PREFIX = "/stylevj/"


class OscError(StylevjError):
    """A message that cannot be applied: the reason goes to the log and the sender."""


@dataclass(frozen=True)
class Arg:
    """One argument: kind 'f' (number), 'i' (whole number), 's' (text) or 'any' (number or
    text); range for numbers, choices for text."""

    name: str
    kind: str
    lo: float = -math.inf
    hi: float = math.inf
    choices: tuple[str, ...] = ()
    optional: bool = False

    def check(self, value: Any) -> Any:
        if self.kind == "any":  # a number or a string, each checked as such
            kind = "s" if isinstance(value, str) else "f"
            return replace(self, kind=kind, lo=-1e12 if kind == "f" else self.lo, hi=1e12 if kind == "f" else self.hi).check(value)
        if self.kind in "fi":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise OscError(f"{self.name} must be a number, got {type(value).__name__}")
            if not math.isfinite(value):
                raise OscError(f"{self.name} must be finite, got {value}")
            if self.kind == "i":
                if value != int(value):
                    raise OscError(f"{self.name} must be a whole number, got {value}")
                value = int(value)
            if not self.lo <= value <= self.hi:
                raise OscError(f"{self.name} must be within [{self.lo:g}, {self.hi:g}], got {value:g}")
            return float(value) if self.kind == "f" else value
        if not isinstance(value, str):
            raise OscError(f"{self.name} must be a string, got {type(value).__name__}")
        if len(value) > 512:
            raise OscError(f"{self.name} is too long ({len(value)} characters)")
        if self.choices and value not in self.choices:
            raise OscError(f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}")
        return value

    def describe(self) -> str:
        if self.choices:
            text = f"{self.name}:{'|'.join(self.choices)}"
        elif self.kind == "i":
            text = f"{self.name}:i[{int(self.lo)}..{int(self.hi)}]"
        elif self.kind == "f" and math.isfinite(self.lo):
            text = f"{self.name}:f[{self.lo:g}..{self.hi:g}]"
        else:
            text = f"{self.name}:{self.kind}"
        return f"[{text}]" if self.optional else text


@dataclass(frozen=True)
class Address:
    """One address: its arguments, whether it is a parameter (latest in a frame wins) or a
    command (every one applied, in order), what it does, and the action."""

    path: str
    args: tuple[Arg, ...]
    param: bool
    doc: str
    action: Callable[["Show", "Controller", tuple], None]

    def validate(self, values: list) -> tuple:
        required = [a for a in self.args if not a.optional]
        if not len(required) <= len(values) <= len(self.args):
            want = len(required) if len(required) == len(self.args) else f"{len(required)} to {len(self.args)}"
            raise OscError(f"{PREFIX}{self.path} takes {want} arguments, got {len(values)}")
        return tuple(arg.check(v) for arg, v in zip(self.args, values))


# ---- actions (render thread) -------------------------------------------------------------


def _keyframe_index(show: "Show", i: int) -> int:
    count = len(show.player.keyframes)
    if not 0 <= i < count:
        raise OscError(f"keyframe {i} does not exist (there are {count})")
    return i


def _add_seed(show, ctl, args) -> None:
    seed, psi = args[0], (args[1] if len(args) > 1 else None)
    index = show.player.add(keyframe_from_seed(show.worker.G, seed, psi))
    ctl.event("keyframe/added", index)


def _add_file(show, ctl, args) -> None:
    G = show.worker.G
    index = show.player.add(load_keyframe(ctl.confine(args[0], "keyframes"), G.num_ws, G.w_dim))
    ctl.event("keyframe/added", index)


def _add_current(show, ctl, args) -> None:
    index = show.player.add(snapshot(show.player.raw(), name=f"live {len(show.player.keyframes)}"))
    ctl.event("keyframe/added", index)


def _replace(show, ctl, args) -> None:
    i = _keyframe_index(show, args[0])
    G = show.worker.G
    if len(args) == 1:
        kf = snapshot(show.player.raw(), name=f"live {i}")
    elif isinstance(args[1], str):
        kf = load_keyframe(ctl.confine(args[1], "keyframes"), G.num_ws, G.w_dim)
    else:
        seed = args[1]
        if seed != int(seed) or not 0 <= seed < 2**32:
            raise OscError(f"seed must be a whole number in [0, 2^32), got {seed}")
        kf = keyframe_from_seed(G, int(seed), args[2] if len(args) > 2 else None)
    show.player.replace(i, kf)


def _settings(show, **changes) -> None:
    show.player.set_path_settings(replace(show.player.settings, **changes))


def _mix(show, ctl, args) -> None:
    i, first, last = args
    if first > last or last >= show.worker.G.num_ws:
        raise OscError(f"layers {first}..{last} are not within 0..{show.worker.G.num_ws - 1}")
    _keyframe_index(show, i)
    show.player.set_mix(StyleMix(i, first, last))


def _overlay(name: str) -> Callable:
    def action(show, ctl, args) -> None:
        show.set_overlay(name, bool(args[0]))
    return action


_n = Arg("index", "i", 0, 100_000)
_seed = Arg("seed", "i", 0, 2**32 - 1)
_psi = Arg("psi", "f", -2, 2, optional=True)

ADDRESSES: tuple[Address, ...] = (
    Address("play", (), False, "play", lambda s, c, a: s.player.play()),
    Address("pause", (), False, "pause (the picture holds)", lambda s, c, a: s.player.pause()),
    Address("speed", (Arg("speed", "f", -1000, 1000),), True,
            "keyframes per second (W+ distance/s in constant-speed mode); negative plays backwards",
            lambda s, c, a: s.player.set_speed(a[0])),
    Address("goto", (Arg("position", "f", -1e6, 1e6),), True, "go to a path position in keyframe units",
            lambda s, c, a: s.player.goto(a[0])),
    Address("goto/keyframe", (_n,), False, "go to keyframe i",
            lambda s, c, a: s.player.goto_keyframe(_keyframe_index(s, a[0]))),
    Address("keyframe/add/seed", (_seed, _psi), False, "append the keyframe of a seed, optionally truncated", _add_seed),
    Address("keyframe/add/file", (Arg("file", "s"),), False, "append a W+ file from the keyframes folder", _add_file),
    Address("keyframe/add/current", (), False, "append the live W+ as a keyframe", _add_current),
    Address("keyframe/remove", (_n,), False, "remove keyframe i",
            lambda s, c, a: s.player.remove(_keyframe_index(s, a[0]))),
    Address("keyframe/replace", (_n, Arg("seed_or_file", "any", optional=True), _psi), False,
            "replace keyframe i by a seed (and psi), a file, or (no argument) the live W+", _replace),
    Address("keyframe/move", (_n, Arg("to", "i", 0, 100_000)), False, "move keyframe i to position j",
            lambda s, c, a: s.player.move(_keyframe_index(s, a[0]), _keyframe_index(s, a[1]))),
    Address("keyframe/clear", (), False, "remove every keyframe (the picture holds)", lambda s, c, a: s.player.clear()),
    Address("truncation", (Arg("psi", "f", -2, 2),), True, "truncation toward w_avg, after interpolation",
            lambda s, c, a: s.player.set_truncation(a[0])),
    Address("spline", (Arg("kind", "s", choices=SPLINES),), True, "path kind", lambda s, c, a: _settings(s, spline=a[0])),
    Address("alpha", (Arg("alpha", "f", 0, 1),), True, "Catmull-Rom alpha: 0 uniform, 0.5 centripetal, 1 chordal",
            lambda s, c, a: _settings(s, alpha=a[0])),
    Address("constant_speed", (Arg("on", "i", 0, 1),), True, "1: speed is W+ distance per second",
            lambda s, c, a: _settings(s, constant_speed=bool(a[0]))),
    Address("noise", (Arg("mode", "s", choices=NOISE_MODES),), True, "noise inputs",
            lambda s, c, a: setattr(s.worker, "noise_mode", a[0])),
    Address("mix", (_n, Arg("first", "i", 0, 1000), Arg("last", "i", 0, 1000)), True,
            "style mixing: W+ rows first..last from keyframe i", _mix),
    Address("mix/off", (), True, "style mixing off", lambda s, c, a: s.player.set_mix(None)),
    Address("overlay/tensor", (Arg("on", "i", 0, 1),), True, "latent tensor panel on/off", _overlay("tensor")),
    Address("overlay/gpu", (Arg("on", "i", 0, 1),), True, "GPU panel on/off", _overlay("gpu")),
    Address("overlay/opacity", (Arg("opacity", "f", 0, 1),), True, "overlay opacity",
            lambda s, c, a: s.set_overlay_opacity(a[0])),
    Address("preset/load", (Arg("name", "s"),), False, "load a preset from the presets folder",
            lambda s, c, a: c.load_preset(s, a[0])),
    Address("preset/save", (Arg("name", "s"),), False, "save the live show as a preset in the presets folder",
            lambda s, c, a: c.save_preset(s, a[0])),
    Address("record/start", (Arg("name", "s", optional=True),), False,
            "record the stage output to the recordings folder (named by date and time, or NAME)",
            lambda s, c, a: c.event("record/started", str(s.start_recording(a[0] if a else None)))),
    Address("record/stop", (), False, "stop recording; the file is finished and playable",
            lambda s, c, a: c.event("record/stopped", str(s.stop_recording() or ""))),
    Address("state", (), False, "reply with the whole state as one JSON string (/stylevj/state s)",
            lambda s, c, a: None),  # answered by the controller itself, with the sender's address
)

TABLE: dict[str, Address] = {PREFIX + a.path: a for a in ADDRESSES}



def validate(address: str, values: list) -> tuple[Address, tuple]:
    """The table entry and checked arguments for a message, or an OscError saying why not."""
    entry = TABLE.get(address)
    if entry is None:
        raise OscError(f"unknown address {address}")
    return entry, entry.validate(values)


def reference() -> str:
    """The address table as text (for `stylevj osc list` and the README)."""
    lines = []
    for a in ADDRESSES:
        args = " ".join(arg.describe() for arg in a.args)
        kind = "param" if a.param else "cmd"
        lines.append(f"{PREFIX}{a.path} {args}".rstrip().ljust(58) + f" {kind:5} {a.doc}")
    return "\n".join(lines)
