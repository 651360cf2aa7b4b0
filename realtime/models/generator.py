"""The StyleGAN2 generator: mapping network (z -> W+) and synthesis network (W+ -> image).

`Generator` is built from a `GeneratorConfig`; the loaders fill its weights. Its public surface
is the contract in DESIGN.md: z_dim, w_dim, num_ws, resolution, w_avg, mapping(), synthesis().
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .bending import Bend, bends_by_resolution
from .config import GeneratorConfig
from .layers import Derived, EqualLinear, StyledConv, ToRGB, Upsample2x, normalize_2nd_moment
from ..choices import NOISE_MODES


class MappingNetwork(nn.Module):
    """z [B, z_dim] -> W+ [B, num_ws, w_dim], with truncation toward `w_avg`."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        widths = [cfg.z_dim] + [cfg.hidden] * (cfg.mapping_layers - 1) + [cfg.w_dim]
        self.layers = nn.ModuleList(
            EqualLinear(widths[i], widths[i + 1], lr_mul=cfg.mapping_lr, activation=True)
            for i in range(cfg.mapping_layers)
        )
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))
        self.num_ws = cfg.num_ws

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        x = normalize_2nd_moment(z.float())
        for layer in self.layers:
            x = layer(x)
        ws = x.unsqueeze(1).expand(-1, self.num_ws, -1)  # [B, num_ws, w_dim]
        return truncate(ws, self.w_avg, truncation_psi) if truncation_psi != 1 else ws.contiguous()


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float | torch.Tensor) -> torch.Tensor:
    """The truncation trick on W or W+: w_avg + psi * (w - w_avg)."""
    return w_avg + psi * (ws - w_avg)


