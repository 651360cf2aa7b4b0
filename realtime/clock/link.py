"""Ableton Link: the session's tempo and beat, read at any instant, and a tempo proposed to it.

Through `linkpython-extern` (the `link` extra), which wraps Ableton's Link SDK as it is: the
session state can be read at a given time (the render thread asks for the beat of the refresh
it draws, not of the moment it happens to call), and no event loop is needed (`aalink`, the other
binding measured, wants a running asyncio loop and answers only "now"; docs/performance.md).
Link is GPL-2.0-or-later: installing the extra brings it in (the README's extras table).

Link keeps its own clock (CLOCK_MONOTONIC_RAW on Linux); a time of the show's clock is turned
into Link's by reading both at once. The beat is read with a quantum of one 4/4 bar, so beat
numbers agree with the peers' bars (Live's phase), not only within a beat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .errors import ClockError
from .sources import Tempo

log = logging.getLogger(__name__)

QUANTUM = 4.0
"""Beats in the bar the session's phase is shared over."""


def load_link():
    """The `link` module of linkpython-extern, or a ClockError saying how to install it."""
    try:
        import link  # noqa: PLC0415 - optional extra, imported when a session is made
    except ImportError:
        raise ClockError("Ableton Link needs the link extra: pip install 'stylevj[link]'") from None
    return link


class LinkSession:
    """One peer in the Link session of the local network. `join()` enables it (Link's own
    threads start then, in the SDK), `leave()` disables it; `read(now)` answers the session's
    tempo and beat at `now` (seconds of `clock`); `propose(bpm)` asks the session for a tempo.

    `start_stop`: follow the session's transport (a stopped session stops the beat lock).
    """

    def __init__(self, bpm: float = 120.0, start_stop: bool = False,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._link = load_link().Link(float(bpm))
        self._link.startStopSyncEnabled = bool(start_stop)
        self.start_stop = bool(start_stop)
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def joined(self) -> bool:
        return bool(self._link.enabled)

    def join(self) -> None:
        with self._lock:
            if not self._link.enabled:
                self._link.enabled = True
                log.info("Link: joined the session on the local network")

    def leave(self) -> None:
        with self._lock:
            if self._link.enabled:
                self._link.enabled = False
                log.info("Link: left the session")

    @property
    def peers(self) -> int:
        return int(self._link.numPeers())

    def _micros(self, now: float) -> int:
        """`now` (seconds of the show's clock) on Link's clock, in microseconds."""
        return int(self._link.clock().micros() + (now - self._clock()) * 1e6)

    def read(self, now: float) -> Tempo | None:
        """The session's tempo and beat at `now`, or None while not joined."""
        if not self._link.enabled:
            return None
        state = self._link.captureAppSessionState()
        at = self._micros(now)
        playing = state.isPlaying() if self.start_stop else True
        return Tempo(float(state.tempo()), float(state.beatAtTime(at, QUANTUM)), playing, self.peers)

    def propose(self, bpm: float, now: float | None = None) -> None:
        """Ask the session for `bpm` from `now` on (the peers follow; Link itself keeps 20..999)."""
        state = self._link.captureAppSessionState()
        state.setTempo(float(bpm), self._micros(self._clock() if now is None else now))
        self._link.commitAppSessionState(state)
        log.info("Link: proposed %.2f BPM to the session", bpm)

    def close(self) -> None:
        self.leave()
