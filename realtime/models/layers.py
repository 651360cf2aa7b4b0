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


def fir_filter_2d(taps: tuple[float, ...] = (1.0, 3.0, 3.0, 1.0), gain: float = 1.0) -> torch.Tensor:
    """Separable low-pass FIR filter as a normalised 2-D kernel [k, k] times `gain`."""
    f = torch.tensor(taps, dtype=torch.float32)
    f = torch.outer(f, f)
    return f / f.sum() * gain


class EqualLinear(nn.Module):
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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.lr_mul)
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


class StyledConv(nn.Module):
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

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        # x: [B, in, H, W] -> [B, out, H', W'] (H' = 2H when up)
        # The activation gain is folded into weights, bias and noise (lrelu(g*x) == g*lrelu(x)
        # for g > 0), so the full-size tensor is touched by one in-place lrelu, not three passes.
        styles = self.affine(w)  # [B, in]
        weights = modulate(self.weight * self.weight_gain, styles, demodulate=True) * LRELU_GAIN
        bias = (self.bias * LRELU_GAIN).to(x.dtype)
        if self.up:
            x = grouped_conv(x, weights.to(x.dtype), up=True)
            x = F.conv2d(x, self.blur.to(x.dtype), bias, padding=1, groups=x.shape[1])  # 2H+1 -> 2H
        else:
            x = grouped_conv(x, weights.to(x.dtype), up=False, bias=bias)
        strength = self.noise_strength * LRELU_GAIN
        if noise_mode == "const":
            x.add_((self.noise_const * strength).to(x.dtype))
        elif noise_mode == "random":
            x.add_(torch.randn(x.shape[0], 1, *x.shape[2:], device=x.device, dtype=x.dtype) * strength.to(x.dtype))
        x = F.leaky_relu_(x, LRELU_SLOPE)
        if self.conv_clamp is None:
            return x
        if torch.is_grad_enabled():  # lrelu's backward needs its output unmodified
            return x.clamp(-self.conv_clamp, self.conv_clamp)
        return x.clamp_(-self.conv_clamp, self.conv_clamp)

    def extra_repr(self) -> str:
        out_ch, in_ch = self.weight.shape[:2]
        return f"{in_ch} -> {out_ch} @ {self.resolution}px, up={self.up}, clamp={self.conv_clamp}"


class ToRGB(nn.Module):
    """Modulated 1x1 conv (no demodulation) from features to image channels, bias, clamp."""

    def __init__(self, in_ch: int, img_channels: int, w_dim: int, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, in_ch, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(img_channels, in_ch, 1, 1))
        self.bias = nn.Parameter(torch.zeros(img_channels))
        self.conv_clamp = conv_clamp
        self.weight_gain = 1.0 / math.sqrt(in_ch)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain  # [B, in]
        weights = modulate(self.weight, styles, demodulate=False).to(x.dtype)  # [B, rgb, in, 1, 1]
        y = torch.einsum("boi,bihw->bohw", weights[..., 0, 0], x).add_(self.bias.to(x.dtype).view(1, -1, 1, 1))
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
