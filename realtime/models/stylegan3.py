"""The StyleGAN3 (alias-free) generator in plain PyTorch: no compiled extension.

Written from the paper (Karras et al. 2021) and checked against the images NVIDIA's own code
(its reference ops) makes from the same pickles (tests/test_stylegan3.py). Weights are stored
as NVIDIA stores them (equalised learning rate), so checkpoints convert by renaming only.

Same surface as the StyleGAN2 `Generator`: `G.mapping(z, truncation_psi=...)`,
`G.synthesis(ws, noise_mode=...)` (StyleGAN3 has no noise inputs: the argument is checked and
means nothing), z_dim, w_dim, num_ws, resolution, w_avg. `G.synthesis.input.transform` is
NVIDIA's 3x3 buffer: the inverse of the transform applied to the picture, set the way NVIDIA's
visualizer sets it (`input_transform.py` makes it from the show's knobs). `G.synthesis(ws,
bend=...)` bends the features after the layer that draws a bend's resolution (`bend_points`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..choices import NOISE_MODES
from .bending import bends_by_resolution
from .generator import GeneratorBase
from .layers import Derived, EqualLinear, modulate_demodulate
from .sg3_config import LayerSpec, StyleGAN3Config
from .sg3_filters import FilteredLeakyReLU

CHANNELS_LAST = torch.channels_last  # every feature map: the depthwise filters are fastest so


class FourierInput(Derived):
    """The first feature map: sinusoids of fixed random frequencies, turned and shifted per w.

    The affine maps w to (cos, sin, tx, ty): the picture is rotated by that angle and then
    translated, and the user's `transform` is applied last. Frequencies that the user's
    transform pushes beyond the band fade out instead of aliasing.
    """

    def __init__(self, cfg: StyleGAN3Config) -> None:
        super().__init__()
        spec = cfg.input_spec()
        self.channels, self.size = spec.channels, spec.size
        self.sampling_rate, self.bandwidth = spec.sampling_rate, spec.bandwidth
        self.affine = EqualLinear(cfg.w_dim, 4)
        with torch.no_grad():  # a fresh network draws the identity transform
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.weight = nn.Parameter(torch.randn(spec.channels, spec.channels))
        directions = torch.randn(spec.channels, 2)
        radii = directions.norm(dim=1, keepdim=True)
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", directions / (radii * radii.square().exp().pow(0.25)) * spec.bandwidth)
        self.register_buffer("phases", torch.rand(spec.channels) - 0.5)
        coords = (torch.arange(spec.size, dtype=torch.float32) + 0.5 - spec.size / 2) / spec.sampling_rate
        self.register_buffer("coords", coords, persistent=False)  # pixel centres, in units of the picture

    def _derive(self, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        mix = (self.weight / math.sqrt(self.channels)).float()
        return {"mix": mix.view(*mix.shape, 1, 1)}

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        # w: [B, w_dim] -> [B, channels, size, size] (float32, channels-last)
        c = self.derived(torch.float32)
        t = self.affine(w.float())
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        cos, sin, tx, ty = t.unbind(1)
        zero, one = torch.zeros_like(cos), torch.ones_like(cos)
        # Inverse rotation, then inverse translation, then the user's (inverse) transform.
        turn_shift = torch.stack([
            torch.stack([cos, -sin, sin * ty - cos * tx], 1),
            torch.stack([sin, cos, -sin * tx - cos * ty], 1),
            torch.stack([zero, zero, one], 1),
        ], 1)  # [B, 3, 3]
        m = turn_shift @ self.transform.float()
        phases = self.phases + (self.freqs @ m[:, :2, 2:]).squeeze(2)  # [B, C]
        freqs = self.freqs @ m[:, :2, :2]  # [B, C, 2]
        amplitude = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        xs = self.coords
        turns = (freqs[..., 0, None, None] * xs.view(1, 1, 1, -1) + freqs[..., 1, None, None] * xs.view(1, 1, -1, 1)
                 + phases[..., None, None])  # [B, C, H, W], in cycles
        x = torch.sin(turns * (2 * math.pi)) * amplitude[..., None, None]
        return F.conv2d(x.contiguous(memory_format=CHANNELS_LAST), c["mix"])

    def extra_repr(self) -> str:
        return (f"{self.channels} features on {self.size}x{self.size}, sampling rate {self.sampling_rate:g},"
                f" bandwidth {self.bandwidth:g}")


class SynthesisLayer3(Derived):
    """Modulated convolution (demodulated; plain for ToRGB), then the filtered leaky ReLU.

    The input is scaled by 1/sqrt(magnitude_ema), the running mean square of the layer's input
    during training, folded into the modulated weights.
    """

    def __init__(self, cfg: StyleGAN3Config, spec: LayerSpec) -> None:
        super().__init__()
        k = spec.conv_kernel
        self.affine = EqualLinear(cfg.w_dim, spec.in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(spec.out_channels, spec.in_channels, k, k))
        self.bias = nn.Parameter(torch.zeros(spec.out_channels))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.spec = spec
        self.is_torgb, self.kernel, self.use_fp16 = spec.is_torgb, k, spec.use_fp16
        self.conv_clamp = cfg.conv_clamp
        self.act = None if spec.is_torgb else FilteredLeakyReLU(spec, cfg.conv_clamp)

    def _derive(self, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        weight = self.weight.float()
        if self.is_torgb:  # no demodulation: the usual 1/sqrt(fan-in) instead
            weight = weight / math.sqrt(weight[0].numel())
        else:  # unit mean square per output: demodulation then never sees huge sums (fp16)
            weight = weight * weight.square().mean(dim=(1, 2, 3), keepdim=True).rsqrt()
        return {"weight": weight, "weight_sq": weight.square().sum(dim=(2, 3)),
                "bias": self.bias.to(dtype), "input_gain": self.magnitude_ema.float().rsqrt()}

    def _modulated_conv(self, x: torch.Tensor, styles: torch.Tensor, c: dict) -> torch.Tensor:
        batch, pad = x.shape[0], self.kernel - 1
        if not self.is_torgb:
            styles = styles * styles.square().mean(dim=1, keepdim=True).rsqrt()  # scale-free: demodulated anyway
        if batch == 1:  # one convolution with this sample's own weights
            if self.is_torgb:
                w = c["weight"] * (styles[0] * c["input_gain"]).view(1, -1, 1, 1)
            else:
                w = modulate_demodulate(c["weight"], c["weight_sq"], styles, c["input_gain"])[0]
            return F.conv2d(x, w.to(x.dtype), c["bias"], padding=pad)
        # A batch: scale the inputs per sample, one shared convolution, scale the outputs.
        x = x * (styles * c["input_gain"]).to(x.dtype)[:, :, None, None]
        y = F.conv2d(x, c["weight"].to(x.dtype), padding=pad)
        if not self.is_torgb:
            demod = (styles.square() @ c["weight_sq"].t() + 1e-8).rsqrt()  # [B, out]
            y = y * demod.to(y.dtype)[:, :, None, None]
        return y + c["bias"].view(1, -1, 1, 1)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        c = self.derived(x.dtype)
        x = self._modulated_conv(x, self.affine(w.float()), c)
        if self.act is not None:
            return self.act(x)
        if self.conv_clamp is None:
            return x
        return x.clamp(-self.conv_clamp, self.conv_clamp)

    def extra_repr(self) -> str:
        s = self.spec
        kind = "ToRGB" if s.is_torgb else f"kernel {s.conv_kernel}"
        return (f"{s.name}: {s.in_channels} -> {s.out_channels}, {s.in_size} -> {s.out_size} px, {kind},"
                f" rate {s.in_sampling_rate} -> {s.out_sampling_rate}, cutoff {s.in_cutoff:g} -> {s.out_cutoff:g},"
                f" fp16={s.use_fp16}")


def bend_points(specs: tuple[LayerSpec, ...], resolution: int) -> dict[int, int]:
    """Where a bend at resolution R acts on StyleGAN3: after the last layer (ToRGB excluded) whose
    scale, 2 x its cutoff, is at most R, the layer that draws what a StyleGAN2 block of R px
    draws (see latent/layer_ranges.py). Returns {R: layer index} for R = 4 .. resolution."""
    points = {}
    res = 4
    while res <= resolution:
        fits = [s.index for s in specs if not s.is_torgb and 2 * s.out_cutoff <= res * (1 + 1e-6)]
        if fits:
            points[res] = fits[-1]
        res *= 2
    return points


class SynthesisNetwork3(nn.Module):
    """W+ [B, num_ws, w_dim] -> image [B, img_channels, res, res], float32, about [-1, 1].

    Network bending (models/bending.py) acts on the features after the layer `bend_points`
    names for the bend's resolution; StyleGAN3 has no skip image, so only the features move.
    """

    def __init__(self, cfg: StyleGAN3Config) -> None:
        super().__init__()
        self.input = FourierInput(cfg)
        self.layers = nn.ModuleList(SynthesisLayer3(cfg, spec) for spec in cfg.layer_specs())
        self.num_ws = cfg.num_ws
        self._bend_at = bend_points(cfg.layer_specs(), cfg.resolution)  # resolution -> layer index
        self.resolutions = tuple(self._bend_at)
        self.bend_channels = {r: self.layers[i].spec.out_channels for r, i in self._bend_at.items()}
        self.output_scale = cfg.output_scale
        self.fp16 = False  # set by StyleGAN3Generator.set_precision: only ever true on CUDA

    def layer_dtype(self, layer: SynthesisLayer3) -> torch.dtype:
        return torch.float16 if self.fp16 and layer.use_fp16 else torch.float32

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", bend=None) -> torch.Tensor:
        """`noise_mode` is checked and ignored: StyleGAN3 has no noise inputs."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, not {noise_mode!r}")
        bends = None if bend is None else bends_by_resolution(bend, self.resolutions)  # None: all neutral
        if ws.ndim != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"ws must be [B, {self.num_ws}, w_dim], got {list(ws.shape)}")
        ws = ws.float()
        x = self.input(ws[:, 0])
        bent_layers = {} if bends is None else {self._bend_at[r]: b for r, b in bends.items()}
        for i, layer in enumerate(self.layers):
            x = layer(x.to(self.layer_dtype(layer)), ws[:, i + 1])
            if i in bent_layers:
                x, _ = bent_layers[i].apply(x, None)
        return (x.float() * self.output_scale).contiguous()


