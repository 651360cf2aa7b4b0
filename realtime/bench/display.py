"""What the picture costs between the generator and the screen: each upload path (host copy, CUDA-GL
interop), the composite, and the overlay panels on top of it."""

from __future__ import annotations

import time

import torch

from ..errors import StylevjError
from .results import Row, time_frames, timed_row


def bench_surface(surface, G, source: str, seconds: float) -> list[Row]:
    """Rows for `surface` (headless, the size the loop runs at): upload (each available path),
    composite, and the overlay over that composite."""
    from ..display import Compositor, choose_sink
    from ..images import to_pixels

    size = surface.size
    ctx = surface.ctx
    rows: list[Row] = []
    frame = to_pixels(G.synthesis(G.mapping(torch.randn(1, G.z_dim).to(G.device))),
                      torch.full((G.resolution, G.resolution, 4), 255, dtype=torch.uint8, device=G.device))
    for mode in ("host", "interop"):
        try:
            sink, why = choose_sink(mode, ctx, G.device)
        except StylevjError as exc:
            rows.append(Row(f"upload-{mode}", source, str(G.device), "rgba8", 1, 0, 0.0, 0.0, 0.0, str(exc)[:80]))
            continue
        times = time_frames(lambda: (sink.upload(frame), ctx.finish()), G.device, min(seconds, 2.0))
        rows.append(timed_row(f"upload-{mode}", source, G, "rgba8", times, why))
        if mode == "host":
            compositor = Compositor(ctx, fit="contain")
            times = time_frames(lambda: (compositor.draw(surface, sink.current), ctx.finish()), G.device, min(seconds, 2.0))
            rows.append(timed_row("composite", source, G, f"{size[0]}x{size[1]}", times, "contain, no overlay"))
            rows += bench_overlay(surface, compositor, sink.current, source, G, min(seconds, 2.0), rows[-1].ms_per_frame)
        sink.release()
    return rows


def bench_overlay(surface, compositor, image, source: str, G, seconds: float, composite_ms: float) -> list[Row]:
    """The overlay's cost per frame: the whole composite (picture + both panels), to compare
    with the `composite` row. `comp+overlay` is a steady frame (the panels' text unchanged, each
    panel one cached quad); `comp+ovl+print` re-prints the W+ every frame (what one frame in six
    costs at 10 Hz on 60 Hz). The GPU panel reads a running telemetry poller, as in a show."""
    from ..overlay import PANELS, build_overlays
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

    overlays.poller.start()
    try:
        tensor.update(ws[0], 0.0)
        steady()  # builds the atlases
        deadline = time.perf_counter() + 2.0
        while overlays.poller.latest() is None and time.perf_counter() < deadline:
            time.sleep(0.01)
        rows = []
        for part, step, what in (("comp+overlay", steady, "tensor+gpu panels, text unchanged"),
                                 ("comp+ovl+print", printing, "W+ printed and laid out every frame")):
            row = timed_row(part, source, G, size, time_frames(step, G.device, seconds), what)
            row.note = f"overlay {row.ms_per_frame - composite_ms:+.2f} ms over composite; {what}"
            rows.append(row)
        return rows
    finally:
        overlays.close()
        for panel in overlays.panels:
            panel.release()
