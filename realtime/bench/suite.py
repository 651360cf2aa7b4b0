"""The GPU suite: the one device run that proves the performance goal (docs/performance.md), as a
plan of budgeted steps, run one by one with the JSON written after each, and the goal read off."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .gpu import bench_frame
from .nvidia import bench_reference
from .results import Row, write_json
from .show import bench_loop

log = logging.getLogger(__name__)

GPU_SOURCE = "arch:ffhq-1024"  # config-f FFHQ at 1024 px (random weights: speed does not depend on them)


@dataclass(frozen=True)
class Planned:
    """One step of a suite: what it measures, its time budget, and how to run it (rows out)."""

    name: str
    budget_s: float
    proves: str
    run: Callable[[], list[Row]]


def gpu_suite(device: str = "cuda", seconds: float = 6.0, soak: float = 60.0, reference: str | None = None,
              source: str = GPU_SOURCE, compile: bool = False) -> list[Planned]:
    """The device run that proves the goal (docs/performance.md): frame rows for `source` at
    batch 1 (with `compile`, also through torch.compile), NVIDIA's generator on the same weights
    (with `reference`), and the whole loop."""
    plan = [
        Planned("frame fp32", 20 + seconds, "the eager fp32 baseline", lambda: bench_frame(source, device, "fp32", False, seconds)),
        Planned("frame fp16", 20 + seconds, "fp16 layers, eager: launch-bound at batch 1?",
                lambda: bench_frame(source, device, "fp16", False, seconds)),
        Planned("frame fp16+graph", 30 + seconds, "the show's path: fp16 replayed as one CUDA graph (goal >= 240 frames/s on an H100)",
                lambda: bench_frame(source, device, "fp16", True, seconds)),
    ]
    if reference is not None:
        plan.append(Planned("frame nvidia", 180 + seconds, "NVIDIA's generator with compiled ops, same weights (goal: ours >= 1.5x)",
                            lambda: bench_reference(reference, source, device, seconds)))
    plan.append(Planned("loop", 60 + 4 * seconds + soak, "uploads host vs interop at the generator's size, composite, "
                        "overlay, the paced loop, recording, page, a soak's memory, OSC to applied",
                        lambda: bench_loop(source, device, seconds, soak=soak)))
    if compile:  # last: a timeout loses only these rows; the second compile reads inductor's disk cache
        plan.append(Planned("frame fp16+compile", 75 + 2 * seconds, "torch.compile (fused epilogues), eager launches "
                            "and replayed as a CUDA graph (stylevj run --compile)",
                            lambda: bench_frame(source, device, "fp16", False, seconds, compile=True)
                            + bench_frame(source, device, "fp16", True, seconds, compile=True)))
    return plan


def format_plan(plan: list[Planned]) -> str:
    """The plan as `--dry-run` prints it: each step, its budget, what it proves."""
    lines = [f"{'step':<18} {'budget s':>8}  proves", "-" * 60]
    lines += [f"{p.name:<18} {p.budget_s:>8.0f}  {p.proves}" for p in plan]
    lines.append(f"{'total':<18} {sum(p.budget_s for p in plan):>8.0f}")
    return "\n".join(lines)


def run_plan(plan: list[Planned], json_path: Path) -> list[Row]:
    """Run each step, writing the JSON after every one (a late failure loses nothing); a step
    that fails is one row saying why, and the suite goes on."""
    rows: list[Row] = []
    for step in plan:
        log.info("bench: %s (budget %.0f s) ...", step.name, step.budget_s)
        try:
            rows += step.run()
        except Exception as exc:  # one step's failure (no GL, no plugin compiler) must not lose the others
            log.exception("bench step %s failed", step.name)
            rows.append(Row(step.name, "", "", "", 0, 0, 0.0, 0.0, 0.0, f"failed: {type(exc).__name__}: {exc}"[:200]))
        write_json(rows, [], json_path)
    return rows


def goal_rows(rows: list[Row], fps_goal: float = 240.0, ratio_goal: float = 1.5) -> list[Row]:
    """The goal, read off the measured rows: the show's path (fp16 + graph, pipelined) against
    `fps_goal`, and against NVIDIA's generator in the same run. Nothing for a row not measured."""
    found = {(r.part, r.precision): r for r in rows if r.fps > 0}
    theirs = found.get(("frame nvidia throughput", "fp16"))
    goals = []
    for path, suffix in (("fp16+graph", ""), ("fp16+compile+graph", " (--compile)")):
        ours = found.get(("frame throughput", path))
        if ours is None:
            continue
        met = "met" if ours.fps >= fps_goal else "NOT met"
        goals.append(Row("goal frames/s" + suffix, ours.source, ours.device, ours.precision, 1, ours.frames,
                         ours.ms_per_frame, ours.ms_min, ours.fps,
                         f"{ours.fps:.1f} frames/s vs {fps_goal:.0f} (the H100 goal): {met}"))
        if theirs is not None:
            ratio = ours.fps / theirs.fps
            met = "met" if ratio >= ratio_goal else "NOT met"
            goals.append(Row("goal vs nvidia" + suffix, ours.source, ours.device, "ratio", 1, 0, 0.0, 0.0, round(ratio, 3),
                             f"ours {ours.fps:.1f} / NVIDIA {theirs.fps:.1f} frames/s = {ratio:.2f}x vs {ratio_goal}x: {met}"))
    return goals
