"""NVIDIA StyleGAN3 network pickles (configs T and R), rebuilt from their state, never run.

`nvidia.load_pickle` has already turned every persistent object into an inert stub. Here the
generator is accepted only when its tree is exactly NVIDIA's StyleGAN3 generator (a mapping of
fcN layers; a synthesis of one Fourier input and the layers its `layer_names` list): anything
else, a StyleGAN-XL say, is refused as a kind we do not know. The design hyper-parameters are
read from the stored constructor arguments (NVIDIA's defaults where absent) and the widths from
the tensors; every layer's geometry and filters are then derived (`sg3_config`, `sg3_filters`)
and must equal what the file stores, so a tampered file or an unknown variant cannot load as a
network that draws something else.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import CheckpointError
from .convert import Converted, require
from .sg3_config import LayerSpec, StyleGAN3Config
from .sg3_filters import layer_filters

# Constructor arguments of NVIDIA's SynthesisNetwork and SynthesisLayer (and training's extras).
_DESIGN_DEFAULTS = {
    "first_cutoff": 2.0, "first_stopband": 2**2.1, "last_stopband_rel": 2**0.3,
    "conv_kernel": 3, "filter_size": 6, "lrelu_upsampling": 2, "use_radial_filters": False, "conv_clamp": 256,
}
_KNOWN_KWARGS = {
    *_DESIGN_DEFAULTS, "w_dim", "img_resolution", "img_channels", "channel_base", "channel_max", "num_layers",
    "num_critical", "margin_size", "output_scale", "num_fp16_res", "magnitude_ema_beta",
}
_UNKNOWN = "a StyleGAN3-family network of a kind stylevj does not know"


def _children(stub, path: str, origin: str) -> dict:
    """The stub's child modules by name; a child that is not a persistent object is refused."""
    children = {}
    for name, child in stub.state.get("_modules", {}).items():
        if child is None:
            continue
        if not hasattr(child, "class_name"):
            raise CheckpointError(f"{origin}: {path}.{name} is a {type(child).__name__}, {_UNKNOWN}")
        children[name] = child
    return children


def _expect(stub, class_name: str, children: set[str], path: str, origin: str) -> dict:
    if stub is None or stub.class_name != class_name:
        found = "nothing" if stub is None else f"'{stub.class_name}'"
        raise CheckpointError(f"{origin}: {path} is {found}, not NVIDIA's {class_name} ({_UNKNOWN})")
    found = _children(stub, path, origin)
    if set(found) != children:
        odd = sorted(set(found) ^ children)[0]
        what = "unexpected" if odd in found else "missing"
        raise CheckpointError(f"{origin}: {path}.{odd} is {what} ({_UNKNOWN})")
    return found


def _number(stub, key: str, path: str, origin: str, default=None) -> float:
    value = stub.state.get(key, default)
    if isinstance(value, np.ndarray) and value.size >= 1 and np.all(value == value.flat[0]):
        value = value.flat[0]  # NVIDIA stores sizes as [width, height]; ours are square
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise CheckpointError(f"{origin}: {path}.{key} is {value!r}, not a number")
    return value.item() if isinstance(value, np.generic) else value


def _tensors(stub, path: str, keys: set[str], origin: str) -> dict[str, torch.Tensor | None]:
    found = stub.tensors()
    extra = sorted(set(found) - keys)
    if extra:
        raise CheckpointError(f"{origin}: unexpected tensor '{path}.{extra[0]}' ({_UNKNOWN})")
    return found


def is_stylegan3(G) -> bool:
    """Whether a generator stub belongs to the StyleGAN3 family (then it is ours to accept or
    refuse): a Fourier input anywhere, or a synthesis network listing `layer_names`."""
    synthesis = G.child("synthesis")
    if synthesis is not None and ("layer_names" in synthesis.state or "input" in synthesis.state.get("_modules", {})):
        return True
    return any(node.class_name == "SynthesisInput" for node in G.walk())


