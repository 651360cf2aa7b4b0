"""Seeds to latents, the way users already know them.

A seed gives the same z as NVIDIA's `generate.py` (NumPy's RandomState(seed).randn), so
"seed 42" picked in NVIDIA's tools is the same face on stage. Drawn on the CPU in float64 and
then cast, it is identical on every machine and device.
"""

from __future__ import annotations

import numpy as np
import torch


def z_from_seed(seed: int, z_dim: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """z [1, z_dim] for `seed` (0 <= seed < 2**32)."""
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    z = np.random.RandomState(int(seed)).randn(1, z_dim)
    return torch.from_numpy(z).float().to(device)
