"""Directions on disk: users' direction files, the `[N, w_dim]` output, and the per-checkpoint cache.

User files are `.npy`, `.npz` or `.safetensors` (recognised by content), read as plain arrays
only: a pickled object is refused, never loaded. They hold a W direction [w_dim] (an
InterFaceGAN boundary [1, w_dim] too) or a W+ one [num_ws, w_dim]; every problem is one
`DirectionError` line naming the file.

The cache keeps every direction a method gives for a checkpoint (SeFa per layer range, GANSpace
per sample count and seed), keyed by a SHA-256 of the weights the method reads, so a renamed or
copied checkpoint hits and a fine-tuned one misses.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError

from ..files import atomic_write, read_bounded
from .directions import GANSPACE_SAMPLES, DirectionError, Directions, compute_directions, modulated_convs, sefa_rows
from .keyframes import MAX_FILE_BYTES, check_array_bytes

log = logging.getLogger(__name__)

_KEYS = ("direction", "directions", "boundary", "d", "w", "ws", "latent")
CACHE_VERSION = 1


# -- reading and writing ------------------------------------------------------------------------


def _pick(arrays: dict, what: str) -> object:
    """The direction among several named arrays: a well-known key, else the only one."""
    for key in _KEYS:
        if key in arrays:
            return arrays[key]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    raise DirectionError(f"{what}: holds {len(arrays)} arrays ({', '.join(sorted(arrays)[:5])}); name one 'direction'")


def read_direction_file(path: str | os.PathLike) -> torch.Tensor:
    """The array in a .npy/.npz/.safetensors file as a tensor; plain arrays only, never pickles.

    Read like a keyframe file: a regular file of at most 16 MiB whose headers declare no more
    than it holds (a FIFO, /dev/zero or a 46 TiB header is one line, never a read or a traceback)."""
    path = Path(path)
    what = str(path)
    data = read_bounded(path, MAX_FILE_BYTES, "direction file", DirectionError)  # the keyframes' reader and limits
    try:
        check_array_bytes(data, what, DirectionError)
        if data.startswith(b"\x93NUMPY"):
            return torch.from_numpy(np.load(io.BytesIO(data), allow_pickle=False).copy())
        if data.startswith(b"PK\x03\x04"):
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                return torch.from_numpy(np.asarray(_pick({k: npz[k] for k in npz.files}, what)).copy())
        if len(data) > 8 and data[8:9] == b"{":
            from safetensors.torch import load as load_safetensors

            return _pick(load_safetensors(data), what)
    except DirectionError:
        raise
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise DirectionError(f"{what}: holds pickled Python objects; only plain arrays are read") from None
        raise DirectionError(f"{what}: unreadable direction file ({str(exc).splitlines()[0][:160]})") from None
    except (OSError, RuntimeError, zipfile.BadZipFile, KeyError, EOFError, SafetensorError, TypeError,
            MemoryError) as exc:
        raise DirectionError(f"{what}: unreadable direction file ({(str(exc) or type(exc).__name__).splitlines()[0][:160]})") from None
    raise DirectionError(f"{what}: not a direction file (.npy, .npz or .safetensors arrays)")


def _check_values(t: torch.Tensor, what: str) -> torch.Tensor:
    if not t.is_floating_point():
        raise DirectionError(f"{what}: dtype {str(t.dtype).replace('torch.', '')} is not floating point")
    if not torch.isfinite(t).all():
        raise DirectionError(f"{what}: holds NaN or infinite values")
    return t.float().contiguous()


def load_direction(path: str | os.PathLike, num_ws: int, w_dim: int) -> torch.Tensor:
    """A user direction: W [w_dim] (also from [1, w_dim]) or W+ [num_ws, w_dim], float32.

    Magnitude is kept as stored (an InterFaceGAN boundary is unit length, an edit vector may
    not be); an all-zero direction is refused, it would be a knob that does nothing.
    """
    what = str(path)
    t = read_direction_file(path)
    shape = list(t.shape)
    if t.ndim >= 2 and t.shape[0] == 1:
        t = t[0]  # a leading batch axis of one
    if tuple(t.shape) not in ((w_dim,), (num_ws, w_dim)):
        raise DirectionError(
            f"{what}: shape {shape} does not fit this generator (W [{w_dim}] or W+ [{num_ws}, {w_dim}])"
        )
    t = _check_values(t, what)
    if not t.abs().max() > 0:
        raise DirectionError(f"{what}: is all zeros")
    return t


def load_direction_set(path: str | os.PathLike, w_dim: int) -> torch.Tensor:
    """A file of directions [N, w_dim] (what `save_directions` writes; [w_dim] is one), float32."""
    what = str(path)
    t = read_direction_file(path)
    if t.ndim == 1:
        t = t.unsqueeze(0)
    if t.ndim != 2 or t.shape[1] != w_dim or t.shape[0] == 0:
        raise DirectionError(f"{what}: shape {list(t.shape)} is not a set of W directions [N, {w_dim}]")
    return _check_values(t, what)


def save_directions(path: str | os.PathLike, vectors: torch.Tensor | Directions) -> Path:
    """Write directions [N, w_dim] as float32 .npy, first direction first, atomically."""
    path = Path(path).expanduser()
    v = vectors.vectors if isinstance(vectors, Directions) else vectors
    if v.ndim != 2:
        raise DirectionError(f"{path}: directions must be [N, w_dim], got {list(v.shape)}")
    if not path.parent.is_dir():
        raise DirectionError(f"{path}: folder {path.parent} does not exist")
    buffer = io.BytesIO()
    np.save(buffer, v.detach().cpu().float().numpy(), allow_pickle=False)
    try:
        return atomic_write(path, buffer.getvalue())
    except OSError as exc:
        raise DirectionError(f"{path}: cannot write ({exc.strerror or exc})") from None


# -- the cache ----------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/stylevj/directions, or ~/.cache/stylevj/directions."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stylevj" / "directions"


def cache_key(G, method: str, rows: Sequence[int] | None, samples: int, seed: int) -> str:
    """SHA-256 over the method, its settings, the architecture and the weights it reads."""
    if method == "sefa":
        chosen = sefa_rows(rows, G)
        convs = modulated_convs(G)
        settings: dict = {"rows": list(chosen)}
        tensors = [(f"conv{k}.affine.weight", convs[k].affine.weight) for k in chosen]
    else:
        settings = {"samples": int(samples), "seed": int(seed)}
        tensors = [(name, t) for name, t in G.mapping.state_dict().items() if name != "w_avg"]
    digest = hashlib.sha256()
    head = {"version": CACHE_VERSION, "method": method, "config": G.cfg.to_json(), **settings}
    digest.update(json.dumps(head, sort_keys=True).encode())
    for name, t in tensors:
        array = t.detach().to("cpu", torch.float32).contiguous().numpy()
        digest.update(f"{name}{list(array.shape)}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _read_cache(path: Path, key: str, method: str) -> Directions | None:
    if not path.exists():
        return None
    try:
        raw = read_bounded(path, MAX_FILE_BYTES, "direction cache", DirectionError)  # the one reader
        with np.load(io.BytesIO(raw), allow_pickle=False) as data:
            if str(data["key"]) != key:
                return None
            vectors, values = torch.from_numpy(data["vectors"].copy()), torch.from_numpy(data["values"].copy())
    except (DirectionError, OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError, MemoryError, TypeError) as exc:
        log.warning("direction cache %s is unreadable (%s); computing again", path, exc)
        return None
    return Directions(vectors, values, method)


def cached_directions(
    G, method: str, rows: Sequence[int] | None = None, *, samples: int = GANSPACE_SAMPLES, seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
) -> Directions:
    """All directions by `method` for G, from the cache when its weights were seen before.

    A miss computes them (compute_directions) and writes `<method>-<hash>.npz` atomically; a
    cache folder that cannot be written only costs a warning.
    """
    if method not in ("sefa", "ganspace"):
        return compute_directions(G, method)  # raises the one-line error
    key = cache_key(G, method, rows, samples, seed)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = folder / f"{method}-{key[:24]}.npz"
    hit = _read_cache(path, key, method)
    if hit is not None:
        log.info("directions: %s from the cache (%s)", method, path)
        return hit
    result = compute_directions(G, method, rows, samples=samples, seed=seed)
    buffer = io.BytesIO()
    np.savez(buffer, key=np.array(key), vectors=result.vectors.cpu().numpy(), values=result.values.cpu().numpy())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, buffer.getvalue())
    except OSError as exc:
        log.warning("directions: cannot write the cache %s (%s)", path, exc.strerror or exc)
    return result
