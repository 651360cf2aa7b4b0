"""The commands that draw a show or a generator into files, offline: `still`, `render`,
`preview`, `directions`, `project`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..errors import StylevjError
from .options import pick_device

log = logging.getLogger("stylevj")


STILL_PARAMS = ("truncation", "noise")  # what of the parameter table one picture has


def cmd_still(args: argparse.Namespace) -> int:
    """`stylevj still`: one picture of a seed; `--set truncation=` / `noise=` stand for --psi / --noise."""
    import torch

    from ..images import save_png, to_rgb8
    from ..models import load_generator
    from ..models.seeds import z_from_seed

    unused = sorted(set(args.set) - set(STILL_PARAMS))
    if unused:
        log.warning("--set %s: a still has no such knob (it takes %s)", ", ".join(unused), ", ".join(STILL_PARAMS))
    psi, noise = args.set.get("truncation", args.psi), args.set.get("noise", args.noise)
    G = load_generator(args.checkpoint or "demo", device=pick_device(args.device), fp16=False if args.fp32 else None)
    with torch.inference_mode():
        ws = G.mapping(z_from_seed(args.seed, G.z_dim, G.device), truncation_psi=psi)
        img = G.synthesis(ws, noise_mode=noise)[0]
    out = save_png(to_rgb8(img), args.out)
    log.info("wrote %s (seed %d, psi %g, %dx%d)", out, args.seed, psi, img.shape[2], img.shape[1])
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    """`stylevj render`: the show, frame-exact, to a video file (with a song, muxed)."""
    from ..models import load_generator
    from ..overlay import build_overlays, parse_panels
    from ..presets import default_preset_path, load_preset
    from ..record.encoder import SUFFIX, VideoWriter
    from ..record.render import loop_frames, output_path, render
    from ..show import player_from_preset

    preset = load_preset(args.preset or default_preset_path())
    if args.set:  # --set NAME=VALUE (checked at parse time) over the preset's values
        preset = preset.with_params(preset.params.replace(**args.set))
    track = None
    if args.audio:  # checked before the model loads: a bad file is one line, at once
        from ..audio.soundtrack import read_soundtrack

        # refuses an empty or silent file with the reason; the song streams (never held whole),
        # read through once first only when its length sets the video's
        track = read_soundtrack(args.audio, scan=args.seconds is None and args.loops is None)
    distributed = args.workers not in (None, 1) or args.ray_address is not None
    if args.resume and not distributed:
        raise StylevjError("--resume needs --workers above 1 (a single-process render has no ranges to resume)")
    if distributed:
        from ..record.distributed import check_reachable, require_ray

        require_ray()  # how to install it, and whether the cluster answers, before the model loads
        if args.ray_address:
            check_reachable(args.ray_address)
    out = Path(args.out).expanduser() if distributed else output_path(args.out, args.format, args.force)
    overlays = build_overlays(preset.overlay, None if args.overlay is None else parse_panels(args.overlay),
                              args.font, preset.base_dir)
    G = load_generator(args.checkpoint or preset.generator_source(), fp16=False if args.fp32 else None,
                       device="cpu" if distributed else pick_device(args.device))  # the workers load their own
    player = player_from_preset(preset, G)
    if args.loops is not None:
        try:
            frames = loop_frames(player, args.fps, args.loops)
        except ValueError as exc:
            raise StylevjError(str(exc)) from None
    elif args.seconds is None and track is not None:
        frames = track.frame_count(args.fps)  # the song's length
    else:
        frames = int(round((args.seconds if args.seconds is not None else 10.0) * args.fps))
    size = args.size or (G.resolution, G.resolution)
    if SUFFIX[args.format] and out.suffix.lower() != SUFFIX[args.format]:
        log.warning("%s: %s video is usually named *%s", out, args.format, SUFFIX[args.format])
    if distributed:
        from ..models.input_transform import features

        overlays.close()  # each worker draws its own
        return render_on_workers(args, preset, player, track, frames, size, out, features(G))
    before_frame = None
    if track is not None:
        from ..audio.mapping import frame_hook
        from ..models.input_transform import features
        from ..record.encoder import AudioVideoWriter

        before_frame = frame_hook(track, args.fps, frames, preset.audio, features(G))  # translate/rotate: StyleGAN3
    if track is not None and args.format != "png":
        writer = AudioVideoWriter(out, args.fps, size, args.format, args.quality,
                                  audio=track.planes(), audio_rate=track.sample_rate)
    else:
        if track is not None:
            log.warning("PNG frames carry no sound: %s moves with %s but does not contain it", out, args.audio)
        writer = VideoWriter(out, args.fps, size, args.format, args.quality)
    log.info("rendering %d frames (%.2f s at %g frames/s, %dx%d, %s) to %s", frames, frames / args.fps, args.fps, *size, args.format, out)
    try:
        overlays.start_telemetry()  # the GPU panel shows what the stage's shows: a render has no session to start it
        result = render(G, player, preset, writer, frames, args.fps, size, fit=args.fit, overlays=overlays.panels,
                        before_frame=before_frame)
    finally:
        overlays.close()
    if not result.whole:  # what the file really holds, read back from disk
        print(f"stylevj: {result.message(out)}", file=sys.stderr)
        return 130 if "Ctrl-C" in result.interrupted else 1
    log.info("wrote %s: %d frames, %.2f s", out, result.frames, result.seconds)
    return 0


def render_on_workers(args: argparse.Namespace, preset, player, track, frames: int, size: tuple[int, int], out: Path,
                      has: frozenset[str]) -> int:
    """`render --workers N` / `--ray-address`: the show split into frame ranges over Ray workers
    (`has`: what the generator offers the song's mappings)."""
    from ..overlay import parse_panels
    from ..record.distributed import Checkpoint, RenderJob, render_on_farm, start_farm
    from ..record.distributed_parts import Parts
    from ..record.render import output_path

    parts = Parts(out, args.format)
    if not (args.resume and parts.exists):
        if parts.folder.exists() and not args.force:
            raise StylevjError(f"{parts.folder}: holds an unfinished render (add --resume to finish it, or --force to start over)")
        output_path(args.out, args.format, args.force)
    drives = None
    if track is not None:
        from ..audio.mapping import frame_drives

        drives = list(frame_drives(track, args.fps, frames, preset.audio, has))  # the song walked once, here
        if args.format == "png":
            log.warning("PNG frames carry no sound: %s moves with %s but does not contain it", out, args.audio)
    source = str(args.checkpoint or preset.generator_source())
    checkpoint_file = None
    if source != "demo" and not source.startswith("arch:"):
        from ..checkpoints.catalog import resolve_checkpoint

        checkpoint_file = resolve_checkpoint(source)  # downloaded once, here; the workers get its bytes
    job = RenderJob(Checkpoint(source), player, preset, args.fps, frames, size, args.format, args.quality, args.fit,
                    None if args.overlay is None else tuple(parse_panels(args.overlay)), args.font, drives,
                    args.device, False if args.fp32 else None)
    workers = None if args.workers in (None, "auto") else args.workers
    farm = start_farm(job, workers, args.ray_address, checkpoint_file)
    log.info("rendering %d frames (%.2f s at %g frames/s, %dx%d, %s) to %s on %d Ray workers",
             frames, frames / args.fps, args.fps, *size, args.format, out, len(farm.actors))
    try:
        result = render_on_farm(job, farm, out, resume=args.resume,
                                audio=None if track is None or args.format == "png" else track.planes(),
                                audio_rate=0 if track is None else track.sample_rate)
    finally:
        farm.close()
    if not result.whole:
        print(f"stylevj: {result.interrupted or result.shortfall}", file=sys.stderr)
        return 130 if "Ctrl-C" in result.interrupted else 1
    log.info("wrote %s: %d frames, %.2f s", out, result.frames, result.seconds)
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    """`stylevj preview`: a contact sheet of a preset's path."""
    import numpy as np

    from ..images import save_png
    from ..models import load_generator
    from ..models.input_transform import apply_params, supported
    from ..presets import default_preset_path, load_preset
    from ..sheets.preview import contact_sheet
    from ..show import player_from_preset

    preset = load_preset(args.preset or default_preset_path())
    G = load_generator(preset.generator_source(), device=pick_device(args.device))
    player = player_from_preset(preset, G)
    apply_params(G, supported(preset.params, G))  # StyleGAN3's input transform, as the stage shows it
    sheet = contact_sheet(G, player, preset.generator.noise, per_segment=args.per_segment, columns=args.columns, thumb=args.thumb)
    out = save_png(np.asarray(sheet), args.out)
    log.info("wrote %s (%d keyframes, %d per segment)", out, len(player.keyframes), args.per_segment)
    return 0


def cmd_directions(args: argparse.Namespace) -> int:
    """`stylevj directions`: directions in W to a .npy file, and a sheet to name them."""
    from ..sheets.directions import make_directions

    make_directions(
        args.source, args.out, method=args.method, layers=args.layers, count=args.count, sheet=args.sheet,
        seed=args.seed, keyframe=args.keyframe, psi=args.psi, samples=args.samples, sample_seed=args.sample_seed,
        cache_dir=args.cache_dir, device=pick_device(args.device), thumb=args.thumb,
    )
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    """`stylevj project`: photos into W+ keyframes; the failed ones named in one line."""
    from ..projection import ProjectOptions, failure_summary, run_projection

    options = ProjectOptions(
        out_dir=Path(args.out), steps=args.steps, loss=args.loss, mse_weight=args.mse_weight, video=args.video,
        vgg_weights=args.vgg_weights, batch=args.batch, seed=args.seed,
    )
    outcomes = run_projection(args.images, args.checkpoint or "demo", options, device=pick_device(args.device))
    problem = failure_summary(outcomes)
    if problem:
        raise StylevjError(problem)  # the good images are written; this names the others
    return 0
