"""NVIDIA's own generator (from the user's stylegan2-ada-pytorch checkout, never copied here) on our
weights, timed in the same run as ours: the reference the performance goal is measured against."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import StylevjError
from ..models import load_generator
from .gpu import cuda_timing, timing_rows
from .results import Row


def nvidia_state(G) -> dict[str, torch.Tensor]:
    """Our generator's weights under the names of NVIDIA's stylegan2-ada-pytorch modules (the
    inverse of models/nvidia.py's renaming: same shapes, same equalised-lr storage)."""
    resolutions = G.cfg.resolutions
    out = {}
    for key, tensor in G.state_dict().items():
        parts = key.split(".")
        if parts[:2] == ["mapping", "layers"]:
            key = ".".join(["mapping", f"fc{parts[2]}", *parts[3:]])
        elif parts[:2] == ["synthesis", "blocks"]:
            key = ".".join(["synthesis", f"b{resolutions[int(parts[2])]}", *parts[3:]])
        out[key] = tensor
    return out


def nvidia_generator(directory: str | Path, G):
    """NVIDIA's own Generator (imported from the user's stylegan2-ada-pytorch checkout at
    `directory`, never copied here) holding G's weights, on G's device, in eval mode."""
    import importlib
    import sys

    root = Path(directory).expanduser().resolve()
    if not (root / "training" / "networks.py").is_file() or not (root / "torch_utils").is_dir():
        raise StylevjError(f"--reference {directory}: not a stylegan2-ada-pytorch checkout (no training/networks.py)")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    networks = importlib.import_module("training.networks")
    cfg = G.cfg
    theirs = networks.Generator(
        z_dim=cfg.z_dim, c_dim=0, w_dim=cfg.w_dim, img_resolution=cfg.resolution, img_channels=cfg.img_channels,
        mapping_kwargs=dict(num_layers=cfg.mapping_layers, layer_features=cfg.hidden, lr_multiplier=cfg.mapping_lr),
        synthesis_kwargs=dict(channel_base=cfg.channels[-1] * cfg.resolution, channel_max=max(cfg.channels),
                              num_fp16_res=cfg.num_fp16_res, conv_clamp=cfg.conv_clamp),
    )
    try:
        missing, unexpected = theirs.load_state_dict(nvidia_state(G), strict=False)
    except RuntimeError as exc:  # e.g. the demo's channels, which no channel_base / channel_max gives
        raise StylevjError(f"--reference: {G.source or 'this generator'} cannot be built as NVIDIA's generator "
                           f"({str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else exc})") from None
    missing = [k for k in missing if not k.endswith("resample_filter")]  # their filter buffers; ours is built in
    if missing or unexpected:
        raise StylevjError(f"--reference: weights do not map onto NVIDIA's generator (missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]})")
    return theirs.eval().requires_grad_(False).to(G.device)


def _nvidia_plugins(directory: str | Path) -> str | None:
    """Why NVIDIA's compiled CUDA ops are not in use (their code falls back to slow reference
    ops with a warning), or None when both bias_act and upfirdn2d plugins are loaded."""
    import importlib

    missing = [name for name in ("bias_act", "upfirdn2d")  # their module state after first use (no rebuild)
               if getattr(importlib.import_module(f"torch_utils.ops.{name}"), "_plugin", None) is None]
    return f"NVIDIA's {', '.join(missing)} plugin did not build (slow reference ops)" if missing else None


def bench_reference(directory: str | Path, source: str, device: str, seconds: float) -> list[Row]:
    """The same frame (fp16 layers, synthesis + RGBA8) through NVIDIA's generator with its compiled
    ops, on the same weights, in this run; refused (one row saying why) if the ops fell back."""
    from ..images import to_pixels

    G = load_generator(source, device=device, fp16=True)
    theirs = nvidia_generator(directory, G)
    rng = torch.Generator().manual_seed(0)
    stream = torch.cuda.Stream(G.device)
    with torch.inference_mode(), torch.cuda.stream(stream):
        ws = G.mapping(torch.randn(1, G.z_dim, generator=rng).to(G.device), truncation_psi=0.7).contiguous()
        pixels = torch.full((G.resolution, G.resolution, 4), 255, dtype=torch.uint8, device=G.device)
        ours_img = G.synthesis(ws, noise_mode="const")
        theirs_img = theirs.synthesis(ws, noise_mode="const")  # builds NVIDIA's plugins on first use
        stream.synchronize()
        why_not = _nvidia_plugins(directory)
        if why_not is not None:
            return [Row("frame nvidia", source, str(G.device), "fp16", 1, 0, 0.0, 0.0, 0.0, f"refused: {why_not}")]
        diff = float((ours_img.float() - theirs_img.float()).abs().max())
        latency, pipelined = cuda_timing(lambda: to_pixels(theirs.synthesis(ws, noise_mode="const"), pixels), stream, seconds)
    return timing_rows("frame nvidia", source, G, "fp16", latency, pipelined,
                        f"NVIDIA's generator, compiled ops, same weights (max |ours - theirs| {diff:.4f})")