class SynthesisBlock(nn.Module):
    """One resolution: [upsampling conv0], conv1, ToRGB added to the upsampled image so far."""

    def __init__(self, cfg: GeneratorConfig, resolution: int, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.resolution = resolution
        self.first = in_ch == 0
        if self.first:
            self.const = nn.Parameter(torch.randn(out_ch, 4, 4))
        else:
            self.conv0 = StyledConv(in_ch, out_ch, cfg.w_dim, resolution, up=True, conv_clamp=cfg.conv_clamp)
            self.upsample_img = Upsample2x(cfg.img_channels)
        self.conv1 = StyledConv(out_ch, out_ch, cfg.w_dim, resolution, conv_clamp=cfg.conv_clamp)
        self.torgb = ToRGB(out_ch, cfg.img_channels, cfg.w_dim, conv_clamp=cfg.conv_clamp)
        self.num_conv = 1 if self.first else 2
        self.may_use_fp16 = resolution >= cfg.fp16_min_resolution

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
        noise_mode: str, dtype: torch.dtype, channels_last: bool, bend: Bend | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # ws: [B, num_conv + 1, w_dim]; the ToRGB row is shared with the next block's conv0.
        # bend: features and the image so far are bent after conv1, before ToRGB (bending.py).
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if self.first:
            x = self.const.to(dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = self.conv1(x.to(memory_format=memory_format), ws[:, 0], noise_mode)
        else:
            x = x.to(dtype=dtype, memory_format=memory_format)
            x = self.conv0(x, ws[:, 0], noise_mode)
            x = self.conv1(x, ws[:, 1], noise_mode)
        if bend is not None:
            x, img = bend.apply(x, None if img is None else self.upsample_img(img))  # img: [B, 3, res, res]
            y = self.torgb(x, ws[:, self.num_conv]).float()
            return x, y if img is None else y.add_(img)
        y = self.torgb(x, ws[:, self.num_conv]).float()
        img = y if img is None else y.add_(self.upsample_img(img))
        return x, img


class SynthesisNetwork(nn.Module):
    """W+ [B, num_ws, w_dim] -> image [B, img_channels, res, res], float32, about [-1, 1]."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.blocks = nn.ModuleList()
        in_ch = 0
        for res, out_ch in zip(cfg.resolutions, cfg.channels):
            self.blocks.append(SynthesisBlock(cfg, res, in_ch, out_ch))
            in_ch = out_ch
        self.num_ws = cfg.num_ws
        self.resolutions = cfg.resolutions
        self.bend_channels = dict(zip(cfg.resolutions, cfg.channels))  # where a Bend may act: its gains' count
        self.fp16 = False  # set by Generator.set_precision: only ever true on CUDA
        self.channels_last = False

    def forward(
        self, ws: torch.Tensor, noise_mode: str = "const", bend: Bend | Sequence[Bend] | None = None,
    ) -> torch.Tensor:
        """`bend`: network bending (models/bending.py) at one or more block resolutions."""
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {', '.join(NOISE_MODES)}, not {noise_mode!r}")
        if ws.ndim != 3 or ws.shape[1] != self.num_ws:
            raise ValueError(f"ws must be [B, {self.num_ws}, w_dim], got {list(ws.shape)}")
        bends = None if bend is None else bends_by_resolution(bend, self.resolutions)  # None: all neutral
        ws = ws.float()
        x = img = None
        w_idx = 0
        for block in self.blocks:
            half = self.fp16 and block.may_use_fp16
            dtype = torch.float16 if half else torch.float32
            x, img = block(x, img, ws[:, w_idx:w_idx + block.num_conv + 1], noise_mode, dtype,
                           self.channels_last and half, None if bends is None else bends.get(block.resolution))
            w_idx += block.num_conv
        return img


class GeneratorBase(nn.Module):
    """What every generator offers the show: `mapping` then `synthesis`, its config's sizes,
    `w_avg`, the device and `source`. StyleGAN2 (`Generator`) and StyleGAN3
    (models/stylegan3.py) add their synthesis network and how it takes a precision."""

    def __init__(self, cfg, synthesis: Callable[..., nn.Module]) -> None:
        """`synthesis(cfg)` makes the synthesis network, after the mapping network: the order in
        which the layers draw their initial weights (seeded random networks depend on it)."""
        super().__init__()
        self.cfg = cfg
        self.mapping = MappingNetwork(cfg)
        self.synthesis = synthesis(cfg)
        self.source = ""  # where it came from, for logs and records (set by the loader)

    z_dim = property(lambda self: self.cfg.z_dim)
    w_dim = property(lambda self: self.cfg.w_dim)
    num_ws = property(lambda self: self.cfg.num_ws)
    resolution = property(lambda self: self.cfg.resolution)
    img_channels = property(lambda self: self.cfg.img_channels)

    @property
    def w_avg(self) -> torch.Tensor:
        """The centre of W that truncation pulls toward: [w_dim]."""
        return self.mapping.w_avg

    @property
    def device(self) -> torch.device:
        return self.mapping.w_avg.device

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, truncation_psi), noise_mode)

    def extra_repr(self) -> str:
        return self.cfg.describe()


class Generator(GeneratorBase):
    """A StyleGAN2 generator: `mapping` then `synthesis`, with its config and `w_avg`."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__(cfg, SynthesisNetwork)

    @property
    def uses_fp16(self) -> bool:
        return self.synthesis.fp16 and self.cfg.num_fp16_res > 0

    def set_precision(self, fp16: bool | None = None, channels_last: bool = False) -> None:
        """fp16 for the checkpoint's fp16 layers: None means "on CUDA, yes"; never on CPU."""
        on_cuda = self.device.type == "cuda"
        self.synthesis.fp16 = on_cuda and (fp16 if fp16 is not None else True)
        self.synthesis.channels_last = on_cuda and channels_last
        self.prepare()

    def prepare(self) -> None:
        """Derive every layer's per-frame constants now, for the precision set (load time, not
        the first frame): scaled weights and biases, casts, constant noise times strength."""
        for layer in self.mapping.layers:
            layer.derived(torch.float32)
        for block in self.synthesis.blocks:
            dtype = torch.float16 if self.synthesis.fp16 and block.may_use_fp16 else torch.float32
            for layer in block.modules():
                if isinstance(layer, Derived):
                    layer.derived(torch.float32 if isinstance(layer, EqualLinear) else dtype)
