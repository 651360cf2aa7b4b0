"""Directions in W: knobs with meaning, computed from the checkpoint alone (no data set, no download).

- SeFa (closed-form factorisation, Shen & Zhou 2021): the style affine weights of the chosen
  modulated convolutions (toRGB excluded; on StyleGAN3 the synthesis layers' affines, the
  input's turn-and-shift affine and ToRGB excluded), as [w_dim, channels] columns side by side, each column
  scaled to unit length: A [w_dim, sum of channels]. The directions are the eigenvectors of
  A Aᵀ, largest eigenvalue first: the unit moves in W that change those layers' styles most.
- GANSpace (Härkönen et al. 2020): principal components of W sampled through the mapping
  network, largest variance first. `GANSPACE_SAMPLES` says how many samples and why.

Every direction is a unit vector in W; its sign is fixed (largest-magnitude entry positive) so
the same checkpoint gives the same file on every machine. `apply_direction` adds
amount × direction to chosen W+ rows (layer_ranges.py names them). User direction files and the
cache are in direction_files.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from ..errors import StylevjError
from .layer_ranges import format_rows, rows_of
from ..choices import DIRECTION_METHODS as METHODS
from ..choices import GANSPACE_SAMPLES

log = logging.getLogger(__name__)

# 100k samples. PCA's angle error for component i is about sqrt(sum_j l_i l_j / (N (l_i - l_j)^2))
# radians (l: variances, N: samples): it shrinks as 1/sqrt(N) and grows as neighbouring
# variances close in. On the fixtures and the demo the top variances are 10-20%
# apart; between two seeds the top three components agree to |cos| 0.88-0.99 at 10k samples,
# 0.987-0.999 at 30k and >= 0.998 at 100k (tests/test_directions.py checks > 0.99). 100k costs
# about 4 s of mapping on 2 CPU cores for a 512-wide, 8-layer network (well under 1 s on a
# GPU) and is cached; `ganspace` logs its own estimate, and warns above 0.1 rad, so a network
# with unusually close components shows up.
_BATCH = 2048


class DirectionError(StylevjError):
    """A direction, its file or its method that cannot be used with this generator."""


@dataclass(frozen=True)
class Directions:
    """Unit directions in W, strongest first, with the eigenvalue (SeFa) or variance (GANSpace)."""

    vectors: torch.Tensor  # [N, w_dim] float32, orthonormal rows
    values: torch.Tensor  # [N] float64, descending
    method: str

    def __len__(self) -> int:
        return self.vectors.shape[0]

    def top(self, count: int) -> "Directions":
        """The first `count` directions (1 <= count <= len)."""
        if not 1 <= count <= len(self):
            raise DirectionError(f"count must be between 1 and {len(self)} (w_dim), got {count}")
        return Directions(self.vectors[:count], self.values[:count], self.method)


def fix_signs(vectors: torch.Tensor) -> torch.Tensor:
    """Flip each row [N, D] so that its largest-magnitude entry (the first, on a tie) is positive.

    Eigenvectors are defined up to sign; LAPACK builds may pick either. This makes files
    reproducible and keeps "+" meaning the same thing on every machine.
    """
    idx = vectors.abs().argmax(dim=1, keepdim=True)  # [N, 1]
    signs = torch.sign(vectors.gather(1, idx))
    return vectors * torch.where(signs == 0, torch.ones_like(signs), signs)


def _descending_eigh(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues [D] (descending) and eigenvectors as rows [D, D] of a symmetric matrix."""
    values, vectors = torch.linalg.eigh(matrix.double())  # ascending, vectors as columns
    return values.flip(0), fix_signs(vectors.flip(1).T.contiguous())


# -- SeFa ---------------------------------------------------------------------------------------


