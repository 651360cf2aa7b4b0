"""The network itself: architecture inference, noise modes, batching, w_avg, the demo."""

from __future__ import annotations

import torch

from realtime.models import GeneratorConfig, load_generator
from realtime.models.seeds import z_from_seed

from .conftest import needs_cuda, rel_error
from .forge import random_generator, to_rosinality


def test_any_size_is_inferred_from_tensors(tmp_path):
    # A narrowed 64 px net with 3 mapping layers and uneven widths: nothing assumed.
    cfg = GeneratorConfig(z_dim=24, w_dim=32, resolution=64, channels=(40, 32, 24, 16, 8), mapping_layers=3, mapping_hidden=48)
    G = random_generator(cfg)
    path = tmp_path / "odd.pt"
    torch.save(to_rosinality(G), path)
    loaded = load_generator(path)
    assert loaded.cfg == cfg
    assert loaded.num_ws == 10
    ws = G.mapping(torch.randn(2, 24), truncation_psi=0.5)
    assert torch.equal(loaded.synthesis(ws), G.synthesis(ws))


def test_missing_w_avg_is_estimated_deterministically_and_logged(tmp_path, caplog):
    cfg = GeneratorConfig(z_dim=16, w_dim=16, resolution=8, channels=(8, 8), mapping_layers=2)
    G = random_generator(cfg)
    path = tmp_path / "no_avg.pt"
    torch.save(to_rosinality(G, latent_avg=False), path)
    with caplog.at_level("INFO"):
        a = load_generator(path)
    b = load_generator(path)
    assert "no w_avg" in caplog.text and "10000" in caplog.text
    assert torch.equal(a.w_avg, b.w_avg)
    mean = G.mapping(torch.randn(20000, 16))[:, 0].mean(0)
    assert (a.w_avg - mean).abs().max() < 0.1 * mean.abs().max() + 0.05
    assert not torch.equal(a.w_avg, torch.zeros(16))


def test_noise_modes(fixtures):
    G = load_generator(fixtures / "nvada_tiny.pkl")
    ws = G.mapping(torch.randn(1, G.z_dim))
    const_a, const_b = G.synthesis(ws, "const"), G.synthesis(ws, "const")
    rand_a, rand_b = G.synthesis(ws, "random"), G.synthesis(ws, "random")
    none = G.synthesis(ws, "none")
    assert torch.equal(const_a, const_b)  # no flicker on stage
    assert not torch.allclose(rand_a, rand_b)
    assert not torch.allclose(none, const_a)


def test_batch_equals_one_by_one(fixtures):
    G = load_generator(fixtures / "rosinality_tiny.pt")
    ws = G.mapping(torch.randn(3, G.z_dim), truncation_psi=0.8)
    batch = G.synthesis(ws)
    for i in range(3):
        assert rel_error(batch[i : i + 1], G.synthesis(ws[i : i + 1])) < 1e-5


def test_truncation_psi_zero_gives_the_average_face(fixtures):
    G = load_generator(fixtures / "rosinality_tiny.pt")
    ws = G.mapping(torch.randn(2, G.z_dim), truncation_psi=0.0)
    assert torch.allclose(ws, G.w_avg.expand_as(ws))


def test_cpu_never_runs_fp16(fixtures):
    G = load_generator(fixtures / "nvada_tiny.pkl")  # marks its top 2 resolutions fp16
    assert G.cfg.num_fp16_res == 2
    assert not G.uses_fp16
    assert G.synthesis(G.mapping(torch.randn(1, 64))).dtype == torch.float32


def test_demo_is_deterministic_colourful_and_seed_dependent():
    a, b = load_generator("demo"), load_generator("demo")
    assert a.resolution == 256
    ws = a.mapping(z_from_seed(7, a.z_dim), 0.8)
    img = a.synthesis(ws)
    assert torch.equal(img, b.synthesis(b.mapping(z_from_seed(7, b.z_dim), 0.8)))
    assert img.std() > 0.2  # not flat grey
    assert img.mean(dim=(2, 3)).std() > 0.05  # the channels differ: colour, not grey
    other = a.synthesis(a.mapping(z_from_seed(8, a.z_dim), 0.8))
    assert (img - other).abs().mean() > 0.1


def test_seeds_match_nvidias_generate_py_convention():
    import numpy as np

    z = z_from_seed(42, 512)
    assert torch.equal(z, torch.from_numpy(np.random.RandomState(42).randn(1, 512)).float())


def test_config_f_architectures():
    G = load_generator("arch:ffhq-256")
    assert (G.resolution, G.num_ws, G.w_dim, G.cfg.channels[-1], G.cfg.conv_clamp) == (256, 14, 512, 128, 256.0)


@needs_cuda
def test_fp16_on_cuda_stays_close_to_fp32(fixtures):
    G16 = load_generator(fixtures / "nvada_tiny.pkl", device="cuda")
    G32 = load_generator(fixtures / "nvada_tiny.pkl", device="cuda", fp16=False)
    assert G16.uses_fp16 and not G32.uses_fp16
    ws = G32.mapping(torch.randn(4, 64, device="cuda"))
    assert rel_error(G16.synthesis(ws), G32.synthesis(ws)) < 2e-2


@needs_cuda
def test_cuda_fp32_matches_reference(fixtures):
    import numpy as np

    ref = np.load(fixtures / "nvada_tiny_ref.npz")
    G = load_generator(fixtures / "nvada_tiny.pkl", device="cuda", fp16=False)
    img = G.synthesis(torch.from_numpy(ref["ws"]).cuda()).cpu()
    assert rel_error(img, torch.from_numpy(ref["img_w"])) < 1e-3  # TF32 convs may be on


def test_gradients_flow_to_wplus(fixtures):
    # Projection optimises W+ through the synthesis network: in-place ops must not break autograd.
    G = load_generator(fixtures / "nvada_tiny.pkl")
    ws = G.mapping(torch.randn(1, G.z_dim)).detach().requires_grad_(True)
    G.synthesis(ws).square().mean().backward()
    assert ws.grad is not None and torch.isfinite(ws.grad).all() and ws.grad.abs().sum() > 0
