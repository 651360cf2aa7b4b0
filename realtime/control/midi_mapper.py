"""Controller messages into show commands, through the mappings the show's state holds.

    mapper = MidiMapper()
    changed = mapper.follow(state)                  # each new ShowState: what moved from elsewhere
    commands = mapper.handle(message, port, state, at)

Pure: no ports, no threads (the MIDI adapter owns both). What it keeps between messages is what
a controller needs remembered: each knob's pickup (an absolute control takes over only once it
passes the knob's current value, so nothing jumps), the coarse half of each 14-bit pair, the
last value of each button (a press is a rising edge), and the control being learned.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass, field

from ..midi import MidiMapping, MidiMessage, family, modes_for
from ..params import TABLE
from ..show import commands as c
from ..show.commands import Command
from ..show.state import ShowState

PICKUP_TOLERANCE = 1.0 / 127  # a control this close to the knob's value has it (one CC step)
PAIR_WAIT_S = 0.05  # learning: how long a coarse CC (0..31) waits for its fine partner (n+32)
RECENT = 1024  # values this adapter set that the state may still show, per knob (a flood sets many a frame)
TRIGGERS = {"tap": c.Tap, "snapshot": c.Snapshot, "record": c.ToggleRecording}  # "next" reads the state


def stable_port(name: str) -> str:
    """A port's name without ALSA's client:port numbers, which change when a device is replugged."""
    return re.sub(r"\s+\d+:\d+$", "", name)


@dataclass
class Pickup:
    """Soft takeover of one absolute control: engaged once the control is at the knob's value or
    has passed it since the last message; lost when the knob changes from elsewhere."""

    engaged: bool = False
    last: float | None = None  # where the control was last (0..1), if it has been heard

    def move(self, x: float, current: float) -> bool:
        if not self.engaged:
            crossed = self.last is not None and (self.last - current) * (x - current) <= 0
            self.engaged = crossed or abs(x - current) <= PICKUP_TOLERANCE
        self.last = x
        return self.engaged


@dataclass
class Knob:
    """What the adapter knows of one mapped knob: the value as it last set or saw it, the values
    it sent that the state may still show, and its controller's pickup and buttons."""

    value: object
    seen: object  # the value in the last state followed
    recent: deque = field(default_factory=lambda: deque(maxlen=RECENT))
    pickup: Pickup = field(default_factory=Pickup)
    button: int | None = None  # a CC button's last value (a press is a rising edge through 64)