def modulated_convs(G) -> dict[int, torch.nn.Module]:
    """The generator's modulated convolutions by the W+ row that styles them (each has `.affine`):
    StyleGAN2's conv k uses row k; StyleGAN3's layer i uses row i + 1."""
    if hasattr(G.synthesis, "input"):  # StyleGAN3: every synthesis layer but ToRGB
        convs = [layer for layer in G.synthesis.layers if not layer.is_torgb]
    else:
        convs = []
        for block in G.synthesis.blocks:
            convs.extend([block.conv1] if block.first else [block.conv0, block.conv1])
    rows = rows_of(G).convs
    if len(convs) != len(rows):
        raise DirectionError(f"found {len(convs)} modulated convolutions, expected {len(rows)}")
    return dict(zip(rows, convs))


def sefa_rows(rows: Sequence[int] | None, G) -> tuple[int, ...]:
    """The rows among `rows` (None: all) that style a modulated convolution of `G`."""
    table = rows_of(G)
    chosen = tuple(sorted(set(table.convs) & set(range(table.num_ws) if rows is None else rows)))
    if not chosen:
        others = sorted(set(range(table.num_ws)) - set(table.convs))
        raise DirectionError(
            f"layers {format_rows(tuple(rows or ()))}: no modulated convolution there (rows"
            f" {format_rows(tuple(others))} style {'the input or ' if table.family == 'StyleGAN3' else ''}ToRGB"
            f" only); SeFa needs at least one of rows {format_rows(table.convs)}"
        )
    return chosen


def style_weights(G, rows: Sequence[int] | None = None) -> torch.Tensor:
    """SeFa's A: the chosen convs' style affine weights, columns of unit length: [w_dim, sum C]."""
    convs = modulated_convs(G)
    # affine.weight is [C, w_dim]; its transpose holds one column per styled input channel.
    a = torch.cat([convs[k].affine.weight.detach().double().T for k in sefa_rows(rows, G)], dim=1)
    return a / a.norm(dim=0, keepdim=True).clamp_min(1e-30)  # [w_dim, sum C]


@torch.no_grad()
def sefa(G, rows: Sequence[int] | None = None) -> Directions:
    """SeFa directions for the modulated convs styled by `rows` (None: all): [w_dim, w_dim].

    Deterministic and fast (one eigen-decomposition of a w_dim x w_dim matrix). With fewer
    styled channels than w_dim, directions past that rank have eigenvalue 0 and no meaning.
    """
    a = style_weights(G, rows).cpu()  # [w_dim, sum C]
    values, vectors = _descending_eigh(a @ a.T)  # [w_dim], [w_dim, w_dim]
    if a.shape[1] < a.shape[0]:
        log.info("SeFa: %d styled channels < w_dim %d: only the first %d directions carry meaning",
                 a.shape[1], a.shape[0], a.shape[1])
    return Directions(vectors.float(), values, "sefa")


# -- GANSpace -----------------------------------------------------------------------------------


@torch.no_grad()
def sample_w(G, samples: int, seed: int, batch: int = _BATCH) -> Iterator[torch.Tensor]:
    """W [b, w_dim] float64 batches of `samples` mapped z in all; z from a private seeded RNG."""
    gen = torch.Generator().manual_seed(int(seed))
    for start in range(0, samples, batch):
        z = torch.randn(min(batch, samples - start), G.z_dim, generator=gen)  # on the CPU: same everywhere
        yield G.mapping(z.to(G.device), truncation_psi=1.0)[:, 0].double().cpu()


def pca_error_estimate(values: torch.Tensor, samples: int, top: int = 3) -> list[float]:
    """Expected angle (radians) between the true and the sampled component, for the top few.

    First-order perturbation of a sample covariance: sqrt(sum_j l_i l_j / (N (l_i - l_j)^2)).
    """
    lam = values.double().clamp_min(0)
    out = []
    for i in range(min(top, len(lam))):
        gaps = (lam[i] - lam).square()
        gaps[i] = float("inf")
        out.append(float((lam[i] * lam / (samples * gaps.clamp_min(1e-300))).sum().sqrt()))
    return out


