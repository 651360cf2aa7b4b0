"""The show's beat: one clock fed by Ableton Link, MIDI clock, taps, the music's analysis or a fixed tempo.

Knows nothing of the show or its adapters: the show reads a `BeatClock` each frame; the MIDI
input, the Link session and the audio analysis feed it.
"""

from .beat_clock import SOURCES, BeatClock, BeatReading
from .errors import ClockError
from .link import LinkSession, load_link
from .midi_clock import MidiClock
from .taps import BPM_RANGE, TapTempo, fit_taps

__all__ = ["BPM_RANGE", "BeatClock", "BeatReading", "ClockError", "LinkSession", "MidiClock", "SOURCES",
           "TapTempo", "fit_taps", "load_link"]