class StyleGAN3Generator(GeneratorBase):
    """A StyleGAN3 generator: `mapping` then `synthesis`, with its config and `w_avg`."""

    def __init__(self, cfg: StyleGAN3Config) -> None:
        super().__init__(cfg, SynthesisNetwork3)

    @property
    def uses_fp16(self) -> bool:
        return self.synthesis.fp16 and any(layer.use_fp16 for layer in self.synthesis.layers)

    def set_precision(self, fp16: bool | None = None, channels_last: bool = False) -> None:
        """fp16 for the layers the network marks fp16: None means "on CUDA, yes"; never on CPU.
        Feature maps are always channels-last here (`channels_last` is accepted for the API)."""
        self.synthesis.fp16 = self.device.type == "cuda" and (fp16 if fp16 is not None else True)
        self.prepare()

    def prepare(self) -> None:
        """Derive every layer's per-frame constants now (load time, not the first frame)."""
        for layer in self.mapping.layers:
            layer.derived(torch.float32)
        self.synthesis.input.derived(torch.float32)
        self.synthesis.input.affine.derived(torch.float32)
        for layer in self.synthesis.layers:
            dtype = self.synthesis.layer_dtype(layer)
            layer.affine.derived(torch.float32)
            layer.derived(dtype)
            if layer.act is not None:
                layer.act.derived(dtype)
