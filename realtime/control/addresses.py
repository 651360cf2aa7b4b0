"""The OSC address table: each address names a show command; its arguments are the command's
fields, in order, with the command's own checks. One table, three uses: the OSC server turns
messages into commands with it, `stylevj osc list` prints it, and the README's table is checked
against it, so the documentation, the wire and the show cannot drift apart.

OSC's wire types are translated here and nowhere else: integers may arrive as whole floats
(TouchDesigner sends floats) and on/off as 0/1; the command itself checks ranges.

An address may hold a placeholder segment, `control/<name>`: it stands for any name (letters,
digits, '_' and '-'), which fills the command field of that name. The table lists the generic
form once; `lookup` finds the entry for a concrete address such as `/stylevj/control/smile`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from ..checks import CheckError, check_of
from ..errors import StylevjError
from ..params import PARAMS, Param
from ..latent.controls import NAME_RE
from ..show import commands as c
from ..show.commands import Command

PREFIX = "/stylevj/"
_SEGMENT = NAME_RE.pattern  # a placeholder's value: a control name


class OscError(StylevjError):
    """A message that cannot become a command: the reason goes to the log and the sender."""


@dataclass(frozen=True)
class Arg:
    """One argument of an address: a command field and its check."""

    name: str
    check: Any
    optional: bool

    def describe(self) -> str:
        text = f"{self.name}:{self.check.describe()}"
        return f"[{text}]" if self.optional else text

    def from_wire(self, value: Any) -> Any:
        """OSC's value as the command expects it (0/1 for on/off, whole floats for integers)."""
        if self.check.kind == "flag" and isinstance(value, (int, float)) and not isinstance(value, bool):
            if value not in (0, 1):
                raise OscError(f"{self.name} must be 0 or 1, got {value:g}")
            return bool(value)
        return value


@dataclass(frozen=True)
class Address:
    """One address: the command it makes, field values the address fixes, and what it does."""

    path: str
    command: type[Command]
    fixed: dict = field(default_factory=dict)
    doc: str = ""
    knob: Param | None = None  # a parameter of the table: one argument, the knob's own check

    @classmethod
    def of_param(cls, knob: Param) -> Address:
        """The address of a table parameter: /stylevj/<name> (or its own), one value, its range."""
        return cls(knob.osc.removeprefix(PREFIX), c.SetParam, {"name": knob.name}, knob.doc, knob)

    @property
    def bound(self) -> tuple[str, ...]:
        """Fields named by placeholder segments of the path ('control/<name>' -> ('name',))."""
        return tuple(re.findall(r"<(\w+)>", self.path))

    @property
    def pattern(self) -> re.Pattern:
        """The full addresses this entry answers ('/stylevj/control/smile' for 'control/<name>')."""
        parts = re.split(r"<(\w+)>", self.path)
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>{_SEGMENT})" for i, p in enumerate(parts))
        return re.compile(re.escape(PREFIX) + regex)

    @property
    def args(self) -> tuple[Arg, ...]:
        if self.knob is not None:
            return (Arg(self.knob.name, self.knob.check, False),)
        return tuple(Arg(f.name, check_of(f), f.default is not dataclasses.MISSING)
                     for f in c.arguments(self.command) if f.name not in self.fixed and f.name not in self.bound)

    @property
    def param(self) -> bool:
        """A parameter (latest in a frame wins) rather than a command (every one applied)."""
        return self.command.coalesce

    @property
    def meaning(self) -> str:
        return self.doc or c.describe(self.command)

    def make(self, values: list, bound: dict | None = None) -> Command:
        """The command for a message's arguments (and the path's placeholder values), or an
        OscError saying why not."""
        args = self.args
        required = sum(not a.optional for a in args)
        if not required <= len(values) <= len(args):
            want = required if required == len(args) else f"{required} to {len(args)}"
            raise OscError(f"{PREFIX}{self.path} takes {want} arguments, got {len(values)}")
        given = {a.name: a.from_wire(v) for a, v in zip(args, values)}
        if self.knob is not None:
            given = {"value": given[self.knob.name]}
        try:
            return self.command(**self.fixed, **(bound or {}), **given)
        except CheckError as exc:
            raise OscError(str(exc)) from None


