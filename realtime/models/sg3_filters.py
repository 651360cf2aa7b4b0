"""StyleGAN3's resampling filters and its filtered leaky ReLU, in plain PyTorch.

Filters are designed from each layer's cutoff, transition width and sampling rate (Karras et
al. 2021, appendix C): a Kaiser-windowed sinc, applied separably, or for config R's down
filters a radially symmetric Kaiser-windowed jinc. They are derived here from the config, never
read from a file (a loader compares the file's filters against these).

The filtered leaky ReLU runs each channel through: bias (added by the convolution before it),
upsampling by zero insertion and the up filter, pad or crop, leaky ReLU with gain, clamp, the
down filter and decimation. On CPU the cost is in the depthwise filters, so they run as strided
operations that never compute a sample that is thrown away: upsampling as a transposed
convolution (the inserted zeros are never multiplied), downsampling as a strided convolution
(no decimated sample is computed), one axis at a time for separable filters, all in
channels-last memory, where oneDNN's depthwise kernels are several times faster than in NCHW.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .layers import Derived
from .sg3_config import LayerSpec

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


def _kaiser_beta(numtaps: int, width: float, fs: float) -> float:
    """Kaiser's window shape for a filter of `numtaps` with transition `width` (Hz) at rate fs."""
    atten = 2.285 * (numtaps - 1) * math.pi * (width / (fs / 2)) + 7.95  # stopband attenuation, dB
    if atten > 50:
        return 0.1102 * (atten - 8.7)
    if atten > 21:
        return 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    return 0.0


def _kaiser_window(numtaps: int, beta: float) -> np.ndarray:
    centre = (numtaps - 1) / 2
    n = (np.arange(numtaps) - centre) / centre
    return np.i0(beta * np.sqrt(np.clip(1 - n * n, 0, None))) / np.i0(beta)


def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor | None:
    """A unit-DC-gain low-pass FIR filter (float32), or None for the identity (numtaps 1).

    Separable: the 1-D Kaiser-windowed sinc [numtaps]. Radial: the 2-D Kaiser-windowed jinc
    [numtaps, numtaps], the circularly symmetric ideal low-pass, for rotation equivariance.
    """
    if numtaps < 1:
        raise ValueError("a filter needs at least one tap")
    if numtaps == 1:
        return None
    beta = _kaiser_beta(numtaps, width, fs)
    window = _kaiser_window(numtaps, beta)
    offsets = np.arange(numtaps) - (numtaps - 1) / 2
    if not radial:
        band = cutoff / (fs / 2)  # the cutoff as a fraction of the Nyquist frequency
        taps = band * np.sinc(band * offsets) * window
        return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)
    x = offsets / fs
    r = torch.as_tensor(np.hypot(*np.meshgrid(x, x)), dtype=torch.float64)
    jinc = torch.special.bessel_j1(2 * math.pi * cutoff * r) / (math.pi * r)
    jinc = torch.where(r == 0, torch.full_like(r, cutoff), jinc).numpy()  # its limit at the centre
    taps = jinc * np.outer(window, window)
    return torch.as_tensor(taps / taps.sum(), dtype=torch.float32)


