"""`load_generator`: one entry point for every generator source.

A source is a path (format recognised from the file's first bytes, never its name), an https URL
or a published network's short name (downloaded once into the cache: `realtime/catalog.py`),
`demo`, or `arch:NAME`. Whatever goes wrong is one `CheckpointError` naming the file and the reason.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch

from ..catalog import is_remote, resolve_checkpoint
from ..errors import CheckpointError, StylevjError
from .builtin import arch_generator, demo_generator
from .convert import Converted, build_generator
from .generator import Generator
from .native import load_native
from .nvidia import convert_nvidia, load_pickle
from .rosinality import convert_rosinality, is_rosinality, load_torch_file

log = logging.getLogger(__name__)

_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # torch.save before 1.6


def sniff_format(path: Path) -> str:
    """'torch', 'pickle' or 'safetensors' from the file's content; a CheckpointError otherwise."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder, not a checkpoint file")
    try:
        with open(path, "rb") as f:
            head = f.read(16)
            size = path.stat().st_size
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror})") from None
    if not head:
        raise CheckpointError(f"{path}: is empty")
    if head.startswith(_ZIP_MAGIC) or head.startswith(_LEGACY_TORCH_MAGIC):
        return "torch"
    if len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < size:
        return "safetensors"
    if head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    raise CheckpointError(
        f"{path}: not a StyleGAN2 checkpoint (expected a rosinality .pt, an NVIDIA .pkl or a stylevj .safetensors)"
    )


def read_checkpoint(path: Path) -> Converted:
    kind = sniff_format(path)
    if kind == "safetensors":
        return load_native(path)
    if kind == "pickle":
        return convert_nvidia(load_pickle(path), str(path))
    ckpt = load_torch_file(path)
    if not is_rosinality(ckpt):
        keys = ", ".join(list(ckpt)[:5]) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path}: a PyTorch file, but not a rosinality StyleGAN2 checkpoint (holds: {keys})")
    return convert_rosinality(ckpt, str(path))


def load_generator(
    source: str | Path = "demo", device: str | torch.device = "cpu", fp16: bool | None = None,
    channels_last: bool = False,
) -> Generator:
    """A ready, frozen generator on `device` from a path, `demo`, or `arch:NAME`.

    fp16: None runs the checkpoint's fp16 layers in fp16 on CUDA (fp32 on CPU); False forces fp32.
    """
    started = time.perf_counter()
    text = str(source)
    if text == "demo":
        conv, origin = demo_generator(), "demo"
    elif text.startswith("arch:"):
        conv, origin = arch_generator(text[5:]), text
    else:  # a file, or a URL / published name fetched into the cache (its name stays the origin)
        path = resolve_checkpoint(source)
        conv, origin = read_checkpoint(path), text if is_remote(text) else str(path)
    G = build_generator(conv, origin)
    try:
        G = G.to(device)
    except (RuntimeError, AssertionError) as exc:  # e.g. 'cuda' on a machine without CUDA
        raise StylevjError(f"cannot use device '{device}': {str(exc).splitlines()[0]}") from None
    G.set_precision(fp16, channels_last)  # also derives the per-frame constants (Generator.prepare)
    if G.device.type == "cuda":  # fixed shapes at batch 1: let cuDNN time its algorithms once per shape
        torch.backends.cudnn.benchmark = True
    G.source = origin
    log.info("loaded %s: %s on %s%s in %.2f s", origin, G.cfg.describe(), G.device,
             " (fp16 layers on)" if G.uses_fp16 else "", time.perf_counter() - started)
    return G
