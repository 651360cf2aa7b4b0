"""The `stylevj` command: one entry point, a subcommand per job.

User errors (`StylevjError`) are caught once, here: one line on stderr, exit status 2, no
traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from . import __version__
from .choices import (BENCH_SOURCES, DIRECTION_METHODS, FITS, FORMATS, GANSPACE_SAMPLES, LOSSES, NAMED_RANGES,
                      NOISE_MODES, OSC_PORT, PAGE_PORT, SINK_MODES)
from .errors import StylevjError

log = logging.getLogger("stylevj")


def pick_device(name: str) -> str:
    """'auto' is CUDA when present, else CPU; an explicit 'cuda' without CUDA is a user error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise StylevjError(f"device '{name}' asked for, but this machine has no CUDA GPU (use --device cpu)")
    return name


def cmd_still(args: argparse.Namespace) -> int:
    import torch

    from .images import save_png, to_rgb8
    from .models import load_generator
    from .models.seeds import z_from_seed

    G = load_generator(args.checkpoint or "demo", device=pick_device(args.device), fp16=False if args.fp32 else None)
    with torch.inference_mode():
        ws = G.mapping(z_from_seed(args.seed, G.z_dim, G.device), truncation_psi=args.psi)
        img = G.synthesis(ws, noise_mode=args.noise)[0]
    out = save_png(to_rgb8(img), args.out)
    log.info("wrote %s (seed %d, psi %g, %dx%d)", out, args.seed, args.psi, img.shape[2], img.shape[1])
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .models import load_generator, save_native

    out = Path(args.out)
    if out.exists() and not args.force:
        raise StylevjError(f"{out}: already exists (add --force to replace it)")
    if not out.parent.is_dir():
        raise StylevjError(f"{out}: folder {out.parent} does not exist")
    G = load_generator(args.source)
    save_native(G, out)
    log.info("wrote %s (%s)", out, G.cfg.describe())
    return 0


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 1920x1080, got {text!r}") from None
    if not (16 <= width <= 16384 and 16 <= height <= 16384):
        raise argparse.ArgumentTypeError(f"size {width}x{height} is out of range")
    return width, height


def cmd_run(args: argparse.Namespace) -> int:
    from .control import default_journal_path
    from .session import RunOptions, run_show

    run_show(RunOptions(
        preset=args.preset, checkpoint=args.checkpoint, device=pick_device(args.device), fp32=args.fp32,
        headless=args.headless, fullscreen=args.fullscreen, monitor=args.monitor, size=args.size, fit=args.fit,
        crossfade=args.crossfade, upload=args.upload, seconds=args.seconds, frames=args.frames, snapshot=args.snapshot,
        overlay=args.overlay, font=args.font, osc=not args.no_osc, osc_host=args.osc_host, osc_port=args.osc_port,
        osc_allow=tuple(args.osc_allow.split(",")) if args.osc_allow else (), osc_reply=args.osc_reply,
        control=not args.no_control, control_host=args.control_host, control_port=args.control_port,
        presets_dir=args.presets_dir, keyframes_dir=args.keyframes_dir,
        journal=Path(args.journal).expanduser() if args.journal else default_journal_path(), resume=args.resume,
        cues=args.cues, record_dir=args.record_dir, record_fps=args.record_fps,
        audio=args.audio, audio_in=args.audio_in, audio_output=not args.mute, cuda_graphs=not args.no_cuda_graphs,
        compile=args.compile,
    ))
    return 0


def cmd_osc(args: argparse.Namespace) -> int:
    if args.osc_command == "list":
        from .control import reference  # the table is made from the show's commands

        print(reference())
        return 0
    return _osc_send(args)


