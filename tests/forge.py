"""Hand-made checkpoints for tests: hostile pickles, NVIDIA-style persistent objects, and
rosinality state dicts of any size (written from our own generator, so no reference code)."""

from __future__ import annotations

import pickle
import sys
import types

import torch

from realtime.models import Generator, GeneratorConfig


class Reducer:
    """Pickles as `func(*args)`: the way a hostile pickle smuggles a call."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _persistence_module() -> types.ModuleType:
    # pickle records a function by module and name; a stand-in module lets us write the same
    # global NVIDIA's files use without having their code.
    name = "torch_utils.persistence"
    if name not in sys.modules:
        sys.modules.setdefault("torch_utils", types.ModuleType("torch_utils"))
        mod = types.ModuleType(name)

        def _reconstruct_persistent_obj(meta):  # never called: we only write pickles
            raise AssertionError("stand-in")

        _reconstruct_persistent_obj.__module__ = name
        _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
        mod._reconstruct_persistent_obj = _reconstruct_persistent_obj
        sys.modules[name] = mod
    return sys.modules[name]


def persistent(class_name: str, modules: dict | None = None, **state) -> Reducer:
    """An NVIDIA persistent object with `class_name`, child modules and extra state."""
    meta = {
        "type": "class", "version": 6, "module_src": "raise SystemExit('must not run')",
        "class_name": class_name,
        "state": {"_modules": modules or {}, "_parameters": {}, "_buffers": {}, **state},
    }
    return Reducer(_persistence_module()._reconstruct_persistent_obj, meta)


def to_rosinality(G: Generator, latent_avg: bool = True) -> dict:
    """Our generator's weights in rosinality's layout (the inverse of our converter)."""
    sd = {k: v.clone() for k, v in G.state_dict().items()}
    out = {}
    for i in range(G.cfg.mapping_layers):
        out[f"style.{i + 1}.weight"] = sd[f"mapping.layers.{i}.weight"]
        out[f"style.{i + 1}.bias"] = sd[f"mapping.layers.{i}.bias"]
    out["input.input"] = sd["synthesis.blocks.0.const"][None]

    def conv(theirs, ours, noise_index):
        out[f"{theirs}.conv.weight"] = sd[f"{ours}.weight"][None]
        out[f"{theirs}.conv.modulation.weight"] = sd[f"{ours}.affine.weight"]
        out[f"{theirs}.conv.modulation.bias"] = sd[f"{ours}.affine.bias"]
        out[f"{theirs}.noise.weight"] = sd[f"{ours}.noise_strength"].reshape(1)
        out[f"{theirs}.activate.bias"] = sd[f"{ours}.bias"]
        out[f"noises.noise_{noise_index}"] = sd[f"{ours}.noise_const"][None, None]

    def rgb(theirs, ours):
        out[f"{theirs}.conv.weight"] = sd[f"{ours}.weight"][None]
        out[f"{theirs}.conv.modulation.weight"] = sd[f"{ours}.affine.weight"]
        out[f"{theirs}.conv.modulation.bias"] = sd[f"{ours}.affine.bias"]
        out[f"{theirs}.bias"] = sd[f"{ours}.bias"].reshape(1, -1, 1, 1)

    conv("conv1", "synthesis.blocks.0.conv1", 0)
    rgb("to_rgb1", "synthesis.blocks.0.torgb")
    for j in range(1, len(G.cfg.channels)):
        conv(f"convs.{2 * j - 2}", f"synthesis.blocks.{j}.conv0", 2 * j - 1)
        conv(f"convs.{2 * j - 1}", f"synthesis.blocks.{j}.conv1", 2 * j)
        rgb(f"to_rgbs.{j - 1}", f"synthesis.blocks.{j}.torgb")
    ckpt = {"g_ema": out}
    if latent_avg:
        ckpt["latent_avg"] = sd["mapping.w_avg"]
    return ckpt


def random_generator(cfg: GeneratorConfig, seed: int = 0) -> Generator:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G = Generator(cfg)
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.data.fill_(0.3)
        G.mapping.w_avg.normal_()
    return G.eval().requires_grad_(False)


def dump(obj, path) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)
