"""The whole show, headless: the display rows, then the paced loop alone, while recording, with the
operator page open and through a long soak, and OSC and MIDI to applied, all on one running show."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..models import load_generator
from .control import osc_latency, page_loop
from .display import bench_surface
from .midi import midi_latency
from .pacing import paced_loop
from .results import Row


def state_cost(show, source: str, G, count: int = 2000) -> Row:
    """What the render thread pays each refresh to publish the state (a frozen `ShowState`
    carrying every parameter), and what setting one parameter costs (`SetParam` made, queued
    and applied at a frame boundary): medians of `count` each, in microseconds."""
    import statistics
    import time

    from ..show.commands import SetParam

    publish, setting = [], []
    for n in range(count):
        t0 = time.perf_counter()
        show.publish()
        t1 = time.perf_counter()
        show.submit(SetParam("fader", 0.5 + 0.5 * (n % 2)))
        show.apply_commands()  # the frame boundary, without drawing a frame
        t2 = time.perf_counter()
        publish.append(t1 - t0)
        setting.append(t2 - t1)
    us, set_us = statistics.median(publish) * 1e6, statistics.median(setting) * 1e6
    return Row("state", source, str(G.device), "-", 1, count, us / 1000, min(publish) * 1e3, 0.0,
               f"publishing the state: {us:.1f} us a refresh (median of {count}); SetParam made, queued and "
               f"applied: {set_us:.1f} us")


def bench_loop(source: str, device: str, seconds: float, size: tuple[int, int] = (1920, 1080), soak: float = 0.0) -> list[Row]:
    """The whole show, headless at `size`: upload paths, compositing, overlay, and the paced loop.

    Rows: upload (each available path), composite, overlay (steady and re-printing), loop
    (refreshes/s at a 60 Hz pace, late refreshes = intervals over 1.5 periods), loop while
    recording, loop with the operator page open (its thumbnails streaming), with soak > 0 a long run's memory at start/end, and OSC message and MIDI CC to applied.
    """
    from ..display import HeadlessSurface
    from ..presets import default_preset_path, load_preset
    from ..record.recorder import LiveRecorder
    from ..session import ShowSession, build_show

    G = load_generator(source, device=device)
    surface = HeadlessSurface(size)
    try:
        rows = bench_surface(surface, G, source, seconds)
        record_dir = Path(tempfile.mkdtemp(prefix="stylevj-bench-"))
        show = build_show(G, load_preset(default_preset_path()), surface, recorder=LiveRecorder(record_dir, fps=30))
        try:
            with ShowSession(show, close_surface=False):
                show.wait_for_first_frame()
                for label, duration in (("loop", seconds), ("loop+record", seconds), ("soak", soak)):
                    if duration > 0:
                        rows.append(paced_loop(show, label, duration, source, G))
                rows.append(state_cost(show, source, G))
                rows.append(page_loop(show, seconds, source, G))
                rows.append(osc_latency(show, source, G))
                rows.append(midi_latency(show, source, G))
        finally:
            shutil.rmtree(record_dir, ignore_errors=True)
    finally:
        surface.close()
    return rows
