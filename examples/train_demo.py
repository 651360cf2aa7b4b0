"""Train the built-in `demo` generator's weights: a StyleGAN2 decoder that draws flowers.

Why flowers: they honour "Like A Flower", the music video this project comes from. Why not a GAN:
adversarial training needs GPU-days; this is a supervised decoder. Every W has a flower of its own
(`flower_params`: the W's first principal coordinates, squashed into size, petal shape and
colours; six petals, one up), drawn by a procedural renderer (`render_flowers`), and the
synthesis network learns to draw it. Because the flower is a smooth function of W, a path
through W+ morphs one flower into the next without a jump.

The network is the demo's own StyleGAN2 architecture (realtime/models/builtin.py, DEMO_CONFIG)
and its mapping network stays the seeded random one, so seeds, directions, bending and projection
work as with any checkpoint. Only the 4 .. 64 px blocks are trained (CPU time: 64 px feature maps
are a sixteenth of 256 px ones); the two upper blocks keep their convolutions but their ToRGB is
zero, so they pass the 64 px image on, upsampled, and the loss compares that 64 px image with
the flower drawn at 64 px. Losses: L1 that lets saturated targets be overdriven (the picture is
clamped to [-1, 1] on its way to the screen, so overshoot there only sharpens edges) plus L1 on
the image's differences (edges, not the blurry average).

    python examples/train_demo.py --out realtime/models/demo_flowers.safetensors

Seeded and deterministic on one machine with one thread (fixed steps, no time-based decisions);
it logs the loss and the time it took (docs/demo.md has the numbers of the shipped weights).
`python examples/train_demo.py --measure demo` prints the picture measurements of docs/demo.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from realtime.models import load_generator
from realtime.models.builtin import DEMO_CONFIG, DEMO_SEED, random_weights
from realtime.models.convert import Converted, build_generator
from realtime.models.layers import LRELU_GAIN, LRELU_SLOPE
from realtime.models.native import save_native

log = logging.getLogger("train_demo")

TRAIN_SEED = 26
N_COORDS = 16  # principal coordinates of W that steer a flower
STEPS = 10_000  # the shipped weights (docs/demo.md)


# ---------------------------------------------------------------- the flower of a W

def w_basis(G, samples: int = 10_000) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean, components [N_COORDS, w_dim], std [N_COORDS]) of W under G's mapping, from a fixed seed."""
    rng = torch.Generator().manual_seed(0)
    with torch.no_grad():
        w = G.mapping(torch.randn(samples, G.z_dim, generator=rng))[:, 0].double()
    mean = w.mean(0)
    _, s, v = torch.linalg.svd(w - mean, full_matrices=False)
    comps = v[:N_COORDS]
    comps = comps * torch.sign(comps.sum(1, keepdim=True))  # a fixed sign per component
    std = s[:N_COORDS] / math.sqrt(samples - 1)
    return mean.float(), comps.float(), std.float()


PETALS = 6.0  # every flower has six petals, one pointing up (see docs/demo.md: why not a count that varies)
UP = -math.pi / 2  # the image's y axis points down: a petal at -90 degrees points up


def flower_params(w: torch.Tensor, basis) -> dict[str, torch.Tensor]:
    """The flower of each W [B, w_dim]: every field a smooth function of W (no wrap, no step).

    Petal count and rotation are fixed. A count or a turn that follows W is a pattern that no
    channel mix of fixed feature maps can draw (cos(n(phi - theta(W))) is far from affine in W),
    so the network learns their average, a disc; with them fixed, petals form within a thousand
    steps. W still steers size, petal roundness, the inner ring, the centre and all the colours."""
    mean, comps, std = basis
    c = ((w - mean) @ comps.t()) / std  # [B, N_COORDS], about N(0, 1); c[:, 0:2] unused (they steered count and turn)
    t = torch.tanh
    hue = 0.3 * c[:, 4] + 0.05
    return {
        "count": torch.full_like(hue, PETALS),
        "rotation": torch.full_like(hue, UP),
        "radius": 0.80 + 0.14 * t(c[:, 2]),
        "point": torch.exp(0.55 * t(c[:, 3])),  # petal roundness exponent
        "hue": hue,
        "tip_hue": hue + 0.13 * t(c[:, 5]),
        "bg_hue": hue + 0.5 + 0.2 * t(c[:, 6]),
        "bg_angle": 1.3 * c[:, 7],
        "bg_hue2": hue + 0.5 + 0.2 * t(c[:, 6]) + 0.14 * t(c[:, 8]),
        "inner": 0.55 + 0.1 * t(c[:, 9]),
        "inner_hue": hue + 0.12 + 0.1 * t(c[:, 10]),
        "centre": 0.14 + 0.05 * t(c[:, 11]),
        "centre_hue": hue + 0.2 + 0.12 * t(c[:, 12]),
        "cx": 0.1 * t(c[:, 13]),
        "cy": 0.1 * t(c[:, 14]),
        "bg_value": 0.5 + 0.15 * t(c[:, 15]),
    }


