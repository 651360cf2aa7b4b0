"""Directions: SeFa and GANSpace from the checkpoints themselves, layer ranges, user files, the cache."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from realtime.sheets.directions import direction_sheet, make_directions
from realtime.errors import StylevjError
from realtime.latent import direction_files, directions
from realtime.latent.direction_files import (
    cached_directions, load_direction, load_direction_set, save_directions,
)
from realtime.latent.directions import (
    DirectionError, apply_direction, direction_offset, ganspace, sefa, spread_along,
)
from realtime.latent.layer_ranges import LayerRangeError, parse_layers, row_layers, row_resolutions
from realtime.models import ARCHITECTURES, GeneratorConfig, load_generator

from .forge import random_generator

CHECKPOINTS = ["nvada_tiny.pkl", "rosinality_tiny.pt"]


@pytest.fixture(scope="module", params=CHECKPOINTS)
def G(request, fixtures):
    return load_generator(fixtures / request.param)


@pytest.fixture(scope="module")
def nvada(fixtures):
    return load_generator(fixtures / "nvada_tiny.pkl")


def independent_sefa(G, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """SeFa written out again from the state dict: left singular vectors of the unit-column A."""
    state = G.state_dict()
    affines = []  # in the order the synthesis runs its modulated convs (row k styles conv k)
    for j in range(len(G.cfg.channels)):
        for conv in ("conv0", "conv1"):
            key = f"synthesis.blocks.{j}.{conv}.affine.weight"
            if key in state:
                affines.append(state[key].double().numpy())  # [C, w_dim]
    a = np.concatenate([affines[k].T for k in rows], axis=1)  # [w_dim, sum C]
    a = a / np.linalg.norm(a, axis=0, keepdims=True)
    u, s, _ = np.linalg.svd(a)
    return u.T, s**2  # directions as rows, eigenvalues of A Aᵀ


# -- SeFa ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("layers", ["all", "coarse", "middle", "2-5", "0", "6"])
def test_sefa_matches_an_independent_svd(G, layers):
    rows = parse_layers(layers, G.num_ws)
    found = sefa(G, rows)
    conv_rows = [r for r in rows if r < G.num_ws - 1]
    expected, eigenvalues = independent_sefa(G, conv_rows)
    v = found.vectors.double()
    assert v.shape == (G.w_dim, G.w_dim) and found.vectors.dtype == torch.float32
    assert torch.allclose(v @ v.T, torch.eye(G.w_dim, dtype=torch.float64), atol=1e-5)  # unit, orthogonal
    cos = (v[:5].numpy() * expected[:5]).sum(axis=1)
    assert np.all(np.abs(cos) >= 0.999), cos
    assert np.allclose(found.values[:5].numpy(), eigenvalues[:5], rtol=1e-6)
    assert found.values[0] == found.values.max() and torch.all(found.values.diff() <= 1e-9)


def test_sefa_is_deterministic_with_a_fixed_sign(nvada):
    a, b = sefa(nvada), sefa(nvada)
    assert torch.equal(a.vectors, b.vectors) and torch.equal(a.values, b.values)
    peak = a.vectors.gather(1, a.vectors.abs().argmax(dim=1, keepdim=True))
    assert torch.all(peak > 0)  # the largest-magnitude entry of every direction is positive


def test_sefa_refuses_a_range_without_modulated_convs(nvada):
    with pytest.raises(DirectionError, match="no modulated convolution") as err:
        sefa(nvada, (7,))  # row 7 of 8 styles only the last toRGB
    assert "\n" not in str(err.value)


# -- GANSpace -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pcs(nvada):
    return ganspace(nvada, seed=0), ganspace(nvada, seed=1)


def test_ganspace_components_are_orthonormal_with_descending_variance(nvada, pcs):
    found, _ = pcs
    v = found.vectors.double()
    assert torch.allclose(v @ v.T, torch.eye(nvada.w_dim, dtype=torch.float64), atol=1e-5)
    assert torch.all(found.values.diff() <= 0) and found.values[0] > found.values[1]
    # The variance of sampled W along each component is its eigenvalue (fresh samples: ~1%).
    sigma = spread_along(nvada, found.vectors[:3], samples=50_000, seed=7)
    assert torch.allclose(sigma.square(), found.values[:3], rtol=0.05)


def test_ganspace_top_components_are_stable_across_sample_seeds(pcs):
    a, b = pcs
    cos = (a.vectors[:3] * b.vectors[:3]).sum(dim=1).abs()
    assert torch.all(cos > 0.99), cos  # measured >= 0.998 with the default 100k samples


def test_ganspace_is_deterministic_per_seed(nvada, pcs):
    again = ganspace(nvada, seed=0)
    assert torch.equal(again.vectors, pcs[0].vectors)


# -- layer ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize("arch, num_ws, fine", [
    ("ffhq-256", 14, (7, 13)), ("ffhq-512", 16, (7, 15)), ("ffhq-1024", 18, (7, 17)),
])
def test_named_ranges_for_full_size_networks(arch, num_ws, fine):
    cfg = ARCHITECTURES[arch]()  # a config only: no 1024 px weights are built
    assert cfg.num_ws == num_ws
    assert parse_layers("all", num_ws) == tuple(range(num_ws))
    assert parse_layers("coarse", num_ws) == (0, 1, 2)  # 4 and 8 px
    assert parse_layers("middle", num_ws) == (3, 4, 5, 6)  # 16 and 32 px
    assert parse_layers("fine", num_ws) == tuple(range(fine[0], fine[1] + 1))  # 64 px up
    res = row_resolutions(num_ws)
    assert res[:8] == (4, 8, 8, 16, 16, 32, 32, 64) and res[-3:] == (cfg.resolution,) * 3
    layers = row_layers(num_ws)
    assert layers[-1] == (f"b{cfg.resolution}.torgb",)
    assert layers[-2] == (f"b{cfg.resolution}.conv1",)
    assert layers[-3] == (f"b{cfg.resolution}.conv0", f"b{cfg.resolution // 2}.torgb")


def test_explicit_ranges_and_mistakes():
    assert parse_layers("3-5", 18) == (3, 4, 5)
    assert parse_layers(" 4 ", 18) == (4,)
    for bad in ("5-3", "0-18", "-1", "eyes", "1-x", ""):
        with pytest.raises(LayerRangeError) as err:
            parse_layers(bad, 18)
        assert "\n" not in str(err.value)
    with pytest.raises(LayerRangeError, match="32 px generator has no layers at 64 px"):
        parse_layers("fine", 8)


@torch.no_grad()
def test_row_layers_say_which_layers_really_read_each_row():
    # Run a small 64 px network with hooks on every style affine and see which W+ row each reads.
    G = random_generator(GeneratorConfig(z_dim=8, w_dim=8, resolution=64, channels=(8, 8, 8, 8, 8), mapping_layers=1))
    seen: dict[str, int] = {}
    for j, block in enumerate(G.synthesis.blocks):
        for name in ("conv0", "conv1", "torgb"):
            if hasattr(block, name):
                label = f"b{block.resolution}.{name}"
                getattr(block, name).affine.register_forward_hook(
                    lambda mod, inp, out, label=label: seen.__setitem__(label, int(inp[0][0, 0]))
                )
    ws = torch.arange(G.num_ws, dtype=torch.float32).view(1, -1, 1).expand(1, -1, G.w_dim)  # row k holds k
    G.synthesis(ws)
    expected = {name: row for row, names in enumerate(row_layers(G.num_ws)) for name in names}
    assert seen == expected


# -- applying -----------------------------------------------------------------------------------


def test_apply_moves_exactly_the_chosen_rows_by_amount_times_direction():
    ws = torch.randn(18, 512)
    d = torch.nn.functional.normalize(torch.randn(512), dim=0)
    rows = parse_layers("middle", 18)
    moved = apply_direction(ws, d, 2.5, rows)
    others = [r for r in range(18) if r not in rows]
    assert torch.equal(moved[others], ws[others])
    assert torch.allclose(moved[list(rows)] - ws[list(rows)], 2.5 * d.expand(len(rows), -1), atol=1e-6)
    wplus = torch.randn(18, 512)
    assert torch.allclose(apply_direction(ws, wplus, -1.0) - ws, -wplus, atol=1e-6)


def test_apply_takes_one_amount_per_batch_entry():
    ws = torch.randn(4, 8, 16)
    d = torch.randn(16)
    moved = apply_direction(ws, d, torch.tensor([0.0, 1.0, 2.0, 3.0]), rows=(0, 1))
    assert torch.equal(moved[0], ws[0])
    assert torch.allclose(moved[3, :2] - ws[3, :2], 3 * d.expand(2, -1), atol=1e-6)
    assert torch.equal(moved[:, 2:], ws[:, 2:])
    assert direction_offset(d, 1.0, None, 8).shape == (8, 16)
    with pytest.raises(DirectionError, match="outside W\\+ rows 0-7"):
        apply_direction(ws, d, 1.0, rows=(8,))


# -- user files ---------------------------------------------------------------------------------


def test_user_files_of_good_shape_load(tmp_path):
    w, wplus = np.random.randn(64).astype(np.float32), np.random.randn(8, 64).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "boundary.npy", w[None])  # InterFaceGAN boundaries are [1, w_dim]
    np.savez(tmp_path / "edit.npz", direction=wplus, note=np.zeros(3))
    save_file({"direction": torch.from_numpy(wplus)}, tmp_path / "edit.safetensors")
    assert torch.equal(load_direction(tmp_path / "w.npy", 8, 64), torch.from_numpy(w))
    assert load_direction(tmp_path / "boundary.npy", 8, 64).shape == (64,)
    assert torch.equal(load_direction(tmp_path / "edit.npz", 8, 64), torch.from_numpy(wplus))
    assert torch.equal(load_direction(tmp_path / "edit.safetensors", 8, 64), torch.from_numpy(wplus))


def _pickle_npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    return buffer.getvalue()


@pytest.mark.parametrize("name, payload, words", [
    ("wrong.npy", np.zeros((3, 64), np.float32) + 1, "shape \\[3, 64\\] does not fit"),
    ("short.npy", np.ones(63, np.float32), "shape \\[63\\]"),
    ("nan.npy", np.full(64, np.nan, np.float32), "NaN"),
    ("zeros.npy", np.zeros(64, np.float32), "all zeros"),
    ("ints.npy", np.ones(64, np.int64), "not floating point"),
    ("objects.npy", _pickle_npy(), "pickled Python objects"),
    ("evil.npy", pickle.dumps(print), "not a direction file"),
    ("two.npz", {"a": np.ones(64), "b": np.ones(64)}, "holds 2 arrays"),
])
def test_bad_direction_files_are_refused_in_one_line_naming_the_file(tmp_path, name, payload, words):
    path = tmp_path / name
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    elif isinstance(payload, dict):
        np.savez(path, **payload)
    else:
        np.save(path, payload)
    with pytest.raises(DirectionError, match=words) as err:
        load_direction(path, 8, 64)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(DirectionError, match="no such file"):
        load_direction(tmp_path / "nope.npy", 8, 64)
    with pytest.raises(DirectionError, match="is a folder"):
        load_direction(tmp_path, 8, 64)


def test_saved_directions_are_float32_n_by_w_dim_first_first(tmp_path, nvada):
    found = sefa(nvada).top(5)
    path = save_directions(tmp_path / "sefa.npy", found)
    array = np.load(path, allow_pickle=False)
    assert array.dtype == np.float32 and array.shape == (5, 64)
    assert np.array_equal(array[0], found.vectors[0].numpy())
    assert torch.equal(load_direction_set(path, 64), found.vectors)
    with pytest.raises(DirectionError, match="not a set of W directions"):
        load_direction_set(path, 32)
    with pytest.raises(DirectionError, match="does not exist"):
        save_directions(tmp_path / "no" / "x.npy", found)


# -- cache --------------------------------------------------------------------------------------


def test_cache_hit_returns_the_same_directions_without_computing(tmp_path, nvada, monkeypatch):
    first = cached_directions(nvada, "sefa", (0, 1, 2), cache_dir=tmp_path)
    files = list(tmp_path.glob("sefa-*.npz"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns

    def no_compute(*args, **kwargs):
        raise AssertionError("recomputed on a cache hit")

    monkeypatch.setattr(directions, "sefa", no_compute)
    monkeypatch.setattr(directions, "ganspace", no_compute)
    again = cached_directions(nvada, "sefa", (0, 1, 2), cache_dir=tmp_path)
    assert torch.equal(again.vectors, first.vectors) and torch.equal(again.values, first.values)
    assert files[0].stat().st_mtime_ns == stamp
    with pytest.raises(AssertionError, match="recomputed"):  # another range is another entry
        cached_directions(nvada, "sefa", (3, 4), cache_dir=tmp_path)


def test_cache_key_follows_the_weights_not_the_file(nvada):
    key = direction_files.cache_key(nvada, "sefa", None, 0, 0)
    assert direction_files.cache_key(nvada, "sefa", tuple(range(8)), 0, 0) == key  # same convs
    changed = load_generator(nvada.source)
    with torch.no_grad():
        changed.synthesis.blocks[2].conv1.affine.weight[0, 0] += 1e-3
    assert direction_files.cache_key(changed, "sefa", None, 0, 0) != key
    assert direction_files.cache_key(changed, "ganspace", None, 1000, 0) == direction_files.cache_key(
        nvada, "ganspace", None, 1000, 0)  # GANSpace reads only the mapping network
    assert direction_files.cache_key(nvada, "ganspace", None, 1000, 1) != direction_files.cache_key(
        nvada, "ganspace", None, 1000, 0)


def test_a_corrupt_cache_entry_is_recomputed(tmp_path, nvada, caplog):
    first = cached_directions(nvada, "sefa", cache_dir=tmp_path)
    (entry,) = tmp_path.glob("sefa-*.npz")
    entry.write_bytes(b"PK\x03\x04garbage")
    with caplog.at_level("WARNING"):
        again = cached_directions(nvada, "sefa", cache_dir=tmp_path)
    assert "unreadable" in caplog.text
    assert torch.equal(again.vectors, first.vectors)
    assert np.load(entry, allow_pickle=False)["vectors"].shape == (64, 64)  # rewritten


# -- the sheet and the command -------------------------------------------------------------------


@torch.no_grad()
def test_sheet_rows_are_directions_and_the_middle_column_is_the_unchanged_picture(nvada):
    from realtime.images import to_rgb8

    w = nvada.mapping(torch.randn(1, nvada.z_dim, generator=torch.Generator().manual_seed(5)))[0]
    vectors = sefa(nvada).vectors[:3]
    sheet = direction_sheet(nvada, vectors, w, amounts=(-3, 0, 3), thumb=32, scale=0.0)
    assert sheet.size == (96 + 3 * 36 + 4, 18 + 3 * 36 + 4)
    tile = np.asarray(sheet.crop((96 + 36, 18, 96 + 36 + 32, 18 + 32))).astype(int)  # row 0, amount 0
    plain = to_rgb8(nvada.synthesis(w[None])[0]).astype(int)
    # The sheet draws a row as one batch: float sums in another order may round a pixel the other
    # way (1 of 255), while any resampling of a 32 px picture into a 32 px tile would move many.
    assert np.abs(tile - plain).max() <= 1
    left = np.asarray(sheet.crop((96, 18, 96 + 32, 18 + 32))).astype(int)
    assert np.abs(left - plain).max() <= 1  # scale 0: no move at all


def test_make_directions_writes_the_file_and_the_sheet(tmp_path, fixtures):
    out, png = tmp_path / "dirs.npy", tmp_path / "sheet.png"
    found = make_directions(str(fixtures / "nvada_tiny.pkl"), out, "sefa", "coarse", 4, sheet=png,
                            cache_dir=tmp_path / "cache", thumb=32)
    array = np.load(out, allow_pickle=False)
    assert array.shape == (4, 64) and array.dtype == np.float32
    G = load_generator(fixtures / "nvada_tiny.pkl")
    assert np.array_equal(array, sefa(G, (0, 1, 2)).vectors[:4].numpy())
    assert torch.equal(found.vectors, torch.from_numpy(array))
    assert Image.open(png).size == (96 + 7 * 36 + 4, 18 + 4 * 36 + 4)


def test_make_directions_checks_its_inputs_before_loading(tmp_path):
    with pytest.raises(StylevjError, match="does not exist"):
        make_directions("/no/such.pkl", tmp_path / "missing" / "d.npy")
    with pytest.raises(StylevjError, match="method"):
        make_directions("demo", tmp_path / "d.npy", method="pca")
    with pytest.raises(StylevjError, match="count must be between 1 and 128"):
        make_directions("demo", tmp_path / "d.npy", count=500, cache_dir=tmp_path)