def _osc_send(args: argparse.Namespace) -> int:
    """Send one message; with --wait, print what comes back (state, errors) for that long."""
    import socket
    import time

    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder

    builder = OscMessageBuilder(address=args.address)
    for text in args.args:
        builder.add_arg(_osc_value(text))
    replies, parts = 0, {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(builder.build().dgram, (args.host, args.port))
        except OSError as exc:
            raise StylevjError(f"cannot send to {args.host}:{args.port} ({exc.strerror or exc})") from None
        deadline = time.monotonic() + args.wait
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, _ = sock.recvfrom(65536)
            except (socket.timeout, TimeoutError):
                break
            except ConnectionRefusedError:  # ICMP: nothing listens on that port
                break
            message = OscMessage(data)
            replies += 1
            if message.address == "/stylevj/state/part":  # a large state, in parts: print it whole
                index, count, text = message.params
                parts[index] = text
                if len(parts) == count:
                    print("/stylevj/state", "".join(parts[i] for i in range(count)))
                continue
            stream = sys.stderr if message.address == "/stylevj/error" else sys.stdout
            print(message.address, *message.params, file=stream)
    if args.wait > 0 and replies == 0:
        print(f"stylevj: no show answered on {args.host}:{args.port} within {args.wait:g} s", file=sys.stderr)
        return 1
    return 0


def _osc_value(text: str) -> object:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def cmd_render(args: argparse.Namespace) -> int:
    from .models import load_generator
    from .overlay import build_overlays, parse_panels
    from .presets import default_preset_path, load_preset
    from .record.encoder import SUFFIX, VideoWriter
    from .record.render import loop_frames, output_path, render
    from .show import player_from_preset

    preset = load_preset(args.preset or default_preset_path())
    clip = track = None
    if args.audio:  # read before the model loads: a bad file is one line, at once
        from .audio.soundtrack import read_soundtrack

        track = read_soundtrack(args.audio)  # refuses an empty or silent file with the reason
        clip = track.clip()
    out = output_path(args.out, args.format, args.force)
    overlays = build_overlays(preset.overlay, None if args.overlay is None else parse_panels(args.overlay),
                              args.font, preset.base_dir)
    G = load_generator(args.checkpoint or preset.generator_source(), device=pick_device(args.device),
                       fp16=False if args.fp32 else None)
    player = player_from_preset(preset, G)
    if args.loops is not None:
        try:
            frames = loop_frames(player, args.fps, args.loops)
        except ValueError as exc:
            raise StylevjError(str(exc)) from None
    elif args.seconds is None and clip is not None:
        frames = clip.frame_count(args.fps)  # the song's length
    else:
        frames = int(round((args.seconds if args.seconds is not None else 10.0) * args.fps))
    size = args.size or (G.resolution, G.resolution)
    if SUFFIX[args.format] and out.suffix.lower() != SUFFIX[args.format]:
        log.warning("%s: %s video is usually named *%s", out, args.format, SUFFIX[args.format])
    before_frame = None
    if clip is not None:
        from .audio.mapping import frame_hook
        from .record.encoder import AudioVideoWriter

        before_frame = frame_hook(clip, args.fps, frames, preset.audio)
    if track is not None and args.format != "png":
        writer = AudioVideoWriter(out, args.fps, size, args.format, args.quality,
                                  audio=track.samples, audio_rate=track.sample_rate)
    else:
        if track is not None:
            log.warning("PNG frames carry no sound: %s moves with %s but does not contain it", out, args.audio)
        writer = VideoWriter(out, args.fps, size, args.format, args.quality)
    log.info("rendering %d frames (%.2f s at %g frames/s, %dx%d, %s) to %s", frames, frames / args.fps, args.fps, *size, args.format, out)
    try:
        result = render(G, player, preset, writer, frames, args.fps, size, fit=args.fit, overlays=overlays.panels,
                        before_frame=before_frame)
    finally:
        overlays.close()
    if result.interrupted:
        print(f"stylevj: {result.interrupted}; {out} holds the {result.frames} frames ({result.seconds:.2f} s) rendered so far",
              file=sys.stderr)
        return 130 if "Ctrl-C" in result.interrupted else 1
    log.info("wrote %s: %d frames, %.2f s", out, result.frames, result.seconds)
    return 0


def cmd_directions(args: argparse.Namespace) -> int:
    from .direction_sheet import make_directions

    make_directions(
        args.source, args.out, method=args.method, layers=args.layers, count=args.count, sheet=args.sheet,
        seed=args.seed, keyframe=args.keyframe, psi=args.psi, samples=args.samples, sample_seed=args.sample_seed,
        cache_dir=args.cache_dir, device=pick_device(args.device), thumb=args.thumb,
    )
    return 0


def cmd_audio(args: argparse.Namespace) -> int:
    from .audio import list_input_devices

    devices = list_input_devices()
    if not devices:
        print("no sound input device found")
    for device in devices:
        print(device.describe())
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .catalog import describe_catalog, is_remote, resolve_checkpoint

    if not args.fetch:
        print(describe_catalog())
        return 0
    for source in args.fetch:
        if not is_remote(source):
            raise StylevjError(f"{source}: not a published name or an https URL (stylevj models lists the names)")
        print(f"{source}: {resolve_checkpoint(source)}")
    return 0


def cmd_monitors(args: argparse.Namespace) -> int:
    from .display import list_monitors

    monitors = list_monitors()
    if not monitors:
        print("no monitors found")
    for m in monitors:
        modes = ", ".join(str(mode) for mode in m.modes[-4:])
        print(f"{m.index}: {m.name}  current {m.current}  (modes: {modes})")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from .doctor import diagnose, format_report, show_can_run

    if not args.verbose:  # the report says what the checks found; -v adds their log lines
        logging.getLogger().setLevel(logging.WARNING)
    findings = diagnose(args.device, osc_port=args.osc_port, control_port=args.control_port)
    print(format_report(findings))
    return 0 if show_can_run(findings) else 1


def cmd_preview(args: argparse.Namespace) -> int:
    import numpy as np

    from .images import save_png
    from .models import load_generator
    from .presets import default_preset_path, load_preset
    from .preview import contact_sheet
    from .show import player_from_preset

    preset = load_preset(args.preset or default_preset_path())
    G = load_generator(preset.generator_source(), device=pick_device(args.device))
    player = player_from_preset(preset, G)
    sheet = contact_sheet(G, player, preset.generator.noise, per_segment=args.per_segment, columns=args.columns, thumb=args.thumb)
    out = save_png(np.asarray(sheet), args.out)
    log.info("wrote %s (%d keyframes, %d per segment)", out, len(player.keyframes), args.per_segment)
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    from .projection import ProjectOptions, failure_summary, run_projection

    options = ProjectOptions(
        out_dir=Path(args.out), steps=args.steps, loss=args.loss, mse_weight=args.mse_weight, video=args.video,
        vgg_weights=args.vgg_weights, batch=args.batch, seed=args.seed,
    )
    outcomes = run_projection(args.images, args.checkpoint or "demo", options, device=pick_device(args.device))
    problem = failure_summary(outcomes)
    if problem:
        raise StylevjError(problem)  # the good images are written; this names the others
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench_audio, bench_knobs, bench_loop, bench_motion, bench_projection, bench_render, format_motion, format_table, run_bench, write_json

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
    if args.projection:
        rows += bench_projection(devices)
    rows += bench_audio()
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

    from .bench import GPU_SOURCE, format_plan, format_table, goal_rows, gpu_suite, run_plan, write_json

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


def _psi(text: str) -> float:
    value = _number(text)
    if not -2.0 <= value <= 2.0:
        raise argparse.ArgumentTypeError(f"truncation psi must be within [-2, 2], got {text}")
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port must be within [0, 65535], got {text}")
    return value


SOURCE_HELP = ("generator: a .pkl/.pt/.safetensors file, a published name such as 'ffhq-1024' or an https URL "
               "(downloaded once; stylevj models), 'demo' (built in) or 'arch:ffhq-1024' (random weights)")


def _parents() -> dict[str, argparse.ArgumentParser]:
    """Options several commands share, defined once."""
    device = argparse.ArgumentParser(add_help=False)
    device.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    generator = argparse.ArgumentParser(add_help=False, parents=[device])
    generator.add_argument("--checkpoint", metavar="SOURCE", help=SOURCE_HELP + " (default: the preset's, or demo)")
    generator.add_argument("--fp32", action="store_true", help="no fp16 layers even on CUDA")
    preset = argparse.ArgumentParser(add_help=False)
    preset.add_argument("preset", nargs="?", help="preset TOML (default: the built-in default show)")
    look = argparse.ArgumentParser(add_help=False)
    look.add_argument("--fit", choices=FITS, default="contain", help="how the picture keeps its aspect")
    look.add_argument("--overlay", metavar="PANELS", help="overlay panels shown at start: tensor,gpu or none "
                      "(default: the preset's [overlay] flags); O hides and shows them")
    look.add_argument("--font", metavar="TTF", help="monospace TrueType font for the overlay (default: DejaVu Sans Mono from matplotlib)")
    return {"device": device, "generator": generator, "preset": preset, "look": look}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylevj", description="A live StyleGAN2 instrument for the stage.")
    parser.add_argument("--version", action="version", version=f"stylevj {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = _parents()
    generator, preset, look = shared["generator"], shared["preset"], shared["look"]

    p = sub.add_parser("still", parents=[generator], help="render one picture from a seed")
    p.add_argument("--seed", type=int, required=True, help="latent seed (same z as NVIDIA's generate.py)")
    p.add_argument("--psi", type=_psi, default=1.0, help="truncation toward w_avg (1 = none, 0.7 typical)")
    p.add_argument("--noise", choices=NOISE_MODES, default="const", help="noise inputs")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.set_defaults(func=cmd_still)

    p = sub.add_parser("convert", help="write any supported checkpoint as stylevj .safetensors")
    p.add_argument("source", help=SOURCE_HELP)
    p.add_argument("out", help=".safetensors file to write")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("run", parents=[preset, generator, look], help="play a show on screen (or headless)")
    p.add_argument("--fullscreen", action="store_true", help="start fullscreen (F toggles)")
    p.add_argument("--monitor", help="monitor index or name for fullscreen (see 'stylevj monitors')")
    p.add_argument("--size", type=_size, help="window or headless size WxH (default 1280x720; headless: the generator's)")
    p.add_argument("--crossfade", action="store_true", help="cross-fade between generated frames when the generator is slower than the display")
    p.add_argument("--upload", choices=SINK_MODES, default="auto", help="frame upload path (the log says which runs)")
    p.add_argument("--no-cuda-graphs", action="store_true",
                   help="on CUDA, launch every frame's kernels one by one instead of replaying a captured CUDA graph")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the generator before the show (tens of seconds; used only if it draws what "
                   "eager draws; see docs/performance.md for where it wins)")
    p.add_argument("--headless", action="store_true", help="no window: render offscreen (EGL)")
    p.add_argument("--seconds", type=_positive, help="stop after this long")
    p.add_argument("--frames", type=_count, help="stop after this many display refreshes")
    p.add_argument("--snapshot", metavar="PNG", help="save the last frame shown")
    p.add_argument("--osc-port", type=_port, help=f"OSC UDP port (default: the preset's, {OSC_PORT})")
    p.add_argument("--osc-host", help="listen address (default 127.0.0.1; a LAN address needs --osc-allow)")
    p.add_argument("--osc-allow", metavar="CIDR,...", help="senders allowed, e.g. 192.168.1.0/24")
    p.add_argument("--osc-reply", metavar="HOST:PORT", help="send feedback here (TouchDesigner's OSC In)")
    p.add_argument("--no-osc", action="store_true", help="no OSC listener")
    p.add_argument("--control-port", type=_port,
                   help=f"the operator page's port (default {PAGE_PORT}, or a free one when that is taken)")
    p.add_argument("--control-host", help="the operator page's address (default 127.0.0.1; any other needs the token "
                                          "the log prints in the URL)")
    p.add_argument("--no-control", action="store_true", help="no operator page")
    p.add_argument("--presets-dir", help="folder OSC preset/load and preset/save may use (default: the preset's)")
    p.add_argument("--keyframes-dir", help="folder OSC keyframe files come from (default: PRESETS_DIR/keyframes)")
    p.add_argument("--journal", metavar="TOML", help="live-edit journal (default ~/.local/state/stylevj/journal.toml)")
    p.add_argument("--resume", action="store_true", help="restore the show from the journal after a crash or restart")
    p.add_argument("--cues", action="store_true", help="follow the keyframes' cue times (at = ...) from the start")
    p.add_argument("--record-dir", default="recordings", help="where key R and OSC record/start write videos")
    p.add_argument("--record-fps", type=_positive, default=30.0, help="frame rate of live recordings (wall clock)")
    sound = p.add_mutually_exclusive_group()
    sound.add_argument("--audio", metavar="FILE", help="play a song (any format PyAV reads) and move with it, in sync")
    sound.add_argument("--audio-in", metavar="NAME|INDEX", help="move with a sound input (see 'stylevj audio devices')")
    p.add_argument("--mute", action="store_true", help="with --audio: do not play the song; its clock still drives the show")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("osc", help="the OSC address table, and a small sender for trying things")
    osc_sub = p.add_subparsers(dest="osc_command", required=True, metavar="list|send")
    osc_sub.add_parser("list", help="print every address with its arguments")
    q = osc_sub.add_parser("send", help="send one message, e.g. stylevj osc send /stylevj/speed 0.5")
    q.add_argument("address")
    q.add_argument("args", nargs="*", help="arguments: whole numbers, numbers or text")
    q.add_argument("--host", default="127.0.0.1")
    q.add_argument("--port", type=_port, default=OSC_PORT)
    q.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="print replies for this long")
    p.set_defaults(func=cmd_osc)

    p = sub.add_parser("render", parents=[preset, generator, look], help="render a show, frame-exact, to a video file")
    p.add_argument("--out", required=True, help="video file (.mp4 for h264, .mov for prores) or PNG folder")
    p.add_argument("--fps", type=_positive, default=60.0)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=_positive, help="length (default 10 s)")
    length.add_argument("--loops", type=_positive, help="length in passes over the whole path")
    p.add_argument("--size", type=_size, help="output WxH (default: the generator's resolution)")
    p.add_argument("--format", choices=FORMATS, default="h264")
    p.add_argument("--quality", type=int, default=18, help="H.264 CRF: lower is better (18 looks lossless)")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--audio", metavar="FILE", help="move with this song, frame-exact, and put it in the video "
                   "(length: the song's, unless --seconds or --loops)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("audio", help="sound inputs for run --audio-in")
    audio_sub = p.add_subparsers(dest="audio_command", required=True, metavar="devices")
    audio_sub.add_parser("devices", help="list sound input devices (* marks the default)")
    p.set_defaults(func=cmd_audio)

    p = sub.add_parser("directions", parents=[shared["device"]],
                       help="meaningful knobs from a checkpoint: directions in W (.npy) and a contact sheet")
    p.add_argument("source", help=SOURCE_HELP)
    p.add_argument("--method", choices=DIRECTION_METHODS, default="sefa",
                   help="sefa: from the style weights of the chosen layers (instant); ganspace: PCA of sampled W (cached)")
    p.add_argument("--layers", default="all", help=f"W+ rows: {', '.join(NAMED_RANGES)} or A-B (SeFa factorises those layers)")
    p.add_argument("--count", type=_count, default=10, help="directions written, strongest first")
    p.add_argument("--out", required=True, metavar="FILE.npy", help="[count, w_dim] float32")
    p.add_argument("--sheet", metavar="PNG", help="also draw a contact sheet: a row per direction, -3 to +3 sd")
    p.add_argument("--seed", type=int, default=0, help="the sheet's picture: this seed (default 0)")
    p.add_argument("--keyframe", metavar="FILE", help="the sheet's picture: this W+ file instead of a seed")
    p.add_argument("--psi", type=_psi, default=0.7, help="the sheet seed's truncation")
    p.add_argument("--samples", type=_count, default=GANSPACE_SAMPLES, help="GANSpace: W samples for the PCA")
    p.add_argument("--sample-seed", type=int, default=0, help="GANSpace: seed of the samples")
    p.add_argument("--cache-dir", metavar="DIR", help="direction cache (default ~/.cache/stylevj/directions)")
    p.add_argument("--thumb", type=_count, default=128, help="sheet tile size in pixels")
    p.set_defaults(func=cmd_directions)

    p = sub.add_parser("models", help="NVIDIA's published networks by short name: size, source, licence, what is cached")
    p.add_argument("--fetch", nargs="+", metavar="NAME", help="download these (names or URLs) into the cache now, "
                   "e.g. before travelling to the venue")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("monitors", help="list monitors and their modes")
    p.set_defaults(func=cmd_monitors)

    p = sub.add_parser("doctor", parents=[shared["device"]],
                       help="what this machine will do for a show, and why (exit 0 when a show can run)")
    p.add_argument("--osc-port", type=_port, help=f"the OSC port to check (default {OSC_PORT}, as run)")
    p.add_argument("--control-port", type=_port, help=f"the operator page's port to check (default {PAGE_PORT})")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("preview", parents=[preset, shared["device"]], help="contact sheet of a preset's path (no GL needed)")
    p.add_argument("--out", required=True, help="PNG file to write")
    p.add_argument("--per-segment", type=_count, default=4, help="frames between two keyframes")
    p.add_argument("--columns", type=_count, default=8)
    p.add_argument("--thumb", type=_count, default=160, help="tile size in pixels")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("project", parents=[generator], help="fit photos into W+: a keyframe, a record and a side-by-side PNG per image")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="photos (JPEG, PNG, ...); several run as one batch; each is cropped to its centred square")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for NAME.safetensors, NAME.json, NAME.png (created)")
    p.add_argument("--steps", type=int, default=1000, help="optimisation steps (default 1000)")
    p.add_argument("--loss", choices=LOSSES, help="default: both when VGG16 weights are found, else mse")
    p.add_argument("--mse-weight", type=float, default=1.0, help="weight of the pixel MSE in --loss both")
    p.add_argument("--vgg-weights", metavar="FILE", help="torchvision's vgg16-397923af.pth (default: torchvision's cache)")
    p.add_argument("--video", action="store_true", help="also write NAME.mp4 of the optimisation (needs PyAV)")
    p.add_argument("--batch", type=int, default=8, help="images optimised together (lower it if GPU memory runs out)")
    p.add_argument("--seed", type=int, default=0, help="seed of the early exploration noise")
    p.set_defaults(func=cmd_project)

    p = sub.add_parser("bench", help="measure generator speed here (table + JSON)")
    p.add_argument("--sources", default=",".join(BENCH_SOURCES), help="comma-separated sources")
    p.add_argument("--device", default="all", help="all (CPU and CUDA if present), cpu or cuda")
    p.add_argument("--seconds", type=_positive, default=3.0, help="time per row after warm-up")
    p.add_argument("--json", default="stylevj-bench.json", help="where to write the results")
    p.add_argument("--loop-source", default="demo", help="generator for the full-loop rows (upload, composite, loop)")
    p.add_argument("--soak", type=float, default=0.0, metavar="SECONDS", help="also run the loop this long and report memory at start and end")
    p.add_argument("--no-loop", action="store_true", help="generator rows only (no GL needed)")
    p.add_argument("--projection", action="store_true", help="also time `stylevj project` steps (demo 256 px, arch:ffhq-1024)")
    p.add_argument("--suite", choices=("default", "gpu"), default="default",
                   help="gpu: the one device run that proves the performance goal (docs/performance.md)")
    p.add_argument("--reference", metavar="DIR", help="with --suite gpu: a checkout of NVIDIA's stylegan2-ada-pytorch, "
                   "timed on the same weights with its compiled ops (imported from DIR, never copied)")
    p.add_argument("--compile", action="store_true", help="also time the generator through torch.compile "
                   "(what stylevj run --compile uses; compiling takes tens of seconds per row)")
    p.add_argument("--dry-run", action="store_true", help="with --suite gpu: list the steps and their time budget, run nothing")
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv or ["run"])  # plain `stylevj` plays the default show
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        return args.func(args)
    except StylevjError as exc:
        print(f"stylevj: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stylevj: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
