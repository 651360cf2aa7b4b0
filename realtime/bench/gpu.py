"""One show frame on CUDA at batch 1, timed with CUDA events: latency (waited for) and throughput
(frames queued back to back), eager or replayed as the worker's CUDA graph."""

from __future__ import annotations

import statistics
import time
from functools import partial
from typing import Callable

import torch

from ..errors import StylevjError
from ..models import compile_synthesis, load_generator
from .results import Row

WARMUPS = 20  # frames before timing: cuDNN autotuning, lazy buffers, clocks up
PIPELINE = 50  # frames queued back to back per throughput sample


def cuda_timing(step: Callable[[], object], stream: torch.cuda.Stream, seconds: float,
                 warmups: int = WARMUPS) -> tuple[list[float], list[float]]:
    """CUDA-event timing of `step` on `stream`: (latency per frame, synchronised each frame;
    pipelined ms per frame, PIPELINE frames queued back to back). Both in ms, after `warmups`."""
    def timed(frames: int) -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(stream)
        for _ in range(frames):
            step()
        end.record(stream)
        end.synchronize()
        return start.elapsed_time(end) / frames

    for _ in range(warmups):
        step()
    stream.synchronize()
    latency: list[float] = []
    deadline = time.perf_counter() + seconds / 2
    while len(latency) < 20 or time.perf_counter() < deadline:
        latency.append(timed(1))
    pipelined: list[float] = []
    deadline = time.perf_counter() + seconds / 2
    while len(pipelined) < 3 or time.perf_counter() < deadline:
        pipelined.append(timed(PIPELINE))
    return latency, pipelined


def timing_rows(part: str, source: str, G, precision: str, latency: list[float], pipelined: list[float],
                 note: str) -> list[Row]:
    rows = []
    for kind, times in (("latency", latency), ("throughput", pipelined)):
        median = statistics.median(times)
        what = "one frame, waited for" if kind == "latency" else f"{PIPELINE} frames queued back to back"
        rows.append(Row(f"{part} {kind}", source, str(G.device), precision, 1, len(times), round(median, 3),
                        round(min(times), 3), round(1000 / median, 2), f"{what}; CUDA events; {note}"))
    return rows


def bench_frame(source: str, device: str, precision: str, graph: bool, seconds: float,
                compile: bool = False) -> list[Row]:
    """One show frame on CUDA at batch 1: synthesis + RGBA8 conversion + sanity check, eagerly or
    replayed as the worker's CUDA graph (show/graphs.py), on a side stream like the worker's.
    `compile`: the synthesis `stylevj run --compile` uses (parity-checked; one row saying why if not)."""
    from ..images import to_pixels
    from ..show.graphs import capture_frame, sanity

    G = load_generator(source, device=device, fp16=precision == "fp16")
    if G.device.type != "cuda":
        raise StylevjError("bench_frame times CUDA work: give a CUDA device")
    label = precision + ("+compile" if compile else "") + ("+graph" if graph else "")
    rng = torch.Generator().manual_seed(0)
    stream = torch.cuda.Stream(G.device)
    with torch.inference_mode(), torch.cuda.stream(stream):
        synthesis, note = partial(G.synthesis, noise_mode="const"), "eager (one launch per op)"
        if compile:
            synthesis, note = compile_synthesis(G)
            if synthesis is None:
                return [Row("frame", source, str(G.device), label, 1, 0, 0.0, 0.0, 0.0, note)]
        w_in = G.mapping(torch.randn(1, G.z_dim, generator=rng).to(G.device), truncation_psi=0.7).contiguous()
        if graph:
            step = capture_frame(G, "const", w_in, synthesis=synthesis).replay
            note = "CUDA graph replay" + ("; " + note if compile else "")
        else:
            pixels = torch.full((G.resolution, G.resolution, 4), 255, dtype=torch.uint8, device=G.device)

            def step() -> None:
                img = synthesis(w_in)
                to_pixels(img, pixels)
                sanity(img)

        latency, pipelined = cuda_timing(step, stream, seconds)
    return timing_rows("frame", source, G, label, latency, pipelined, note)
