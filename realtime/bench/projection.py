"""`stylevj project` speed: optimisation steps per second for one image."""

from __future__ import annotations

import logging
import time

import torch

from ..models import load_generator
from .results import Row, timed_row

log = logging.getLogger(__name__)


def bench_projection(devices: list[str], sources: tuple[str, ...] = ("demo", "arch:ffhq-1024"), steps: int = 3,
                     vgg_weights: str | None = None) -> list[Row]:
    """`stylevj project` speed: optimisation steps per second for one image (256 and 1024 px).

    The loss is the default one: VGG16 perceptual (at 256 px) plus pixel MSE when VGG16 weights
    are found, else pixel MSE alone (the note says which). One warm-up step is not counted.
    """
    from ..projection import PerceptualDistance, ProjectionSettings, find_weights, load_vgg16, project

    weights = find_weights(vgg_weights)
    rows = []
    for device in devices:
        for source in sources:
            G = load_generator(source, device=device, fp16=False)
            perceptual = PerceptualDistance(load_vgg16(weights, G.device)).to(G.device) if weights else None
            z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)).to(G.device)
            target = G.synthesis(G.mapping(z), noise_mode="const").clamp(-1, 1)
            ticks: list[float] = []

            def tick(_info, device=G.device, ticks=ticks) -> None:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                ticks.append(time.perf_counter())

            settings = ProjectionSettings(steps=steps + 1, loss="both" if perceptual else "mse")
            log.info("bench: projection %s on %s, %d steps ...", source, device, steps)
            project(G, target, settings, perceptual, on_step=tick, spread=1.0)
            times = [1000 * (b - a) for a, b in zip(ticks, ticks[1:])]
            note = "loss both (VGG16 at 256 px + MSE)" if perceptual else "loss mse (no VGG16 weights found)"
            rows.append(timed_row("projection", source, G, "fp32", times, note + "; frames/s = steps/s"))
    return rows
