"""Paths through W+ keyframes: Catmull-Rom splines (and linear, for comparison).

A path is parameterised in keyframe units: segment i runs from keyframe i (t = i) to keyframe
i+1 (t = i+1); a closed path wraps from the last keyframe back to the first. Each segment is
stored as a cubic in its local u = t - i:  P(u) = a + b u + c u^2 + d u^3, so evaluating any
batch of times is one gather and a few multiply-adds on whatever device the keyframes live on.

Catmull-Rom knots are spaced by |P[i+1] - P[i]|^alpha (W+ as one flat vector): alpha 0 is the
uniform spline (DESIGN.md's formula), 0.5 centripetal (no cusps or self-loops when keyframes
are unevenly spaced, so W stays where the generator was trained), 1 chordal. Tangents are
shared between neighbouring segments up to scale, so the direction of motion never turns
abruptly at a keyframe; linear interpolation turns there by the full angle between segments.
"""

from __future__ import annotations

import torch

_EPS = 1e-6  # knot spacing floor: repeated keyframes must not divide by zero


class Path:
    """Shared machinery: per-segment cubic coefficients and batched evaluation."""

    def __init__(self, keyframes: torch.Tensor, closed: bool) -> None:
        if keyframes.ndim != 3 or keyframes.shape[0] < 1:
            raise ValueError(f"keyframes must be [K >= 1, num_ws, w_dim], got {list(keyframes.shape)}")
        self.points = keyframes.float()
        self.closed = closed
        self.num_keyframes = keyframes.shape[0]
        self._coeffs = self._segment_coefficients()  # [4, S, num_ws, w_dim]

    @property
    def length(self) -> float:
        """Parameter span in keyframe units: K for a closed path, K - 1 for an open one."""
        return float(self.num_keyframes if self.closed else self.num_keyframes - 1)

    @property
    def num_segments(self) -> int:
        return self._coeffs.shape[1]

    def _neighbours(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """P[i-1], P[i], P[i+1], P[i+2] for every segment i; open ends repeat the end point."""
        K = self.num_keyframes
        idx = torch.arange(K if self.closed else max(K - 1, 1))
        if self.closed:
            around = [(idx + k) % K for k in (-1, 0, 1, 2)]
        else:
            around = [(idx + k).clamp(0, K - 1) for k in (-1, 0, 1, 2)]
        return tuple(self.points[i.to(self.points.device)] for i in around)

    def _segment_coefficients(self) -> torch.Tensor:
        raise NotImplementedError

    def _locate(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Segment index and local u for each t (wrapped when closed, clamped when open)."""
        t = torch.as_tensor(t, dtype=torch.float64, device=self.points.device).reshape(-1)
        if self.closed:
            t = torch.remainder(t, self.length)
        else:
            t = t.clamp(0.0, self.length)
        seg = t.floor().clamp(0, self.num_segments - 1)
        return seg.long(), (t - seg).to(self.points.dtype)

    def evaluate(self, t: torch.Tensor | float) -> torch.Tensor:
        """W+ at times t: [N] -> [N, num_ws, w_dim]."""
        seg, u = self._locate(t)
        a, b, c, d = self._coeffs[:, seg]
        u = u.view(-1, 1, 1)
        return a + u * (b + u * (c + u * d))

    def velocity(self, t: torch.Tensor | float) -> torch.Tensor:
        """dW+/dt in keyframe units at times t: [N] -> [N, num_ws, w_dim]."""
        seg, u = self._locate(t)
        _, b, c, d = self._coeffs[:, seg]
        u = u.view(-1, 1, 1)
        return b + u * (2 * c + u * 3 * d)

    def segment_end_velocities(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Velocity at u=0 and at u=1 of every segment: [S, num_ws, w_dim] each (for tests/bench)."""
        _, b, c, d = self._coeffs
        return b, b + 2 * c + 3 * d


class CatmullRomPath(Path):
    """A Catmull-Rom spline through W+ keyframes [K, num_ws, w_dim].

    alpha: 0 uniform, 0.5 centripetal (default), 1 chordal. closed: wrap last -> first.
    """

    def __init__(self, keyframes: torch.Tensor, alpha: float = 0.5, closed: bool = True) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.alpha = float(alpha)
        super().__init__(keyframes, closed)

    def _segment_coefficients(self) -> torch.Tensor:
        p0, p1, p2, p3 = self._neighbours()
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

    def _segment_coefficients(self) -> torch.Tensor:
        _, p1, p2, _ = self._neighbours()
        zero = torch.zeros_like(p1)
        return torch.stack([p1, p2 - p1, zero, zero])


class ArcLength:
    """Constant-speed re-parameterisation: distance along the path <-> keyframe time.

    The path is sampled finely; distance is the sum of W+ chord lengths, and the inverse is
    linear within each sample interval, so equal distance steps give equal W+ steps.
    """

    def __init__(self, path: Path, samples_per_segment: int = 256) -> None:
        n = max(int(round(path.length * samples_per_segment)), 1)
        self.times = torch.linspace(0.0, path.length, n + 1, dtype=torch.float64)
        points = path.evaluate(self.times).flatten(1)
        steps = (points[1:] - points[:-1]).norm(dim=1).double().cpu()
        self.distances = torch.cat([torch.zeros(1, dtype=torch.float64), steps.cumsum(0)])
        self.path_length = path.length

    @property
    def total(self) -> float:
        """W+ distance along the whole path."""
        return float(self.distances[-1])

    def time_at(self, s: torch.Tensor | float) -> torch.Tensor:
        """Keyframe time at distance s (clamped to [0, total])."""
        s = torch.as_tensor(s, dtype=torch.float64).reshape(-1).clamp(0.0, self.total)
        i = torch.searchsorted(self.distances, s, right=True).clamp(1, len(self.distances) - 1)
        s0, s1 = self.distances[i - 1], self.distances[i]
        frac = torch.where(s1 > s0, (s - s0) / (s1 - s0).clamp_min(1e-30), torch.zeros_like(s))
        return self.times[i - 1] + frac * (self.times[i] - self.times[i - 1])

    def distance_at(self, t: torch.Tensor | float) -> torch.Tensor:
        """Distance along the path at keyframe time t (clamped to the path's span)."""
        t = torch.as_tensor(t, dtype=torch.float64).reshape(-1).clamp(0.0, self.path_length)
        i = torch.searchsorted(self.times, t, right=True).clamp(1, len(self.times) - 1)
        t0, t1 = self.times[i - 1], self.times[i]
        frac = (t - t0) / (t1 - t0)
        return self.distances[i - 1] + frac * (self.distances[i] - self.distances[i - 1])
