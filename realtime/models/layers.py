"""StyleGAN2's building blocks in plain PyTorch (no compiled extension).

Written from the StyleGAN2 paper (Karras et al. 2020) and checked against the images the two
reference implementations produce (tests/test_parity.py). Weights are stored the way both
references store them (equalised learning rate: N(0, 1) at init, scaled at run time), so
checkpoints convert by renaming and reshaping only.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)  # keeps the activation's second moment after leaky ReLU


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pixel norm of the latent z: divide by its root mean square over features."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class Derived(nn.Module):
    """A layer whose per-frame constants are derived from its weights once, not every frame.

    `derived(dtype)` returns what `_derive(dtype)` made from the layer's own parameters and
    buffers (scaled weights, casts, noise times strength), cached per dtype and rebuilt when any
    of them changes storage (`.to()`, a new tensor) or is edited in place (its version counter
    moves). So a loaded generator pays for them at its first frame (`Generator.prepare()` at
    load), and an edited one can never use stale constants. They are built as normal tensors
    without autograd, also inside `inference_mode`, so they serve inference and projection alike.
    """

    def __init__(self) -> None:
        super().__init__()
        self._derived: dict[torch.dtype, dict[str, torch.Tensor]] = {}
        self._derived_key: list | None = None

    def _state_key(self) -> list | None:
        """Storage and version of each own tensor (a few C++ reads: about 20 us per frame in all);
        None where one cannot be tracked (an inference tensor): then nothing is cached."""
        try:
            return [(t.data_ptr(), t._version) for t in (*self._parameters.values(), *self._buffers.values())]
        except RuntimeError:  # "Inference tensors do not track version counter"
            return None

    def derived(self, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
        if torch.compiler.is_compiling() and dtype in self._derived:
            return self._derived[dtype]  # torch.compile traces the constants made before it (frozen weights)
        key = self._state_key()
        if key is None or key != self._derived_key:
            self._derived, self._derived_key = {}, key
        consts = self._derived.get(dtype)
        if consts is None:
            with torch.inference_mode(False), torch.no_grad():
                consts = self._derived[dtype] = self._derive(dtype)
        return consts

    def _derive(self, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        raise NotImplementedError


def fir_filter_2d(taps: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0), gain: float = 1.0) -> torch.Tensor:
    """Separable low-pass FIR filter as a normalised 2-D kernel [k, k] times `gain`."""
    f = torch.tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum() * gain


class EqualLinear(Derived):
    """Fully connected layer with equalised learning rate.

    The stored weight is N(0, 1) / lr_mul; at run time it is scaled by lr_mul / sqrt(in), and
    the bias by lr_mul. With `activation` the output goes through leaky ReLU with gain sqrt(2).
    """

    def __init__(
        self, in_features: int, out_features: int, lr_mul: float = 1.0, bias_init: float = 0.0,
        activation: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)))
        self.lr_mul = lr_mul
        self.activation = activation
        self.weight_gain = lr_mul / math.sqrt(in_features)

    def _derive(self, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        return {"weight": (self.weight * self.weight_gain).to(dtype), "bias": (self.bias * self.lr_mul).to(dtype)}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.derived(x.dtype)
        x = F.linear(x, c["weight"], c["bias"])
        return F.leaky_relu(x, LRELU_SLOPE) * LRELU_GAIN if self.activation else x

    def extra_repr(self) -> str:
        out_f, in_f = self.weight.shape
        return f"{in_f} -> {out_f}, lr_mul={self.lr_mul:g}, lrelu={self.activation}"


def modulate(weight: torch.Tensor, styles: torch.Tensor, demodulate: bool) -> torch.Tensor:
    """Per-sample conv weights: scale input channels by style, then (optionally) renormalise.

    weight [out, in, k, k], styles [B, in] -> [B, out, in, k, k], always computed in fp32 so
    that demodulation cannot overflow when the convolution itself runs in fp16.
    """
    w = weight.float().unsqueeze(0) * styles.float().view(styles.shape[0], 1, -1, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8).rsqrt()
    return w


def modulate_demodulate(weight: torch.Tensor, weight_sq: torch.Tensor, styles: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    """`modulate(weight, styles, demodulate=True) * gain`, with the modulated weight made once.

    weight [out, in, k, k] (fp32), weight_sq [out, in] its squares summed over k x k (a load-time
    constant), styles [B, in]. The demodulation coefficient needs only sum_i s_i^2 * weight_sq[o, i]
    (a small matmul), so the [B, out, in, k, k] tensor is written by one multiply, in fp32.
    """
    styles = styles.float()
    demod = (styles.square() @ weight_sq.t() + 1e-8).rsqrt() * gain  # [B, out]
    scale = demod.unsqueeze(2) * styles.unsqueeze(1)  # [B, out, in]: small
    return weight.unsqueeze(0) * scale.unsqueeze(3).unsqueeze(4)


def grouped_conv(x: torch.Tensor, w: torch.Tensor, up: bool, bias: torch.Tensor | None = None) -> torch.Tensor:
    """Convolve each sample with its own weights: x [B, in, H, W], w [B, out, in, k, k].

    The batch is folded into channel groups so one conv call serves any batch size. With
    `up`, a stride-2 transposed convolution doubles the size (to 2H+1 for k=3; the caller's
    blur trims it back to 2H). `bias` [out] is added per output channel (not with `up`).
    """
    batch, out_ch, in_ch, kh, kw = w.shape
    x = x.reshape(1, batch * in_ch, *x.shape[2:])
    if up:
        w = w.transpose(1, 2).reshape(batch * in_ch, out_ch, kh, kw)
        x = F.conv_transpose2d(x, w, stride=2, groups=batch)
    else:
        if bias is not None:
            bias = bias.repeat(batch)
        x = F.conv2d(x, w.reshape(batch * out_ch, in_ch, kh, kw), bias, padding=kh // 2, groups=batch)
    return x.reshape(batch, out_ch, *x.shape[2:])


class StyledConv(Derived):
    """Modulated 3x3 conv with demodulation, optional 2x upsampling, noise, bias, lrelu, clamp.

    `up`: transposed conv (stride 2) followed by the [1,3,3,1] blur, as both references do.
    Noise is the layer's constant buffer (`const`), fresh Gaussian noise (`random`) or none,
    scaled by the learned `noise_strength`.
    """

    def __init__(
        self, in_ch: int, out_ch: int, w_dim: int, resolution: int, up: bool = False,
        conv_clamp: float | None = None, kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.register_buffer("blur", fir_filter_2d(gain=4.0).expand(out_ch, 1, 4, 4).clone(), persistent=False)
        self.up = up
        self.resolution = resolution
        self.conv_clamp = conv_clamp
        self.weight_gain = 1.0 / math.sqrt(in_ch * kernel_size * kernel_size)

    def _derive(self, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        weight = (self.weight * self.weight_gain).float()
        strength = self.noise_strength * LRELU_GAIN
        return {
            "weight": weight, "weight_sq": weight.square().sum(dim=(2, 3)),  # modulation stays fp32
            "bias": (self.bias * LRELU_GAIN).to(dtype), "blur": self.blur.to(dtype),
            "noise": (self.noise_const * strength).to(dtype), "strength": strength.to(dtype),
        }

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        # x: [B, in, H, W] -> [B, out, H', W'] (H' = 2H when up)
        # The activation gain is folded into weights, bias and noise (lrelu(g*x) == g*lrelu(x)
        # for g > 0), so the full-size tensor is touched by one in-place lrelu, not three passes.
        # What does not depend on w (scaled weight, casts, noise times strength) is derived once.
        c = self.derived(x.dtype)
        styles = self.affine(w)  # [B, in]
        weights = modulate_demodulate(c["weight"], c["weight_sq"], styles, LRELU_GAIN).to(x.dtype)
        if self.up:
            x = grouped_conv(x, weights, up=True)
            x = F.conv2d(x, c["blur"], c["bias"], padding=1, groups=x.shape[1])  # 2H+1 -> 2H
        else:
            x = grouped_conv(x, weights, up=False, bias=c["bias"])
        if noise_mode == "const":
            x.add_(c["noise"])
        elif noise_mode == "random":
            x.add_(torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype) * c["strength"])
        x = F.leaky_relu_(x, LRELU_SLOPE)
        if self.conv_clamp is None:
            return x
        if torch.is_grad_enabled():  # lrelu's backward needs its output unmodified
            return x.clamp(-self.conv_clamp, self.conv_clamp)
        return x.clamp_(-self.conv_clamp, self.conv_clamp)

    def extra_repr(self) -> str:
        out_ch, in_ch = self.weight.shape[:2]
        return f"{in_ch} -> {out_ch} @ {self.resolution}px, up={self.up}, clamp={self.conv_clamp}"


class ToRGB(Derived):
    """Modulated 1x1 conv (no demodulation) from features to image channels, bias, clamp."""

    def __init__(self, in_ch: int, img_channels: int, w_dim: int, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.conv_clamp = conv_clamp
        self.weight_gain = 1.0 / math.sqrt(in_ch)

    def _derive(self, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        return {"weight": (self.weight[..., 0, 0] * self.weight_gain).float(),  # [rgb, in]
                "bias": self.bias.to(dtype).view(1, -1, 1, 1)}

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        c = self.derived(x.dtype)
        weights = (c["weight"].unsqueeze(0) * self.affine(w).float().unsqueeze(1)).to(x.dtype)  # [B, rgb, in]
        y = torch.einsum("boi,bihw->bohw", weights, x).add_(c["bias"])
        return y.clamp_(-self.conv_clamp, self.conv_clamp) if self.conv_clamp is not None else y


class Upsample2x(nn.Module):
    """2x upsampling with the [1,3,3,1] FIR filter (zero insertion, then filter), per channel.

    Implemented as one depthwise stride-2 transposed convolution: identical to upfirdn2d with
    up=2 and padding (2, 1) for a symmetric 4-tap filter.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("kernel", fir_filter_2d(gain=4.0).expand(channels, 1, 4, 4).clone(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv_transpose2d(x, self.kernel.to(x.dtype), stride=2, padding=1, groups=x.shape[1])
