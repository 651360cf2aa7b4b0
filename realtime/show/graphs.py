"""One frame as a CUDA graph: synthesis plus the RGBA8 conversion, captured once, replayed per frame.

At batch 1 the GPU finishes a kernel faster than Python can launch the next (about 740 aten
calls for a 1024-px frame), so the worker records the whole frame once and replays it with one
launch. A graph reads and writes fixed addresses: it reads the worker's own W+ buffer (`w_in`,
which the worker fills before each replay) and writes `pixels` and `sane`, which the worker
copies or reads after each replay. The worker captures on its own stream and falls back to eager
synthesis, with one log line, if capture fails (graphs.py only captures; the decision is the
worker's). A graph also holds the addresses of the layers' derived constants (models/layers.py),
so the weights must not change while it lives; in a show they never do (the worker recaptures
when the generator, its noise mode or its precision changes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

from ..images import to_pixels

WARMUP_RUNS = 2  # before capture: cuDNN picks its algorithms and every lazy buffer is made, outside the graph


def sanity(img: torch.Tensor) -> torch.Tensor:
    """On the image's device, two booleans: [every value finite, the picture not one flat value]
    (NaN, infinity or one flat value is what an overflow leaves)."""
    lo, hi = torch.aminmax(img.float())
    return torch.stack((torch.isfinite(lo) & torch.isfinite(hi), hi > lo))


@dataclass
class CapturedFrame:
    """A replayable frame: `replay()` refreshes `pixels` (uint8 [H, W, 4]) and `sane` (two bools:
    finite, not flat) from the W+ buffer it was captured on."""

    graph: torch.cuda.CUDAGraph
    pixels: torch.Tensor
    sane: torch.Tensor

    def replay(self) -> None:
        """Queue the whole frame on the current stream (the worker's), with one launch."""
        self.graph.replay()


def capture_frame(G, noise_mode: str, w_in: torch.Tensor,
                  synthesis: Callable[[torch.Tensor], torch.Tensor] | None = None) -> CapturedFrame:
    """Capture `G.synthesis(w_in)` (or `synthesis(w_in)`, the compiled one) + RGBA8 conversion +
    sanity check on the current CUDA stream.

    `capture_error_mode="thread_local"`: the display thread keeps using CUDA during the capture
    (uploads, events), which the default "global" mode would turn into errors in that thread.
    Raises whatever capture raises (the caller falls back to eager).
    """
    stream = torch.cuda.current_stream(w_in.device)
    pixels = torch.zeros(G.resolution, G.resolution, 4, dtype=torch.uint8, device=w_in.device)
    pixels[..., 3] = 255
    if synthesis is None:
        synthesis = partial(G.synthesis, noise_mode=noise_mode)
    for _ in range(WARMUP_RUNS):
        to_pixels(synthesis(w_in), pixels)
    stream.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
        img = synthesis(w_in)
        to_pixels(img, pixels)
        sane = sanity(img)
    return CapturedFrame(graph, pixels, sane)