def hsv(h: torch.Tensor, s: float | torch.Tensor, v: float | torch.Tensor) -> torch.Tensor:
    """RGB [..., 3] in 0..1 from hue (any real: it wraps, continuously), saturation, value."""
    h = h.unsqueeze(-1)
    n = torch.tensor([5.0, 3.0, 1.0], device=h.device)
    k = torch.remainder(n + h * 6.0, 6.0)
    v = torch.as_tensor(v, device=h.device).unsqueeze(-1) if torch.is_tensor(v) else v
    s = torch.as_tensor(s, device=h.device).unsqueeze(-1) if torch.is_tensor(s) else s
    return v * (1 - s * torch.clamp(torch.minimum(k, 4 - k), 0, 1))


def _smoothstep(e0: float, e1: float, x: torch.Tensor) -> torch.Tensor:
    x = ((x - e0) / (e1 - e0)).clamp(0, 1)
    return x * x * (3 - 2 * x)


def render_flowers(p: dict[str, torch.Tensor], size: int) -> torch.Tensor:
    """Flowers [B, 3, size, size] in [-1, 1], edges anti-aliased over one pixel at `size`."""
    B = p["count"].shape[0]
    axis = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    px = 2.0 / size

    def col(name: str) -> torch.Tensor:
        return p[name].view(B, 1, 1)

    # background: a two-hue gradient across the frame, saturated to the edges
    ang = col("bg_angle")
    g = (xx * torch.cos(ang) + yy * torch.sin(ang)) * 0.5 + 0.5
    g = g.clamp(0, 1)
    bg_h = col("bg_hue") * (1 - g) + col("bg_hue2") * g
    bg_v = col("bg_value") * (0.75 + 0.5 * g)
    img = hsv(bg_h, 1.0, bg_v.clamp(0, 1))  # [B, H, W, 3]

    dx, dy = xx - col("cx"), yy - col("cy")
    r = torch.sqrt(dx * dx + dy * dy)
    phi = torch.atan2(dy, dx)
    count = col("count")
    n0 = torch.floor(count)
    fade = _smoothstep(0.3, 0.7, count - n0)

    def petals(n: torch.Tensor, radius: torch.Tensor, turn: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        lobe = torch.abs(torch.cos(n * (phi - col("rotation") - turn) / 2))  # 1 mid-petal, 0 between
        edge = radius * lobe.pow(col("point"))
        cover = ((edge - r) / px + 0.5).clamp(0, 1)
        along = (r / radius).clamp(0, 1)
        return cover, lobe, along

    def layer(img: torch.Tensor, radius: torch.Tensor, turn_frac: float, base_h: str, tip_h: str, dark: float) -> torch.Tensor:
        out = []
        for n in (n0, n0 + 1):
            cover, lobe, along = petals(n, radius, turn_frac * math.pi / n)
            h = col(base_h) * (1 - along) + col(tip_h) * along
            shade = dark + (1 - dark) * lobe.sqrt()  # creases between petals
            out.append((cover, hsv(h, 1.0, shade)))
        f = fade.unsqueeze(-1)
        cover = out[0][0].unsqueeze(-1) * (1 - f) + out[1][0].unsqueeze(-1) * f
        colour = out[0][1] * (1 - f) + out[1][1] * f
        return img * (1 - cover) + colour * cover

    radius = col("radius")
    img = layer(img, radius, 0.0, "hue", "tip_hue", 0.45)
    img = layer(img, radius * col("inner"), 1.0, "inner_hue", "hue", 0.55)
    rc = col("centre")
    disc = ((rc - r) / px + 0.5).clamp(0, 1).unsqueeze(-1)
    ring = (((rc * 0.72 - r) / px + 0.5).clamp(0, 1)).unsqueeze(-1)
    centre = hsv(col("centre_hue"), 1.0, 0.55) * (1 - ring) + hsv(col("centre_hue") + 0.08, 1.0, 1.0) * ring
    img = img * (1 - disc) + centre * disc
    return img.permute(0, 3, 1, 2) * 2 - 1


# ---------------------------------------------------------------- training

def _linear(layer, w: torch.Tensor) -> torch.Tensor:
    return F.linear(w, layer.weight * layer.weight_gain, layer.bias * layer.lr_mul)


def _styled_conv(layer, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """`StyledConv.forward` (const noise of strength 0, no clamp) with autograd to its parameters.

    The layer's own forward uses per-frame constants derived without autograd, and a grouped
    convolution per sample; here the style scales the input and the demodulation the output
    (the same sums, in another order), so one batched convolution serves the whole batch."""
    styles = _linear(layer.affine, w)  # [B, in]
    weight = layer.weight * layer.weight_gain
    demod = (styles.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8).rsqrt() * LRELU_GAIN  # [B, out]
    x = x * styles[:, :, None, None]
    if layer.up:
        x = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2) * demod[:, :, None, None]
        x = F.conv2d(x, layer.blur, layer.bias * LRELU_GAIN, padding=1, groups=x.shape[1])
    else:
        x = F.conv2d(x, weight, padding=1) * demod[:, :, None, None] + (layer.bias * LRELU_GAIN)[None, :, None, None]
    return F.leaky_relu(x, LRELU_SLOPE)


def _torgb(layer, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    styles = _linear(layer.affine, w)
    weight = layer.weight[..., 0, 0] * layer.weight_gain  # [rgb, in]
    return torch.einsum("oi,bihw->bohw", weight, x * styles[:, :, None, None]) + layer.bias[None, :, None, None]


def synth_to(G, w: torch.Tensor, blocks: int) -> torch.Tensor:
    """The skip-architecture image after the first `blocks` blocks, for W [B, w_dim] (every row of
    W+ the same), with autograd to the weights."""
    x = img = None
    for block in list(G.synthesis.blocks)[:blocks]:
        if block.first:
            x = _styled_conv(block.conv1, block.const.unsqueeze(0).expand(w.shape[0], -1, -1, -1), w)
        else:
            x = _styled_conv(block.conv1, _styled_conv(block.conv0, x, w), w)
        y = _torgb(block.torgb, x, w)
        img = y if img is None else y + block.upsample_img(img)
    return img


def sample_w(G, batch: int, rng: torch.Generator) -> torch.Tensor:
    """W as the show meets them: mapped seeds, truncated toward w_avg, and points between two."""
    with torch.no_grad():
        w = G.mapping(torch.randn(2 * batch, G.z_dim, generator=rng))[:, 0]
        psi = 0.45 + 0.6 * torch.rand(2 * batch, 1, generator=rng)
        w = G.w_avg + psi * (w - G.w_avg)
        t = torch.rand(batch, 1, generator=rng) * (torch.rand(batch, 1, generator=rng) < 0.5)
        return w[:batch] * (1 - t) + w[batch:] * t


def interval_l1(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 to the target, except that past a saturated target (+-1) overshoot is free."""
    lo = torch.where(target <= -0.999, torch.full_like(target, -1e9), target)
    hi = torch.where(target >= 0.999, torch.full_like(target, 1e9), target)
    return (F.relu(lo - y) + F.relu(y - hi)).mean()


def grad_l1(y: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    y = y.clamp(-1, 1)
    return ((y[..., 1:, :] - y[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])).abs().mean() + \
        ((y[..., 1:] - y[..., :-1]) - (target[..., 1:] - target[..., :-1])).abs().mean()


TRAINED_BLOCKS = 5  # 4 .. 64 px; the 128 and 256 px blocks keep their convolutions but draw nothing
DRAW_PX = 64  # the loss compares at the trained blocks' own size (see docs/demo.md: why not at 256 px)


def untrained_generator():
    """The demo's seeded random network, ToRGB scaled so the first pictures are near grey and the
    top blocks draw nothing: where the training starts."""
    torch.manual_seed(TRAIN_SEED)
    state = random_weights(DEMO_CONFIG, DEMO_SEED)
    state.pop("mapping.w_avg")
    for j in range(len(DEMO_CONFIG.channels)):
        key = f"synthesis.blocks.{j}.torgb"
        state[f"{key}.weight"] *= 0.1 if j < TRAINED_BLOCKS else 0.0
        state[f"{key}.bias"].zero_()
    return build_generator(Converted(DEMO_CONFIG, state, None), "demo (training)")


def train(steps: int, batch: int, lr: float, out: Path, every: int = 100) -> tuple[object, dict]:
    """Fit the 4 .. 64 px blocks so that their 64 px image is the flower of its W, drawn at 64 px
    (the network's own top blocks upsample it to 256). Adam at a constant learning rate, a seeded
    W stream: the weights after N steps are those of a run of N steps (`out` is written every
    `every` steps, so a stopped run leaves a shorter run's result)."""
    G = untrained_generator()
    G.requires_grad_(False)
    basis = w_basis(G)
    trained = [p for n, p in G.synthesis.named_parameters()
               if int(n.split(".")[1]) < TRAINED_BLOCKS and not n.endswith("noise_strength")]
    for p in trained:
        p.requires_grad_(True)
    opt = torch.optim.Adam(trained, lr=lr, betas=(0.9, 0.99))
    rng = torch.Generator().manual_seed(TRAIN_SEED)
    record: dict = {"seed": TRAIN_SEED, "batch": batch, "lr": lr, "trained_blocks_px": DRAW_PX, "loss_px": DRAW_PX, "log": []}
    started, running = time.perf_counter(), []
    for step in range(steps):
        w = sample_w(G, batch, rng)
        target = render_flowers(flower_params(w, basis), DRAW_PX)
        y = synth_to(G, w, TRAINED_BLOCKS)
        l1, lg = interval_l1(y, target), grad_l1(y, target)
        loss = l1 + 2.0 * lg
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running.append((l1.item(), lg.item()))
        if (step + 1) % 50 == 0 or step + 1 == steps:
            a = torch.tensor(running[-50:]).mean(0)
            log.info("step %d/%d: L1 %.4f, gradient L1 %.4f, %.0f s", step + 1, steps, a[0], a[1], time.perf_counter() - started)
        if (step + 1) % every == 0 or step + 1 == steps:
            a = torch.tensor(running[-every:]).mean(0)
            record["log"].append({"step": step + 1, "l1": round(float(a[0]), 4), "grad_l1": round(float(a[1]), 4),
                                  "seconds": round(time.perf_counter() - started)})
            record["steps"], record["seconds"] = step + 1, round(time.perf_counter() - started)
            G.eval()
            save_native(G, out)
            out.with_suffix(".json").write_text(json.dumps(record, indent=1) + "\n")
    G.requires_grad_(False)
    return G.eval(), record


# ---------------------------------------------------------------- measurements (docs/demo.md)

def to_u8(img: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in about [-1, 1] -> float 0..255 as the show quantises it."""
    return (img.float() * 127.5 + 128).clamp(0, 255).floor()


def sharpness(u8: torch.Tensor) -> float:
    """Mean gradient magnitude, in 0..255 steps per pixel (forward differences, channel mean)."""
    gx = u8[..., :-1, 1:] - u8[..., :-1, :-1]
    gy = u8[..., 1:, :-1] - u8[..., :-1, :-1]
    return float(torch.sqrt(gx * gx + gy * gy).mean())


def colourfulness(u8: torch.Tensor) -> float:
    """Hasler and Suesstrunk (2003): sigma_rgyb + 0.3 mu_rgyb, per picture, averaged."""
    r, g, b = u8[:, 0], u8[:, 1], u8[:, 2]
    rg, yb = r - g, 0.5 * (r + g) - b
    sd = torch.sqrt(rg.flatten(1).var(1, unbiased=False) + yb.flatten(1).var(1, unbiased=False))
    mu = torch.sqrt(rg.flatten(1).mean(1) ** 2 + yb.flatten(1).mean(1) ** 2)
    return float((sd + 0.3 * mu).mean())


def saturation(u8: torch.Tensor) -> torch.Tensor:
    mx, mn = u8.max(1).values, u8.min(1).values
    return (mx - mn) / mx.clamp(min=1)


def edge_band_ratio(u8: torch.Tensor, band: int = 16) -> float:
    """Mean HSV saturation of the outer `band` pixels over that of the central half."""
    s = saturation(u8)
    H = s.shape[-1]
    mask = torch.ones_like(s[0], dtype=torch.bool)
    mask[band:H - band, band:H - band] = False
    centre = s[:, H // 4:3 * H // 4, H // 4:3 * H // 4].mean()
    return float(s[:, mask].mean() / centre)


def default_path_ws(G, t: torch.Tensor) -> torch.Tensor:
    """W+ of presets/default.toml's loop at times `t` (keyframe units), truncated as the show does."""
    from realtime.latent import CatmullRomPath
    from realtime.models import truncate
    from realtime.models.seeds import z_from_seed
    from realtime.presets import load_preset

    preset = load_preset(Path(__file__).resolve().parent.parent / "presets" / "default.toml")
    kf = torch.stack([G.mapping(z_from_seed(k.seed, G.z_dim))[0] for k in preset.keyframes])
    path = CatmullRomPath(kf, alpha=preset.path.alpha, closed=preset.path.closed)
    return truncate(path.evaluate(t), G.w_avg, preset.play.truncation)


def loop_times(keyframes: int = 6, step: float = 1 / 240) -> torch.Tensor:
    """Every frame of the default loop (six keyframes), `step` keyframes apart (0.25 keyframes/s at 60 Hz)."""
    n = int(round(keyframes / step))
    return torch.arange(n, dtype=torch.float64).float() * step


@torch.no_grad()
def measure(source: str, seeds=range(1, 7), spots: int = 96, step: float = 1 / 240) -> dict:
    """The numbers of docs/demo.md for one generator: pictures of `seeds` at truncation 0.8, and
    the change between two consecutive 60 Hz frames at `spots` evenly spaced points of the
    default loop (mean |change| per pixel and channel, 0..255)."""
    from realtime.models.seeds import z_from_seed

    G = load_generator(source)
    ws = torch.cat([G.mapping(z_from_seed(s, G.z_dim), 0.8) for s in seeds])
    u8 = to_u8(G.synthesis(ws))
    at = torch.arange(spots, dtype=torch.float32) * (6 / spots)
    pairs = torch.stack([at, at + step], dim=1).flatten()
    frames = to_u8(torch.cat([G.synthesis(c) for c in default_path_ws(G, pairs).split(16)]))
    change = (frames[1::2] - frames[0::2]).abs().mean(dim=(1, 2, 3))
    return {"sharpness": round(sharpness(u8), 2), "colourfulness": round(colourfulness(u8), 1),
            "edge_band_vs_centre_saturation": round(edge_band_ratio(u8), 2),
            "largest_60hz_step_change": round(float(change.max()), 2), "mean_60hz_step_change": round(float(change.mean()), 3),
            "pairs": spots}


SHEET_SEEDS = (1, 4, 20, 15, 3, 18)  # the default show's keyframes (presets/default.toml)


@torch.no_grad()
def pictures(source: str, folder: Path) -> list[Path]:
    """docs/demo-after.png (the generator's pictures of the default show's seeds, truncation 0.8,
    in a row) and docs/demo-target.png (the renderer's flowers it learnt from, two rows of four)."""
    from PIL import Image

    from realtime.models.seeds import z_from_seed

    G = load_generator(source)
    ws = torch.cat([G.mapping(z_from_seed(s, G.z_dim), 0.8) for s in SHEET_SEEDS + (7, 8)])

    def row(images: torch.Tensor) -> torch.Tensor:
        return torch.cat(list(to_u8(images)), dim=2)

    drawn = row(G.synthesis(ws[:6]))
    targets = render_flowers(flower_params(ws[:, 0], w_basis(G)), G.resolution)
    target = torch.cat([row(targets[:4]), row(targets[4:])], dim=1)
    written = []
    for name, img in (("demo-after.png", drawn), ("demo-target.png", target)):
        path = folder / name
        Image.fromarray(img.permute(1, 2, 0).byte().numpy()).save(path)
        written.append(path)
    return written


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("realtime/models/demo_flowers.safetensors"))
    parser.add_argument("--steps", type=int, default=STEPS, help=f"the shipped weights: {STEPS}")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1, help="1: on a shared machine more threads only wait")
    parser.add_argument("--measure", metavar="SOURCE", help="print the measurements of a generator and exit")
    parser.add_argument("--pictures", metavar="FOLDER", type=Path,
                        help="write the demo's pictures and the flowers it learnt (docs/demo-*.png) and exit")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.measure:
        print(json.dumps(measure(args.measure), indent=1))
        return
    if args.pictures:
        for path in pictures("demo", args.pictures):
            log.info("wrote %s", path)
        return
    if args.steps < 1:
        parser.error("--steps must be at least 1")
    G, record = train(args.steps, args.batch, args.lr, args.out)
    log.info("wrote %s (%.1f MB): %s", args.out, args.out.stat().st_size / 1e6, json.dumps(record))


if __name__ == "__main__":
    main()
