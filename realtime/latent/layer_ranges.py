"""Layer ranges: which W+ rows a direction acts on, by name (coarse/middle/fine) or by number.

A StyleGAN2 generator of resolution R has num_ws = 2 log2(R) - 2 rows of W+. Row k < num_ws - 1
styles the k-th modulated convolution (in the order the synthesis runs them); odd rows also
style the toRGB of the block below, and the last row styles only the final toRGB:

    row        0         1                  2         3                   ...  num_ws - 1
    layers     b4.conv1  b8.conv0, b4.torgb b8.conv1  b16.conv0, b8.torgb ...  bR.torgb
    resolution 4         8                  8         16                  ...  R

A row's resolution is that of its modulated convolution (the last row: R). The named ranges
follow the StyleGAN paper's split by resolution (coarse 4-8 px: pose, face shape; middle
16-32 px: features, hair style; fine 64 px and up: colour, texture), so they depend on num_ws
only through where "fine" ends:

    network   num_ws   all     coarse   middle   fine
    256 px    14       0-13    0-2      3-6      7-13
    512 px    16       0-15    0-2      3-6      7-15
    1024 px   18       0-17    0-2      3-6      7-17

(StyleGAN1-era tools say "0-3 / 4-7 / 8+": there two rows belonged to each resolution. Here
row 3 already runs at 16 px, so it is middle.) Smaller networks keep the same rule: a 32 px
one (num_ws 8) has coarse 0-2, middle 3-7 and no fine layers. Explicit ranges are "A-B"
(inclusive) or "A".

A StyleGAN3 generator's rows mean other things: row 0 turns and shifts the Fourier input, row
i + 1 styles synthesis layer i (NVIDIA's name `L{i}_{size}_{channels}`), the last row styles
ToRGB. Its layers have no resolution of their own (they run on grids with margins); what sets
the scale of what a layer draws is its cutoff frequency, so a row's scale is 2 x cutoff (the
resolution of a StyleGAN2 layer that draws up to that frequency; the input's: 2 x its
bandwidth). The bands are then the same in both families, split at the geometric middles
(coarse below 11.3 px, middle below 45.3 px, fine above), which for StyleGAN2's powers of
two is exactly 4-8 / 16-32 / 64 and up. For NVIDIA's 1024 px, 14-layer networks:

    StyleGAN3 1024 px (num_ws 16)   coarse 0-3 (input, L0-L2)   middle 4-6   fine 7-15 (L6-ToRGB)

`rows_of(G)` gives a generator's rows; `parse_layers(spec, rows_of(G))` names them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import StylevjError
from ..choices import NAMED_RANGES

_BANDS = {"coarse": (0, math.sqrt(8 * 16)), "middle": (math.sqrt(8 * 16), math.sqrt(32 * 64)),
          "fine": (math.sqrt(32 * 64), math.inf)}  # [low, high) in px of scale


class LayerRangeError(StylevjError):
    """A layer range that does not name rows of this generator's W+."""


def _check_num_ws(num_ws: int) -> None:
    if num_ws < 2 or num_ws % 2:
        raise LayerRangeError(f"num_ws {num_ws} is not a StyleGAN2 W+ size (2 log2(resolution) - 2)")


