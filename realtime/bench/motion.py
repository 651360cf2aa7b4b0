"""How the default show moves, not how fast: direction changes at keyframes and the evenness of
per-frame steps, per path kind."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..models import load_generator


@dataclass
class MotionRow:
    """How one path kind moves over a loop of the default show."""

    path: str
    max_turn_deg: float  # largest change of direction of motion at a keyframe
    mean_turn_deg: float
    step_cv: float  # coefficient of variation of per-frame W+ steps, keyframe-time
    step_cv_constant_speed: float


def _turn_deg(a: torch.Tensor, b: torch.Tensor) -> float:
    cos = float((a.flatten() @ b.flatten()) / (a.norm() * b.norm()).clamp_min(1e-30))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


def bench_motion(frames_per_loop: int = 600) -> list[MotionRow]:
    """How the default show moves: turns at keyframes and evenness of steps, per spline."""
    from ..latent import ArcLength, CatmullRomPath, LinearPath
    from ..presets import default_preset_path, load_preset
    from ..show import load_keyframes

    G = load_generator("demo")
    points = torch.stack([kf.w for kf in load_keyframes(load_preset(default_preset_path()), G)]).double()
    rows = []
    for name, path in (("catmull-rom a=0.5", CatmullRomPath(points, 0.5)), ("catmull-rom a=0", CatmullRomPath(points, 0.0)),
                       ("linear", LinearPath(points, closed=True))):
        start, end = path.segment_end_velocities()
        turns = [_turn_deg(end[i - 1], start[i]) for i in range(path.num_segments)]
        t = torch.linspace(0, path.length, frames_per_loop + 1, dtype=torch.float64)[:-1]
        arc = ArcLength(path)
        cvs = []
        for times in (t, arc.time_at(torch.linspace(0, arc.total, frames_per_loop + 1, dtype=torch.float64)[:-1])):
            w = path.evaluate(times).flatten(1)
            steps = (w[1:] - w[:-1]).norm(dim=1)
            cvs.append(round(float(steps.std() / steps.mean()), 4))
        rows.append(MotionRow(name, round(max(turns), 3), round(sum(turns) / len(turns), 3), cvs[0], cvs[1]))
    return rows


def format_motion(rows: list[MotionRow]) -> str:
    head = f"{'path':<18} {'max turn':>9} {'mean turn':>10} {'step CV':>8} {'CV const':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.path:<18} {r.max_turn_deg:>8.3f}° {r.mean_turn_deg:>9.3f}° {r.step_cv:>8.3f} {r.step_cv_constant_speed:>9.4f}")
    return "\n".join(lines)
