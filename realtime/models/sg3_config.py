"""The architecture of a StyleGAN3 (alias-free) generator, as plain data.

A StyleGAN3 synthesis network is a stack of layers whose sampling rates, cutoff frequencies,
sizes and resampling filters all follow from a handful of design hyper-parameters (Karras et al.
2021, "Alias-Free Generative Adversarial Networks", section 3 and appendix F): cutoffs grow
geometrically from `first_cutoff` to half the output resolution, the stopbands likewise, each
layer's sampling rate is the smallest power of two above twice its stopband, and every layer
carries `margin_size` extra pixels around the picture until the last two. `StyleGAN3Config`
holds those hyper-parameters and the layer widths (read from a checkpoint's tensors, never
assumed); `layer_specs()` derives everything else, so a loader can check a file's stored
geometry and filters against what its hyper-parameters imply, and the native `.safetensors`
header needs to store only the config.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CheckpointError
from .config import JsonConfig

ARCHITECTURE = "stylegan3"  # the native header's name for this family


@dataclass(frozen=True)
class InputSpec:
    """The Fourier-feature input: `channels` features on a `size` x `size` grid."""

    channels: int
    size: int
    sampling_rate: float
    bandwidth: float


@dataclass(frozen=True)
class LayerSpec:
    """Everything one synthesis layer needs, derived from the config (never stored)."""

    index: int
    is_torgb: bool
    critically_sampled: bool
    use_fp16: bool
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    tmp_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    conv_kernel: int
    up: int
    down: int
    up_taps: int
    down_taps: int
    down_radial: bool
    padding: tuple[int, int, int, int]  # x before, x after, y before, y after (of the upsampled image)

    @property
    def name(self) -> str:
        """NVIDIA's attribute name for this layer, e.g. `L3_52_512`."""
        return f"L{self.index}_{self.out_size}_{self.out_channels}"


