"""Keyframe files and seeds: every supported format, broadcasting, and clear errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from realtime.latent import KeyframeError, keyframe_from_seed, load_keyframe, save_keyframe, snapshot
from realtime.models import load_generator

from .forge import Reducer

NUM_WS, W_DIM = 8, 16


def test_every_format_loads_the_same_wplus(tmp_path):
    w = torch.randn(NUM_WS, W_DIM)
    np.save(tmp_path / "a.npy", w.numpy())
    np.savez(tmp_path / "b.npz", w=w.numpy(), other=np.zeros(3))
    save_file({"latent": w}, str(tmp_path / "c.safetensors"))
    torch.save({"w": w}, tmp_path / "d.pt")
    torch.save(w.double(), tmp_path / "e.pt")
    for name in ("a.npy", "b.npz", "c.safetensors", "d.pt", "e.pt"):
        kf = load_keyframe(tmp_path / name, NUM_WS, W_DIM)
        assert torch.allclose(kf.w, w), name
        assert kf.w.dtype == torch.float32 and kf.source == f"file:{tmp_path / name}"


@pytest.mark.parametrize("shape", [(W_DIM,), (1, W_DIM), (1, NUM_WS, W_DIM)])
def test_single_w_and_batched_wplus_are_accepted(tmp_path, shape):
    w = torch.randn(*shape)
    np.save(tmp_path / "w.npy", w.numpy())
    kf = load_keyframe(tmp_path / "w.npy", NUM_WS, W_DIM)
    assert kf.w.shape == (NUM_WS, W_DIM)
    assert torch.allclose(kf.w, w.reshape(-1, W_DIM).expand(NUM_WS, -1) if len(shape) < 3 else w[0])


def test_format_comes_from_content(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((NUM_WS, W_DIM), np.float32))
    os.rename(tmp_path / "x.npy", tmp_path / "x.pt")
    assert load_keyframe(tmp_path / "x.pt", NUM_WS, W_DIM).w.sum() == NUM_WS * W_DIM


@pytest.mark.parametrize(
    "array, reason",
    [
        (np.zeros((7, W_DIM), np.float32), r"shape \[7, 16\] does not fit"),
        (np.zeros((NUM_WS, 12), np.float32), r"shape \[8, 12\]"),
        (np.full((NUM_WS, W_DIM), np.nan, np.float32), "NaN or infinite"),
        (np.full((NUM_WS, W_DIM), np.inf, np.float32), "NaN or infinite"),
        (np.zeros((NUM_WS, W_DIM), np.int64), "not floating point"),
    ],
    ids=["num_ws", "w_dim", "nan", "inf", "int"],
)
def test_mismatches_name_the_file(tmp_path, array, reason):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(KeyframeError, match=reason) as err:
        load_keyframe(path, NUM_WS, W_DIM)
    assert str(path) in str(err.value)


def test_unreadable_files(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"not a tensor")
    with pytest.raises(KeyframeError, match="not a keyframe file"):
        load_keyframe(tmp_path / "junk.npy", NUM_WS, W_DIM)
    with pytest.raises(KeyframeError, match="no such file"):
        load_keyframe(tmp_path / "missing.npy", NUM_WS, W_DIM)
    np.savez(tmp_path / "many.npz", a=np.zeros(3), b=np.zeros(3))
    with pytest.raises(KeyframeError, match="holds 2 arrays"):
        load_keyframe(tmp_path / "many.npz", NUM_WS, W_DIM)
    data = (tmp_path / "ok.npy")
    np.save(data, np.zeros((NUM_WS, W_DIM), np.float32))
    (tmp_path / "cut.npy").write_bytes(data.read_bytes()[:100])
    with pytest.raises(KeyframeError, match="cut.npy"):
        load_keyframe(tmp_path / "cut.npy", NUM_WS, W_DIM)


def test_pt_keyframe_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"w": torch.zeros(NUM_WS, W_DIM), "x": Reducer(os.system, f"touch {marker}")}, tmp_path / "evil.pt")
    with pytest.raises(KeyframeError, match="tensors only"):
        load_keyframe(tmp_path / "evil.pt", NUM_WS, W_DIM)
    assert not marker.exists()


def test_saved_keyframe_round_trips_with_its_name(tmp_path):
    kf = snapshot(torch.randn(NUM_WS, W_DIM), name="the drop")
    path = save_keyframe(kf, tmp_path / "kf" / "drop.safetensors")
    back = load_keyframe(path, NUM_WS, W_DIM)
    assert torch.equal(back.w, kf.w) and back.name == "the drop"
    assert [p.name for p in path.parent.iterdir()] == ["drop.safetensors"]  # no temp file left


def test_seed_keyframe_is_the_mapped_seed_with_its_own_truncation():
    G = load_generator("demo")
    plain, truncated = keyframe_from_seed(G, 5), keyframe_from_seed(G, 5, psi=0.5)
    assert plain.w.shape == (G.num_ws, G.w_dim) and plain.source == "seed:5"
    assert torch.allclose(truncated.w, G.w_avg + 0.5 * (plain.w - G.w_avg), atol=1e-5)
    assert truncated.source == "seed:5@0.5"
