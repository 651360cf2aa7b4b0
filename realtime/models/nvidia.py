"""NVIDIA network pickles (stylegan2-ada-pytorch, and stylegan3's networks of both kinds), read safely.

NVIDIA's training loop pickles whole networks as "persistent objects": each carries its class
name, init kwargs, module state and the Python source of its module. Unpickling one the usual
way executes that source. We never do: a restricted unpickler allows a short list of globals,
turns each persistent object into an inert `PersistentStub` holding only its state, and refuses
every other global with an error that names it. The weights are then read from the stubs.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from ..errors import CheckpointError
from .config import GeneratorConfig
from .convert import Converted, require
from .layers import fir_filter_2d
from .nvidia_sg3 import convert_stylegan3, is_stylegan3


@dataclass
class PersistentStub:
    """What is left of an NVIDIA persistent object once its code is not run: name and state."""

    class_name: str
    state: dict

    def child(self, name: str) -> "PersistentStub | None":
        child = self.state.get("_modules", {}).get(name)
        return child if isinstance(child, PersistentStub) else None

    def tensors(self) -> dict:
        return {**self.state.get("_parameters", {}), **self.state.get("_buffers", {})}

    def walk(self):
        yield self
        for child in self.state.get("_modules", {}).values():
            if isinstance(child, PersistentStub):
                yield from child.walk()


class EasyDict(dict):
    """Inert stand-in for dnnlib's attribute dict (training kwargs in real pickles)."""


def _reconstruct_persistent_obj(meta: dict) -> PersistentStub:
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise CheckpointError("persistent object without a class state")
    return PersistentStub(str(meta.get("class_name")), meta["state"])


def _load_storage_from_bytes(data: bytes) -> object:
    # Storages pickled inside a network pickle are small torch.save files: read them safely too.
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _numpy_scalar(dtype: np.dtype, data: bytes | None = None) -> object:
    if dtype.hasobject:
        raise CheckpointError("numpy object scalars are not allowed")
    return np.frombuffer(data or b"", dtype=dtype, count=1)[0] if data else dtype.type()


def _numpy_reconstruct(cls: type, shape: tuple, dtype: bytes) -> np.ndarray:
    if cls is not np.ndarray:
        raise CheckpointError(f"numpy array subclass {cls!r} is not allowed")
    return np.ndarray.__new__(np.ndarray, shape, dtype)


ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
}
for _numpy_core in ("numpy.core.multiarray", "numpy._core.multiarray"):  # numpy 1 and 2 names
    ALLOWED_GLOBALS[(_numpy_core, "scalar")] = _numpy_scalar
    ALLOWED_GLOBALS[(_numpy_core, "_reconstruct")] = _numpy_reconstruct


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that builds only tensors, containers and inert stubs."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            hint = ""
            if module.startswith("dnnlib.tflib"):
                hint = " (a TensorFlow-era pickle: convert it with NVIDIA's legacy.py first)"
            raise CheckpointError(
                f"refused to load: it asks for the Python global '{module}.{name}',"
                f" which is not on stylevj's allow-list{hint}"
            ) from None


_PARSE_ERRORS = (
    pickle.UnpicklingError, EOFError, ValueError, TypeError, RuntimeError, AttributeError,
    IndexError, KeyError, OverflowError, struct.error, UnicodeDecodeError, RecursionError,
    MemoryError,  # an array whose header claims terabytes
)


def load_pickle(path: Path, file: BinaryIO | None = None) -> object:
    """Unpickle `path` (or `file`, already open on it: what was judged is what is read) with the
    allow-list; any failure is one CheckpointError naming the file."""
    try:
        if file is not None:
            return SafeUnpickler(file).load()
        with open(path, "rb") as f:
            return SafeUnpickler(f).load()
    except CheckpointError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    except _PARSE_ERRORS as exc:
        raise CheckpointError(f"{path}: truncated or corrupt network pickle ({type(exc).__name__}: {exc})"[:300]) from None