@torch.no_grad()
def ganspace(G, samples: int = GANSPACE_SAMPLES, seed: int = 0) -> Directions:
    """Principal components of W (truncation 1) from `samples` seeded draws: [w_dim, w_dim]."""
    if samples < 2 * G.w_dim:
        raise DirectionError(f"GANSpace needs at least {2 * G.w_dim} samples (2 x w_dim), got {samples}")
    total = torch.zeros(G.w_dim, dtype=torch.float64)
    outer = torch.zeros(G.w_dim, G.w_dim, dtype=torch.float64)
    for w in sample_w(G, samples, seed):  # w: [b, w_dim]; sums, not samples, are kept
        total += w.sum(0)
        outer += w.T @ w
    mean = total / samples
    cov = (outer - samples * torch.outer(mean, mean)) / (samples - 1)  # [w_dim, w_dim]
    values, vectors = _descending_eigh(cov)
    errors = pca_error_estimate(values, samples)
    log.info("GANSpace: %d samples (seed %d); expected angle error of the top components: %s rad",
             samples, seed, ", ".join(f"{e:.3f}" for e in errors))
    if max(errors) > 0.1:
        log.warning("GANSpace: top components are close in variance; more samples would steady them")
    return Directions(vectors.float(), values.clamp_min(0), "ganspace")


@torch.no_grad()
def spread_along(G, vectors: torch.Tensor, samples: int = 10_000, seed: int = 0) -> torch.Tensor:
    """Standard deviation of W along each direction [N, w_dim] -> [N]: one knob unit per σ.

    Lets a sheet or a control read amounts as "3 σ", so ±3 looks alike on any checkpoint.
    W+ directions [N, num_ws, w_dim] are measured by their mean over rows.
    """
    v = vectors.double().cpu()
    v = v.mean(dim=1) if v.ndim == 3 else v  # [N, w_dim]
    proj = torch.cat([w @ v.T for w in sample_w(G, samples, seed)])  # [samples, N]
    return proj.std(dim=0)


# -- applying -----------------------------------------------------------------------------------


def direction_offset(
    direction: torch.Tensor, amount: float | torch.Tensor, rows: Sequence[int] | None, num_ws: int,
) -> torch.Tensor:
    """amount × direction on `rows` (None: all) and zero elsewhere: [num_ws, w_dim] ([B, ...] for amounts [B]).

    `direction` is W [w_dim] or W+ [num_ws, w_dim]. Offsets of several controls add up, so a
    show can sum them once per frame and add the total to the path's W+.
    """
    d = direction.float()
    if d.ndim == 1:
        d = d.expand(num_ws, -1)  # W -> W+ [num_ws, w_dim]
    if d.ndim != 2 or d.shape[0] != num_ws:
        raise DirectionError(f"direction shape {list(direction.shape)} is neither W nor W+ [{num_ws}, w_dim]")
    picked = list(range(num_ws)) if rows is None else [int(r) for r in rows]
    if any(not 0 <= r < num_ws for r in picked):
        raise DirectionError(f"rows {format_rows(tuple(picked))} are outside W+ rows 0-{num_ws - 1}")
    mask = torch.zeros(num_ws, 1, dtype=d.dtype, device=d.device)
    mask[picked] = 1.0
    amount = torch.as_tensor(amount, dtype=d.dtype, device=d.device)
    return amount.reshape(*amount.shape, 1, 1) * (d * mask)


def apply_direction(
    ws: torch.Tensor, direction: torch.Tensor, amount: float | torch.Tensor, rows: Sequence[int] | None = None,
) -> torch.Tensor:
    """ws [..., num_ws, w_dim] moved by amount × direction on `rows`; other rows unchanged.

    `amount` is a number or a tensor of one amount per leading batch entry ([B] for ws [B, ...]).
    """
    offset = direction_offset(direction.to(ws.device), amount, rows, ws.shape[-2])
    return ws + offset.to(ws.dtype)


def compute_directions(
    G, method: str, rows: Sequence[int] | None = None, samples: int = GANSPACE_SAMPLES, seed: int = 0,
) -> Directions:
    """All w_dim directions by `method` ('sefa' uses `rows`; 'ganspace' uses `samples` and `seed`)."""
    if method == "sefa":
        return sefa(G, rows)
    if method == "ganspace":
        return ganspace(G, samples=samples, seed=seed)
    raise DirectionError(f"direction method must be one of {', '.join(METHODS)}, not {method!r}")
