"""A MIDI mapping as show data: which controller message drives which knob, and how.

    [[midi]]
    param = "fader"        # a learnable knob of the parameter table, or a trigger (next, tap, snapshot, record)
    kind = "cc"            # cc, cc14 (CC n and n+32: 14 bits), note, pitchbend
    number = 7             # the CC or note number (cc14: the coarse CC, 0..31; pitchbend: 0)
    channel = 1            # 1..16, as controllers count
    port = "nanoKONTROL"   # part of the input port's name; "" (the default) is any port
    mode = "absolute"      # see MODES
    range = [0, 1]         # optional: the part of the knob's range the control sweeps (default: all of it)

Mappings are saved in presets and journaled; they change live through the show's MIDI commands
(learn, map, forget). The MIDI adapter (`realtime/control/midi.py`) reads them from the show's
published state; this module only says what a valid mapping is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..checks import Check, CheckError, Checked, checked, choice, integer
from ..params import TABLE

KINDS = ("cc", "cc14", "note", "pitchbend")
TRIGGERS = {  # a note or button that fires a command rather than setting a knob
    "next": "go to the next keyframe",
    "tap": "tap the tempo",
    "snapshot": "save a PNG of the stage",
    "record": "start or stop recording",
}
MODES = {
    "absolute": "the control's position is the value; pickup: it takes over once it passes the current value",
    "relative": "an endless encoder, two's complement (1..63 up, 127..65 down)",
    "offset64": "an endless encoder, offset 64 (65.. up, 63.. down)",
    "velocity": "a note's velocity is the value",
    "toggle": "each press flips an on/off knob",
    "momentary": "on while held",
    "trigger": "each press fires the trigger",
}
LEARN_KINDS = {"float": ("number",), "int": ("number",), "bool": ("bool",)}  # a param's kind -> its mapping family


def learnable() -> tuple[str, ...]:
    """The table's knobs MIDI may drive: learnable numbers and on/off knobs."""
    return tuple(p.name for p in TABLE.values() if p.learnable and p.kind in ("float", "int", "bool"))


def targets() -> tuple[str, ...]:
    """Every name a mapping (or a learn) may target: the learnable knobs, then the triggers."""
    return learnable() + tuple(TRIGGERS)


def unknown_target(name: str) -> str:
    """The one line refusing `name` as a MIDI target, naming the table's learnable knobs."""
    return (f"'{name}' cannot be learned: not a learnable parameter or trigger "
            f"(parameters: {', '.join(learnable())}; triggers: {', '.join(TRIGGERS)})")


def family(param: str) -> str:
    """What a target is to a controller: 'number', 'bool' or 'trigger'."""
    if param in TRIGGERS:
        return "trigger"
    return "bool" if TABLE[param].kind == "bool" else "number"


def modes_for(kind: str, param: str) -> tuple[str, ...]:
    """The modes a `kind` of message may drive `param` with; the first is what learning picks."""
    fam = family(param)
    if fam == "trigger":
        return ("trigger",) if kind in ("cc", "note") else ()
    if fam == "bool":
        return ("toggle", "momentary", "absolute") if kind in ("cc", "note") else ("absolute",)
    return {"cc": ("absolute", "relative", "offset64"), "cc14": ("absolute",), "pitchbend": ("absolute",),
            "note": ("velocity",)}[kind]


def _target(value: str) -> str | None:
    return None if value in targets() else unknown_target(value)


def _port(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    return None if len(value) <= 256 and "\n" not in value else "must be one line of at most 256 characters"


def _low_high(pair: tuple[float, float]) -> str | None:
    return None if pair[0] != pair[1] else f"must be [low, high] with two different ends, got {list(pair)}"


TARGET = Check("text", max_length=64, extra=_target)
PORT_PART = Check("any", extra=_port)
CHANNEL = integer(1, 16)
NUMBER = integer(0, 127)
SPAN = Check("list", length=2, items=Check("number", -1e9, 1e9), optional=True, extra=_low_high)


@dataclass(frozen=True)
class MidiMapping(Checked):
    """One [[midi]] entry: a controller's message (port, channel, kind, number) driving `param`."""

    param: str = checked(TARGET, doc="the knob it drives (a learnable parameter) or a trigger: " + ", ".join(TRIGGERS))
    kind: str = checked(choice(KINDS), "cc", "cc, cc14 (CC n + n+32), note or pitchbend")
    number: int = checked(NUMBER, 0, "the CC or note number (cc14: the coarse CC 0..31; pitchbend: 0)")
    channel: int = checked(CHANNEL, 1, "MIDI channel 1..16")
    port: str = checked(PORT_PART, "", "part of the input port's name ('' is any port)")
    mode: str = checked(choice(tuple(MODES)), "absolute", "absolute (with pickup), relative, offset64, velocity, "
                                                          "toggle, momentary or trigger")
    range: tuple[float, float] | None = checked(SPAN, None, "[low, high] of the knob the control sweeps "
                                                            "(default: the table's whole range)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kind == "cc14" and self.number > 31:
            raise CheckError(f"a cc14 mapping names its coarse CC, 0..31 (the fine one is n+32), got {self.number}")
        if self.kind == "pitchbend" and self.number != 0:
            raise CheckError(f"pitchbend has no number (give 0), got {self.number}")
        allowed = modes_for(self.kind, self.param)
        if self.mode not in allowed:
            raise CheckError(f"mode '{self.mode}' cannot drive {self.param} from a {self.kind}"
                             + (f" (modes: {', '.join(allowed)})" if allowed else f" ({self.param} takes a cc or note)"))
        if self.range is not None:
            if family(self.param) != "number":
                raise CheckError(f"range is for number knobs, not {self.param}")
            entry = TABLE[self.param]
            if not all(entry.low <= end <= entry.high for end in self.range):
                raise CheckError(f"range {list(self.range)} must lie within {self.param}'s [{entry.low:g}, {entry.high:g}]")

    @property
    def source(self) -> tuple[str, int, str, int]:
        """What the controller sends: (port, channel, kind, number)."""
        return self.port, self.channel, self.kind, self.number

    def same_control(self, other: MidiMapping) -> bool:
        """Whether both listen to one control: channel, kind and number alike, on ports that can
        be the same ('' is any port; one name part may hold the other)."""
        a, b = self.port.lower(), other.port.lower()
        return self.source[1:] == other.source[1:] and (not a or not b or a in b or b in a)

    def span(self) -> tuple[float, float]:
        """[low, high] of the knob this control sweeps (a number knob)."""
        if self.range is not None:
            return self.range
        entry = TABLE[self.param]
        return float(entry.low), float(entry.high)

    def to_json(self) -> dict:
        return {"port": self.port, "channel": self.channel, "kind": self.kind, "number": self.number,
                "param": self.param, "mode": self.mode, "range": None if self.range is None else list(self.range)}