def resolution_of(num_ws: int) -> int:
    """The output resolution of a generator with num_ws rows: 2 ** ((num_ws + 2) / 2)."""
    _check_num_ws(num_ws)
    return 2 ** ((num_ws + 2) // 2)


def row_resolutions(num_ws: int) -> tuple[int, ...]:
    """Per W+ row, the resolution its modulated convolution runs at (the last row: the output)."""
    _check_num_ws(num_ws)
    conv = [4] + [2 ** (3 + (k - 1) // 2) for k in range(1, num_ws - 1)]
    return (*conv, resolution_of(num_ws))


def row_layers(num_ws: int) -> tuple[tuple[str, ...], ...]:
    """Per W+ row, the names of the layers it styles, modulated conv first ('b8.conv0', 'b4.torgb')."""
    res = row_resolutions(num_ws)
    rows: list[tuple[str, ...]] = [("b4.conv1",)]
    for k in range(1, num_ws - 1):
        conv = f"b{res[k]}.conv{0 if k % 2 else 1}"
        rows.append((conv, f"b{res[k] // 2}.torgb") if k % 2 else (conv,))
    rows.append((f"b{res[-1]}.torgb",))
    return tuple(rows)


def conv_rows(num_ws: int) -> tuple[int, ...]:
    """The rows that style a modulated convolution (all but the last): row k is conv k."""
    _check_num_ws(num_ws)
    return tuple(range(num_ws - 1))


@dataclass(frozen=True)
class Rows:
    """What each W+ row of one generator styles: its scale in px (see above), the layers it
    styles, and which rows style a modulated convolution (what SeFa reads)."""

    family: str  # "StyleGAN2" or "StyleGAN3"
    resolution: int  # the generator's output
    scales: tuple[float, ...]
    layers: tuple[tuple[str, ...], ...]
    convs: tuple[int, ...]

    @property
    def num_ws(self) -> int:
        return len(self.scales)


def stylegan2_rows(num_ws: int) -> Rows:
    """The rows of a StyleGAN2 generator with `num_ws` rows (the table at the top)."""
    return Rows("StyleGAN2", resolution_of(num_ws), tuple(float(r) for r in row_resolutions(num_ws)),
                row_layers(num_ws), conv_rows(num_ws))


def rows_of(G) -> Rows:
    """The rows of generator `G`: StyleGAN3 (its synthesis has a Fourier `input` and `layers`
    with their specs) or StyleGAN2."""
    synthesis = G.synthesis
    if not (hasattr(synthesis, "input") and hasattr(synthesis, "layers")):
        return stylegan2_rows(G.num_ws)
    specs = [layer.spec for layer in synthesis.layers]
    scales = (2 * synthesis.input.bandwidth, *(2 * s.out_cutoff for s in specs))
    layers = (("input",), *((s.name,) for s in specs))
    convs = tuple(i + 1 for i, s in enumerate(specs) if not s.is_torgb)
    return Rows("StyleGAN3", G.resolution, scales, layers, convs)


def parse_layers(spec: str, rows: Rows | int) -> tuple[int, ...]:
    """W+ rows (ascending) for 'all', 'coarse', 'middle', 'fine', 'A-B' or 'A' of a generator's
    `rows` (`rows_of(G)`; a number: StyleGAN2's num_ws); one-line error otherwise."""
    if isinstance(rows, int):
        rows = stylegan2_rows(rows)
    num_ws = rows.num_ws
    text = str(spec).strip().lower()
    if text == "all":
        return tuple(range(num_ws))
    if text in _BANDS:
        low, high = _BANDS[text]
        chosen = tuple(k for k, r in enumerate(rows.scales) if low <= r < high)
        if not chosen:
            raise LayerRangeError(
                f"layers '{text}': this {rows.resolution} px {'StyleGAN3 ' * (rows.family == 'StyleGAN3')}generator has no layers at"
                f" {2 ** math.ceil(math.log2(low))} px and above"
            )
        return chosen
    first, dash, last = text.partition("-")
    try:
        a, b = int(first), int(last if dash else first)
    except ValueError:
        raise LayerRangeError(
            f"layers '{spec}': use {', '.join(NAMED_RANGES)}, 'A-B' or 'A' (W+ rows 0-{num_ws - 1})"
        ) from None
    if not 0 <= a <= b < num_ws:
        raise LayerRangeError(f"layers '{spec}': rows must satisfy 0 <= A <= B <= {num_ws - 1}")
    return tuple(range(a, b + 1))


def format_rows(rows: tuple[int, ...]) -> str:
    """Rows as a compact range string for logs and file names: (3, 4, 5, 6) -> '3-6'."""
    if not rows:
        return "none"
    if list(rows) == list(range(rows[0], rows[-1] + 1)):
        return f"{rows[0]}-{rows[-1]}" if len(rows) > 1 else str(rows[0])
    return ",".join(str(r) for r in rows)
