"""`load_generator`: one entry point for every generator source.

A source is a path (format recognised from the file's first bytes, never its name), an https URL
or a published network's short name (downloaded once into the cache: `realtime/checkpoints/catalog.py`),
`demo`, or `arch:NAME`. Whatever goes wrong is one `CheckpointError` naming the file and the reason.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import BinaryIO

import torch

from ..checkpoints.catalog import is_remote, resolve_checkpoint, unusable_download
from ..errors import CheckpointError, StylevjError
from ..files import open_regular
from .builtin import arch_generator, demo_generator
from .convert import Converted, build_generator
from .generator import Generator
from .native import load_native
from .nvidia import convert_nvidia, load_pickle
from .rosinality import convert_rosinality, is_rosinality, load_torch_file

log = logging.getLogger(__name__)

_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"  # torch.save before 1.6


def sniff_format(path: Path, file: BinaryIO | None = None) -> str:
    """'torch', 'pickle' or 'safetensors' from the file's content; a CheckpointError otherwise.
    With `file` (open on `path`), its first bytes are read and it is left at its start."""
    if file is None:
        with open_checkpoint(path) as f:
            return sniff_format(path, f)
    try:
        head = file.read(16)
        size = os.fstat(file.fileno()).st_size
        file.seek(0)
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


def open_checkpoint(path: Path) -> BinaryIO:
    """`path` open for reading if it is a regular file, judged by what was opened (`open_regular`):
    a FIFO, a device or a folder is one line, never a blocked open, even swapped in after a look."""
    return open_regular(path, "checkpoint file", CheckpointError)


def read_checkpoint(path: Path) -> Converted:
    """The generator in a checkpoint file: opened once, and that open file is sniffed and parsed
    (never opened again by name, never read whole into memory first)."""
    with open_checkpoint(path) as file:
        kind = sniff_format(path, file)
        if kind == "safetensors":
            return load_native(path, file)
        if kind == "pickle":
            return convert_nvidia(load_pickle(path, file), str(path))
        ckpt = load_torch_file(path, file)
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
        downloaded = is_remote(text) and path != Path(text).expanduser()
        try:
            conv = read_checkpoint(path)
        except CheckpointError as exc:  # a cached download that does not load: say which file to delete
            raise (unusable_download(text, path, exc) if downloaded else exc) from None
        origin = text if is_remote(text) else str(path)
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
