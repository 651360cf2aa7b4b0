"""MIDI controllers: learning, mapping and forgetting, as show data (saved in presets, journaled).

The MIDI adapter (realtime/control/midi.py) never changes the show: it reads the published
`ShowState.midi` and submits these commands. `MidiLearn("fader")` arms learning; the adapter
sees `learning` in the state and turns the next control that moves into `MidiMap(...)`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...checks import Check, checked, choice
from ...midi.mapping import CHANNEL, KINDS, MODES, NUMBER, PORT_PART, TARGET, MidiMapping, modes_for
from .base import Command, CommandError, Stage
from .music import LINE

PORTS = Check("list", items=Check("any", extra=LINE.extra))  # port names as the adapter reports them


@dataclass(frozen=True)
class MidiLearn(Command):
    """map the next MIDI control that moves (CC, note, pitch bend) to this parameter or trigger; none: stop learning"""

    edits = False  # the mapping it leads to (MidiMap) is the edit
    param: str | None = checked(Check("text", max_length=64, optional=True, extra=TARGET.extra), None)

    def apply(self, show: Stage) -> None:
        show.midi = replace(show.midi, learning=self.param, learns=show.midi.learns + 1)
        show.emit("midi/learning", self.param or "")


@dataclass(frozen=True)
class MidiMap(Command):
    """map a MIDI control to a parameter or trigger (replaces what either had); learning ends"""

    param: str = checked(TARGET)
    kind: str = checked(choice(KINDS), "cc")
    number: int = checked(NUMBER, 0)
    channel: int = checked(CHANNEL, 1)
    port: str = checked(PORT_PART, "")
    mode: str | None = checked(Check("choice", choices=tuple(MODES), optional=True), None)  # None: the kind's first

    def __post_init__(self) -> None:
        super().__post_init__()
        self.mapping()  # a mode the kind cannot drive the param with is refused when made

    def mapping(self) -> MidiMapping:
        mode = self.mode or next(iter(modes_for(self.kind, self.param)), "absolute")
        return MidiMapping(param=self.param, kind=self.kind, number=self.number, channel=self.channel,
                           port=self.port, mode=mode)

    def apply(self, show: Stage) -> None:
        new = self.mapping()
        kept = tuple(m for m in show.midi.mappings if m.param != new.param and not m.same_control(new))
        learning = None if show.midi.learning == new.param else show.midi.learning
        show.midi = replace(show.midi, mappings=kept + (new,), learning=learning)
        show.emit("midi/mapped", new.param, new.kind, new.number, new.channel)


@dataclass(frozen=True)
class MidiForget(Command):
    """remove the MIDI mapping of a parameter or trigger"""

    param: str = checked(TARGET)

    def apply(self, show: Stage) -> None:
        kept = tuple(m for m in show.midi.mappings if m.param != self.param)
        if len(kept) == len(show.midi.mappings):
            raise CommandError(f"no MIDI mapping drives {self.param}")
        show.midi = replace(show.midi, mappings=kept)
        show.emit("midi/forgot", self.param)


@dataclass(frozen=True)
class SetMidiPorts(Command):
    """the MIDI ports open now, and why one asked for is not (made by the MIDI adapter)"""

    coalesce = True
    edits = False
    inputs: tuple = checked(PORTS, ())
    outputs: tuple = checked(PORTS, ())
    problem: str = checked(LINE, "")

    def apply(self, show: Stage) -> None:
        show.midi = replace(show.midi, inputs=self.inputs, outputs=self.outputs, problem=self.problem)
        show.emit("midi/ports", ", ".join(self.inputs), ", ".join(self.outputs), self.problem)
