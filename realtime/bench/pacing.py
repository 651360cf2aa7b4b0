"""The show stepped at a 60 Hz pace, as a display would step it: refreshes, late ones, frames
shown, and the process's memory (for the soak)."""

from __future__ import annotations

import os
import statistics
import time

import torch

from .results import Row


def host_rss_mb() -> float:
    """Resident memory of this process now (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gpu_mb(device: torch.device) -> float | None:
    """CUDA memory reserved by torch on `device` (None on the CPU)."""
    return torch.cuda.memory_reserved(device) / 2**20 if device.type == "cuda" else None


def paced_loop(show, label: str, duration: float, source: str, G) -> Row:
    """Step the show at a 60 Hz pace for `duration` seconds; one row (recording for 'loop+record')."""
    from ..show.commands import StartRecording, StopRecording

    if label == "loop+record":
        show.submit(StartRecording("bench"))
    rss0, gpu0 = host_rss_mb(), gpu_mb(G.device)
    intervals: list[float] = []
    late, shown0 = 0, show.stats.frames_shown
    period = 1 / 60
    start = previous = time.perf_counter()
    while previous - start < duration:
        show.step()
        show.surface.ctx.finish()
        time.sleep(max(0.0, period - (time.perf_counter() - previous)))
        now = time.perf_counter()
        intervals.append((now - previous) * 1000)
        late += (now - previous) > 1.5 * period
        previous = now
    elapsed = time.perf_counter() - start
    fps = (show.stats.frames_shown - shown0) / elapsed
    note = f"{len(intervals) / elapsed:.1f} refreshes/s, {late} late, generated {fps:.1f} frames/s shown, upload {show.sink.kind}"
    if label == "loop+record":
        note += f", recording 30 frames/s: {show.recorder.dropped} dropped"
        show.submit(StopRecording())
        show.step()
    if label == "soak":
        gpu = "" if gpu0 is None else f", GPU {gpu0:.0f} -> {gpu_mb(G.device):.0f} MB"
        note = f"host RSS {rss0:.0f} -> {host_rss_mb():.0f} MB{gpu}; {note}"
    return Row(label, source, str(G.device), "fp16" if G.uses_fp16 else "fp32", 1, len(intervals),
               round(statistics.median(intervals), 3), round(min(intervals), 3), round(len(intervals) / elapsed, 2), note)
