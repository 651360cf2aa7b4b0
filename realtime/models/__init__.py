"""StyleGAN2 and StyleGAN3 generators in plain PyTorch, and safe loaders for the checkpoints users bring.

    G = load_generator("path/to/network.pkl" | "model.pt" | "model.safetensors" | "demo" | "arch:ffhq-1024")
    ws = G.mapping(z, truncation_psi=0.7)      # [B, num_ws, w_dim]
    img = G.synthesis(ws, noise_mode="const")  # [B, 3, H, W], about [-1, 1]

Knows nothing of GL, OSC or time.
"""

from .compiled import compile_synthesis
from .config import GeneratorConfig
from .generator import NOISE_MODES, Generator, truncate
from .loading import load_generator, sniff_format
from .native import save_native
from .builtin import ARCHITECTURES
from .sg3_config import StyleGAN3Config
from .stylegan3 import StyleGAN3Generator

__all__ = [
    "ARCHITECTURES", "NOISE_MODES", "Generator", "GeneratorConfig", "compile_synthesis", "load_generator", "save_native",
    "sniff_format", "StyleGAN3Config", "StyleGAN3Generator", "truncate",
]
