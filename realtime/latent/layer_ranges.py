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
"""

from __future__ import annotations

from ..errors import StylevjError
from ..choices import NAMED_RANGES

_BANDS = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, 1 << 30)}


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


def parse_layers(spec: str, num_ws: int) -> tuple[int, ...]:
    """W+ rows (ascending) for 'all', 'coarse', 'middle', 'fine', 'A-B' or 'A'; one-line error otherwise."""
    _check_num_ws(num_ws)
    text = str(spec).strip().lower()
    if text == "all":
        return tuple(range(num_ws))
    if text in _BANDS:
        low, high = _BANDS[text]
        rows = tuple(k for k, r in enumerate(row_resolutions(num_ws)) if low <= r <= high)
        if not rows:
            raise LayerRangeError(
                f"layers '{text}': this {resolution_of(num_ws)} px generator has no layers at {low} px and above"
            )
        return rows
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
