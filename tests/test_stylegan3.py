"""StyleGAN3 (configs T and R): NVIDIA's pickles load safely and draw what NVIDIA's code draws.

The fixtures (tests/fixtures/sg3/README.md) were made with NVIDIA's own code and reference ops;
our synthesis must reproduce them within 1e-4. Hostile and broken variants are made here by
re-pickling a fixture's persistent objects with one thing changed.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from realtime.errors import CheckpointError
from realtime.models import ARCHITECTURES, load_generator, save_native
from realtime.models.sg3_config import StyleGAN3Config, channels_for
from realtime.models.sg3_filters import FilteredLeakyReLU, lowpass_filter
from realtime.models.stylegan3 import StyleGAN3Generator

from .conftest import needs_cuda, rel_error
from .forge import Reducer, dump, persistent

SG3 = Path(__file__).resolve().parent / "fixtures" / "sg3"
NAMES = ("sg3t_16", "sg3t_64", "sg3r_32", "sg3r_64")
TOLERANCE = 1e-4


def reference(name: str) -> dict[str, torch.Tensor]:
    ref = np.load(SG3 / f"{name}_ref.npz")
    return {k: torch.from_numpy(ref[k]) for k in ref.files}


@pytest.fixture(scope="module", params=NAMES)
def loaded(request):
    return request.param, load_generator(SG3 / f"{request.param}.pkl"), reference(request.param)


# -- parity with NVIDIA's code ------------------------------------------------------------------


@torch.no_grad()
def test_mapping_then_synthesis_matches_nvidia(loaded):
    _, G, ref = loaded
    assert rel_error(G.synthesis(G.mapping(ref["z"])), ref["img_z"]) < TOLERANCE
    assert rel_error(G(ref["z"]), ref["img_z"]) < TOLERANCE


@torch.no_grad()
def test_truncation_07_matches_nvidia(loaded):
    _, G, ref = loaded
    assert rel_error(G.synthesis(G.mapping(ref["z"], truncation_psi=0.7)), ref["img_trunc07"]) < TOLERANCE


@torch.no_grad()
def test_wplus_matches_nvidia_in_a_batch_and_one_by_one(loaded):
    _, G, ref = loaded
    assert rel_error(G.synthesis(ref["ws"]), ref["img_w"]) < TOLERANCE
    for i in range(len(ref["ws"])):  # batch 1 takes the one-convolution path
        assert rel_error(G.synthesis(ref["ws"][i:i + 1]), ref["img_w"][i:i + 1]) < TOLERANCE


@torch.no_grad()
def test_input_transform_set_as_nvidias_visualizer_does(loaded):
    name, _, ref = loaded
    G = load_generator(SG3 / f"{name}.pkl")
    assert G.synthesis.input.transform.shape == (3, 3)
    assert torch.equal(G.synthesis.input.transform, torch.eye(3))
    G.synthesis.input.transform.copy_(ref["transform"])
    out = G.synthesis(ref["ws"])
    assert rel_error(out, ref["img_transform"]) < TOLERANCE
    assert rel_error(out, ref["img_w"]) > 1e-2  # the transform does move the picture


@torch.no_grad()
def test_noise_mode_is_accepted_and_means_nothing(loaded):
    _, G, ref = loaded
    ws = ref["ws"][:1]
    const = G.synthesis(ws, noise_mode="const")
    assert torch.equal(G.synthesis(ws, noise_mode="random"), const)
    assert torch.equal(G.synthesis(ws, noise_mode="none"), const)
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, noise_mode="loud")


def test_architecture_is_read_from_the_file():
    G = load_generator(SG3 / "sg3t_64.pkl")
    cfg = G.cfg
    assert isinstance(G, StyleGAN3Generator) and isinstance(cfg, StyleGAN3Config)
    assert (G.z_dim, G.w_dim, G.resolution, G.num_ws) == (24, 24, 64, 12)
    assert (cfg.mapping_layers, cfg.num_layers, cfg.margin_size, cfg.conv_kernel, cfg.num_fp16_res) == (3, 10, 6, 3, 4)
    assert [spec.name for spec in cfg.layer_specs()][-3:] == ["L8_76_4", "L9_64_4", "L10_64_3"]
    R = load_generator(SG3 / "sg3r_64.pkl").cfg
    assert (R.conv_kernel, R.use_radial_filters, R.conv_clamp, R.num_fp16_res, R.mapping_layers) == (1, True, None, 0, 1)
    assert "StyleGAN3-R 64px" in R.describe()


def test_filtered_lrelu_equals_its_naive_definition_in_every_layer():
    """Each layer's nonlinearity on its own: a strided up/down filter equals zero insertion,
    pad, full-size filtering and decimation (written out naively here, in float64)."""
    cfg = StyleGAN3Config(z_dim=4, w_dim=4, resolution=32, channels=(3,) * 14, conv_kernel=1, use_radial_filters=True)
    for spec in cfg.layer_specs()[:-1]:
        act = FilteredLeakyReLU(spec, clamp=1.5).double()
        n = spec.in_size + spec.conv_kernel - 1
        x = torch.randn(2, spec.out_channels, n, n, dtype=torch.float64) * 2
        ours = act(x.contiguous(memory_format=torch.channels_last))
        up = torch.zeros(2, spec.out_channels, n * spec.up, n * spec.up, dtype=torch.float64)
        up[:, :, ::spec.up, ::spec.up] = x
        px0, px1, py0, py1 = spec.padding
        up = torch.nn.functional.pad(up, [px0, px1, py0, py1])  # negative amounts crop
        fu = lowpass_filter(spec.up_taps, spec.in_cutoff, spec.in_half_width * 2, spec.tmp_sampling_rate).double() * spec.up
        k = torch.outer(fu, fu).flip(0, 1).expand(spec.out_channels, 1, -1, -1)
        y = torch.nn.functional.conv2d(up, k, groups=spec.out_channels)
        y = (torch.nn.functional.leaky_relu(y, 0.2) * 2**0.5).clamp(-1.5, 1.5)
        fd = lowpass_filter(spec.down_taps, spec.out_cutoff, spec.out_half_width * 2, spec.tmp_sampling_rate, spec.down_radial).double()
        fd = fd if fd.ndim == 2 else torch.outer(fd, fd)
        y = torch.nn.functional.conv2d(y, fd.flip(0, 1).expand(spec.out_channels, 1, -1, -1), groups=spec.out_channels)
        naive = y[:, :, ::spec.down, ::spec.down]
        assert ours.shape == naive.shape == (2, spec.out_channels, spec.out_size, spec.out_size), spec.name
        assert rel_error(ours, naive) < 1e-6, spec.name  # the filter gains are float32


# -- convert ------------------------------------------------------------------------------------


@torch.no_grad()
def test_convert_to_safetensors_and_back_bit_for_bit(tmp_path):
    ref = reference("sg3r_32")
    G = load_generator(SG3 / "sg3r_32.pkl")
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    save_native(G, first)
    H = load_generator(first)
    save_native(H, second)
    assert first.read_bytes() == second.read_bytes()
    assert H.cfg == G.cfg
    assert torch.equal(H.synthesis(ref["ws"]), G.synthesis(ref["ws"]))
    assert rel_error(H.synthesis(ref["ws"]), ref["img_w"]) < TOLERANCE


def test_convert_command_writes_a_stylegan3_safetensors(tmp_path):
    out = tmp_path / "t.safetensors"
    result = subprocess.run([sys.executable, "-m", "realtime.cli", "convert", str(SG3 / "sg3t_16.pkl"), str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    from safetensors import safe_open

    with safe_open(str(out), framework="pt") as f:
        header = json.loads(f.metadata()["stylevj"])
        assert not any("filter" in key for key in f.keys())  # filters are derived, never stored
    assert header["architecture"] == "stylegan3" and header["generator"]["resolution"] == 16


def test_native_file_of_an_unknown_architecture_is_one_line(tmp_path):
    G = load_generator(SG3 / "sg3r_64.pkl")
    path = tmp_path / "x.safetensors"
    save_native(G, path)
    from safetensors.torch import load_file, save_file

    header = {"format_version": 1, "generator": json.loads(G.cfg.to_json()), "architecture": "stylegan-xl"}
    save_file(load_file(str(path)), str(path), metadata={"stylevj": json.dumps(header)})
    with pytest.raises(CheckpointError, match="architecture 'stylegan-xl' is not one stylevj knows") as err:
        load_generator(path)
    assert "\n" not in str(err.value)


# -- bad input ------------------------------------------------------------------------------------


class Node:
    """A persistent object read back from a fixture: its meta (class name, state) is editable,
    and it pickles again as NVIDIA's `_reconstruct_persistent_obj(meta)`."""

    def __init__(self, meta: dict) -> None:
        self.meta = meta

    def __reduce__(self):
        return persistent("stand-in").func, (self.meta,)

    def __deepcopy__(self, memo: dict) -> "Node":
        return Node(copy.deepcopy(self.meta, memo))

    @property
    def state(self) -> dict:
        return self.meta["state"]

    def at(self, path: str) -> "Node":
        node = self
        for part in path.split(".") if path else []:
            node = node.state["_modules"][part]
        return node