def convert_nvidia(obj: object, origin: str) -> Converted:
    """The generator in a network pickle (G_ema preferred) as our architecture and weights."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{origin}: a pickle of {type(obj).__name__}, not a network pickle dict")
    G = obj.get("G_ema") or obj.get("G")
    if not isinstance(G, PersistentStub):
        raise CheckpointError(f"{origin}: no generator ('G_ema' or 'G') in the network pickle")
    if is_stylegan3(G):
        return convert_stylegan3(G, origin)
    mapping, synthesis = G.child("mapping"), G.child("synthesis")
    if G.class_name != "Generator" or mapping is None or synthesis is None:
        raise CheckpointError(f"{origin}: '{G.class_name}' is not a StyleGAN2 generator")
    if int(G.state.get("c_dim", 0) or 0) > 0 or mapping.child("embed") is not None:
        raise CheckpointError(f"{origin}: conditional networks (c_dim > 0) are not supported yet")

    state: dict[str, torch.Tensor] = {}
    names: dict[str, str] = {}

    def put(ours: str, stub: PersistentStub, path: str, key: str, reshape=None) -> None:
        t = require(stub.tensors(), key, f"{origin}: {path}")
        state[ours] = reshape(t) if reshape is not None else t
        names[ours] = f"{path}.{key}"

    # Mapping: fc0..fc{n-1}, all with leaky ReLU and one learning-rate multiplier.
    fcs = []
    while mapping.child(f"fc{len(fcs)}") is not None:
        fcs.append(mapping.child(f"fc{len(fcs)}"))
    if not fcs:
        raise CheckpointError(f"{origin}: the mapping network has no layers (mapping.fc0)")
    for i, fc in enumerate(fcs):
        if fc.state.get("activation", "lrelu") != "lrelu":
            raise CheckpointError(f"{origin}: mapping.fc{i} uses activation {fc.state.get('activation')!r}; only lrelu is supported")
        put(f"mapping.layers.{i}.weight", fc, f"mapping.fc{i}", "weight")
        put(f"mapping.layers.{i}.bias", fc, f"mapping.fc{i}", "bias")
    w_avg = mapping.tensors().get("w_avg")

    # Synthesis: blocks b4, b8, ... each with conv0 (not b4), conv1 and torgb.
    res, blocks = 4, []
    while synthesis.child(f"b{res}") is not None:
        blocks.append((res, synthesis.child(f"b{res}")))
        res *= 2
    if not blocks:
        raise CheckpointError(f"{origin}: the synthesis network has no blocks (synthesis.b4)")
    channels, clamps, fp16_blocks = [], set(), 0
    for j, (res, block) in enumerate(blocks):
        path = f"synthesis.b{res}"
        arch = block.state.get("architecture", "skip")
        if arch != "skip":
            raise CheckpointError(f"{origin}: {path} uses the '{arch}' architecture; only 'skip' is supported")
        fp16_blocks += bool(block.state.get("use_fp16", False))
        _check_filter(block, path, origin)
        ours = f"synthesis.blocks.{j}"
        if j == 0:
            put(f"{ours}.const", block, path, "const")
        layer_names = ("conv1",) if j == 0 else ("conv0", "conv1")
        for name in layer_names:
            layer = block.child(name)
            if layer is None:
                raise CheckpointError(f"{origin}: {path}.{name} is missing")
            if layer.state.get("activation", "lrelu") != "lrelu":
                raise CheckpointError(f"{origin}: {path}.{name} uses activation {layer.state.get('activation')!r}")
            clamps.add(layer.state.get("conv_clamp"))
            _convert_synthesis_layer(layer, f"{path}.{name}", f"{ours}.{name}", put, state)
        torgb = block.child("torgb")
        if torgb is None:
            raise CheckpointError(f"{origin}: {path}.torgb is missing")
        for key in ("weight", "bias"):
            put(f"{ours}.torgb.{key}", torgb, f"{path}.torgb", key)
        for key in ("weight", "bias"):
            put(f"{ours}.torgb.affine.{key}", torgb.child("affine") or PersistentStub("", {}), f"{path}.torgb.affine", key)
        channels.append(int(require(block.child("conv1").tensors(), "weight", f"{origin}: {path}.conv1").shape[0]))
    clamps.discard(None)
    if len(clamps) > 1:
        raise CheckpointError(f"{origin}: layers use different conv_clamp values {sorted(clamps)}")

    first = require(fcs[0].tensors(), "weight", f"{origin}: mapping.fc0")
    lr = float(fcs[0].state.get("lr_multiplier", 0.01))
    cfg = GeneratorConfig(
        z_dim=int(first.shape[1]), w_dim=int(require(fcs[-1].tensors(), "weight", origin).shape[0]),
        resolution=blocks[-1][0], channels=tuple(channels), mapping_layers=len(fcs),
        mapping_hidden=int(first.shape[0]), mapping_lr=lr,
        img_channels=int(require(blocks[-1][1].child("torgb").tensors(), "weight", origin).shape[0]),
        conv_clamp=float(clamps.pop()) if clamps else None, num_fp16_res=fp16_blocks,
    )
    if w_avg is not None:
        w_avg = w_avg.reshape(-1).float()
        names["mapping.w_avg"] = "mapping.w_avg"
    return Converted(cfg, state, w_avg, names)


def _convert_synthesis_layer(layer: PersistentStub, path: str, ours: str, put, state: dict) -> None:
    affine = layer.child("affine") or PersistentStub("", {})
    put(f"{ours}.affine.weight", affine, f"{path}.affine", "weight")
    put(f"{ours}.affine.bias", affine, f"{path}.affine", "bias")
    put(f"{ours}.weight", layer, path, "weight")
    put(f"{ours}.bias", layer, path, "bias")
    tensors = layer.tensors()
    if layer.state.get("use_noise", True) and "noise_const" in tensors:
        put(f"{ours}.noise_const", layer, path, "noise_const")
        put(f"{ours}.noise_strength", layer, path, "noise_strength")
    else:  # trained without noise inputs: a zero-strength noise is the same network
        resolution = int(layer.state.get("resolution", 0))
        state[f"{ours}.noise_const"] = torch.zeros(resolution, resolution)
        state[f"{ours}.noise_strength"] = torch.zeros([])


def _check_filter(block: PersistentStub, path: str, origin: str) -> None:
    """We implement the standard [1,3,3,1] resampling filter only; refuse anything else."""
    f = block.tensors().get("resample_filter")
    if f is not None and (tuple(f.shape) != (4, 4) or not torch.allclose(f.float(), fir_filter_2d(), atol=1e-6)):
        raise CheckpointError(f"{origin}: {path}.resample_filter is not the standard [1,3,3,1] filter; not supported")