@dataclass(frozen=True)
class StyleGAN3Config(JsonConfig):
    """Shape and numerics of a StyleGAN3 generator (configs T and R).

    channels[i] is the width of synthesis layer i (0 .. num_layers-1); the Fourier input has
    channels[0] and the final ToRGB layer `img_channels`. Config R is conv_kernel 1 with radial
    down filters; T is conv_kernel 3. Defaults are NVIDIA's published ones.
    """

    z_dim: int
    w_dim: int
    resolution: int
    channels: tuple[int, ...]
    mapping_layers: int = 2
    mapping_lr: float = 0.01
    img_channels: int = 3
    num_layers: int = 14
    num_critical: int = 2
    first_cutoff: float = 2.0
    first_stopband: float = 2**2.1
    last_stopband_rel: float = 2**0.3
    margin_size: int = 10
    output_scale: float = 0.25
    num_fp16_res: int = 4
    conv_kernel: int = 3
    filter_size: int = 6
    lrelu_upsampling: int = 2
    use_radial_filters: bool = False
    conv_clamp: float | None = 256.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.resolution < 4 or self.num_layers < 1 or not 0 <= self.num_critical < self.num_layers:
            raise CheckpointError(
                f"StyleGAN3 resolution {self.resolution} / {self.num_layers} layers / {self.num_critical} critical is not a valid design"
            )
        if len(self.channels) != self.num_layers:
            raise CheckpointError(f"{len(self.channels)} channel widths given for {self.num_layers} StyleGAN3 layers")
        if min(self.channels) < 1 or min(self.z_dim, self.w_dim, self.mapping_layers, self.img_channels) < 1:
            raise CheckpointError("generator widths and depths must be positive")
        if self.conv_kernel < 1 or self.filter_size < 1 or self.lrelu_upsampling < 1 or self.margin_size < 0:
            raise CheckpointError("StyleGAN3 kernel, filter size, lrelu upsampling and margin must be positive")
        if not (self.first_cutoff > 0 and self.first_stopband > 0 and self.last_stopband_rel > 0):
            raise CheckpointError("StyleGAN3 cutoffs and stopbands must be positive")
        self.layer_specs()  # every derived size must be consistent, or the config is refused now

    label = "StyleGAN3 generator"
    architecture = property(lambda self: ARCHITECTURE)

    @property
    def num_ws(self) -> int:
        """W+ rows: one for the input's transform, one per layer, one for ToRGB."""
        return self.num_layers + 2

    @property
    def hidden(self) -> int:
        return self.w_dim  # StyleGAN3's mapping layers are all w_dim wide

    def _design(self) -> tuple[np.ndarray, ...]:
        """Per-layer cutoffs, stopbands, sampling rates, half widths and sizes (index 0..num_layers)."""
        n = self.num_layers
        last_cutoff = self.resolution / 2
        last_stopband = last_cutoff * self.last_stopband_rel
        exponents = np.minimum(np.arange(n + 1) / (n - self.num_critical), 1)
        cutoffs = self.first_cutoff * (last_cutoff / self.first_cutoff) ** exponents
        stopbands = self.first_stopband * (last_stopband / self.first_stopband) ** exponents
        rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, self.resolution))))
        half_widths = np.maximum(stopbands, rates / 2) - cutoffs
        sizes = rates + self.margin_size * 2
        sizes[-2:] = self.resolution
        return cutoffs, rates, half_widths, sizes

    def input_spec(self) -> InputSpec:
        cutoffs, rates, _, sizes = self._design()
        return InputSpec(self.channels[0], int(sizes[0]), float(rates[0]), float(cutoffs[0]))

    def layer_specs(self) -> tuple[LayerSpec, ...]:
        """The num_layers + 1 layers (the last is ToRGB) with all their derived geometry."""
        cutoffs, rates, half_widths, sizes = self._design()
        widths = (*self.channels, self.img_channels)
        specs = []
        for idx in range(self.num_layers + 1):
            prev = max(idx - 1, 0)
            torgb = idx == self.num_layers
            critical = idx >= self.num_layers - self.num_critical
            in_rate, out_rate = int(rates[prev]), int(rates[idx])
            tmp_rate = max(in_rate, out_rate) * (1 if torgb else self.lrelu_upsampling)
            if tmp_rate % in_rate or tmp_rate % out_rate:
                raise CheckpointError(f"StyleGAN3 layer {idx}: sampling rates {in_rate} -> {tmp_rate} -> {out_rate} are not integer ratios")
            up, down = tmp_rate // in_rate, tmp_rate // out_rate
            up_taps = self.filter_size * up if up > 1 and not torgb else 1
            down_taps = self.filter_size * down if down > 1 and not torgb else 1
            kernel = 1 if torgb else self.conv_kernel
            in_size, out_size = int(sizes[prev]), int(sizes[idx])
            # Pad the upsampled image so that, after both filters and the down-sampling, exactly
            # out_size samples remain, centred as in the paper's symmetric interpretation (app. C.3).
            total = (out_size - 1) * down + 1 - (in_size + kernel - 1) * up + up_taps + down_taps - 2
            lo = (total + up) // 2
            specs.append(LayerSpec(
                index=idx, is_torgb=torgb, critically_sampled=critical,
                use_fp16=bool(rates[idx] * 2**self.num_fp16_res > self.resolution),
                in_channels=widths[prev], out_channels=widths[idx], in_size=in_size, out_size=out_size,
                in_sampling_rate=in_rate, out_sampling_rate=out_rate, tmp_sampling_rate=tmp_rate,
                in_cutoff=float(cutoffs[prev]), out_cutoff=float(cutoffs[idx]),
                in_half_width=float(half_widths[prev]), out_half_width=float(half_widths[idx]),
                conv_kernel=kernel, up=up, down=down, up_taps=up_taps, down_taps=down_taps,
                down_radial=self.use_radial_filters and not critical, padding=(lo, total - lo, lo, total - lo),
            ))
            if in_size + kernel - 1 < 1 or out_size < 1:
                raise CheckpointError(f"StyleGAN3 layer {idx}: sizes {in_size} -> {out_size} are not a valid design")
        return tuple(specs)

    def describe(self) -> str:
        """One line for logs: the facts a VJ checks when a checkpoint loads."""
        kind = "R" if self.conv_kernel == 1 and self.use_radial_filters else "T" if self.conv_kernel == 3 else f"k{self.conv_kernel}"
        fp16 = f", fp16 top {self.num_fp16_res} res" if self.num_fp16_res else ""
        clamp = f", clamp {self.conv_clamp:g}" if self.conv_clamp else ""
        return (
            f"StyleGAN3-{kind} {self.resolution}px, z {self.z_dim}, w {self.w_dim}, {self.num_ws} ws,"
            f" mapping {self.mapping_layers}x{self.hidden}, {self.num_layers} layers, channels"
            f" {max(self.channels)}..{min(self.channels)}{clamp}{fp16}"
        )


def channels_for(resolution: int, num_layers: int = 14, channel_base: int = 32768, channel_max: int = 512,
                 **design) -> tuple[int, ...]:
    """Layer widths the way NVIDIA's training sizes them: channel_base / 2 / cutoff, at most
    channel_max (for arch presets; loaders read widths from the tensors instead)."""
    probe = StyleGAN3Config(z_dim=1, w_dim=1, resolution=resolution, channels=(1,) * num_layers, num_layers=num_layers, **design)
    return tuple(int(np.rint(min(channel_base / 2 / s.out_cutoff, channel_max))) for s in probe.layer_specs()[:-1])
