"""The show's one beat clock: tempo, beat and source, read once a refresh by the render thread.

Five sources, one chosen at a time (the table's `clock`): Ableton Link (`link`), a MIDI clock
(`midi`, fed by the MIDI input's thread), taps (`tap`), the music's analysis (`audio`, fed by
the audio driver) and a fixed tempo (`fixed`, the table's `tempo`). A source with no tempo yet
(no Link session joined, no MIDI pulse for half a second, no taps, no beat heard) reads as bpm 0: the beat lock
lets go and the path runs freely until the source speaks.

Whatever a source says, the tempo the show uses stays within the table's range (20..400 BPM):
a Link session at 999 BPM is followed at 400, with one log line when it leaves the range and one
when it comes back; while clamped the beat runs on at the clamped tempo, without jumps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..choices import CLOCK_SOURCES
from .errors import ClockError
from .link import LinkSession
from .midi_clock import GAP, MidiClock
from .sources import AudioFollower, FixedTempo, Line, TapClock, Tempo, check_tempo
from .taps import BPM_RANGE

log = logging.getLogger(__name__)

SOURCES = CLOCK_SOURCES


@dataclass(frozen=True)
class BeatReading:
    """The clock at one refresh: what `ShowState` publishes as `clock`."""

    bpm: float = 0.0  # 0 while the source has no tempo
    beat: float = 0.0  # beats since the source started, with the fraction (phase = beat % 1)
    source: str = "audio"
    peers: int = 0  # Link peers besides this show (0 for the other sources)
    running: bool = False  # False: no tempo, or the source's transport is stopped

    @property
    def phase(self) -> float:
        return self.beat % 1.0

    def to_json(self) -> dict:
        return {"bpm": self.bpm, "source": self.source, "peers": self.peers, "beat": self.beat,
                "running": self.running}


class BeatClock:
    """Every source, and the one chosen. Owned by the session; the render thread selects and
    reads, the MIDI and audio threads feed their own sources (`midi.feed`, `audio.update`)."""

    def __init__(self, source: str = "audio", tempo: float = 120.0, link: LinkSession | None = None) -> None:
        self.fixed = FixedTempo(tempo)
        self.taps = TapClock()
        self.audio = AudioFollower()
        self.midi = MidiClock()
        self.link = link
        self.source = "audio"
        self._clamp: Line | None = None  # while the source's tempo is outside BPM_RANGE
        self.select(source)

    def select(self, source: str) -> None:
        """Follow `source` from now on; Link is joined when chosen and left when not. A ClockError
        for an unknown source, or for Link without a session (the extra, `run --link`)."""
        if source not in SOURCES:
            raise ClockError(f"unknown clock source '{source}' (sources: {', '.join(SOURCES)})")
        if source == "link" and self.link is None:
            raise ClockError("the link clock needs Ableton Link: start with --link (pip install 'stylevj[link]')")
        if self.link is not None and source == "link":
            self.link.join()
        elif self.link is not None:
            self.link.leave()
        if source != self.source:
            log.info("beat clock: %s", source)
        self.source, self._clamp = source, None

    def set_tempo(self, bpm: float, now: float, propose: bool = True) -> None:
        """The fixed tempo (the table's `tempo`, /stylevj/bpm); proposed to Link while following it
        (`propose` False: not, e.g. a preset that joins a session takes the session's tempo)."""
        self.fixed.set(bpm, now)
        if propose and self.source == "link" and self.link is not None:
            self.link.propose(check_tempo(bpm), now)

    def tap(self, at: float) -> float | None:
        """A tap (key T, /stylevj/tap): the tempo the taps give so far, or None; proposed to Link
        while following it."""
        bpm = self.taps.tap(at)
        if bpm is not None and self.source == "link" and self.link is not None:
            self.link.propose(bpm, at)
        return bpm

    def read(self, now: float) -> BeatReading:
        """Tempo and beat of the chosen source at `now` (seconds of the show's clock)."""
        tempo = self._tempo(now)
        if tempo is None:
            self._clamp = None
            return BeatReading(source=self.source)
        bpm, beat = tempo.bpm, tempo.beat
        lo, hi = BPM_RANGE
        if not lo <= bpm <= hi:
            held = min(max(bpm, lo), hi)
            if self._clamp is None:
                log.warning("beat clock: %s tempo %.1f BPM is outside %g..%g; following at %g", self.source, bpm,
                            lo, hi, held)
                self._clamp = Line(held, now, beat)
            beat, bpm = self._clamp.beat(now), held
        elif self._clamp is not None:
            log.info("beat clock: %s tempo %.1f BPM is back in range", self.source, bpm)
            self._clamp = None
        return BeatReading(bpm, beat, self.source, tempo.peers, tempo.running)

    def _tempo(self, now: float) -> Tempo | None:
        if self.source == "fixed":
            return self.fixed.read(now)
        if self.source == "tap":
            return self.taps.read(now)
        if self.source == "audio":
            return self.audio.read(now)
        if self.source == "midi":
            bpm, last = self.midi.bpm, self.midi.last_pulse
            if bpm is None or last is None or now - last > GAP:
                return None  # no clock, or it fell silent (a cable pulled): the path runs freely
            return Tempo(bpm, self.midi.beat(now), self.midi.running)
        return None if self.link is None else self.link.read(now)

    def close(self) -> None:
        """Leave the Link session (the session's end)."""
        if self.link is not None:
            self.link.close()
