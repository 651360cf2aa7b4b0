"""Keyframes: named W+ tensors [num_ws, w_dim] and where they came from.

Sources: a seed (mapped through the generator, with its own truncation if given), a file of
tensors (.npy, .npz, .safetensors, .pt; a single W [w_dim] or [1, w_dim] is broadcast to W+),
a projected photo (a file the projector wrote), or a snapshot of the live W+.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError

from ..errors import StylevjError
from ..files import atomic_write, read_bounded
from ..models.seeds import z_from_seed


class KeyframeError(StylevjError):
    """A keyframe file or value that cannot be used with the loaded generator."""


@dataclass(frozen=True)
class Keyframe:
    """One point of the path: W+ [num_ws, w_dim] (float32), a display name, and its origin.

    source reads like "seed:42", "seed:42@0.7", "file:faces/irene.safetensors" or "snapshot".
    """

    w: torch.Tensor
    name: str
    source: str

    def to(self, device: torch.device | str) -> "Keyframe":
        return Keyframe(self.w.to(device), self.name, self.source)


@torch.no_grad()
def keyframe_from_seed(G, seed: int, psi: float | None = None, name: str | None = None) -> Keyframe:
    """Map the seed's z (NVIDIA's seed convention) through G, truncated by psi if given."""
    ws = G.mapping(z_from_seed(seed, G.z_dim, G.device), truncation_psi=1.0 if psi is None else psi)
    source = f"seed:{seed}" + (f"@{psi:g}" if psi is not None else "")
    return Keyframe(ws[0].float().clone(), name or f"seed {seed}", source)


def snapshot(w: torch.Tensor, name: str = "snapshot") -> Keyframe:
    """The live W+ as a keyframe (a copy: later frames do not change it)."""
    return Keyframe(w.detach().float().clone(), name, "snapshot")


def check_wplus(w: torch.Tensor, num_ws: int, w_dim: int, what: str) -> torch.Tensor:
    """w as float32 W+ [num_ws, w_dim], broadcasting a single W; a KeyframeError otherwise."""
    if not w.is_floating_point():
        raise KeyframeError(f"{what}: dtype {str(w.dtype).replace('torch.', '')} is not floating point")
    shape = list(w.shape)
    if w.ndim == 3 and w.shape[0] == 1:
        w = w[0]
    if w.ndim == 1 or (w.ndim == 2 and w.shape[0] == 1):
        w = w.reshape(1, -1).expand(num_ws, -1)
    if tuple(w.shape) != (num_ws, w_dim):
        raise KeyframeError(
            f"{what}: shape {shape} does not fit this generator (W+ [{num_ws}, {w_dim}] or W [{w_dim}])"
        )
    if not torch.isfinite(w).all():
        raise KeyframeError(f"{what}: holds NaN or infinite values")
    if float(w.abs().max()) > MAX_ABS:
        raise KeyframeError(f"{what}: holds values up to {float(w.abs().max()):.3g}, far outside any W (at most {MAX_ABS:g})")
    return w.float().contiguous().clone()


KEYFRAME_META = "stylevj_keyframe"
_TENSOR_KEYS = ("w", "ws", "wplus", "w_plus", "latent", "latents", "projected_w")


def _pick(arrays: dict, what: str) -> object:
    """The W+ in a file holding several arrays: a well-known key, else the only one."""
    for key in _TENSOR_KEYS:
        if key in arrays:
            return arrays[key]
    if len(arrays) == 1:
        return next(iter(arrays.values()))
    raise KeyframeError(f"{what}: holds {len(arrays)} arrays ({', '.join(sorted(arrays)[:5])}); name one 'w'")


def read_tensor_file(path: Path) -> tuple[torch.Tensor, str | None]:
    """The tensor in a .npy/.npz/.safetensors/.pt file (recognised by content; tensors only),
    and the keyframe name stored in a stylevj .safetensors header, if any."""
    what = str(path)
    data = read_bounded(path, MAX_FILE_BYTES, "keyframe file", KeyframeError)
    try:
        check_array_bytes(data, what, KeyframeError)
        if data.startswith(b"\x93NUMPY"):
            return torch.from_numpy(np.load(io.BytesIO(data), allow_pickle=False).copy()), None
        if data.startswith(b"PK\x03\x04"):
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = zf.namelist()
            if any(n.endswith("data.pkl") for n in names):
                return _read_torch(data, what), None
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                return torch.from_numpy(np.asarray(_pick({k: npz[k] for k in npz.files}, what)).copy()), None
        if len(data) > 8 and data[8:9] == b"{":
            return _read_safetensors(data, what)
    except KeyframeError:
        raise
    except (ValueError, OSError, RuntimeError, zipfile.BadZipFile, KeyError, EOFError, AttributeError, SafetensorError,
            TypeError, MemoryError, RecursionError) as exc:
        raise KeyframeError(f"{what}: unreadable keyframe file ({(str(exc) or type(exc).__name__).splitlines()[0][:160]})") from None
    raise KeyframeError(f"{what}: not a keyframe file (.npy, .npz, .safetensors or .pt tensors)")


MAX_FILE_BYTES = 16 * 2**20  # a 1024 px W+ is 36 KB; anything this large is a mistake or an attack
MAX_ABS = 1e4  # W values sit within about ±20; beyond this a keyframe can only render garbage or black
NUMBER_KINDS = "biuf"  # numpy dtype kinds that hold numbers (no void, object, string or complex)


def check_array_bytes(data: bytes, what: str, error: type[StylevjError] = KeyframeError) -> None:
    """Before any array in `data` is unpacked: an .npy (and each .npy inside an .npz or zip)
    must declare plain numbers that fit the bytes it has, and a zip may unpack to at most
    MAX_FILE_BYTES. Keyframe and direction files share this check (one line in `error`)."""
    try:
        if data.startswith(b"\x93NUMPY"):
            _check_npy_header(io.BytesIO(data), len(data), what, error)
        elif data.startswith(b"PK\x03\x04"):
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                unpacked = sum(info.file_size for info in zf.infolist())
                if unpacked > MAX_FILE_BYTES:
                    raise error(f"{what}: unpacks to {unpacked} bytes (at most {MAX_FILE_BYTES})")
                for info in zf.infolist():
                    if info.filename.endswith(".npy"):
                        with zf.open(info) as member:
                            _check_npy_header(member, info.file_size, what, error)
    except StylevjError:
        raise
    except (ValueError, OSError, RuntimeError, zipfile.BadZipFile, KeyError, EOFError, SyntaxError, TypeError,
            MemoryError, RecursionError) as exc:
        raise error(f"{what}: unreadable array file ({(str(exc) or type(exc).__name__).splitlines()[0][:160]})") from None


def _check_npy_header(stream, available: int, what: str, error: type[StylevjError]) -> None:
    """The array an .npy header declares must be numbers and fit in the bytes that follow it
    (no 46 TiB claims, no void or object arrays)."""
    version = np.lib.format.read_magic(stream)
    shape, _, dtype = _npy_header(stream, version)
    if dtype.hasobject:
        raise error(f"{what}: holds pickled Python objects, not numbers; only plain arrays are read")
    if dtype.kind not in NUMBER_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise error(f"{what}: holds {dtype} values, not plain numbers")
    declared = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    if declared > available:
        raise error(f"{what}: its header declares {list(shape)} {dtype} ({declared} bytes) but the file holds {available}")


def _npy_header(stream, version: tuple[int, int]):
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    return np.lib.format.read_array_header_2_0(stream)


def _read_torch(data: bytes, what: str) -> torch.Tensor:
    import pickle

    try:
        obj = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise KeyframeError(f"{what}: a .pt keyframe may hold tensors only") from None
    if isinstance(obj, dict):
        obj = _pick({k: v for k, v in obj.items() if isinstance(v, torch.Tensor)} or obj, what)
    if not isinstance(obj, torch.Tensor):
        raise KeyframeError(f"{what}: holds a {type(obj).__name__}, not a tensor")
    return obj


def _read_safetensors(data: bytes, what: str) -> tuple[torch.Tensor, str | None]:
    from safetensors.torch import load as load_safetensors

    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    meta = json.loads((header.get("__metadata__") or {}).get(KEYFRAME_META, "{}"))
    return _pick(load_safetensors(data), what), meta.get("name")


def load_keyframe(path: str | os.PathLike, num_ws: int, w_dim: int, name: str | None = None) -> Keyframe:
    """A keyframe from a tensor file, checked against the generator's W+ shape."""
    path = Path(path)
    tensor, stored_name = read_tensor_file(path)
    w = check_wplus(tensor, num_ws, w_dim, str(path))
    return Keyframe(w, name or stored_name or path.stem, f"file:{path}")


def keyframe_bytes(kf: Keyframe) -> bytes:
    """kf as .safetensors bytes (key 'w', name and source in the header); the same keyframe
    always gives the same bytes (saves name live keyframes by their hash)."""
    from safetensors.torch import save

    meta = {KEYFRAME_META: json.dumps({"name": kf.name, "source": kf.source}, sort_keys=True)}
    return save({"w": kf.w.detach().to("cpu", torch.float32).contiguous()}, metadata=meta)


def save_keyframe(kf: Keyframe, path: str | os.PathLike) -> Path:
    """Write kf as .safetensors (key 'w', name and source in the header), atomically."""
    path = Path(path)
    payload = keyframe_bytes(kf)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, payload)
