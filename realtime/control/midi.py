"""The MIDI adapter: controllers in, show commands out; the knobs' values back out to the controller.

    midi = MidiAdapter(show.submit, show.board, inputs="nanoKONTROL", output="nanoKONTROL", api="alsa",
                       clock=midi_clock.feed)      # MIDI clock to the beat clock (realtime/clock)
    midi.start() ... midi.stop()                   # a ShowSession does this

Like OSC, an adapter: it makes show commands and reads the published `ShowState`, never the show
itself. Its one thread takes what rtmidi queued on each port every few milliseconds (each message
stamped with its arrival, from rtmidi's time deltas), decodes it (`realtime/midi/messages.py`),
turns it into commands through the mappings of the newest state (`midi_mapper`: learning,
pickup, encoders, 14-bit pairs, buttons, triggers) and submits them;
several values of one knob from a burst are submitted as the last one, so a flood of 10,000 CCs
costs the show one `SetParam` per knob per round. MIDI clock goes to `clock` with its arrival
time. Each new state it follows: a mapped knob changed from elsewhere (OSC, the page, a preset)
is sent to `--midi-out` (LED rings, motor faders), and its pickup is lost until the control
passes the new value. Every second it rescans the ports (`midi_ports`): replugged controllers are
found again, and the ports open are reported to the show (`SetMidiPorts`).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Hashable

from ..midi import MidiDecoder, MidiMapping, MidiMessage, encode, family
from ..params import TABLE
from ..show.commands import Command, SetMidiPorts
from ..show.state import ShowState, StateBoard, StateFollower
from .midi_mapper import MidiMapper
from .midi_ports import MidiPorts, default_api
from .throttle import LogThrottle, held_note

log = logging.getLogger(__name__)

RESCAN_S = 1.0  # how often ports are looked for (a replugged controller is back within this)
POLL_S = 0.003  # the thread's sleep when nothing came: a CC waits at most this long (a refresh is 16 ms)

ClockFeed = Callable[[str, float, int], None]  # MidiClock.feed(kind, at, value)


class MidiAdapter:
    """MIDI in from `inputs` (part of a port name, or 'all'), feedback out to `output`."""

    def __init__(self, submit: Callable[[Command, Hashable], bool], board: StateBoard, inputs: str | None = None,
                 output: str | None = None, api: str | None = None, clock: ClockFeed | None = None,
                 now: Callable[[], float] = time.perf_counter, rescan_s: float = RESCAN_S) -> None:
        self.ports = MidiPorts(api or default_api(), inputs, output)
        self.mapper = MidiMapper()
        self.received = 0  # messages decoded
        self.dropped = 0  # commands the show's full queue refused
        self._submit, self._board, self._clock, self._now, self._rescan_s = submit, board, clock, now, rescan_s
        self._decoders: dict[str, MidiDecoder] = {}
        self._state: ShowState | None = None
        self._lines = LogThrottle(10.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._output_open: str | None = None

    def start(self) -> MidiAdapter:
        self._thread = threading.Thread(target=self._run, name="stylevj-midi", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.ports.close()

    # ---- the MIDI thread --------------------------------------------------------------------------

    def _run(self) -> None:
        follower, next_scan = StateFollower(self._board), 0.0
        self._state = self._board.latest()
        while not self._stop.is_set():
            if time.monotonic() >= next_scan:
                next_scan = time.monotonic() + self._rescan_s
                if self.ports.rescan():
                    self._report_ports()
            now = self._now()
            batch = [(port, data, now - age) for port, data, age in self.ports.take()]
            news = follower.next(timeout=0)
            if news is not None:
                self._follow(*news)
            self._take(batch, now)
            if not batch:
                self._stop.wait(POLL_S)
            else:
                time.sleep(0)  # a flood never holds the render thread off the interpreter

    def _take(self, batch: list[tuple[str, list, float]], now: float) -> None:
        """Handle what arrived up to `now` (read before the ports were): a learn's coarse CC whose
        fine partner is not in it, and arrived more than the pair's wait before `now`, had none."""
        state, commands = self._state, {}
        for port, data, at in batch:
            for message in self._decoders.setdefault(port, MidiDecoder()).feed(data):
                self.received += 1
                if message.clock:
                    self._feed_clock(message, at)
                elif state is not None:
                    for command in self.mapper.handle(message, port, state, at):
                        commands[command.key() if command.coalesce else len(commands)] = (command, port)
        for command in self.mapper.tick(state, now):
            commands[len(commands)] = (command, "")
        for command, port in commands.values():  # a knob's newest value from this batch, the rest in order
            if not self._submit(command, ("midi", port)):
                self.dropped += 1

    def _feed_clock(self, message: MidiMessage, at: float) -> None:
        if self._clock is not None:
            try:
                self._clock(message.kind, at, message.value)
            except Exception as exc:  # the clock refusing a message must never stop the controllers
                self._complain("clock", "MIDI clock: %s", exc)

    def _follow(self, state: ShowState, events: list) -> None:
        """A new state: feedback for knobs changed elsewhere; the show's refusals of our commands logged."""
        self._state = state
        changed = self.mapper.follow(state)
        output = self.ports.output[0] if self.ports.output is not None else None
        if output != self._output_open:  # a (re)opened controller gets every mapped value
            self._output_open = output
            changed = {m.param for m in state.midi.mappings if m.param in TABLE}
        if output is not None:
            for mapping in state.midi.mappings:
                if mapping.param in changed:
                    for data in feedback(mapping, state.params[mapping.param]):
                        self.ports.send(data)
        for event in events:
            origin = event.origin
            if event.name == "error" and isinstance(origin, tuple) and origin[:1] == ("midi",):
                self._complain(("refused", origin[1]), "MIDI from %s refused: %s", origin[1], event.args[0])
            elif event.name == "midi/mapped":
                log.info("MIDI: %s mapped to %s %d on channel %d", *event.args)

    def _report_ports(self) -> None:
        outputs = (self.ports.output[0],) if self.ports.output is not None else ()
        self._submit(SetMidiPorts(tuple(self.ports.inputs), outputs, self.ports.problem), ("midi", ""))

    def _complain(self, key: Hashable, message: str, *args: object) -> None:
        held = self._lines.admit(key)
        if held is not None:
            log.warning(message + held_note(held), *args)


def feedback(mapping: MidiMapping, value: object) -> list[list[int]]:
    """The bytes that show a knob's `value` on the control `mapping` names (LED ring, motor fader)."""
    if family(mapping.param) == "bool":
        full = 16383 if mapping.kind in ("cc14", "pitchbend") else 127
        return encode(mapping.kind, mapping.channel, mapping.number, full if value else 0)
    low, high = mapping.span()
    x = min(max((float(value) - low) / (high - low), 0.0), 1.0)
    full = 16383 if mapping.kind in ("cc14", "pitchbend") else 127
    return encode(mapping.kind, mapping.channel, mapping.number, round(x * full))
