"""Generators that need no download: the `demo` network and `arch:NAME` random-weight benchmarks
(StyleGAN2 config-f `ffhq-*`, StyleGAN3 `sg3t-*` / `sg3r-*`).

`demo` is what every command uses by default, so a newcomer sees pictures with no download. It is
a StyleGAN2 of the usual class whose weights ship in the package (`demo_flowers.safetensors`,
5 MB): trained here, on flowers drawn by a procedural renderer, to draw the flower of each W
(examples/train_demo.py, docs/demo.md). Its mapping network is the seeded random one of
`DEMO_SEED`, so seeds give the same W as before the training.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import CheckpointError
from .config import GeneratorConfig
from .convert import Converted, new_network
from .native import load_native
from .sg3_config import StyleGAN3Config, channels_for

DEMO_SEED = 20201  # the mapping network's seed (and the untrained synthesis the training starts from)
DEMO_WEIGHTS = Path(__file__).with_name("demo_flowers.safetensors")
DEMO_CONFIG = GeneratorConfig(
    z_dim=128, w_dim=128, resolution=256, channels=(128, 128, 96, 64, 48, 32, 16),
    mapping_layers=4,
)

# config-f widths (StyleGAN2 paper, table 1): 512 up to 64 px, then halving.
_CONFIG_F = {4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32}


def _config_f(resolution: int) -> GeneratorConfig:
    res = [r for r in _CONFIG_F if r <= resolution]
    return GeneratorConfig(
        z_dim=512, w_dim=512, resolution=resolution, channels=tuple(_CONFIG_F[r] for r in res),
        mapping_layers=8, conv_clamp=256.0, num_fp16_res=4,
    )


def _stylegan3(resolution: int, radial: bool, channel_base: int = 32768, channel_max: int = 512) -> StyleGAN3Config:
    """NVIDIA's StyleGAN3 configs: T (3x3 convolutions) or R (1x1, radial filters, twice the widths)."""
    scale = 2 if radial else 1
    return StyleGAN3Config(
        z_dim=512, w_dim=512, resolution=resolution,
        channels=channels_for(resolution, channel_base=channel_base * scale, channel_max=channel_max * scale),
        mapping_layers=2, conv_kernel=1 if radial else 3, use_radial_filters=radial, conv_clamp=256.0, num_fp16_res=4,
    )


ARCHITECTURES = {
    "ffhq-1024": lambda: _config_f(1024),
    "ffhq-512": lambda: _config_f(512),
    "ffhq-256": lambda: _config_f(256),
    "sg3t-1024": lambda: _stylegan3(1024, radial=False),
    "sg3r-1024": lambda: _stylegan3(1024, radial=True),
    "sg3t-512": lambda: _stylegan3(512, radial=False),
    "sg3r-512": lambda: _stylegan3(512, radial=True),
    "sg3t-256": lambda: _stylegan3(256, radial=False, channel_base=16384, channel_max=256),
    "sg3r-256": lambda: _stylegan3(256, radial=True, channel_base=16384, channel_max=256),
}


def random_weights(cfg: GeneratorConfig | StyleGAN3Config, seed: int) -> dict[str, torch.Tensor]:
    """The state of a freshly initialised network for `cfg`, from a private RNG (no global state)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return new_network(cfg).state_dict()


def arch_generator(name: str) -> Converted:
    if name not in ARCHITECTURES:
        raise CheckpointError(f"unknown architecture 'arch:{name}' (known: {', '.join('arch:' + n for n in ARCHITECTURES)})")
    cfg = ARCHITECTURES[name]()
    state = random_weights(cfg, seed=0)
    w_avg = state.pop("mapping.w_avg")
    return Converted(cfg, state, torch.zeros_like(w_avg))


def demo_generator() -> Converted:
    """The shipped flower weights; a CheckpointError naming the file if the install lacks them."""
    if not DEMO_WEIGHTS.is_file():
        raise CheckpointError(f"{DEMO_WEIGHTS}: the demo's weights are missing from the install (reinstall stylevj)")
    conv = load_native(DEMO_WEIGHTS)
    if conv.cfg != DEMO_CONFIG:
        raise CheckpointError(f"{DEMO_WEIGHTS}: holds {conv.cfg.describe()}, not the demo's {DEMO_CONFIG.describe()}")
    return conv