ADDRESSES: tuple[Address, ...] = (
    Address("play", c.Play),
    Address("pause", c.Pause),
    Address("pause/toggle", c.TogglePause),
    *(Address.of_param(knob) for knob in PARAMS),  # speed, truncation, ..., fader, blackout: the table's knobs
    Address("speed/scale", c.ScaleSpeed),
    Address("goto", c.Goto),
    Address("goto/keyframe", c.GotoKeyframe),
    Address("nudge", c.Nudge),
    Address("keyframe/add/seed", c.AddSeedKeyframe),
    Address("keyframe/add/file", c.AddFileKeyframe),
    Address("keyframe/add/current", c.AddCurrentKeyframe),
    Address("keyframe/remove", c.RemoveKeyframe),
    Address("keyframe/replace", c.ReplaceKeyframe),
    Address("keyframe/move", c.MoveKeyframe),
    Address("keyframe/rename", c.RenameKeyframe),
    Address("keyframe/clear", c.ClearKeyframes),
    Address("keyframe/undo", c.UndoKeyframes),
    Address("mix", c.SetMix),
    Address("mix/off", c.MixOff),
    Address("overlay/toggle", c.ToggleOverlay),
    Address("preset/load", c.LoadPreset),
    Address("preset/save", c.SavePreset),
    Address("record/start", c.StartRecording),
    Address("record/stop", c.StopRecording),
    Address("record/toggle", c.ToggleRecording),
    Address("snapshot", c.Snapshot),
    Address("output/add", c.AddOutput, {"kind": "ndi"}),
    Address("output/remove", c.RemoveOutput),
    Address("state", c.ReportState),
    Address("tap", c.Tap),
    Address("bpm", c.SetBpm),
    Address("control/<name>", c.SetControl),
    Address("control/<name>/unit", c.SetControlUnit),
    Address("control/<name>/add", c.AddControl),
    Address("midi/learn", c.MidiLearn),
    Address("midi/forget", c.MidiForget),
    Address("midi/map", c.MidiMap),
)

TABLE: dict[str, Address] = {PREFIX + a.path: a for a in ADDRESSES}
_PATTERNED: tuple[Address, ...] = tuple(a for a in ADDRESSES if a.bound)

# Commands no OSC sender may give, and why (a test holds every other command to an address).
NOT_OVER_OSC: dict[type[Command], str] = {
    c.Quit: "a stop needs the stage keys",
    c.ToggleParam: "the stage keys' toggles (B blackout); OSC sends the value: /stylevj/blackout 1",
    c.SetThumbnails: "the operator page's picture feed (OSC carries no pictures back)",
    c.MakeKeyframePictures: "the operator page's keyframe pictures (OSC carries no pictures back)",
    c.KeyframePictureMade: "made by the show's loader from a keyframe's W+ (the operator page's strip)",
    c.InsertKeyframe: "made by the show's loader from a checked file (keyframe/add/file)",
    c.ReplaceWith: "made by the show's loader from a checked file (keyframe/replace)",
    c.PresetLoaded: "made by the show's loader from a checked preset (preset/load)",
    c.LoadFailed: "made by the show's loader when a file cannot be used",
    c.FileSaved: "made by the show's loader when a file it wrote is whole (preset/save, snapshot)",
    c.OutputOpened: "made by the show's loader once an output's sender is open (output/add, preset/load)",
    c.InstallControl: "made by the show's loader from a computed direction (control/<name>/add)",
    c.SetAudioDrive: "made by the audio adapter from what it hears (stylevj run --audio/--audio-in)",
    c.AudioHeard: "made by the audio adapter from what it hears (sent back as /stylevj/audio/...)",
    c.SetAudioSource: "made by the audio adapter when its input starts, fails or vanishes",
    c.SetMidiPorts: "made by the MIDI adapter when its ports open, vanish or cannot be found",
}


class Params(frozenset):
    """Parameter paths; `in` also takes a concrete form of a placeholder path ('control/smile'
    is in it when 'control/<name>' is)."""

    def __contains__(self, path: object) -> bool:
        if frozenset.__contains__(self, path):
            return True
        if not isinstance(path, str):
            return False
        try:
            entry, bound = lookup(PREFIX + path)
        except OscError:
            return False
        return bool(bound) and frozenset.__contains__(self, entry.path)


def mappable() -> Params:
    """Parameters a user mapping may drive: one number (or on/off) each."""
    return Params(a.path for a in ADDRESSES
                  if a.param and len(a.args) == 1 and a.args[0].check.kind in ("number", "integer", "flag"))


def lookup(address: str) -> tuple[Address, dict]:
    """The table entry for a full address and its placeholder values, or an OscError."""
    entry = TABLE.get(address)
    if entry is not None and not entry.bound:
        return entry, {}
    for entry in _PATTERNED:
        match = entry.pattern.fullmatch(address)
        if match is not None:
            return entry, match.groupdict()
    raise OscError(f"unknown address {address}")


def to_command(address: str, values: list) -> Command:
    """The command for one OSC message, or an OscError saying why not."""
    entry, bound = lookup(address)
    return entry.make(values, bound)


def markdown() -> str:
    """The address table as the README's Markdown table (a test holds the README to it)."""
    lines = ["| address | arguments | kind | what it does |", "|---|---|---|---|"]
    for a in ADDRESSES:
        args = " ".join(arg.describe() for arg in a.args).replace("|", "\\|") or "–"
        lines.append(f"| `{PREFIX}{a.path}` | {args} | {'param' if a.param else 'command'} | {a.meaning} |")
    return "\n".join(lines)


def reference() -> str:
    """The address table as text (for `stylevj osc list` and the README)."""
    lines = []
    for a in ADDRESSES:
        args = " ".join(arg.describe() for arg in a.args)
        kind = "param" if a.param else "cmd"
        lines.append(f"{PREFIX}{a.path} {args}".rstrip().ljust(58) + f" {kind:5} {a.meaning}")
    return "\n".join(lines)
