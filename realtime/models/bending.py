"""Network bending: transforms of the synthesis network's feature maps at one resolution.

A `Bend` is a small frozen value: in the block of its `resolution`, after the block's last
convolution and before its toRGB, the features (and the skip-image summed so far, so that the
colour the lower resolutions drew moves with them) are scaled per channel, flipped, then zoomed,
rotated and translated about the centre. The block's toRGB and every later block draw on the
bent features, so the picture bends, tiles or mirrors while the latent path keeps moving (Broad
et al., "Network Bending", 2021).

Free when off: with `SynthesisNetwork.forward(ws, bend=None)` the only work for bending is one
`is None` test per block (the unbent path is the code that ran before bending existed), and a
bend whose settings are all neutral (zero amount) is dropped before the loop, so the picture is
bit-identical to an unbent one.

Units, chosen so a knob means the same at every resolution:
- translate (x, y): a fraction of the feature map, x to the right and y down (0.5 = half way);
- rotate: degrees, counter-clockwise on screen; zoom: > 1 magnifies about the centre;
- gain: one multiplier per channel of that block (0 masks a channel out); empty: untouched;
- edge: what is seen past the border: "wrap" (tiles), "zeros", "border" or "reflection".
Order: gain, flip, then the geometric transform.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..errors import StylevjError

EDGES = ("wrap", "zeros", "border", "reflection")
_EXACT = 1e-6  # a pixel shift this close to an integer moves by whole pixels (no resampling)


class BendError(StylevjError):
    """A bend setting that cannot apply to this generator (resolution, channel count, values)."""


@dataclass(frozen=True)
class Bend:
    """One layer-wise transform of the feature maps at `resolution` (see the module docstring)."""

    resolution: int
    translate: tuple[float, float] = (0.0, 0.0)
    rotate: float = 0.0
    zoom: float = 1.0
    flip_x: bool = False
    flip_y: bool = False
    gain: tuple[float, ...] = ()
    edge: str = "wrap"

    def __post_init__(self) -> None:
        res = int(self.resolution)
        if res < 4 or res & (res - 1):
            raise BendError(f"bend resolution {self.resolution} is not a power of two >= 4")
        translate = tuple(float(v) for v in self.translate)
        gain = tuple(float(g) for g in self.gain)
        if len(translate) != 2:
            raise BendError(f"bend translate needs (x, y), got {len(translate)} values")
        if not all(math.isfinite(v) for v in (*translate, self.rotate, self.zoom, *gain)):
            raise BendError("bend settings must be finite numbers")
        if self.zoom <= 0:
            raise BendError(f"bend zoom must be > 0, got {self.zoom:g}")
        if self.edge not in EDGES:
            raise BendError(f"bend edge must be one of {', '.join(EDGES)}, not {self.edge!r}")
        object.__setattr__(self, "resolution", res)
        object.__setattr__(self, "translate", translate)
        object.__setattr__(self, "rotate", float(self.rotate))
        object.__setattr__(self, "zoom", float(self.zoom))
        object.__setattr__(self, "gain", gain)

    @property
    def is_geometric(self) -> bool:
        """True when zoom, rotation or translation moves pixels."""
        return self.zoom != 1.0 or self.rotate % 360.0 != 0.0 or self.translate != (0.0, 0.0)

    @property
    def is_identity(self) -> bool:
        """True when the bend changes nothing (every setting neutral): it is then skipped."""
        return (not self.is_geometric and not self.flip_x and not self.flip_y
                and all(g == 1.0 for g in self.gain))

    def apply(self, x: torch.Tensor, img: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Bend features x [B, C, R, R] and the image so far img [B, 3, R, R] (None at 4 px).

        The gain acts on x only; flips and moves act on both, so the colour the lower
        resolutions drew moves with the features. Returns new tensors.
        """
        if self.gain:
            if len(self.gain) != x.shape[1]:
                raise BendError(
                    f"bend at {self.resolution} px: {len(self.gain)} channel gains given,"
                    f" the layer has {x.shape[1]} channels"
                )
            x = x * torch.tensor(self.gain, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        flips = [d for d, on in ((3, self.flip_x), (2, self.flip_y)) if on]
        if flips:
            x, img = x.flip(flips), None if img is None else img.flip(flips)
        if self.is_geometric:
            x, img = self._move(x), None if img is None else self._move(img)
        return x, img

    def _move(self, t: torch.Tensor) -> torch.Tensor:
        """Zoom, rotate, translate t [B, C, H, W]; whole-pixel wrapped shifts are exact rolls.

        Resampling runs in float32 (cast back after), so an fp16 layer keeps sub-pixel accuracy.
        """
        height, width = t.shape[-2:]
        shift_x, shift_y = self.translate[0] * width, self.translate[1] * height
        if (self.edge == "wrap" and self.zoom == 1.0 and self.rotate % 360.0 == 0.0
                and abs(shift_x - round(shift_x)) < _EXACT and abs(shift_y - round(shift_y)) < _EXACT):
            return t.roll((round(shift_y), round(shift_x)), dims=(2, 3))
        # Output point p (normalised, y down) samples the input at A (p - 2 t): the inverse of
        # "zoom, rotate counter-clockwise on screen, then translate".
        cos, sin = math.cos(math.radians(self.rotate)), math.sin(math.radians(self.rotate))
        a = [[cos / self.zoom, -sin / self.zoom], [sin / self.zoom, cos / self.zoom]]
        tx, ty = 2.0 * self.translate[0], 2.0 * self.translate[1]
        dtype, t = t.dtype, t.float()
        theta = torch.tensor(
            [[a[0][0], a[0][1], -(a[0][0] * tx + a[0][1] * ty)],
             [a[1][0], a[1][1], -(a[1][0] * tx + a[1][1] * ty)]],
            dtype=torch.float32, device=t.device,
        ).expand(t.shape[0], 2, 3)
        grid = F.affine_grid(theta, list(t.shape), align_corners=False)  # [B, H, W, 2] in [-1, 1]
        if self.edge != "wrap":
            return F.grid_sample(t, grid, mode="bilinear", padding_mode=self.edge, align_corners=False).to(dtype)
        # Wrap: fold coordinates into one period, sample a copy padded by one pixel of the
        # opposite edges so the seam interpolates across, not into a border.
        grid = torch.remainder(grid + 1.0, 2.0) - 1.0
        grid = grid * torch.tensor([width / (width + 2), height / (height + 2)], device=t.device)
        padded = F.pad(t, (1, 1, 1, 1), mode="circular")  # [B, C, H + 2, W + 2]
        return F.grid_sample(padded, grid, mode="bilinear", padding_mode="border", align_corners=False).to(dtype)


def bends_by_resolution(bend: Bend | Sequence[Bend], resolutions: Sequence[int]) -> dict[int, Bend] | None:
    """The bends that change something, keyed by block resolution; None when none does.

    A resolution the network does not have is a BendError naming the ones it has; two bends
    at one resolution are refused (their order would be a guess).
    """
    bends = [bend] if isinstance(bend, Bend) else list(bend)
    active: dict[int, Bend] = {}
    for b in bends:
        if b.resolution not in resolutions:
            raise BendError(
                f"bend at {b.resolution} px: this generator's blocks are at"
                f" {', '.join(str(r) for r in resolutions)} px"
            )
        if b.resolution in active:
            raise BendError(f"two bends at {b.resolution} px: give one per resolution")
        if not b.is_identity:
            active[b.resolution] = b
    return active or None


def channel_gains(channels: int, gain: float, which: Sequence[int] | None = None) -> tuple[float, ...]:
    """Per-channel gains for a layer of `channels`: `gain` on `which` (all when None), 1 elsewhere.

    channel_gains(64, 0.0, range(32)) masks out the first half of a 64-channel layer.
    """
    picked = set(range(channels)) if which is None else {int(c) for c in which}
    bad = [c for c in picked if not 0 <= c < channels]
    if bad:
        raise BendError(f"channel {bad[0]} is out of range for a layer of {channels} channels")
    return tuple(float(gain) if c in picked else 1.0 for c in range(channels))
