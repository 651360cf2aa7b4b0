"""The generator's speed: synthesis of one W+ per precision (and through torch.compile), and the
knobs with meaning on top of it (direction controls gliding, a network bend)."""

from __future__ import annotations

import logging
import statistics

import torch

from ..models import compile_synthesis, load_generator
from .results import Row, time_frames, timed_row

log = logging.getLogger(__name__)


def bench_generator(source: str, device: str, precision: str, seconds: float, batch: int = 1) -> Row:
    """Synthesis of one W+ batch (the per-frame work of the show; mapping is per keyframe).

    precision: fp32, fp16 (the checkpoint's fp16 layers) or fp16+cl (those in channels_last);
    a `+compile` suffix times `models.compile_synthesis` (batch 1; compile time in the note).
    """
    compiled = precision.endswith("+compile")
    base = precision.removesuffix("+compile")
    G = load_generator(source, device=device, fp16=base.startswith("fp16"), channels_last=base.endswith("+cl"))
    rng = torch.Generator().manual_seed(0)
    ws = G.mapping(torch.randn(batch, G.z_dim, generator=rng).to(G.device), truncation_psi=0.7)
    note = "" if base == "fp32" or G.uses_fp16 else "no fp16 layers in this checkpoint"
    if base.endswith("+cl"):
        note = (note + "; " if note else "") + "channels_last in fp16 layers"
    synthesis = G.synthesis
    if compiled:
        synthesis, why = compile_synthesis(G)
        note = (note + "; " if note else "") + why
        if synthesis is None:
            return Row("generator", source, str(G.device), precision, batch, 0, 0.0, 0.0, 0.0, note)
    with torch.inference_mode():
        times = time_frames(lambda: synthesis(ws), G.device, seconds)
    median = statistics.median(times)
    return Row("generator", source, str(G.device), precision, batch, len(times), round(median, 3),
               round(min(times), 3), round(1000 * batch / median, 2), note)


def run_bench(sources: list[str], devices: list[str], seconds: float, compile: bool = False) -> list[Row]:
    """Generator rows for every source on every device, at each precision the device has."""
    rows = []
    for device in devices:
        precisions = ["fp32", "fp16", "fp16+cl"] if device.startswith("cuda") else ["fp32"]
        if compile:
            precisions.append("fp16+compile" if device.startswith("cuda") else "fp32+compile")
        for source in sources:
            for precision in precisions:
                log.info("bench: %s on %s, %s ...", source, device, precision)
                rows.append(bench_generator(source, device, precision, seconds))
                log.info("  %.2f ms/frame", rows[-1].ms_per_frame)
    return rows


def bench_knobs(source: str, device: str, seconds: float) -> list[Row]:
    """Per-frame cost of knobs with meaning: eight direction controls gliding (their summed W+
    offset, on the render thread), and the synthesis with a bend next to the plain one."""
    from ..latent.controls import Controls, Knob
    from ..latent.directions import direction_offset, sefa
    from ..models.bending import Bend

    G = load_generator(source, device=device)
    precision = "fp16" if G.uses_fp16 else "fp32"
    w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)).to(G.device), truncation_psi=0.7)
    vectors = sefa(G).vectors[:8].to(G.device)
    controls = Controls([Knob(f"k{i}", -3.0, 3.0, 0.25, unit_offset=direction_offset(v, 1.0, None, G.num_ws))
                         for i, v in enumerate(vectors)])
    flip = [3.0]

    def knobs() -> None:
        flip[0] = -flip[0]  # every frame a jump across the range: all eight always gliding
        for name in controls.names:
            controls.set(name, flip[0])
        controls.advance(1 / 60)
        offset = controls.offset()  # None on the frame all pass through 0
        if offset is not None:
            w[0] + offset

    rows = [timed_row("controls x8", source, G, "fp32", time_frames(knobs, G.device, seconds),
                 "eight direction controls gliding: the summed W+ offset per frame")]
    points = G.synthesis.resolutions  # where a bend may act (StyleGAN2 blocks; StyleGAN3: bending.py's layers)
    res = points[len(points) // 2]
    bend = (Bend(res, rotate=30.0, zoom=1.2),)
    with torch.inference_mode():
        plain = time_frames(lambda: G.synthesis(w), G.device, seconds)
        bent = time_frames(lambda: G.synthesis(w, bend=bend), G.device, seconds)
    rows.append(timed_row("bend", source, G, precision, bent,
                     f"rotate + zoom at {res} px; the same synthesis unbent: {statistics.median(plain):.3f} ms"))
    return rows
