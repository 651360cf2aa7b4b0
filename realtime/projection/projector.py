"""Projection: find the W+ from which the generator draws a given image, by gradient descent.

The method (after NVIDIA's StyleGAN2 projector, written anew, and optimising W+ rather than W):
every image starts at `w_avg` broadcast to all W+ rows; Adam follows a learning rate that ramps
up over the first 5% of steps and down along a half cosine over the last 25%; during the first
75% a Gaussian perturbation, shrinking quadratically to zero, is added to w before synthesis, so
early steps explore instead of settling into the nearest local fit. The loss is the perceptual
distance (perceptual.py) plus a weighted pixel MSE, or either alone.

The generator's noise inputs stay at its constant buffers (noise_mode="const") and are never
optimised: the saved keyframe then renders the reconstruction exactly on stage, where projectors
that also fit noise maps but save only w give faces that do not come back.

A batch of images is optimised together: the loss is the sum of per-image losses, and Adam's
updates are per coordinate, so each image's W+ follows its own gradient.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .perceptual import PerceptualDistance
from ..choices import LOSSES

SPREAD_SAMPLES = 4096
SPREAD_SEED = 1


@dataclass(frozen=True)
class ProjectionSettings:
    """How to optimise. Fractions are of the total number of steps."""

    steps: int = 1000
    loss: str = "both"  # perceptual | mse | both
    mse_weight: float = 1.0  # pixel MSE (images in [-1, 1]) relative to the perceptual distance, for "both"
    learning_rate: float = 0.1
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    w_noise: float = 0.05  # perturbation std at the start, times the RMS distance of mapped W from their mean
    w_noise_ramp: float = 0.75
    seed: int = 0  # for the perturbation: the same inputs give the same keyframes

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")

    def learning_rate_at(self, t: float) -> float:
        """The learning rate at progress t in (0, 1): ramp up, hold, half-cosine down to 0 at t = 1."""
        down = min(1.0, (1.0 - t) / self.lr_rampdown) if self.lr_rampdown > 0 else 1.0
        ramp = 0.5 - 0.5 * math.cos(math.pi * max(down, 0.0))
        up = min(1.0, t / self.lr_rampup) if self.lr_rampup > 0 else 1.0
        return self.learning_rate * ramp * up

    def noise_at(self, t: float) -> float:
        """Perturbation strength (a fraction of the W spread) at progress t: quadratic decay to 0."""
        if self.w_noise_ramp <= 0:
            return 0.0
        return self.w_noise * max(0.0, 1.0 - t / self.w_noise_ramp) ** 2


@dataclass
class StepInfo:
    """What a step callback sees: the step (0-based), per-image losses [B], and the images drawn."""

    step: int
    steps: int
    losses: dict[str, torch.Tensor]
    images: torch.Tensor  # [B, 3, R, R] from the perturbed w of this step, detached


@dataclass
class Projection:
    """The result for a batch: W+ [B, num_ws, w_dim], their images, final per-image losses."""

    ws: torch.Tensor
    images: torch.Tensor
    losses: dict[str, torch.Tensor]  # "total", "mse", "psnr_db", and "perceptual" when computed
    seconds: float
    steps: int


@torch.no_grad()
def w_spread(G) -> float:
    """The RMS distance of mapped W from their mean (fixed seed): the scale of W for this generator."""
    rng = torch.Generator().manual_seed(SPREAD_SEED)
    z = torch.randn(SPREAD_SAMPLES, G.z_dim, generator=rng).to(G.device)
    w = torch.cat([G.mapping(chunk)[:, 0] for chunk in z.split(1024)]).double()
    return float((w - w.mean(dim=0)).square().sum(dim=1).mean().sqrt())


class ProjectionLoss:
    """Per-image losses [B] of generated images against fixed targets [B, 3, R, R] in [-1, 1]."""

    def __init__(self, targets: torch.Tensor, kind: str, mse_weight: float, perceptual: PerceptualDistance | None) -> None:
        if kind in ("perceptual", "both") and perceptual is None:
            raise ValueError(f"loss '{kind}' needs a PerceptualDistance")
        self.targets = targets
        self.kind = kind
        self.mse_weight = mse_weight
        self.perceptual = perceptual
        self.target_features = None
        if perceptual is not None:
            with torch.no_grad():
                self.target_features = perceptual.features(targets)

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        mse = (images - self.targets).square().mean(dim=(1, 2, 3))
        out = {"mse": mse}
        if self.perceptual is not None:
            out["perceptual"] = self.perceptual.compare(self.perceptual.features(images), self.target_features)
        if self.kind == "mse":
            out["total"] = mse
        elif self.kind == "perceptual":
            out["total"] = out["perceptual"]
        else:
            out["total"] = out["perceptual"] + self.mse_weight * mse
        return out


def psnr_db(images: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """PSNR [B] in dB of 8-bit renderings (as the PNGs hold them) of images in [-1, 1]."""
    def to8(x: torch.Tensor) -> torch.Tensor:
        return (x * 127.5 + 128).clamp(0, 255).floor()

    mse = (to8(images) - to8(targets)).square().mean(dim=(1, 2, 3))
    return 10 * torch.log10(255.0**2 / mse.clamp_min(1e-10))


def project(
    G, targets: torch.Tensor, settings: ProjectionSettings, perceptual: PerceptualDistance | None = None,
    on_step: Callable[[StepInfo], None] | None = None, spread: float | None = None,
) -> Projection:
    """Optimise W+ so that G.synthesis(ws, noise_mode="const") looks like targets [B, 3, R, R].

    perceptual: needed for loss "perceptual" and "both". spread: W's scale (w_spread(G)), when
    the caller already knows it. on_step is called after every step.
    """
    started = time.perf_counter()
    targets = targets.to(G.device, torch.float32)
    batch = targets.shape[0]
    if tuple(targets.shape[1:]) != (3, G.resolution, G.resolution):
        raise ValueError(f"targets must be [B, 3, {G.resolution}, {G.resolution}], got {list(targets.shape)}")
    loss_fn = ProjectionLoss(targets, settings.loss, settings.mse_weight, perceptual)
    if spread is None and settings.w_noise > 0:
        spread = w_spread(G)
    rng = torch.Generator(device=G.device).manual_seed(settings.seed)
    ws = G.w_avg.detach().float().reshape(1, 1, -1).repeat(batch, G.num_ws, 1).requires_grad_(True)
    optimizer = torch.optim.Adam([ws], lr=settings.learning_rate, betas=(0.9, 0.999))
    for step in range(settings.steps):
        t = (step + 0.5) / settings.steps  # mid-step progress: neither the first nor the last step has lr 0
        for group in optimizer.param_groups:
            group["lr"] = settings.learning_rate_at(t)
        strength = settings.noise_at(t) * (spread or 0.0)
        w_in = ws
        if strength > 0:
            w_in = ws + strength * torch.randn(ws.shape, generator=rng, device=ws.device)
        images = G.synthesis(w_in, noise_mode="const")
        losses = loss_fn(images)
        optimizer.zero_grad(set_to_none=True)
        losses["total"].sum().backward()
        optimizer.step()
        if on_step is not None:
            on_step(StepInfo(step, settings.steps, {k: v.detach() for k, v in losses.items()}, images.detach()))
    final_ws = ws.detach()
    with torch.no_grad():
        images = G.synthesis(final_ws, noise_mode="const")
        losses = {k: v.detach() for k, v in loss_fn(images).items()}
        losses["psnr_db"] = psnr_db(images, targets)
    return Projection(final_ws, images, losses, time.perf_counter() - started, settings.steps)
