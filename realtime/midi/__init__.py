"""MIDI as data, with no port and no thread: the messages a port's bytes are (`messages.py`, read
the way the MIDI 1.0 spec says) and a mapping from a controller's message to a knob of the
parameter table (`mapping.py`, the preset's `[[midi]]` table). Light: the standard library and
layer 0 only. The ports, the adapter's thread, learning and pickup are the control adapter's
(`realtime/control/midi*.py`); MIDI clock's tempo is the beat clock's (`realtime/clock/midi_clock.py`).
"""

from .mapping import KINDS, MODES, TRIGGERS, MidiMapping, family, learnable, modes_for, targets, unknown_target
from .messages import MidiDecoder, MidiMessage, encode

__all__ = ["KINDS", "MODES", "MidiDecoder", "MidiMapping", "MidiMessage", "TRIGGERS", "encode", "family", "learnable",
           "modes_for", "targets", "unknown_target"]
