"""Limits for what arrives from the network, per sender: a flood costs a bounded number of log
lines, guesses and messages, whatever its size.

    lines = LogThrottle(every_s=10)        # one log line per sender per 10 s, with a count
    held = lines.admit("192.168.1.7")      # None: stay silent; n: log now, n lines were held back
    tries = Strikes(5, 60, 60)             # 5 bad tokens in a minute: that address waits a minute
    pace = Pace(200, 50)                   # 200 messages a second, 50 at once
    await asyncio.sleep(pace.delay())

Every table here is bounded (`keys`): the oldest sender is forgotten first, so a sender that
changes its address each packet cannot grow memory. `LogThrottle` may be shared by threads (OSC's
listener and feedback threads both complain); the others belong to one thread each.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Callable, Hashable

Clock = Callable[[], float]


class LogThrottle:
    """One log line per key (a sender's address) per `every_s`, saying how many were held back."""

    def __init__(self, every_s: float = 10.0, keys: int = 1024, clock: Clock = time.monotonic) -> None:
        self.every_s, self.keys, self.clock = every_s, keys, clock
        self._seen: OrderedDict[Hashable, list] = OrderedDict()  # key -> [last line at, held since]
        self._lock = threading.Lock()

    def admit(self, key: Hashable) -> int | None:
        """None: hold this line back (counted); a number: log it now, mentioning that many held."""
        now = self.clock()
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry[0] < self.every_s:
                entry[1] += 1
                return None
            held = entry[1] if entry is not None else 0
            self._seen[key] = [now, 0]
            self._seen.move_to_end(key)
            while len(self._seen) > self.keys:
                self._seen.popitem(last=False)
            return held


def held_note(held: int) -> str:
    """' (+n more since the last line)' or ''."""
    return f" (+{held} more since the last line)" if held else ""


class Strikes:
    """`limit` strikes within `window_s` lock a key out for `lockout_s` (bad tokens per address)."""

    def __init__(self, limit: int = 5, window_s: float = 60.0, lockout_s: float = 60.0, keys: int = 4096,
                 clock: Clock = time.monotonic) -> None:
        self.limit, self.window_s, self.lockout_s, self.keys, self.clock = limit, window_s, lockout_s, keys, clock
        self._strikes: OrderedDict[Hashable, list[float]] = OrderedDict()
        self._locked: OrderedDict[Hashable, float] = OrderedDict()  # key -> locked until

    def locked(self, key: Hashable) -> bool:
        """True while `key` waits out a lockout."""
        until = self._locked.get(key)
        if until is None:
            return False
        if self.clock() < until:
            return True
        del self._locked[key]
        return False

    def strike(self, key: Hashable) -> bool:
        """Count one failure; True when it locks the key out."""
        now = self.clock()
        times = [t for t in self._strikes.pop(key, []) if now - t < self.window_s] + [now]
        if len(times) >= self.limit:
            self._locked[key] = now + self.lockout_s
            self._trim(self._locked)
            return True
        self._strikes[key] = times
        self._trim(self._strikes)
        return False

    def _trim(self, table: OrderedDict) -> None:
        while len(table) > self.keys:
            table.popitem(last=False)


class Pace:
    """A token bucket: at most `per_second` on average, `burst` at once. `delay()` takes one token
    and says how long to wait before using it (0 when one was there)."""

    def __init__(self, per_second: float, burst: int, clock: Clock = time.monotonic) -> None:
        self.per_second, self.burst, self.clock = per_second, burst, clock
        self._tokens, self._at = float(burst), clock()

    def delay(self) -> float:
        now = self.clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.per_second)
        self._at = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.per_second
