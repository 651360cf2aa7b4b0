"""Ableton Link: the show's beat clock against a foreign Link peer in this process.

The phase difference is read at the same instant on both (the peer on Link's clock, the show on
its own, turned into Link's by `LinkSession`): what the beat lock sees against the session. Both
peers share this machine's clock, so the figure is this side's error (time conversion, reading);
across machines Link's own clock sync adds its part. Also: how long joining takes to see the
peer, and what one `BeatClock.read` costs the render thread. Joins whatever Link session the
local network has (reads only: it proposes no tempo). Skipped, with a log line, without the
link extra.
"""

from __future__ import annotations

import logging
import statistics
import time

from .results import Row

log = logging.getLogger(__name__)


def bench_link(seconds: float = 3.0) -> list[Row]:
    """Rows `link-phase` (|phase difference| in ms) and `link-read` (ms a read), or none."""
    try:
        import link
    except ImportError:
        log.info("bench: no Link rows (pip install 'stylevj[link]')")
        return []
    from ..clock import BeatClock, LinkSession

    peer = link.Link(120.0)
    peer.enabled = True
    clock = BeatClock("fixed", link=LinkSession(120.0))
    try:
        start = time.perf_counter()
        clock.select("link")
        while clock.read(time.perf_counter()).peers < 1 and time.perf_counter() - start < 10.0:
            time.sleep(0.002)
        joined_ms = (time.perf_counter() - start) * 1000
        if clock.read(time.perf_counter()).peers < 1:
            log.warning("bench: the Link peer was not seen within 10 s (multicast blocked?): no Link rows")
            return []
        errors, reads = [], []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            now = time.perf_counter()
            micros = peer.clock().micros()
            ours = clock.read(now)
            reads.append((time.perf_counter() - now) * 1000)
            theirs = peer.captureAppSessionState().beatAtTime(micros, 4.0)
            lag = ((ours.beat - theirs + 2.0) % 4.0) - 2.0  # the same bar phase (quantum 4)
            errors.append(abs(lag) * 60.0 / ours.bpm * 1000)
            time.sleep(0.001)
    finally:
        clock.close()
        peer.enabled = False
    phase, read = statistics.median(errors), statistics.median(reads)
    return [Row("link-phase", "Link peer", "cpu", "ms", 1, len(errors), round(phase, 4), round(min(errors), 4), 0.0,
                f"|beat phase difference| to a Link peer in this process at the same instant, max {max(errors):.3f} ms; "
                f"joined and saw the peer in {joined_ms:.0f} ms; ms columns are phase error here"),
            Row("link-read", "Link peer", "cpu", "-", 1, len(reads), round(read, 4), round(min(reads), 4),
                round(1000 / read, 1), "one BeatClock.read (Link's session state captured) on the render thread")]
