"""`stylevj bench`: how fast each part runs here, as a table and a JSON file.

Measured, never asserted: tests do not time things. Each row runs a part for a while after a
warm-up and reports the median frame time (CUDA timings synchronise per frame, so they include
the whole kernel queue): generator, upload, composite, overlay, the paced loop (alone, while
recording, and a long soak), OSC to applied, render, projection, the audio analysis.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from functools import partial
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import torch

from .errors import StylevjError
from .models import compile_synthesis, load_generator

log = logging.getLogger(__name__)


@dataclass
class Row:
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


def _time_frames(step, device: torch.device, seconds: float, min_frames: int = 3) -> list[float]:
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


def bench_generator(source: str, device: str, precision: str, seconds: float, batch: int = 1) -> Row:
    """Synthesis of one W+ batch (the per-frame work of the show; mapping is per keyframe).

    precision: fp32, fp16 (the checkpoint's fp16 layers) or fp16+cl (those in channels_last);
    a `+compile` suffix times `models.compile_synthesis` (batch 1; compile time in the note).
    """
    compiled = precision.endswith("+compile")
    base = precision.removesuffix("+compile")
    G = load_generator(source, device=device, fp16=base.startswith("fp16"), channels_last=base.endswith("+cl"))
    rng = torch.Generator().manual_seed(0)
    ws = G.mapping(torch.randn(batch, G.z_dim, generator=rng).to(G.device), truncation_psi=0.7)
    note = "" if base == "fp32" or G.uses_fp16 else "no fp16 layers in this checkpoint"
    if base.endswith("+cl"):
        note = (note + "; " if note else "") + "channels_last in fp16 layers"
    synthesis = G.synthesis
    if compiled:
        synthesis, why = compile_synthesis(G)
        note = (note + "; " if note else "") + why
        if synthesis is None:
            return Row("generator", source, str(G.device), precision, batch, 0, 0.0, 0.0, 0.0, note)
    with torch.inference_mode():
        times = _time_frames(lambda: synthesis(ws), G.device, seconds)
    median = statistics.median(times)
    return Row("generator", source, str(G.device), precision, batch, len(times), round(median, 3),
               round(min(times), 3), round(1000 * batch / median, 2), note)


def run_bench(sources: list[str], devices: list[str], seconds: float, compile: bool = False) -> list[Row]:
    rows = []
    for device in devices:
        precisions = ["fp32", "fp16", "fp16+cl"] if device.startswith("cuda") else ["fp32"]
        if compile:
            precisions.append("fp16+compile" if device.startswith("cuda") else "fp32+compile")
        for source in sources:
            for precision in precisions:
                log.info("bench: %s on %s, %s ...", source, device, precision)
                rows.append(bench_generator(source, device, precision, seconds))
                log.info("  %.2f ms/frame", rows[-1].ms_per_frame)
    return rows


@dataclass
class MotionRow:
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
    from .latent import ArcLength, CatmullRomPath, LinearPath
    from .presets import default_preset_path, load_preset
    from .show import load_keyframes

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


def host_rss_mb() -> float:
    """Resident memory of this process now (Linux /proc; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def gpu_mb(device: torch.device) -> float | None:
    return torch.cuda.memory_reserved(device) / 2**20 if device.type == "cuda" else None


def bench_loop(source: str, device: str, seconds: float, size: tuple[int, int] = (1920, 1080), soak: float = 0.0) -> list[Row]:
    """The whole show, headless at `size`: upload paths, compositing, overlay, and the paced loop.

    Rows: upload (each available path), composite, overlay (steady and re-printing), loop
    (refreshes/s at a 60 Hz pace, late refreshes = intervals over 1.5 periods), loop while
    recording, loop with the operator page open (its thumbnails streaming), with soak > 0 a long run's memory at start/end, and OSC message to applied.
    """
    from .display import Compositor, HeadlessSurface, choose_sink
    from .images import to_pixels
    from .presets import default_preset_path, load_preset
    from .record.recorder import LiveRecorder
    from .session import ShowSession, build_show

    G = load_generator(source, device=device)
    surface = HeadlessSurface(size)
    rows: list[Row] = []
    try:
        ctx = surface.ctx
        frame = to_pixels(G.synthesis(G.mapping(torch.randn(1, G.z_dim).to(G.device))),
                          torch.full((G.resolution, G.resolution, 4), 255, dtype=torch.uint8, device=G.device))
        for mode in ("host", "interop"):
            try:
                sink, why = choose_sink(mode, ctx, G.device)
            except StylevjError as exc:
                rows.append(Row(f"upload-{mode}", source, str(G.device), "rgba8", 1, 0, 0.0, 0.0, 0.0, str(exc)[:80]))
                continue
            times = _time_frames(lambda: (sink.upload(frame), ctx.finish()), G.device, min(seconds, 2.0))
            rows.append(_row(f"upload-{mode}", source, G, "rgba8", times, why))
            if mode == "host":
                compositor = Compositor(ctx, fit="contain")
                times = _time_frames(lambda: (compositor.draw(surface, sink.current), ctx.finish()), G.device, min(seconds, 2.0))
                rows.append(_row("composite", source, G, f"{size[0]}x{size[1]}", times, "contain, no overlay"))
                rows += bench_overlay(surface, compositor, sink.current, source, G, min(seconds, 2.0), rows[-1].ms_per_frame)
            sink.release()

        record_dir = Path(tempfile.mkdtemp(prefix="stylevj-bench-"))
        show = build_show(G, load_preset(default_preset_path()), surface, recorder=LiveRecorder(record_dir, fps=30))
        try:
            with ShowSession(show, close_surface=False):
                show.wait_for_first_frame()
                for label, duration in (("loop", seconds), ("loop+record", seconds), ("soak", soak)):
                    if duration > 0:
                        rows.append(_paced_loop(show, label, duration, source, G))
                rows.append(_page_loop(show, seconds, source, G))
                rows.append(_osc_latency(show, source, G))
        finally:
            shutil.rmtree(record_dir, ignore_errors=True)
    finally:
        surface.close()
    return rows


def _paced_loop(show, label: str, duration: float, source: str, G) -> Row:
    """Step the show at a 60 Hz pace for `duration` seconds; one row (recording for 'loop+record')."""
    from .show.commands import StartRecording, StopRecording

    if label == "loop+record":
        show.submit(StartRecording("bench"))
    rss0, gpu0 = host_rss_mb(), gpu_mb(G.device)
    intervals: list[float] = []
    late, shown0 = 0, show.stats.frames_shown
    period = 1 / 60
    start = previous = time.perf_counter()
    while previous - start < duration:
        show.step()
        show.surface.ctx.finish()
        time.sleep(max(0.0, period - (time.perf_counter() - previous)))
        now = time.perf_counter()
        intervals.append((now - previous) * 1000)
        late += (now - previous) > 1.5 * period
        previous = now
    elapsed = time.perf_counter() - start
    fps = (show.stats.frames_shown - shown0) / elapsed
    note = f"{len(intervals) / elapsed:.1f} refreshes/s, {late} late, generated {fps:.1f} frames/s shown, upload {show.sink.kind}"
    if label == "loop+record":
        note += f", recording 30 frames/s: {show.recorder.dropped} dropped"
        show.submit(StopRecording())
        show.step()
    if label == "soak":
        gpu = "" if gpu0 is None else f", GPU {gpu0:.0f} -> {gpu_mb(G.device):.0f} MB"
        note = f"host RSS {rss0:.0f} -> {host_rss_mb():.0f} MB{gpu}; {note}"
    return Row(label, source, str(G.device), "fp16" if G.uses_fp16 else "fp32", 1, len(intervals),
               round(statistics.median(intervals), 3), round(min(intervals), 3), round(len(intervals) / elapsed, 2), note)


def _page_loop(show, seconds: float, source: str, G) -> Row:
    """The paced loop with the operator page open (compare late refreshes with the `loop` row):
    a WebSocket client takes the state and the thumbnails; the note says what a thumbnail costs
    the render thread (shrink + copy queued) and the page thread (JPEG)."""
    import threading

    from websockets.sync.client import connect

    from .control import PageServer

    page = PageServer(show.submit, show.board, show.folders, port=0).start()
    tap, stop, received = show.thumbnail_tap, threading.Event(), {"state": 0, "jpeg": 0}
    cost0, taken0 = tap.cost_ms, tap.taken

    def watch() -> None:
        with connect(f"ws://{page.address[0]}:{page.address[1]}/ws") as ws:
            while not stop.is_set():
                try:
                    received["jpeg" if isinstance(ws.recv(timeout=0.2), bytes) else "state"] += 1
                except TimeoutError:
                    continue

    reader = threading.Thread(target=watch, name="bench-page", daemon=True)
    reader.start()
    try:
        deadline = time.perf_counter() + 10.0
        while received["jpeg"] == 0 and time.perf_counter() < deadline:  # thumbnails flowing
            show.step()
            time.sleep(1 / 60)
        jpeg0, jpeg_ms0 = page.counters.thumbnails, page.counters.jpeg_ms
        row = _paced_loop(show, "loop+page", seconds, source, G)
        taken, jpegs = max(tap.taken - taken0, 1), max(page.counters.thumbnails - jpeg0, 1)
        row.note += (f"; page open: {tap.taken - taken0} thumbnails, render thread {(tap.cost_ms - cost0) / taken:.2f} ms "
                     f"each, JPEG {(page.counters.jpeg_ms - jpeg_ms0) / jpegs:.2f} ms each on the page thread, "
                     f"{received['state']} state messages")
    finally:
        stop.set()
        reader.join(timeout=5)
        page.stop()
        show.step()
    return row


def bench_overlay(surface, compositor, image, source: str, G, seconds: float, composite_ms: float) -> list[Row]:
    """The overlay's cost per frame: the whole composite (picture + both panels), to compare
    with the `composite` row. `comp+overlay` is a steady frame (the panels' text unchanged, each
    panel one cached quad); `comp+ovl+print` re-prints the W+ every frame (what one frame in six
    costs at 10 Hz on 60 Hz). The GPU panel reads a running telemetry poller, as in a show."""
    from .overlay import PANELS, build_overlays
    from .presets import OverlaySettings

    size = f"{surface.size[0]}x{surface.size[1]}"
    try:
        overlays = build_overlays(OverlaySettings(), panels=PANELS)
    except StylevjError as exc:
        return [Row("comp+overlay", source, str(G.device), size, 1, 0, 0.0, 0.0, 0.0, str(exc)[:80])]
    ctx = surface.ctx
    tensor = overlays.panel("tensor")
    with torch.inference_mode():
        ws = [G.mapping(torch.randn(1, G.z_dim, device=G.device), truncation_psi=0.7)[0] for _ in range(2)]
    count = [0]

    def steady() -> None:
        compositor.draw(surface, image, overlays=overlays.panels)
        ctx.finish()

    def printing() -> None:
        count[0] += 1
        tensor.update(ws[count[0] % 2], float(count[0]))
        steady()

    overlays.poller.start()
    try:
        tensor.update(ws[0], 0.0)
        steady()  # builds the atlases
        deadline = time.perf_counter() + 2.0
        while overlays.poller.latest() is None and time.perf_counter() < deadline:
            time.sleep(0.01)
        rows = []
        for part, step, what in (("comp+overlay", steady, "tensor+gpu panels, text unchanged"),
                                 ("comp+ovl+print", printing, "W+ printed and laid out every frame")):
            row = _row(part, source, G, size, _time_frames(step, G.device, seconds), what)
            row.note = f"overlay {row.ms_per_frame - composite_ms:+.2f} ms over composite; {what}"
            rows.append(row)
        return rows
    finally:
        overlays.close()
        for panel in overlays.panels:
            panel.release()


def bench_render(source: str, device: str, frames: int = 60, fps: float = 30.0) -> Row:
    """Offline render speed: frames/s of `stylevj render` (generate, draw, encode H.264) at the generator's size."""
    from .presets import default_preset_path, load_preset
    from .record import VideoWriter
    from .record.render import render
    from .show import player_from_preset

    G = load_generator(source, device=device)
    preset = load_preset(default_preset_path())
    folder = Path(tempfile.mkdtemp(prefix="stylevj-bench-"))
    try:
        size = (G.resolution, G.resolution)
        start = time.perf_counter()
        result = render(G, player_from_preset(preset, G), preset, VideoWriter(folder / "r.mp4", fps, size), frames, fps, size)
        elapsed = time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return Row("render", source, str(G.device), "h264", 1, result.frames, round(1000 * elapsed / max(result.frames, 1), 3),
               0.0, round(result.frames / elapsed, 2), f"{size[0]}x{size[1]}, generate + draw + encode overlapped")


def _osc_latency(show, source: str, G, trials: int = 30) -> Row:
    """Display refreshes from an OSC message leaving a socket to its change applied (60 Hz pace)."""
    import socket

    from pythonosc.osc_message_builder import OscMessageBuilder

    from .control import OscServer

    osc = OscServer(show.submit, show.board, port=0).start()
    frames: list[float] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            for i in range(trials):
                value = 0.5 + 0.01 * i
                builder = OscMessageBuilder(address="/stylevj/truncation")
                builder.add_arg(value)
                start = show.stats.refreshes
                client.sendto(builder.build().dgram, osc.address)
                deadline = time.perf_counter() + 1.0
                while abs(show.player.truncation - value) > 1e-4 and time.perf_counter() < deadline:
                    tick = time.perf_counter()
                    show.step()
                    show.surface.ctx.finish()
                    time.sleep(max(0.0, 1 / 60 - (time.perf_counter() - tick)))
                frames.append(float(show.stats.refreshes - start))
    finally:
        osc.stop()
    median = statistics.median(frames)
    return Row("osc->applied", source, str(G.device), "frames", 1, len(frames), median, min(frames), 0.0,
               f"display refreshes from send to applied (max {max(frames):.0f}); ms columns are frames here")


def _row(part: str, source: str, G, precision: str, times: list[float], note: str) -> Row:
    median = statistics.median(times)
    return Row(part, source, str(G.device), precision, 1, len(times), round(median, 3), round(min(times), 3),
               round(1000 / median, 2), note)


def bench_projection(devices: list[str], sources: tuple[str, ...] = ("demo", "arch:ffhq-1024"), steps: int = 3,
                     vgg_weights: str | None = None) -> list[Row]:
    """`stylevj project` speed: optimisation steps per second for one image (256 and 1024 px).

    The loss is the default one: VGG16 perceptual (at 256 px) plus pixel MSE when VGG16 weights
    are found, else pixel MSE alone (the note says which). One warm-up step is not counted.
    """
    from .projection import PerceptualDistance, ProjectionSettings, find_weights, load_vgg16, project

    weights = find_weights(vgg_weights)
    rows = []
    for device in devices:
        for source in sources:
            G = load_generator(source, device=device, fp16=False)
            perceptual = PerceptualDistance(load_vgg16(weights, G.device)).to(G.device) if weights else None
            z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)).to(G.device)
            target = G.synthesis(G.mapping(z), noise_mode="const").clamp(-1, 1)
            ticks: list[float] = []

            def tick(_info, device=G.device, ticks=ticks) -> None:
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                ticks.append(time.perf_counter())

            settings = ProjectionSettings(steps=steps + 1, loss="both" if perceptual else "mse")
            log.info("bench: projection %s on %s, %d steps ...", source, device, steps)
            project(G, target, settings, perceptual, on_step=tick, spread=1.0)
            times = [1000 * (b - a) for a, b in zip(ticks, ticks[1:])]
            note = "loss both (VGG16 at 256 px + MSE)" if perceptual else "loss mse (no VGG16 weights found)"
            rows.append(_row("projection", source, G, "fp32", times, note + "; frames/s = steps/s"))
    return rows


