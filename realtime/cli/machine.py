"""The commands about this machine: `doctor` (what it will do for a show, and why) and `bench`
(how fast each part runs here)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..choices import BENCH_SOURCES
from ..errors import StylevjError
from .options import pick_device

log = logging.getLogger("stylevj")


def cmd_doctor(args: argparse.Namespace) -> int:
    """`stylevj doctor`: the report; exit 1 when no show can run here."""
    from ..doctor import diagnose, format_report, show_can_run

    if not args.verbose:  # the report says what the checks found; -v adds their log lines
        logging.getLogger().setLevel(logging.WARNING)
    findings = diagnose(args.device, osc_port=args.osc_port, control_port=args.control_port)
    print(format_report(findings))
    return 0 if show_can_run(findings) else 1


def cmd_bench(args: argparse.Namespace) -> int:
    """`stylevj bench`: every part's speed here, as a table and a JSON file."""
    from ..bench import (bench_audio, bench_knobs, bench_link, bench_loop, bench_motion, bench_ndi, bench_projection,
                         bench_render, format_motion, format_table, run_bench, write_json)

    if args.suite == "gpu":
        return _bench_gpu_suite(args)
    if args.reference or args.dry_run:
        raise StylevjError("--reference and --dry-run belong to --suite gpu")
    import torch

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if args.device != "all":
        devices = [pick_device(args.device)]
    rows = run_bench(args.sources.split(","), devices, args.seconds, compile=args.compile)
    for device in devices:
        rows += bench_knobs(args.loop_source, device, args.seconds)
    if not args.no_loop:
        for device in devices:
            rows += bench_loop(args.loop_source, device, args.seconds, soak=args.soak)
            rows.append(bench_render(args.loop_source, device))
        rows += bench_ndi(min(args.seconds, 3.0))  # NDI output at 720p and 1080p (one row saying why not, without it)
    if args.projection:
        rows += bench_projection(devices)
    rows += bench_audio()
    rows += bench_link()  # none without the link extra
    motion = bench_motion()
    print(format_table(rows))
    print()
    print("Motion of the default show (60 fps over one loop): direction change at keyframes, step evenness")
    print(format_motion(motion))
    write_json(rows, motion, Path(args.json))
    log.info("wrote %s", args.json)
    return 0


def _bench_gpu_suite(args: argparse.Namespace) -> int:
    """`stylevj bench --suite gpu`: the one device run (docs/performance.md), or its plan."""
    import torch

    from ..bench import GPU_SOURCE, format_plan, format_table, goal_rows, gpu_suite, run_plan, write_json

    device = "cuda" if args.device in ("all", "auto") else args.device
    plan = gpu_suite(device, seconds=args.seconds, soak=args.soak or 60.0, reference=args.reference, compile=args.compile,
                     source=args.sources if args.sources != ",".join(BENCH_SOURCES) else GPU_SOURCE)
    if args.dry_run:
        print(format_plan(plan))
        return 0
    if not device.startswith("cuda") or not torch.cuda.is_available():
        raise StylevjError("--suite gpu needs a CUDA GPU (torch sees none here); --dry-run lists what it would run")
    rows = run_plan(plan, Path(args.json))
    rows += goal_rows(rows)
    write_json(rows, [], Path(args.json))
    print(format_table(rows))
    log.info("wrote %s", args.json)
    return 0
