"""Paths through W+ keyframes: Catmull-Rom splines (and linear, for comparison).

A path is parameterised in keyframe units: segment i runs from keyframe i (t = i) to keyframe
i+1 (t = i+1); a closed path wraps from the last keyframe back to the first. Each segment is
stored as a cubic in its local u = t - i:  P(u) = a + b u + c u^2 + d u^3, made when first used
and kept per segment (an edit makes only the segments around it again), so evaluating a batch
of times is a stack of its segments' coefficients and a few multiply-adds on whatever device
the keyframes live on.

Catmull-Rom knots are spaced by |P[i+1] - P[i]|^alpha (W+ as one flat vector): alpha 0 is the
uniform spline (DESIGN.md's formula), 0.5 centripetal (no cusps or self-loops when keyframes
are unevenly spaced, so W stays where the generator was trained), 1 chordal. Tangents are
shared between neighbouring segments up to scale, so the direction of motion never turns
abruptly at a keyframe; linear interpolation turns there by the full angle between segments.
"""

from __future__ import annotations

from typing import Sequence

import torch

_EPS = 1e-6  # knot spacing floor: repeated keyframes must not divide by zero
_BATCH = 256  # segments whose coefficients are computed at once

SegmentKey = tuple[int, int, int, int]  # the points P[i-1], P[i], P[i+1], P[i+2] of a segment, by identity