class MidiMapper:
    """Messages from controllers into commands, one message at a time (the adapter's thread)."""

    def __init__(self) -> None:
        self._knobs: dict[str, Knob] = {}  # by param (a knob or trigger has one mapping)
        self._coarse: dict[tuple[str, int, int], int] = {}  # (port, channel, cc) -> the coarse 7 bits
        self._index: dict[tuple[int, str, int], list[MidiMapping]] = {}
        self._mappings: tuple[MidiMapping, ...] | None = None
        self._answered = 0  # the learn (MidiState.learns) answered last
        self._candidate: tuple[str, MidiMessage, float] | None = None  # a coarse CC waiting for its fine one

    # ---- the state ------------------------------------------------------------------------------

    def follow(self, state: ShowState) -> set[str]:
        """Take a new state; the mapped knobs whose value changed from elsewhere (OSC, the page, a
        preset), whose pickups are now lost, and which feedback should send to the controller."""
        mappings = state.midi.mappings
        if mappings is not self._mappings:
            self._reindex(mappings)
        changed = set()
        for m in mappings:
            if m.param not in TABLE:
                continue
            value = state.params[m.param]
            knob = self._knobs.get(m.param)
            if knob is None:
                self._knobs[m.param] = Knob(value, value)
                changed.add(m.param)
                continue
            if value == knob.seen:
                continue
            knob.seen = value
            if value in knob.recent:  # one of ours landing
                while knob.recent and knob.recent.popleft() != value:
                    pass
                continue
            knob.value = value
            knob.pickup.engaged = False
            changed.add(m.param)
        return changed

    def _reindex(self, mappings: tuple[MidiMapping, ...]) -> None:
        old = {m.param: m for m in self._mappings or ()}
        self._mappings, self._index = mappings, {}
        for m in mappings:
            self._index.setdefault((m.channel, "cc" if m.kind == "cc14" else m.kind, m.number), []).append(m)
            if m.kind == "cc14":
                self._index.setdefault((m.channel, "cc", m.number + 32), []).append(m)
            if old.get(m.param) != m and m.param in self._knobs:  # a new control: its pickup starts again
                self._knobs[m.param].pickup = Pickup(last=self._knobs[m.param].pickup.last)
        for param in set(self._knobs) - {m.param for m in mappings}:
            del self._knobs[param]

    # ---- messages -------------------------------------------------------------------------------

    def handle(self, message: MidiMessage, port: str, state: ShowState, at: float) -> list[Command]:
        """The commands one message makes: a mapping while learning, else what its mappings do."""
        if state.midi.mappings is not self._mappings:
            self.follow(state)
        if state.midi.learning is not None and state.midi.learns != self._answered:
            return self._learn(message, port, state, at)
        kind = {"note_on": "note", "note_off": "note"}.get(message.kind, message.kind)
        out: list[Command] = []
        for m in self._index.get((message.channel, kind, message.number), ()):
            if not m.port or m.port.lower() in port.lower():
                command = self._drive(m, message, port, state)
                if command is not None:
                    out.append(command)
        return out

    def tick(self, state: ShowState | None, at: float) -> list[Command]:
        """Learning: a coarse CC whose fine partner did not follow is mapped as a plain CC."""
        if self._candidate is None or state is None or at - self._candidate[2] < PAIR_WAIT_S:
            return []
        port, message, _ = self._candidate
        self._candidate = None
        return self._mapped(state, port, "cc", message)

    def _learn(self, message: MidiMessage, port: str, state: ShowState, at: float) -> list[Command]:
        param = state.midi.learning
        if self._candidate is not None:
            cport, first, _ = self._candidate
            self._candidate = None
            if (message.kind == "cc" and cport == port and message.channel == first.channel
                    and message.number == first.number + 32):
                return self._mapped(state, port, "cc14", first, (first.value << 7 | message.value) / 16383)
            out = self._mapped(state, cport, "cc", first)
            return out or self._learn(message, port, state, at)
        if message.kind == "cc":
            if message.number < 32 and family(param) == "number":
                self._candidate = (port, message, at)  # a 14-bit pair sends its fine CC next
                return []
            return self._mapped(state, port, "cc", message)
        if message.kind == "note_on":
            return self._mapped(state, port, "note", message)
        if message.kind == "pitchbend":
            return self._mapped(state, port, "pitchbend", message, message.value / 16383)
        return []  # note offs, clock: not a control moving

    def _mapped(self, state: ShowState, port: str, kind: str, message: MidiMessage,
                at_position: float | None = None) -> list[Command]:
        param = state.midi.learning
        if param is None or not modes_for(kind, param):
            return []  # a pitch bend cannot fire a trigger: keep learning
        self._answered = state.midi.learns
        if param in TABLE:  # the control is where the learn found it: its pickup knows that
            knob = self._knobs.setdefault(param, Knob(state.params[param], state.params[param]))
            knob.pickup = Pickup(last=at_position if at_position is not None else message.value / 127)
        return [c.MidiMap(param, kind, message.number, message.channel, stable_port(port))]

    def _drive(self, m: MidiMapping, message: MidiMessage, port: str, state: ShowState) -> Command | None:
        fam = family(m.param)
        press = self._press(m, message)
        if fam == "trigger":
            return self._trigger(m.param, state) if press else None
        if fam == "bool":
            if m.mode == "toggle":
                return c.ToggleParam(m.param) if press else None
            if m.mode == "momentary":
                return None if press is None else self._set(m.param, press)
            return self._set(m.param, self._position(m, message, port) >= 0.5)
        if m.mode in ("relative", "offset64"):
            if message.kind != "cc":
                return None
            steps = (message.value - 128 if message.value >= 64 else message.value) if m.mode == "relative" \
                else message.value - 64
            low, high = m.span()
            knob = self._knobs[m.param]
            lo, hi = min(low, high), max(low, high)
            return self._set(m.param, min(max(float(knob.value) + steps * (high - low) / 127, lo), hi))
        if m.mode == "velocity":
            if message.kind != "note_on":
                return None
            low, high = m.span()
            return self._set(m.param, low + (high - low) * message.value / 127)
        x = self._position(m, message, port)
        low, high = m.span()
        knob = self._knobs[m.param]
        current = (float(knob.value) - low) / (high - low)
        if not knob.pickup.move(x, min(max(current, 0.0), 1.0)):
            return None
        return self._set(m.param, low + (high - low) * x)

    def _press(self, m: MidiMapping, message: MidiMessage) -> bool | None:
        """True for a press, False for a release, None for neither (a CC button's edges through 64)."""
        if message.kind == "note_on":
            return True
        if message.kind == "note_off":
            return False
        if message.kind != "cc" or m.kind != "cc":
            return None
        knob = self._knobs.setdefault(m.param, Knob(None, None))
        before, knob.button = knob.button, message.value
        down, was = message.value >= 64, before is not None and before >= 64
        return None if down == was and before is not None else down

    def _position(self, m: MidiMapping, message: MidiMessage, port: str) -> float:
        """Where an absolute control is, 0..1: 7 bits, 14 bits (coarse and fine CC) or pitch bend."""
        if m.kind == "pitchbend":
            return message.value / 16383
        if m.kind != "cc14":
            return message.value / 127
        key = (port, m.channel, m.number)
        if message.number == m.number:  # the coarse half: the fine one starts again at 0 (MIDI 1.0)
            self._coarse[key] = message.value
            return (message.value << 7) / 16383
        return (self._coarse.get(key, 0) << 7 | message.value) / 16383

    def _set(self, param: str, value: float | bool) -> Command:
        entry = TABLE[param]
        if entry.kind == "int":
            value = int(round(value))
        elif entry.kind == "float":
            value = min(max(float(value), entry.low), entry.high)
            value = entry(value)  # as the show will hold it (7 significant digits): recognised when it lands
        knob = self._knobs[param]
        knob.value = value
        knob.recent.append(value)
        return c.SetParam(param, value)

    def _trigger(self, name: str, state: ShowState) -> Command | None:
        if name == "next":
            count = len(state.keyframes)
            return c.GotoKeyframe((math.floor(state.position) + 1) % count) if count else None
        return TRIGGERS[name]()

    def value(self, param: str) -> object:
        """The knob's value as the adapter knows it (for feedback)."""
        knob = self._knobs.get(param)
        return None if knob is None else knob.value