def format_table(rows: list[Row]) -> str:
    head = f"{'part':<14} {'source':<16} {'device':<7} {'prec':<9} {'frames':>6} {'ms/frame':>9} {'min ms':>8} {'frames/s':>9}  note"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.part:<14} {r.source:<16} {r.device:<7} {r.precision:<9} {r.frames:>6} {r.ms_per_frame:>9.2f}"
            f" {r.ms_min:>8.2f} {r.fps:>9.2f}  {r.note}"
        )
    return "\n".join(lines)


def machine_info() -> dict:
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
    data = {"machine": machine_info(), "rows": [asdict(r) for r in rows], "motion": [asdict(m) for m in motion]}
    try:
        path.write_text(json.dumps(data, indent=2) + "\n")
    except OSError as exc:
        raise StylevjError(f"{path}: cannot write benchmark results ({exc.strerror})") from None


def bench_knobs(source: str, device: str, seconds: float) -> list[Row]:
    """Per-frame cost of knobs with meaning: eight direction controls gliding (their summed W+
    offset, on the render thread), and the synthesis with a bend next to the plain one."""
    from .latent.controls import Controls, Knob
    from .latent.directions import direction_offset, sefa
    from .models.bending import Bend

    G = load_generator(source, device=device)
    precision = "fp16" if G.uses_fp16 else "fp32"
    w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)).to(G.device), truncation_psi=0.7)
    vectors = sefa(G).vectors[:8].to(G.device)
    controls = Controls([Knob(f"k{i}", -3.0, 3.0, 0.25, unit_offset=direction_offset(v, 1.0, None, G.num_ws))
                         for i, v in enumerate(vectors)])
    flip = [3.0]

    def knobs() -> None:
        flip[0] = -flip[0]  # every frame a jump across the range: all eight always gliding
        for name in controls.names:
            controls.set(name, flip[0])
        controls.advance(1 / 60)
        offset = controls.offset()  # None on the frame all pass through 0
        if offset is not None:
            w[0] + offset

    rows = [_row("controls x8", source, G, "fp32", _time_frames(knobs, G.device, seconds),
                 "eight direction controls gliding: the summed W+ offset per frame")]
    res = G.cfg.resolutions[len(G.cfg.resolutions) // 2]
    bend = (Bend(res, rotate=30.0, zoom=1.2),)
    with torch.inference_mode():
        plain = _time_frames(lambda: G.synthesis(w), G.device, seconds)
        bent = _time_frames(lambda: G.synthesis(w, bend=bend), G.device, seconds)
    rows.append(_row("bend", source, G, precision, bent,
                     f"rotate + zoom at {res} px; the same synthesis unbent: {statistics.median(plain):.3f} ms"))
    return rows


def bench_audio(seconds: float = 8.0, block: int = 256) -> list[Row]:
    """The music's path: the analysis time per device block (256 samples, 5.3 ms of sound) on a
    synthetic 120 BPM kick pattern, and how late an onset is seen (the audio time from a kick to
    its onset event). The drive it makes applies at the next frame boundary: add at most one
    display frame, plus one generation, for the picture."""
    import numpy as np

    from .audio import SAMPLE_RATE, AudioAnalyser

    rate = SAMPLE_RATE
    kicks = np.arange(0.25, seconds - 0.2, 0.5)
    t = np.arange(int(0.12 * rate)) / rate
    kick = (np.sin(2 * np.pi * (50 * t + 3 * (1 - np.exp(-t / 0.03)))) * np.exp(-t / 0.05)).astype(np.float32)
    x = (0.01 * np.random.default_rng(0).standard_normal(int(seconds * rate))).astype(np.float32)
    for k in kicks:
        i = int(k * rate)
        x[i:i + len(kick)] += 0.6 * kick[: len(x) - i]
    analyser, times, delays, seen = AudioAnalyser(), [], [], 0
    for start in range(0, len(x), block):
        tick = time.perf_counter()
        features = analyser.process(x[start:start + block])
        times.append((time.perf_counter() - tick) * 1000)
        if features.onset_count > seen:
            seen = features.onset_count
            before = kicks[kicks <= features.time]
            if len(before):
                delays.append(float(features.time - before[-1]) * 1000)
    median = statistics.median(times)
    rows = [Row("audio-analysis", "120 BPM kicks", "cpu", "float32", block, len(times), round(median, 4),
                round(min(times), 4), round(1000 / median, 1), f"per {block}-sample block ({block / rate * 1000:.1f} ms of sound)")]
    if delays:
        rows.append(Row("audio-onset", "120 BPM kicks", "cpu", "float32", block, len(delays),
                        round(statistics.median(delays), 2), round(min(delays), 2), 0.0,
                        "ms of audio from a kick to its onset event; applied at the next frame boundary"))
    return rows


# ---- the GPU suite: one device run proves the performance goal ----------------------------------

GPU_SOURCE = "arch:ffhq-1024"  # config-f FFHQ at 1024 px (random weights: speed does not depend on them)
WARMUPS = 20  # frames before timing: cuDNN autotuning, lazy buffers, clocks up
PIPELINE = 50  # frames queued back to back per throughput sample


@dataclass(frozen=True)
class Planned:
    """One step of a suite: what it measures, its time budget, and how to run it (rows out)."""

    name: str
    budget_s: float
    proves: str
    run: Callable[[], list[Row]]


def _cuda_timing(step: Callable[[], object], stream: torch.cuda.Stream, seconds: float,
                 warmups: int = WARMUPS) -> tuple[list[float], list[float]]:
    """CUDA-event timing of `step` on `stream`: (latency per frame, synchronised each frame;
    pipelined ms per frame, PIPELINE frames queued back to back). Both in ms, after `warmups`."""
    def timed(frames: int) -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(stream)
        for _ in range(frames):
            step()
        end.record(stream)
        end.synchronize()
        return start.elapsed_time(end) / frames

    for _ in range(warmups):
        step()
    stream.synchronize()
    latency: list[float] = []
    deadline = time.perf_counter() + seconds / 2
    while len(latency) < 20 or time.perf_counter() < deadline:
        latency.append(timed(1))
    pipelined: list[float] = []
    deadline = time.perf_counter() + seconds / 2
    while len(pipelined) < 3 or time.perf_counter() < deadline:
        pipelined.append(timed(PIPELINE))
    return latency, pipelined


def _timing_rows(part: str, source: str, G, precision: str, latency: list[float], pipelined: list[float],
                 note: str) -> list[Row]:
    rows = []
    for kind, times in (("latency", latency), ("throughput", pipelined)):
        median = statistics.median(times)
        what = "one frame, waited for" if kind == "latency" else f"{PIPELINE} frames queued back to back"
        rows.append(Row(f"{part} {kind}", source, str(G.device), precision, 1, len(times), round(median, 3),
                        round(min(times), 3), round(1000 / median, 2), f"{what}; CUDA events; {note}"))
    return rows


def bench_frame(source: str, device: str, precision: str, graph: bool, seconds: float,
                compile: bool = False) -> list[Row]:
    """One show frame on CUDA at batch 1: synthesis + RGBA8 conversion + sanity check, eagerly or
    replayed as the worker's CUDA graph (show/graphs.py), on a side stream like the worker's.
    `compile`: the synthesis `stylevj run --compile` uses (parity-checked; one row saying why if not)."""
    from .images import to_pixels
    from .show.graphs import capture_frame, sanity

    G = load_generator(source, device=device, fp16=precision == "fp16")
    if G.device.type != "cuda":
        raise StylevjError("bench_frame times CUDA work: give a CUDA device")
    label = precision + ("+compile" if compile else "") + ("+graph" if graph else "")
    rng = torch.Generator().manual_seed(0)
    stream = torch.cuda.Stream(G.device)
    with torch.inference_mode(), torch.cuda.stream(stream):
        synthesis, note = partial(G.synthesis, noise_mode="const"), "eager (one launch per op)"
        if compile:
            synthesis, note = compile_synthesis(G)
            if synthesis is None:
                return [Row("frame", source, str(G.device), label, 1, 0, 0.0, 0.0, 0.0, note)]
        w_in = G.mapping(torch.randn(1, G.z_dim, generator=rng).to(G.device), truncation_psi=0.7).contiguous()
        if graph:
            step = capture_frame(G, "const", w_in, synthesis=synthesis).replay
            note = "CUDA graph replay" + ("; " + note if compile else "")
        else:
            pixels = torch.full((G.resolution, G.resolution, 4), 255, dtype=torch.uint8, device=G.device)

            def step() -> None:
                img = synthesis(w_in)
                to_pixels(img, pixels)
                sanity(img)

        latency, pipelined = _cuda_timing(step, stream, seconds)
    return _timing_rows("frame", source, G, label, latency, pipelined, note)


def nvidia_state(G) -> dict[str, torch.Tensor]:
    """Our generator's weights under the names of NVIDIA's stylegan2-ada-pytorch modules (the
    inverse of models/nvidia.py's renaming: same shapes, same equalised-lr storage)."""
    resolutions = G.cfg.resolutions
    out = {}
    for key, tensor in G.state_dict().items():
        parts = key.split(".")
        if parts[:2] == ["mapping", "layers"]:
            key = ".".join(["mapping", f"fc{parts[2]}", *parts[3:]])
        elif parts[:2] == ["synthesis", "blocks"]:
            key = ".".join(["synthesis", f"b{resolutions[int(parts[2])]}", *parts[3:]])
        out[key] = tensor
    return out


def nvidia_generator(directory: str | Path, G):
    """NVIDIA's own Generator (imported from the user's stylegan2-ada-pytorch checkout at
    `directory`, never copied here) holding G's weights, on G's device, in eval mode."""
    import importlib
    import sys

    root = Path(directory).expanduser().resolve()
    if not (root / "training" / "networks.py").is_file() or not (root / "torch_utils").is_dir():
        raise StylevjError(f"--reference {directory}: not a stylegan2-ada-pytorch checkout (no training/networks.py)")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    networks = importlib.import_module("training.networks")
    cfg = G.cfg
    theirs = networks.Generator(
        z_dim=cfg.z_dim, c_dim=0, w_dim=cfg.w_dim, img_resolution=cfg.resolution, img_channels=cfg.img_channels,
        mapping_kwargs=dict(num_layers=cfg.mapping_layers, layer_features=cfg.hidden, lr_multiplier=cfg.mapping_lr),
        synthesis_kwargs=dict(channel_base=cfg.channels[-1] * cfg.resolution, channel_max=max(cfg.channels),
                              num_fp16_res=cfg.num_fp16_res, conv_clamp=cfg.conv_clamp),
    )
    try:
        missing, unexpected = theirs.load_state_dict(nvidia_state(G), strict=False)
    except RuntimeError as exc:  # e.g. the demo's channels, which no channel_base / channel_max gives
        raise StylevjError(f"--reference: {G.source or 'this generator'} cannot be built as NVIDIA's generator "
                           f"({str(exc).splitlines()[1].strip() if len(str(exc).splitlines()) > 1 else exc})") from None
    missing = [k for k in missing if not k.endswith("resample_filter")]  # their filter buffers; ours is built in
    if missing or unexpected:
        raise StylevjError(f"--reference: weights do not map onto NVIDIA's generator (missing {missing[:3]}, "
                           f"unexpected {unexpected[:3]})")
    return theirs.eval().requires_grad_(False).to(G.device)


def _nvidia_plugins(directory: str | Path) -> str | None:
    """Why NVIDIA's compiled CUDA ops are not in use (their code falls back to slow reference
    ops with a warning), or None when both bias_act and upfirdn2d plugins are loaded."""
    import importlib

    missing = [name for name in ("bias_act", "upfirdn2d")  # their module state after first use (no rebuild)
               if getattr(importlib.import_module(f"torch_utils.ops.{name}"), "_plugin", None) is None]
    return f"NVIDIA's {', '.join(missing)} plugin did not build (slow reference ops)" if missing else None


def bench_reference(directory: str | Path, source: str, device: str, seconds: float) -> list[Row]:
    """The same frame (fp16 layers, synthesis + RGBA8) through NVIDIA's generator with its compiled
    ops, on the same weights, in this run; refused (one row saying why) if the ops fell back."""
    from .images import to_pixels

    G = load_generator(source, device=device, fp16=True)
    theirs = nvidia_generator(directory, G)
    rng = torch.Generator().manual_seed(0)
    stream = torch.cuda.Stream(G.device)
    with torch.inference_mode(), torch.cuda.stream(stream):
        ws = G.mapping(torch.randn(1, G.z_dim, generator=rng).to(G.device), truncation_psi=0.7).contiguous()
        pixels = torch.full((G.resolution, G.resolution, 4), 255, dtype=torch.uint8, device=G.device)
        ours_img = G.synthesis(ws, noise_mode="const")
        theirs_img = theirs.synthesis(ws, noise_mode="const")  # builds NVIDIA's plugins on first use
        stream.synchronize()
        why_not = _nvidia_plugins(directory)
        if why_not is not None:
            return [Row("frame nvidia", source, str(G.device), "fp16", 1, 0, 0.0, 0.0, 0.0, f"refused: {why_not}")]
        diff = float((ours_img.float() - theirs_img.float()).abs().max())
        latency, pipelined = _cuda_timing(lambda: to_pixels(theirs.synthesis(ws, noise_mode="const"), pixels), stream, seconds)
    return _timing_rows("frame nvidia", source, G, "fp16", latency, pipelined,
                        f"NVIDIA's generator, compiled ops, same weights (max |ours - theirs| {diff:.4f})")


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