def convert_stylegan3(G, origin: str) -> Converted:
    """NVIDIA's StyleGAN3 `G_ema` stub as our architecture and weights, or one CheckpointError."""
    if int(G.state.get("c_dim", 0) or 0) > 0 or (G.child("mapping") and G.child("mapping").child("embed")):
        raise CheckpointError(f"{origin}: conditional networks (c_dim > 0) are not supported yet")
    parts = _expect(G, "Generator", {"mapping", "synthesis"}, "G", origin)
    mapping, synthesis = parts["mapping"], parts["synthesis"]
    fc_names = {f"fc{i}" for i in range(len(_children(mapping, "mapping", origin)))}
    fcs = _expect(mapping, "MappingNetwork", fc_names, "mapping", origin)
    if not fcs:
        raise CheckpointError(f"{origin}: the mapping network has no layers (mapping.fc0)")
    layer_names = synthesis.state.get("layer_names")
    if not isinstance(layer_names, list) or not all(isinstance(n, str) for n in layer_names):
        raise CheckpointError(f"{origin}: synthesis.layer_names is missing ({_UNKNOWN})")
    blocks = _expect(synthesis, "SynthesisNetwork", {"input", *layer_names}, "synthesis", origin)
    kwargs = synthesis.state.get("_init_kwargs") or {}
    unknown = sorted(set(kwargs) - _KNOWN_KWARGS) if isinstance(kwargs, dict) else ["(not a dict)"]
    if unknown:
        raise CheckpointError(f"{origin}: synthesis was built with '{unknown[0]}' ({_UNKNOWN})")

    state: dict[str, torch.Tensor] = {}
    names: dict[str, str] = {}

    def put(ours: str, stub, path: str, key: str) -> torch.Tensor:
        state[ours] = require(stub.tensors(), key, f"{origin}: {path}")
        names[ours] = f"{path}.{key}"
        return state[ours]

    lr = None
    for i in range(len(fcs)):
        path = f"mapping.fc{i}"
        fc = fcs[f"fc{i}"]
        _expect(fc, "FullyConnectedLayer", set(), path, origin)
        _tensors(fc, path, {"weight", "bias"}, origin)
        if fc.state.get("activation") != "lrelu":
            raise CheckpointError(f"{origin}: {path} uses activation {fc.state.get('activation')!r}; only lrelu is supported")
        gain = _number(fc, "bias_gain", path, origin)
        if lr is not None and not math.isclose(gain, lr, rel_tol=1e-9):
            raise CheckpointError(f"{origin}: mapping layers use different learning-rate multipliers ({lr:g}, {gain:g})")
        lr = gain
        put(f"mapping.layers.{i}.weight", fc, path, "weight")
        put(f"mapping.layers.{i}.bias", fc, path, "bias")
    w_avg = _tensors(mapping, "mapping", {"w_avg"}, origin).get("w_avg")

    widths = []
    for name in layer_names[:-1]:
        widths.append(int(require(blocks[name].tensors(), "weight", f"{origin}: synthesis.{name}").shape[0]))
    design = {key: kwargs.get(key, default) for key, default in _DESIGN_DEFAULTS.items()}
    try:
        cfg = StyleGAN3Config(
            z_dim=int(require(fcs["fc0"].tensors(), "weight", f"{origin}: mapping.fc0").shape[1]),
            w_dim=int(require(fcs[f"fc{len(fcs) - 1}"].tensors(), "weight", origin).shape[0]),
            resolution=int(_number(synthesis, "img_resolution", "synthesis", origin)),
            channels=tuple(widths), mapping_layers=len(fcs), mapping_lr=float(lr),
            img_channels=int(_number(synthesis, "img_channels", "synthesis", origin)),
            num_layers=int(_number(synthesis, "num_layers", "synthesis", origin)),
            num_critical=int(_number(synthesis, "num_critical", "synthesis", origin)),
            margin_size=int(_number(synthesis, "margin_size", "synthesis", origin)),
            output_scale=float(_number(synthesis, "output_scale", "synthesis", origin)),
            num_fp16_res=int(_number(synthesis, "num_fp16_res", "synthesis", origin)),
            first_cutoff=float(design["first_cutoff"]), first_stopband=float(design["first_stopband"]),
            last_stopband_rel=float(design["last_stopband_rel"]), conv_kernel=int(design["conv_kernel"]),
            filter_size=int(design["filter_size"]), lrelu_upsampling=int(design["lrelu_upsampling"]),
            use_radial_filters=bool(design["use_radial_filters"]),
            conv_clamp=None if design["conv_clamp"] is None else float(design["conv_clamp"]),
        )
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{origin}: StyleGAN3 hyper-parameters are not numbers ({exc})") from None
    except CheckpointError as exc:
        raise CheckpointError(f"{origin}: {exc}") from None

    specs = cfg.layer_specs()
    expected_names = [spec.name for spec in specs]
    if layer_names != expected_names:
        bad = next((a, b) for a, b in zip(layer_names + [""] * len(specs), expected_names + [""] * len(layer_names)) if a != b)
        raise CheckpointError(
            f"{origin}: synthesis layer '{bad[0]}' should be '{bad[1]}' by the network's hyper-parameters"
            f" (tampered, or {_UNKNOWN})"
        )
    _convert_input(blocks["input"], cfg, put, origin)
    for i, spec in enumerate(specs):
        _convert_layer(blocks[spec.name], spec, cfg, i, put, origin)
    if w_avg is not None:
        w_avg = w_avg.reshape(-1).float()
        names["mapping.w_avg"] = "mapping.w_avg"
    return Converted(cfg, state, w_avg, names)


def _check(stub, path: str, key: str, expected, origin: str) -> None:
    """A stored hyper-parameter must equal the value the config derives for it."""
    value = _number(stub, key, path, origin) if not isinstance(expected, (list, tuple)) else stub.state.get(key)
    if isinstance(expected, (list, tuple)):
        same = isinstance(value, (list, tuple)) and [int(v) for v in value] == list(expected)
    elif isinstance(expected, float):
        same = math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12)
    else:
        same = value == expected
    if not same:
        raise CheckpointError(
            f"{origin}: {path}.{key} is {value!r}, but the network's hyper-parameters give {expected!r}"
            f" (tampered, or {_UNKNOWN})"
        )


