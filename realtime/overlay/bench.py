"""The overlay's cost per frame, for `stylevj bench` (rows in `realtime.bench.Row` form).

Two rows, both the whole composite (picture + both panels) so they compare with the
`composite` row measured just before: `comp+overlay` is a steady frame (the panels' text is
unchanged, each panel is one cached quad); `comp+ovl+print` re-prints the W+ every frame (the
terminal's text laid out and drawn again: what one frame in six costs at 10 Hz on 60 Hz). The
GPU panel reads a real telemetry poller, so on a GPU machine NVML runs beside it as in a show.
"""

from __future__ import annotations

import logging
import time

import torch

from ..errors import StylevjError
from .build import PANELS, build_overlays

log = logging.getLogger(__name__)


def bench_overlay(surface, compositor, image, source: str, G, seconds: float, composite_ms: float | None = None) -> list:
    """Time compositor.draw with both panels over `image` on `surface` (headless), as bench rows."""
    from ..bench import Row, _row, _time_frames
    from ..presets import OverlaySettings

    size = f"{surface.size[0]}x{surface.size[1]}"
    try:
        overlays = build_overlays(OverlaySettings(), panels=PANELS)
    except StylevjError as exc:
        return [Row("comp+overlay", source, str(G.device), size, 1, 0, 0.0, 0.0, 0.0, str(exc)[:80])]
    ctx = surface.ctx
    tensor = overlays.panel("tensor")
    with torch.inference_mode():
        ws = [G.mapping(torch.randn(1, G.z_dim, device=G.device), truncation_psi=0.7)[0] for _ in range(2)]
    count = [0]

    def steady() -> None:
        compositor.draw(surface, image, overlays=overlays.panels)
        ctx.finish()

    def printing() -> None:
        count[0] += 1
        tensor.update(ws[count[0] % 2], float(count[0]))
        steady()

    try:
        tensor.update(ws[0], 0.0)
        steady()  # builds the atlases and starts the telemetry thread
        deadline = time.perf_counter() + 2.0
        while overlays.poller.latest() is None and time.perf_counter() < deadline:
            time.sleep(0.01)
        rows = []
        for part, step, what in (("comp+overlay", steady, "tensor+gpu panels, text unchanged"),
                                 ("comp+ovl+print", printing, "W+ printed and laid out every frame")):
            row = _row(part, source, G, size, _time_frames(step, G.device, seconds), what)
            if composite_ms is not None:
                row.note = f"overlay {row.ms_per_frame - composite_ms:+.2f} ms over composite; {what}"
            rows.append(row)
        return rows
    finally:
        overlays.close()
        for panel in overlays.panels:
            panel.release()