def layer_filters(spec: LayerSpec) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(up filter, down filter) of one layer, exactly as its hyper-parameters define them."""
    up = lowpass_filter(spec.up_taps, spec.in_cutoff, spec.in_half_width * 2, spec.tmp_sampling_rate)
    down = lowpass_filter(spec.down_taps, spec.out_cutoff, spec.out_half_width * 2, spec.tmp_sampling_rate,
                          radial=spec.down_radial)
    return up, down


def _pad_or_crop(x: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    """Zero-pad (positive) or crop (negative) spatial dim 2 (height) or 3 (width)."""
    if before < 0 or after < 0:
        start = max(-before, 0)
        x = x.narrow(dim, start, x.shape[dim] - start - max(-after, 0))
    if before > 0 or after > 0:
        amounts = [max(before, 0), max(after, 0)]
        x = F.pad(x, amounts + [0, 0] if dim == 3 else [0, 0] + amounts)
    return x


def _upsample_axis(x: torch.Tensor, kernel: torch.Tensor, up: int, pad: tuple[int, int], dim: int) -> torch.Tensor:
    """Zero insertion by `up`, pad/crop, FIR along one axis: a strided transposed convolution.

    Input samples whose filtered footprint lies wholly in the cropped margin are dropped first.
    kernel: [C, 1, 1, taps] (width) or [C, 1, taps, 1] (height).
    """
    taps = kernel.shape[dim]
    n = x.shape[dim]
    before, after = pad
    length = n * up + before + after - taps + 1  # output samples wanted
    lo = max(0, -(before // up))  # first input sample that reaches the output
    hi = min(n, (taps - 1 - before + length - 1) // up + 1)
    if lo > 0 or hi < n:
        x = x.narrow(dim, lo, hi - lo)
        before += lo * up
        n = hi - lo
    stride = (1, up) if dim == 3 else (up, 1)
    y = F.conv_transpose2d(x, kernel, stride=stride, groups=x.shape[1])
    left = before - (taps - 1)
    return _pad_or_crop(y, left, length - y.shape[dim] - left, dim)


class FilteredLeakyReLU(Derived):
    """Up-sample, leaky ReLU with gain, clamp, down-sample: one StyleGAN3 layer's nonlinearity.

    The bias is not here: the convolution before it adds it (the same sum, one pass fewer).
    """

    def __init__(self, spec: LayerSpec, clamp: float | None, gain: float = LRELU_GAIN, slope: float = LRELU_SLOPE) -> None:
        super().__init__()
        up, down = layer_filters(spec)
        self.up, self.down = spec.up, spec.down
        self.padding = spec.padding
        self.gain, self.slope, self.clamp = gain, slope, clamp
        self.radial = down is not None and down.ndim == 2
        one = torch.ones(1)
        # Upsampling keeps the signal's level: each axis's filter times `up`; the activation
        # gain rides on the first (lrelu(g*x) == g*lrelu(x) for g > 0).
        self.register_buffer("up_filter", (up if up is not None else one) * spec.up, persistent=False)
        self.register_buffer("down_filter", down if down is not None else one, persistent=False)
        self.channels = spec.out_channels
        self.out_size = spec.out_size

    def _derive(self, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        c = self.channels
        up = self.up_filter.float()
        down = self.down_filter.float().flip(list(range(self.down_filter.ndim)))  # conv2d correlates
        consts = {
            "up_w": (up * self.gain).view(1, 1, 1, -1).expand(c, 1, 1, -1).to(dtype).contiguous(),
            "up_h": up.view(1, 1, -1, 1).expand(c, 1, -1, 1).to(dtype).contiguous(),
        }
        if self.radial:
            consts["down_2d"] = down.view(1, 1, *down.shape).expand(c, 1, -1, -1).to(dtype).contiguous()
        else:
            consts["down_w"] = down.view(1, 1, 1, -1).expand(c, 1, 1, -1).to(dtype).contiguous()
            consts["down_h"] = down.view(1, 1, -1, 1).expand(c, 1, -1, 1).to(dtype).contiguous()
        return consts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.derived(x.dtype)
        px0, px1, py0, py1 = self.padding
        x = _upsample_axis(x, c["up_w"], self.up, (px0, px1), dim=3)
        x = _upsample_axis(x, c["up_h"], self.up, (py0, py1), dim=2)
        x = x.contiguous(memory_format=torch.channels_last)
        if torch.is_grad_enabled():  # autograd needs the activation's input unmodified
            x = F.leaky_relu(x, self.slope)
            x = x if self.clamp is None else x.clamp(-self.clamp, self.clamp)
        else:
            x = F.leaky_relu_(x, self.slope)
            x = x if self.clamp is None else x.clamp_(-self.clamp, self.clamp)
        d = self.down
        if self.radial:
            return F.conv2d(x, c["down_2d"], stride=d, groups=x.shape[1])
        x = F.conv2d(x, c["down_w"], stride=(1, d), groups=x.shape[1])
        return F.conv2d(x, c["down_h"], stride=(d, 1), groups=x.shape[1])

    def extra_repr(self) -> str:
        kind = "radial" if self.radial else "separable"
        return (f"up {self.up} ({self.up_filter.shape[-1]} taps), down {self.down} ({self.down_filter.shape[-1]} taps,"
                f" {kind}), padding {list(self.padding)}, clamp {self.clamp}")