def _convert_input(stub, cfg: StyleGAN3Config, put, origin: str) -> None:
    path = "synthesis.input"
    children = _expect(stub, "SynthesisInput", {"affine"}, path, origin)
    spec = cfg.input_spec()
    for key, value in (("channels", spec.channels), ("size", spec.size), ("sampling_rate", spec.sampling_rate),
                       ("bandwidth", spec.bandwidth)):
        _check(stub, path, key, value, origin)
    _tensors(stub, path, {"weight", "transform", "freqs", "phases"}, origin)
    for key in ("weight", "transform", "freqs", "phases"):
        put(f"{path}.{key}", stub, path, key)
    _convert_affine(children["affine"], f"{path}.affine", f"{path}.affine", put, origin)


def _convert_layer(stub, spec: LayerSpec, cfg: StyleGAN3Config, i: int, put, origin: str) -> None:
    path = f"synthesis.{spec.name}"
    children = _expect(stub, "SynthesisLayer", {"affine"}, path, origin)
    facts = {
        "is_torgb": spec.is_torgb, "is_critically_sampled": spec.critically_sampled, "use_fp16": spec.use_fp16,
        "in_channels": spec.in_channels, "out_channels": spec.out_channels, "in_size": spec.in_size,
        "out_size": spec.out_size, "in_sampling_rate": spec.in_sampling_rate, "out_sampling_rate": spec.out_sampling_rate,
        "tmp_sampling_rate": spec.tmp_sampling_rate, "in_cutoff": spec.in_cutoff, "out_cutoff": spec.out_cutoff,
        "in_half_width": spec.in_half_width, "out_half_width": spec.out_half_width, "conv_kernel": spec.conv_kernel,
        "up_factor": spec.up, "down_factor": spec.down, "up_taps": spec.up_taps, "down_taps": spec.down_taps,
        "down_radial": spec.down_radial, "padding": list(spec.padding),
    }
    for key, expected in facts.items():
        if isinstance(expected, bool):
            value = stub.state.get(key)
            if not isinstance(value, (bool, np.bool_)) or bool(value) != expected:
                raise CheckpointError(f"{origin}: {path}.{key} is {value!r}, but the network's hyper-parameters give"
                                      f" {expected} (tampered, or {_UNKNOWN})")
        else:
            _check(stub, path, key, expected, origin)
    clamp = stub.state.get("conv_clamp")
    if (clamp is None) != (cfg.conv_clamp is None) or (clamp is not None and not math.isclose(float(clamp), cfg.conv_clamp)):
        raise CheckpointError(f"{origin}: {path}.conv_clamp is {clamp!r}, the network's is {cfg.conv_clamp!r} ({_UNKNOWN})")
    tensors = _tensors(stub, path, {"weight", "bias", "magnitude_ema", "up_filter", "down_filter"}, origin)
    for key, ours in zip(("up_filter", "down_filter"), layer_filters(spec)):
        _check_filter(tensors.get(key), ours, f"{path}.{key}", origin)
    for key in ("weight", "bias", "magnitude_ema"):
        put(f"synthesis.layers.{i}.{key}", stub, path, key)
    _convert_affine(children["affine"], f"{path}.affine", f"synthesis.layers.{i}.affine", put, origin)


def _convert_affine(stub, path: str, ours: str, put, origin: str) -> None:
    _expect(stub, "FullyConnectedLayer", set(), path, origin)
    _tensors(stub, path, {"weight", "bias"}, origin)
    if stub.state.get("activation") != "linear" or not math.isclose(_number(stub, "bias_gain", path, origin), 1.0):
        raise CheckpointError(f"{origin}: {path} is not a plain linear affine ({_UNKNOWN})")
    put(f"{ours}.weight", stub, path, "weight")
    put(f"{ours}.bias", stub, path, "bias")


def _check_filter(stored, derived: torch.Tensor | None, path: str, origin: str) -> None:
    """The file's filter must be the one the layer's cutoff, width and rates design."""
    if derived is None:
        if stored is not None:
            raise CheckpointError(f"{origin}: {path} should be absent for this layer (tampered, or {_UNKNOWN})")
        return
    if not isinstance(stored, torch.Tensor) or tuple(stored.shape) != tuple(derived.shape):
        shape = list(stored.shape) if isinstance(stored, torch.Tensor) else stored
        raise CheckpointError(
            f"{origin}: {path} is {shape}, but the layer's hyper-parameters design a {list(derived.shape)} filter"
            f" (tampered, or {_UNKNOWN})"
        )
    error = float((stored.float() - derived).abs().max()) if stored.is_floating_point() else math.inf
    if not error <= 1e-5 * float(derived.abs().max()):
        raise CheckpointError(
            f"{origin}: {path} does not match the filter its layer's hyper-parameters design"
            f" (differs by {error:.2g}; tampered, or {_UNKNOWN})"
        )
