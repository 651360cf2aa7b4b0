"""What every checkpoint format is converted into before it becomes a `Generator`.

A loader reads its format and returns a `Converted`: the architecture, a state dict in our
module's names, `w_avg` (or None when the file has none) and, for error messages, the name each
tensor had in the user's file. `build_generator` checks every tensor against the network the
config describes (names, shapes, finite values) before a single weight is copied, so a broken
file never yields a half-loaded generator.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from ..errors import CheckpointError
from .config import GeneratorConfig
from .generator import Generator
from .sg3_config import StyleGAN3Config
from .stylegan3 import StyleGAN3Generator

log = logging.getLogger(__name__)

W_AVG_SAMPLES = 10_000
W_AVG_SEED = 0


@dataclass
class Converted:
    cfg: GeneratorConfig | StyleGAN3Config
    state: dict[str, torch.Tensor]
    w_avg: torch.Tensor | None
    names: dict[str, str] = field(default_factory=dict)  # our key -> key in the user's file


def require(state: dict, key: str, origin: str) -> torch.Tensor:
    """state[key] as a tensor, or a CheckpointError naming the missing or wrong key."""
    value = state.get(key)
    if value is None:
        raise CheckpointError(f"{origin}: tensor '{key}' is missing")
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f"{origin}: '{key}' is a {type(value).__name__}, not a tensor")
    return value


def new_network(cfg: GeneratorConfig | StyleGAN3Config) -> Generator | StyleGAN3Generator:
    """An untrained network of the family `cfg` describes (StyleGAN2 or StyleGAN3)."""
    return StyleGAN3Generator(cfg) if isinstance(cfg, StyleGAN3Config) else Generator(cfg)


def build_generator(conv: Converted, origin: str) -> Generator | StyleGAN3Generator:
    """A generator holding exactly the converted weights, or a CheckpointError; never half."""
    G = new_network(conv.cfg)
    expected = G.state_dict()
    state = dict(conv.state)
    state["mapping.w_avg"] = conv.w_avg if conv.w_avg is not None else expected["mapping.w_avg"]

    def theirs(key: str) -> str:
        return conv.names.get(key, key)

    for key, ref in expected.items():
        if key not in state:
            raise CheckpointError(f"{origin}: tensor '{theirs(key)}' is missing")
        tensor = state[key]
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(f"{origin}: '{theirs(key)}' is a {type(tensor).__name__}, not a tensor")
        if tuple(tensor.shape) != tuple(ref.shape):
            raise CheckpointError(
                f"{origin}: tensor '{theirs(key)}' has shape {list(tensor.shape)},"
                f" expected {list(ref.shape)}"
            )
        if not tensor.is_floating_point():
            raise CheckpointError(f"{origin}: tensor '{theirs(key)}' has dtype {tensor.dtype}, expected floats")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{origin}: tensor '{theirs(key)}' holds NaN or infinite values")
    extra = sorted(set(state) - set(expected))
    if extra:
        raise CheckpointError(f"{origin}: unexpected tensor '{theirs(extra[0])}' ({len(extra)} unexpected in all)")
    G.load_state_dict({k: v.float() for k, v in state.items()})
    if conv.w_avg is None:
        G.mapping.w_avg.copy_(estimate_w_avg(G))
        log.info("%s has no w_avg: using the mean of %d mapped z (seed %d)", origin, W_AVG_SAMPLES, W_AVG_SEED)
    return G.eval().requires_grad_(False)


@torch.no_grad()
def estimate_w_avg(G: Generator, samples: int = W_AVG_SAMPLES) -> torch.Tensor:
    """The mean W of `samples` z from a fixed seed: deterministic on every machine."""
    rng = torch.Generator().manual_seed(W_AVG_SEED)
    z = torch.randn(samples, G.z_dim, generator=rng)
    total = torch.zeros(G.w_dim, dtype=torch.float64)
    for chunk in z.split(1000):
        total += G.mapping(chunk.to(G.device))[:, 0].double().sum(dim=0).cpu()
    return (total / samples).float()