class _FixtureReader(pickle.Unpickler):
    """Reads OUR fixtures (trusted test data) keeping persistent objects as editable Nodes."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("torch_utils.persistence", "_reconstruct_persistent_obj"):
            return Node
        if module.startswith("dnnlib"):
            return dict
        return super().find_class(module, name)


def edited(tmp_path: Path, edit, name: str = "sg3t_16") -> Path:
    with open(SG3 / f"{name}.pkl", "rb") as f:
        snapshot = _FixtureReader(f).load()
    G = snapshot["G_ema"]
    edit(G)
    path = tmp_path / f"{name}_edited.pkl"
    dump({"G": None, "G_ema": G, "D": None}, path)
    return path


def refused(path: Path, match: str) -> str:
    with pytest.raises(CheckpointError, match=match) as err:
        load_generator(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_the_edit_tool_itself_round_trips_a_loadable_network(tmp_path):
    G = load_generator(edited(tmp_path, lambda G: None))
    ref = reference("sg3t_16")
    with torch.no_grad():
        assert rel_error(G.synthesis(ref["ws"]), ref["img_w"]) < TOLERANCE


def test_embedded_source_never_runs_even_in_a_fresh_process(tmp_path):
    marker = tmp_path / "ran"

    def trap(G):
        for node in (G, G.at("synthesis"), G.at("synthesis.L3_36_16"), G.at("synthesis.input.affine")):
            node.meta["module_src"] = f"open({str(marker)!r}, 'w').write('pwned')\nclass Generator: pass\n"

    path = edited(tmp_path, trap)
    code = f"from realtime.models import load_generator; print(load_generator({str(path)!r}).num_ws)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "16"
    assert not marker.exists()


@pytest.mark.parametrize("cut", [0.02, 0.3, 0.6, 0.97])
def test_truncated_pickle_is_one_line(tmp_path, cut):
    data = (SG3 / "sg3r_32.pkl").read_bytes()
    path = tmp_path / "cut.pkl"
    path.write_bytes(data[: int(len(data) * cut)])
    refused(path, "truncated or corrupt")


def test_a_hostile_global_inside_a_stylegan3_layer_is_refused_by_name(tmp_path):
    marker = tmp_path / "pwned"
    path = edited(tmp_path, lambda G: G.at("synthesis.L5_36_16").state.update(evil=Reducer(os.system, f"touch {marker}")))
    refused(path, r"(posix|os)\.system.*allow-list")
    assert not marker.exists()


@pytest.mark.parametrize("edit, match", [
    (lambda G: G.at("synthesis").state.update(margin_size=4), r"synthesis layer 'L0_36_16' should be 'L0_24_16'"),
    (lambda G: G.at("synthesis").state.update(img_resolution=32), r"synthesis layer 'L5_36_16' should be 'L5_52_16'"),
    (lambda G: G.at("synthesis").state.update(num_layers=12), r"14 channel widths given for 12"),
    (lambda G: G.at("synthesis").state.update(num_critical=3), r"synthesis\.L1_36_16\.out_cutoff is 2\.24.*give 2\.26"),
    (lambda G: G.at("synthesis.L7_36_14").state.update(padding=[10, 7, 10, 7]), r"L7_36_14\.padding is \[10, 7, 10, 7\]"),
    (lambda G: G.at("synthesis.L2_36_16").state.update(in_cutoff=np.float64(2.5)), r"L2_36_16\.in_cutoff"),
    (lambda G: G.at("synthesis.L2_36_16").state["_parameters"].update(weight=torch.zeros(16, 16, 3)),
     r"synthesis\.L2_36_16\.weight' has shape \[16, 16, 3\]"),
    (lambda G: G.at("synthesis.L4_36_16").state["_buffers"]["magnitude_ema"].fill_(float("nan")),
     r"synthesis\.L4_36_16\.magnitude_ema' holds NaN"),
    (lambda G: G.at("synthesis.input").state["_buffers"].pop("freqs"), r"synthesis\.input.*freqs' is missing"),
])
def test_tampered_pickle_is_one_line_naming_what(tmp_path, edit, match):
    refused(edited(tmp_path, edit), match)


@pytest.mark.parametrize("layer, key, change", [
    ("L3_36_16", "down_filter", lambda f: f * 1.01),  # a different cutoff's worth of gain
    ("L3_36_16", "up_filter", lambda f: torch.cat([f[1:], f[:1]])),  # shifted taps
    ("L13_16_8", "down_filter", lambda f: torch.outer(f, f)),  # a radial-shaped filter on config T
    ("L14_16_3", "up_filter", lambda f: torch.ones(12)),  # ToRGB has no filter
])
def test_filters_that_do_not_match_the_hyper_parameters_are_refused(tmp_path, layer, key, change):
    def edit(G):
        buffers = G.at(f"synthesis.{layer}").state["_buffers"]
        buffers[key] = change(buffers[key] if buffers[key] is not None else torch.ones(12))

    message = refused(edited(tmp_path, edit), rf"synthesis\.{layer}\.{key}")
    assert "hyper-parameters" in message or "absent" in message


def test_radial_filters_are_checked_on_config_r(tmp_path):
    def edit(G):
        buffers = G.at("synthesis.L2_36_16").state["_buffers"]
        f = buffers["down_filter"]
        buffers["down_filter"] = f.sum(0) / f.sum()  # the separable filter in place of the jinc
    refused(edited(tmp_path, edit, "sg3r_32"), r"L2_36_16\.down_filter is \[12\], but .* \[12, 12\]")


@pytest.mark.parametrize("edit, match", [
    (lambda G: G.meta.update(class_name="SuperresGenerator"), r"G is 'SuperresGenerator', not NVIDIA's Generator"),
    (lambda G: G.at("synthesis").state["_modules"].update(superres=copy.deepcopy(G.at("synthesis.L0_36_16"))),
     r"synthesis\.superres is unexpected"),
    (lambda G: G.at("synthesis").state["_init_kwargs"].update(superres=True), r"built with 'superres'"),
    (lambda G: G.at("synthesis.L1_36_16").state["_buffers"].update(head=torch.zeros(3)), r"unexpected tensor 'synthesis\.L1_36_16\.head'"),
    (lambda G: G.at("synthesis.input").meta.update(class_name="SynthesisInputXL"), r"synthesis\.input is 'SynthesisInputXL'"),
])
def test_a_stylegan3_variant_we_do_not_know_is_one_line(tmp_path, edit, match):
    message = refused(edited(tmp_path, edit), match)
    assert "of a kind stylevj does not know" in message


def test_conditional_stylegan3_is_refused_like_stylegan2(tmp_path):
    refused(edited(tmp_path, lambda G: G.state.update(c_dim=10)), "conditional networks")


# -- arch presets and fp16 ----------------------------------------------------------------------


def test_arch_presets_build_nvidias_published_shapes():
    t = ARCHITECTURES["sg3t-1024"]()
    r = ARCHITECTURES["sg3r-1024"]()
    assert (t.conv_kernel, t.use_radial_filters, r.conv_kernel, r.use_radial_filters) == (3, False, 1, True)
    assert t.channels == channels_for(1024) and r.channels == channels_for(1024, channel_base=65536, channel_max=1024)
    assert [s.name for s in t.layer_specs()] == [  # the names in NVIDIA's stylegan3-t-ffhq-1024x1024.pkl
        "L0_36_512", "L1_36_512", "L2_52_512", "L3_52_512", "L4_84_512", "L5_148_512", "L6_148_512", "L7_276_323",
        "L8_276_203", "L9_532_128", "L10_1044_81", "L11_1044_51", "L12_1044_32", "L13_1024_32", "L14_1024_3"]
    assert [s.name for s in r.layer_specs()][7:] == [
        "L7_276_645", "L8_276_406", "L9_532_256", "L10_1044_161", "L11_1044_102", "L12_1044_64", "L13_1024_64", "L14_1024_3"]
    for name in ("sg3t-512", "sg3r-512", "sg3t-256", "sg3r-256"):
        assert ARCHITECTURES[name]().resolution == int(name.split("-")[1])


def test_arch_preset_loads_with_random_weights():
    G = load_generator("arch:sg3r-256")
    assert isinstance(G, StyleGAN3Generator) and (G.resolution, G.num_ws) == (256, 16)
    assert torch.isfinite(G.mapping(torch.randn(2, 512))).all()


@needs_cuda
@torch.no_grad()
def test_fp16_layers_on_cuda_stay_close_to_nvidia():
    ref = reference("sg3t_64")
    G = load_generator(SG3 / "sg3t_64.pkl", device="cuda")
    assert G.uses_fp16
    out = G.synthesis(ref["ws"].cuda()).cpu()
    assert out.dtype == torch.float32 and rel_error(out, ref["img_w"]) < 2e-2
    G32 = load_generator(SG3 / "sg3t_64.pkl", device="cuda", fp16=False)
    assert not G32.uses_fp16 and rel_error(G32.synthesis(ref["ws"].cuda()).cpu(), ref["img_w"]) < TOLERANCE
