"""stylevj's own checkpoint format: `.safetensors` with the architecture in its header.

Tensors are stored under our module names (plus `mapping.w_avg`); the header's metadata holds a
single key, `stylevj`, whose JSON value gives the format version and the config: a
`GeneratorConfig`, or a `StyleGAN3Config` where `"architecture": "stylegan3"` says so (one key,
because safetensors does not keep the order of several, and converting twice must give the
same bytes). Safetensors holds no code, loads without pickle and maps straight to memory;
`stylevj convert` writes it from any supported input, and converting it again gives the same bytes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import BinaryIO

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from ..errors import CheckpointError
from ..files import atomic_write
from .config import GeneratorConfig
from .convert import Converted
from .generator import Generator
from .sg3_config import ARCHITECTURE, StyleGAN3Config
from .stylegan3 import StyleGAN3Generator

CONFIGS = {"stylegan2": GeneratorConfig, ARCHITECTURE: StyleGAN3Config}  # the header's "architecture"

META_KEY = "stylevj"
FORMAT_VERSION = 1


def load_native(path: Path, file: BinaryIO | None = None) -> Converted:
    """A stylevj .safetensors checkpoint; with `file` (already open on it), that very file is read
    (through /proc/self/fd where there is one: safetensors maps a name, never a file object)."""
    name = f"/proc/self/fd/{file.fileno()}" if file is not None and os.path.isdir("/proc/self/fd") else str(path)
    try:
        with safe_open(name, framework="pt", device="cpu") as f:
            header = (f.metadata() or {}).get(META_KEY)
            if header is None:
                raise CheckpointError(
                    f"{path}: a .safetensors file without a stylevj header (write one with 'stylevj convert')"
                )
            state = {key: f.get_tensor(key) for key in f.keys()}
    except SafetensorError as exc:
        raise CheckpointError(f"{path}: truncated or corrupt .safetensors file ({exc})") from None
    try:
        meta = json.loads(header)
        version = meta["format_version"]
        cfg_json = json.dumps(meta["generator"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: malformed stylevj header ({exc})") from None
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: stylevj format version {version} is not supported (expected {FORMAT_VERSION})")
    family = meta.get("architecture", "stylegan2")  # files from before StyleGAN3 name none
    if family not in CONFIGS:
        raise CheckpointError(f"{path}: architecture {family!r} is not one stylevj knows ({', '.join(CONFIGS)})")
    try:
        cfg = CONFIGS[family].from_json(cfg_json)
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    w_avg = state.pop("mapping.w_avg", None)
    return Converted(cfg, state, w_avg)


def save_native(G: Generator | StyleGAN3Generator, path: str | os.PathLike) -> None:
    """Write G atomically: a crash mid-write never leaves a half file at `path`."""
    state = {key: t.detach().to("cpu", torch.float32).contiguous() for key, t in G.state_dict().items()}
    header = {"format_version": FORMAT_VERSION, "generator": json.loads(G.cfg.to_json())}
    if isinstance(G.cfg, StyleGAN3Config):  # StyleGAN2 headers stay as they were: same bytes
        header["architecture"] = ARCHITECTURE
    try:
        atomic_write(Path(path), save(state, metadata={META_KEY: json.dumps(header, sort_keys=True)}))
    except OSError as exc:  # a full disk: one line, and atomic_write left no half file
        raise CheckpointError(f"{path}: cannot write ({exc.strerror or exc})") from None
