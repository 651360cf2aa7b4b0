"""A benchmark's rows: the `Row` every measurement makes, the timing loop most of them use, and
the table and JSON file `stylevj bench` writes."""

from __future__ import annotations

import json
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import StylevjError

if TYPE_CHECKING:
    from .motion import MotionRow


@dataclass
class Row:
    """One measured part: its median and fastest frame, frames/s, and a note on what was timed."""

    part: str
    source: str
    device: str
    precision: str
    batch: int
    frames: int
    ms_per_frame: float
    ms_min: float
    fps: float
    note: str = ""


def time_frames(step, device: torch.device, seconds: float, min_frames: int = 3) -> list[float]:
    """Per-frame wall times (ms) of step(), after one warm-up call, for about `seconds`."""
    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    step()
    sync()
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < min_frames or time.perf_counter() < deadline:
        start = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - start) * 1000)
    return times


def timed_row(part: str, source: str, G, precision: str, times: list[float], note: str) -> Row:
    """A row of per-frame times (ms) at batch 1."""
    median = statistics.median(times)
    return Row(part, source, str(G.device), precision, 1, len(times), round(median, 3), round(min(times), 3),
               round(1000 / median, 2), note)


def format_table(rows: list[Row]) -> str:
    """The rows as the table `stylevj bench` prints."""
    head = f"{'part':<14} {'source':<16} {'device':<7} {'prec':<9} {'frames':>6} {'ms/frame':>9} {'min ms':>8} {'frames/s':>9}  note"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.part:<14} {r.source:<16} {r.device:<7} {r.precision:<9} {r.frames:>6} {r.ms_per_frame:>9.2f}"
            f" {r.ms_min:>8.2f} {r.fps:>9.2f}  {r.note}"
        )
    return "\n".join(lines)


def machine_info() -> dict:
    """Where the numbers were measured: date, Python, torch, CPU, GPU."""
    info = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def write_json(rows: list[Row], motion: list[MotionRow], path: Path) -> None:
    """Rows and motion to `path` as JSON (a failed write is one line naming the file)."""
    data = {"machine": machine_info(), "rows": [asdict(r) for r in rows], "motion": [asdict(m) for m in motion]}
    try:
        path.write_text(json.dumps(data, indent=2) + "\n")
    except OSError as exc:
        raise StylevjError(f"{path}: cannot write benchmark results ({exc.strerror})") from None
