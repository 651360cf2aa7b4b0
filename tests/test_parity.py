"""Our generator reproduces both reference implementations on their own checkpoints (fp32)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
import torch

from realtime.models import load_generator

from .conftest import rel_error

TOLERANCE = 1e-4
MARKER = Path("/tmp/stylevj_pkl_code_ran")

CASES = [
    ("rosinality_tiny.pt", "rosinality_tiny_ref.npz", "wplus"),
    ("nvada_tiny.pkl", "nvada_tiny_ref.npz", "ws"),
    ("nvada_trap.pkl", "nvada_tiny_ref.npz", "ws"),
]


@pytest.fixture(scope="module", params=CASES, ids=[c[0] for c in CASES])
def loaded(request, fixtures):
    checkpoint, ref_name, w_key = request.param
    MARKER.unlink(missing_ok=True)
    G = load_generator(fixtures / checkpoint)
    ref = np.load(fixtures / ref_name)
    return G, {k: torch.from_numpy(ref[k]) for k in ref.files}, w_key


@torch.no_grad()
def test_mapping_then_synthesis_matches_reference(loaded):
    G, ref, _ = loaded
    img = G.synthesis(G.mapping(ref["z"]), noise_mode="const")
    assert img.shape == ref["img_z"].shape
    assert rel_error(img, ref["img_z"]) < TOLERANCE


@torch.no_grad()
def test_truncation_07_matches_reference(loaded):
    G, ref, _ = loaded
    img = G.synthesis(G.mapping(ref["z"], truncation_psi=0.7))
    assert rel_error(img, ref["img_trunc07"]) < TOLERANCE


@torch.no_grad()
def test_wplus_given_directly_matches_reference(loaded):
    G, ref, w_key = loaded
    assert G.num_ws == ref[w_key].shape[1] == 8
    img = G.synthesis(ref[w_key])
    assert rel_error(img, ref["img_w"]) < TOLERANCE


def test_embedded_source_never_runs(loaded):
    assert not MARKER.exists(), "the pickle's embedded code was executed"


def test_architecture_read_from_the_files(fixtures):
    ros = load_generator(fixtures / "rosinality_tiny.pt").cfg
    nv = load_generator(fixtures / "nvada_tiny.pkl").cfg
    assert (ros.resolution, ros.z_dim, ros.w_dim, ros.mapping_layers, ros.num_ws) == (32, 64, 64, 2, 8)
    assert ros.conv_clamp is None and ros.num_fp16_res == 0
    assert (nv.resolution, nv.w_dim, nv.mapping_layers, nv.conv_clamp, nv.num_fp16_res) == (32, 64, 2, 256.0, 2)
    assert nv.channels == (64, 64, 64, 64)  # channel_base 2048 / res, capped at channel_max 64


def test_rosinality_w_avg_is_latent_avg(fixtures):
    with torch.serialization.safe_globals([argparse.Namespace]):
        ckpt = torch.load(fixtures / "rosinality_tiny.pt", weights_only=True)
    G = load_generator(fixtures / "rosinality_tiny.pt")
    assert torch.equal(G.w_avg, ckpt["latent_avg"].float())
