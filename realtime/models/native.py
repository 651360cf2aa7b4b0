"""stylevj's own checkpoint format: `.safetensors` with the architecture in its header.

Tensors are stored under our module names (plus `mapping.w_avg`), the `GeneratorConfig` as JSON
in the metadata. Safetensors holds no code, loads without pickle and maps straight to memory;
`stylevj convert` writes it from any supported input, and converting it again gives the same bytes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..errors import CheckpointError
from .config import GeneratorConfig
from .convert import Converted
from .generator import Generator

FORMAT_KEY = "stylevj_format"
FORMAT_VERSION = "1"
CONFIG_KEY = "stylevj_config"


def load_native(path: Path) -> Converted:
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            if meta.get(FORMAT_KEY) is None or CONFIG_KEY not in meta:
                raise CheckpointError(
                    f"{path}: a .safetensors file without a stylevj header (write one with 'stylevj convert')"
                )
            if meta[FORMAT_KEY] != FORMAT_VERSION:
                raise CheckpointError(f"{path}: stylevj format version {meta[FORMAT_KEY]} is not supported")
            state = {key: f.get_tensor(key) for key in f.keys()}
    except SafetensorError as exc:
        raise CheckpointError(f"{path}: truncated or corrupt .safetensors file ({exc})") from None
    try:
        cfg = GeneratorConfig.from_json(meta[CONFIG_KEY])
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    w_avg = state.pop("mapping.w_avg", None)
    return Converted(cfg, state, w_avg)


def save_native(G: Generator, path: str | os.PathLike) -> None:
    """Write G atomically: a crash mid-write never leaves a half file at `path`."""
    path = Path(path)
    state = {key: t.detach().to("cpu", torch.float32).contiguous() for key, t in G.state_dict().items()}
    meta = {FORMAT_KEY: FORMAT_VERSION, CONFIG_KEY: G.cfg.to_json()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or ".")
    os.close(fd)
    try:
        save_file(state, tmp, metadata=meta)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
