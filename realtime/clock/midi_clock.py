"""MIDI clock follower: 24 pulses per quarter note plus start, stop, continue and song position.

Pure: no ports, no threads of its own. A MIDI input thread calls `feed` with each real-time
message and the time it arrived, on the show's clock (`time.perf_counter()`, what `Show.clock`
reads); the render thread reads `bpm`, `beat(now)` and `running`.

The tempo is a least-squares line through the last bar of pulse times (96 pulses), so a pulse
that comes 2 ms early or late moves the tempo by hundredths of a BPM, not by the tenth of the
tempo one late pulse would make of a single interval; a tempo change is followed within a bar.
The beat between pulses is read off the same line, never more than one pulse beyond the last
pulse heard, so a clock that falls silent freezes the beat instead of running on.

Song position (MIDI spec): Start sets the position to zero and the next pulse is beat 0; Song
Position sets it to `value` sixteenth notes (6 pulses each); Continue resumes from where it is.
A clock that sends pulses but never Start or Stop runs freely from its first pulse.
"""

from __future__ import annotations

import math
import threading
from collections import deque

from .errors import ClockError

PPQN = 24
"""Pulses per quarter note (one beat)."""
BAR_PULSES = 4 * PPQN
"""Pulses the tempo is fitted over: one 4/4 bar."""
MIN_PULSES = PPQN // 2
"""Pulses needed before there is a tempo (half a beat): two pulses alone would wobble."""
GAP = 0.5
"""Seconds without a pulse after which the next pulse starts a fresh tempo fit (20 BPM is 0.125 s a pulse)."""
SONGPOS_MAX = 16383
"""Song position is a 14-bit count of sixteenth notes."""
KINDS = ("clock", "start", "stop", "continue", "songpos")


class MidiClock:
    """Tempo and beat from a MIDI clock. Thread-safe: one thread feeds, any thread reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: deque[float] = deque(maxlen=BAR_PULSES)  # arrival of the pulses in the fit
        self._next = 0  # song position (in pulses) the next pulse will mark
        self._last: int | None = None  # song position of the last pulse heard while running
        self._transport = False  # a start/stop/continue has been seen: obey it from now on
        self._running = False
        self._line: tuple[float, float] | None = None  # (seconds per pulse, time of the last pulse on the line)

    # -- the feeding thread ----------------------------------------------------------------------

    def feed(self, kind: str, at: float, value: int = 0) -> None:
        """One MIDI real-time message: `kind` in KINDS ("clock" is 0xF8, "songpos" carries `value`
        sixteenth notes), `at` its arrival in seconds of the clock `beat(now)` is read with."""
        if not isinstance(at, (int, float)) or not math.isfinite(at):
            raise ClockError(f"MIDI clock message time must be a finite number of seconds, got {at!r}")
        with self._lock:
            if kind == "clock":
                self._pulse(float(at))
            elif kind == "start":
                self._transport, self._running, self._next, self._last = True, True, 0, None
            elif kind == "continue":
                self._transport, self._running = True, True
            elif kind == "stop":
                self._transport, self._running = True, False
            elif kind == "songpos":
                if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= SONGPOS_MAX:
                    raise ClockError(f"MIDI song position must be 0..{SONGPOS_MAX} sixteenths, got {value!r}")
                self._next, self._last = value * PPQN // 4, None
            else:
                raise ClockError(f"unknown MIDI clock message '{kind}' (messages: {', '.join(KINDS)})")

    def _pulse(self, at: float) -> None:
        if self._times and not 0.0 < at - self._times[-1] <= GAP:
            self._times.clear()  # the clock paused (or time ran backwards): a fresh fit
        self._times.append(at)
        self._line = _fit(self._times)
        if not self._transport:
            self._running = True
        if self._running:
            self._last, self._next = self._next, self._next + 1

    # -- readers ---------------------------------------------------------------------------------

    @property
    def bpm(self) -> float | None:
        """The tempo over the last bar of pulses, or None before half a beat of them."""
        with self._lock:
            line = self._line
        return None if line is None else 60.0 / (line[0] * PPQN)

    @property
    def running(self) -> bool:
        """True between Start (or Continue) and Stop, or while a transport-less clock pulses."""
        with self._lock:
            return self._running

    def beat(self, now: float) -> float:
        """Position in beats (quarter notes) at time `now`: the song position, moving between
        pulses along the fitted tempo while running, at most one pulse past the last one."""
        with self._lock:
            if not self._running or self._last is None:
                return self._next / PPQN
            last, line = self._last, self._line
            if line is None:
                return last / PPQN
            period, last_at = line
            ahead = min(max((now - last_at) / period, -1.0), 1.0)
            return (last + ahead) / PPQN

    @property
    def last_pulse(self) -> float | None:
        """Arrival time of the newest pulse (to tell a clock that went silent), or None."""
        with self._lock:
            return self._times[-1] if self._times else None


def _fit(times: deque[float]) -> tuple[float, float] | None:
    """(seconds per pulse, where the line puts the newest pulse) by least squares, or None when
    there are too few pulses for a steady tempo."""
    n = len(times)
    if n < MIN_PULSES:
        return None
    t0 = times[0]
    mean_i = (n - 1) / 2.0
    mean_t = sum(t - t0 for t in times) / n
    sxy = sum((i - mean_i) * (t - t0 - mean_t) for i, t in enumerate(times))
    sxx = n * (n * n - 1) / 12.0
    period = sxy / sxx
    if period <= 0.0:
        return None
    return period, t0 + mean_t + period * (n - 1 - mean_i)
