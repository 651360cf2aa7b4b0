"""Progress of a projection as log lines: step, loss, speed and time left, every few seconds.

Plain logging rather than a terminal bar, so the same lines read well in a terminal, a log file
and CI, and no dependency is added. The first step, the last step and one step every `every`
seconds in between are reported.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)


def format_seconds(seconds: float) -> str:
    seconds = round(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Call `update(step, steps, loss)` after each step; it logs when a line is due.

    Speed is measured from the end of the first step, which carries one-off warm-up costs.
    """

    def __init__(self, label: str, every: float = 5.0, clock=time.perf_counter) -> None:
        self.label = label
        self.every = every
        self.clock = clock
        self._first: float | None = None
        self._last: float | None = None

    def update(self, step: int, steps: int, loss: float) -> None:
        now = self.clock()
        done = step + 1
        if self._first is None:
            self._first = now
        elif done != steps and self._last is not None and now - self._last < self.every:
            return
        self._last = now
        speed = ""
        if done > 1:
            rate = (done - 1) / max(now - self._first, 1e-9)
            speed = f"  {rate:.2f} steps/s  {format_seconds((steps - done) / rate)} left"
        log.info("%s: step %d/%d (%3.0f%%)  loss %.5f%s", self.label, done, steps, 100 * done / steps, loss, speed)