class Path:
    """Shared machinery: per-segment cubic coefficients and batched evaluation.

    A segment's cubic depends only on its four points, so a segment is known by them (their
    tensors' identities: a keyframe's W+ is never changed in place) and its coefficients and
    arc-length table are computed once, on first use, and kept. `edited` makes the path of an
    edited keyframe list that keeps everything its unchanged segments had: an insert, removal
    or move computes about four segments however many keyframes the show holds (a live edit
    on the render thread must never cost O(keyframes) tensor work). `segments_computed` and
    `arcs_computed` count that work (tests, bench).
    """

    def __init__(self, keyframes: torch.Tensor | Sequence[torch.Tensor], closed: bool) -> None:
        points = [p if p.dtype == torch.float32 else p.float()
                  for p in (keyframes.unbind(0) if isinstance(keyframes, torch.Tensor) else keyframes)]
        shape = list(keyframes.shape) if isinstance(keyframes, torch.Tensor) else [len(points), *(points[0].shape if points else ())]
        if len(shape) != 3 or not points or any(p.shape != points[0].shape for p in points):
            raise ValueError(f"keyframes must be [K >= 1, num_ws, w_dim], got {shape}")
        self._points = points  # references, no copies
        self.closed = closed
        self.num_keyframes = len(points)
        self._by_key = {id(p): p for p in points}
        self._segments = self._segment_keys()
        self._coeffs: dict[SegmentKey, torch.Tensor] = {}  # [4, num_ws, w_dim] per segment, made on first use
        self._arcs: dict[tuple[SegmentKey, int], tuple[torch.Tensor, float]] = {}  # distances along each segment
        self.segments_computed = 0
        self.arcs_computed = 0

    def edited(self, keyframes: Sequence[torch.Tensor], closed: bool | None = None) -> Path:
        """The same kind of path through `keyframes` (an edited list of this path's points and new
        ones), keeping the coefficients and arc tables of every segment whose points are unchanged."""
        path = self._remake(keyframes, self.closed if closed is None else closed)
        kept = set(path._segments)
        path._coeffs = {k: c for k, c in self._coeffs.items() if k in kept}
        path._arcs = {(k, n): a for (k, n), a in self._arcs.items() if k in kept}
        return path

    def _remake(self, keyframes: Sequence[torch.Tensor], closed: bool) -> Path:
        return type(self)(keyframes, closed)

    @property
    def points(self) -> torch.Tensor:
        """The keyframes as one tensor [K, num_ws, w_dim] (a copy: O(K), not for every frame)."""
        return torch.stack(self._points)

    @property
    def length(self) -> float:
        """Parameter span in keyframe units: K for a closed path, K - 1 for an open one."""
        return float(self.num_keyframes if self.closed else self.num_keyframes - 1)

    @property
    def num_segments(self) -> int:
        return len(self._segments)

    def _segment_keys(self) -> list[SegmentKey]:
        """P[i-1], P[i], P[i+1], P[i+2] of every segment i by identity; open ends repeat the end point."""
        K, keys = self.num_keyframes, [id(p) for p in self._points]
        if self.closed:
            return [(keys[(i - 1) % K], keys[i], keys[(i + 1) % K], keys[(i + 2) % K]) for i in range(K)]
        at = lambda i: keys[min(max(i, 0), K - 1)]  # noqa: E731
        return [(at(i - 1), at(i), at(i + 1), at(i + 2)) for i in range(max(K - 1, 1))]

    def _segment_coefficients(self, p0: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor,
                              p3: torch.Tensor) -> torch.Tensor:
        """[4, M, num_ws, w_dim]: a, b, c, d of M segments from their points [M, num_ws, w_dim] each."""
        raise NotImplementedError

    def coefficients(self, segments: Sequence[int]) -> torch.Tensor:
        """a, b, c, d of the given segments: [4, len(segments), num_ws, w_dim]; missing ones are
        computed together, in batches."""
        return self._coefficients_of([self._segments[s] for s in segments])

    def _coefficients_of(self, keys: list[SegmentKey]) -> torch.Tensor:
        missing = [k for k in dict.fromkeys(keys) if k not in self._coeffs]
        for start in range(0, len(missing), _BATCH):
            batch = missing[start:start + _BATCH]
            p0, p1, p2, p3 = (torch.stack([self._by_key[k[j]] for k in batch]) for j in range(4))
            coeffs = self._segment_coefficients(p0, p1, p2, p3)
            for n, k in enumerate(batch):
                self._coeffs[k] = coeffs[:, n].clone()  # its own storage: a batch never outlives its segments
            self.segments_computed += len(batch)
        return torch.stack([self._coeffs[k] for k in keys], dim=1)

    def _locate(self, t: torch.Tensor | float) -> tuple[list[int], torch.Tensor]:
        """Segment index and local u for each t (wrapped when closed, clamped when open); the
        indices are found on the CPU (no device sync), u is on the points' device."""
        t = torch.as_tensor(t, dtype=torch.float64).detach().cpu().reshape(-1)
        if self.closed:
            t = torch.remainder(t, self.length)
        else:
            t = t.clamp(0.0, self.length)
        seg = t.floor().clamp(0, self.num_segments - 1)
        points = self._points[0]
        return seg.long().tolist(), (t - seg).to(points.device, points.dtype)

    def evaluate(self, t: torch.Tensor | float) -> torch.Tensor:
        """W+ at times t: [N] -> [N, num_ws, w_dim]."""
        seg, u = self._locate(t)
        a, b, c, d = self.coefficients(seg)
        u = u.view(-1, 1, 1)
        return a + u * (b + u * (c + u * d))

    def velocity(self, t: torch.Tensor | float) -> torch.Tensor:
        """dW+/dt in keyframe units at times t: [N] -> [N, num_ws, w_dim]."""
        seg, u = self._locate(t)
        _, b, c, d = self.coefficients(seg)
        u = u.view(-1, 1, 1)
        return b + u * (2 * c + u * 3 * d)

    def segment_end_velocities(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity at u=0 and at u=1 of every segment: [S, num_ws, w_dim] each (for tests/bench)."""
        _, b, c, d = self.coefficients(range(self.num_segments))
        return b, b + 2 * c + 3 * d

    def arc_tables(self, samples: int) -> list[tuple[torch.Tensor, float]]:
        """For each segment within the span: cumulative W+ chord length at u = 0, 1/n, ..., 1
        (float64, CPU, [samples + 1]) and the segment's length; missing ones are computed.

        A chord of a cubic is exact from the Gram matrix of its coefficients (|P(v) - P(u)|^2 =
        D^T G D with D = (v^k - u^k)), so a segment costs one [4, 4] product over W+ and the
        rest is arithmetic on a few hundred numbers, not hundreds of W+ evaluations."""
        keys = self._segments[:int(round(self.length))]
        missing = [k for k in dict.fromkeys(keys) if (k, samples) not in self._arcs]
        u = torch.linspace(0.0, 1.0, samples + 1, dtype=torch.float64).view(-1, 1) ** torch.arange(4)
        step = u[1:] - u[:-1]  # [samples, 4]: u^k at the end of each sample minus at its start
        for start in range(0, len(missing), _BATCH):
            batch = missing[start:start + _BATCH]
            coeffs = self._coefficients_of(batch).flatten(2).transpose(0, 1).double()  # [M, 4, F]
            gram = (coeffs @ coeffs.transpose(1, 2)).cpu()  # [M, 4, 4]
            chords = torch.einsum("nj,mjk,nk->mn", step, gram, step).clamp_min(0.0).sqrt()
            tables = torch.cat([torch.zeros(len(batch), 1, dtype=torch.float64), chords.cumsum(1)], dim=1)
            for n, k in enumerate(batch):
                self._arcs[(k, samples)] = (tables[n].clone(), float(tables[n, -1]))
            self.arcs_computed += len(batch)
        return [self._arcs[(k, samples)] for k in keys]


class CatmullRomPath(Path):
    """A Catmull-Rom spline through W+ keyframes [K, num_ws, w_dim].

    alpha: 0 uniform, 0.5 centripetal (default), 1 chordal. closed: wrap last -> first.
    """

    def __init__(self, keyframes: torch.Tensor | Sequence[torch.Tensor], alpha: float = 0.5, closed: bool = True) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = float(alpha)
        super().__init__(keyframes, closed)

    def _remake(self, keyframes: Sequence[torch.Tensor], closed: bool) -> Path:
        return CatmullRomPath(keyframes, self.alpha, closed)

    def _segment_coefficients(self, p0: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor,
                              p3: torch.Tensor) -> torch.Tensor:
        if self.alpha == 0.0:
            # The uniform spline exactly as DESIGN.md writes it.
            a = p1
            b = 0.5 * (p2 - p0)
            c = 0.5 * (2 * p0 - 5 * p1 + 4 * p2 - p3)
            d = 0.5 * (-p0 + 3 * p1 - 3 * p2 + p3)
            return torch.stack([a, b, c, d])

        def spacing(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            dist = (y - x).flatten(1).norm(dim=1).clamp_min(_EPS) ** self.alpha
            return dist.view(-1, 1, 1)

        d01, d12, d23 = spacing(p0, p1), spacing(p1, p2), spacing(p2, p3)
        # Tangents of the non-uniform spline (Barry-Goldman), scaled to the unit u interval.
        m1 = d12 * ((p1 - p0) / d01 - (p2 - p0) / (d01 + d12) + (p2 - p1) / d12)
        m2 = d12 * ((p2 - p1) / d12 - (p3 - p1) / (d12 + d23) + (p3 - p2) / d23)
        # Cubic Hermite from P1 to P2 with tangents m1, m2, in powers of u.
        a = p1
        b = m1
        c = 3 * (p2 - p1) - 2 * m1 - m2
        d = 2 * (p1 - p2) + m1 + m2
        return torch.stack([a, b, c, d])


class LinearPath(Path):
    """Straight lines between keyframes: the comparison that Catmull-Rom improves on."""

    def _segment_coefficients(self, p0: torch.Tensor, p1: torch.Tensor, p2: torch.Tensor,
                              p3: torch.Tensor) -> torch.Tensor:
        zero = torch.zeros_like(p1)
        return torch.stack([p1, p2 - p1, zero, zero])


class ArcLength:
    """Constant-speed re-parameterisation: distance along the path <-> keyframe time.

    Each segment is sampled finely (its table is kept by the path, so after an edit only the
    changed segments are sampled again); distance is the sum of W+ chord lengths, and the
    inverse is linear within each sample interval, so equal distance steps give equal W+ steps.
    A query looks up its segment, then its sample: no work grows with the number of keyframes
    but the one cumulative sum of segment lengths when the table is made.
    """

    def __init__(self, path: Path, samples_per_segment: int = 256) -> None:
        self.samples = max(int(samples_per_segment), 1)
        tables = path.arc_tables(self.samples)  # one per segment within the span
        self._tables = [table for table, _ in tables]
        lengths = torch.tensor([length for _, length in tables], dtype=torch.float64)
        self.starts = torch.cat([torch.zeros(1, dtype=torch.float64), lengths.cumsum(0)])  # distance at each keyframe
        self.path_length = path.length

    @property
    def total(self) -> float:
        """W+ distance along the whole path."""
        return float(self.starts[-1])

    def _rows(self, seg: torch.Tensor) -> torch.Tensor:
        return torch.stack([self._tables[i] for i in seg.tolist()])  # [N, samples + 1]

    def time_at(self, s: torch.Tensor | float) -> torch.Tensor:
        """Keyframe time at distance s (clamped to [0, total])."""
        s = torch.as_tensor(s, dtype=torch.float64).reshape(-1).clamp(0.0, self.total)
        if not self._tables:
            return torch.zeros_like(s)
        n = self.samples
        seg = (torch.searchsorted(self.starts, s, right=True) - 1).clamp(0, len(self._tables) - 1)
        local, rows = s - self.starts[seg], self._rows(seg)
        j = torch.searchsorted(rows, local.view(-1, 1), right=True).view(-1).clamp(1, n)
        d0, d1 = rows.gather(1, (j - 1).view(-1, 1)).view(-1), rows.gather(1, j.view(-1, 1)).view(-1)
        frac = torch.where(d1 > d0, (local - d0) / (d1 - d0).clamp_min(1e-30), torch.zeros_like(s)).clamp(0.0, 1.0)
        return seg + (j - 1 + frac) / n

    def distance_at(self, t: torch.Tensor | float) -> torch.Tensor:
        """Distance along the path at keyframe time t (clamped to the path's span)."""
        t = torch.as_tensor(t, dtype=torch.float64).reshape(-1).clamp(0.0, self.path_length)
        if not self._tables:  # a path of no span: 0
            return torch.zeros_like(t)
        n = self.samples
        seg = t.floor().clamp(0, len(self._tables) - 1)
        x = (t - seg) * n
        j = x.floor().clamp(0, n - 1)
        seg, frac, j = seg.long(), x - j, j.long()
        rows = self._rows(seg)
        d0, d1 = rows.gather(1, j.view(-1, 1)).view(-1), rows.gather(1, (j + 1).view(-1, 1)).view(-1)
        return self.starts[seg] + d0 + frac * (d1 - d0)
