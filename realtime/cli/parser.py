"""The `stylevj` argument parser: every subcommand, its options (checked at parse time by
`options.py`) and the function that runs it."""

from __future__ import annotations

import argparse

from .. import __version__
from ..checks import CRF, PROJECTION_BATCH, PROJECTION_STEPS, RECORD_FPS, SEED, integer, number
from ..choices import (BENCH_SOURCES, DIRECTION_METHODS, FORMATS, GANSPACE_SAMPLES, LOSSES, NAMED_RANGES, NOISE_MODES,
                       MIDI_APIS, OSC_PORT, PAGE_PORT, SINK_MODES)
from . import options as opt
from .checkpoints import cmd_convert, cmd_models
from .live import cmd_audio, cmd_monitors, cmd_osc, cmd_run
from .midi import cmd_midi
from .machine import cmd_bench, cmd_doctor
from .pictures import cmd_directions, cmd_preview, cmd_project, cmd_render, cmd_still


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stylevj", description="A live StyleGAN2 instrument for the stage.")
    parser.add_argument("--version", action="version", version=f"stylevj {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    shared = opt.shared_options()
    generator, preset, look, settings = shared["generator"], shared["preset"], shared["look"], shared["settings"]

    p = sub.add_parser("still", parents=[generator, settings], help="render one picture from a seed")
    p.add_argument("--seed", type=opt.checked_by(SEED), required=True, help="latent seed (same z as NVIDIA's generate.py)")
    p.add_argument("--truncation", "--psi", dest="psi", type=opt.psi, default=1.0, help="truncation toward w_avg (1 = none, 0.7 typical; --psi is the same)")
    p.add_argument("--noise", choices=NOISE_MODES, default="const", help="noise inputs")
    p.add_argument("--out", type=opt.out_file, required=True, help="PNG file to write")
    p.set_defaults(func=cmd_still)

    p = sub.add_parser("convert", help="write any supported checkpoint as stylevj .safetensors")
    p.add_argument("source", help=opt.SOURCE_HELP)
    p.add_argument("out", type=opt.out_file, help=".safetensors file to write")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("run", parents=[preset, generator, look, settings], help="play a show on screen (or headless)")
    p.add_argument("--fullscreen", action="store_true", help="start fullscreen (F toggles)")
    p.add_argument("--monitor", help="monitor index or name for fullscreen (see 'stylevj monitors')")
    p.add_argument("--size", type=opt.size, help="window or headless size WxH (default 1280x720; headless: the generator's)")
    p.add_argument("--crossfade", action="store_true", help="cross-fade between generated frames when the generator is slower than the display")
    p.add_argument("--upload", choices=SINK_MODES, default="auto", help="frame upload path (the log says which runs)")
    p.add_argument("--no-cuda-graphs", action="store_true",
                   help="on CUDA, launch every frame's kernels one by one instead of replaying a captured CUDA graph")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the generator before the show (tens of seconds; used only if it draws what "
                   "eager draws; see docs/performance.md for where it wins)")
    p.add_argument("--headless", action="store_true", help="no window: render offscreen (EGL)")
    p.add_argument("--seconds", type=opt.positive, help="stop after this long")
    p.add_argument("--frames", type=opt.count, help="stop after this many display refreshes")
    p.add_argument("--snapshot", metavar="PNG", type=opt.out_file, help="save the last frame shown")
    p.add_argument("--osc-port", type=opt.port, help=f"OSC UDP port (default: the preset's, {OSC_PORT})")
    p.add_argument("--osc-host", help="listen address (default 127.0.0.1; a LAN address needs --osc-allow)")
    p.add_argument("--osc-allow", metavar="CIDR,...", type=opt.networks, help="senders allowed, e.g. 192.168.1.0/24")
    p.add_argument("--osc-reply", metavar="HOST:PORT", type=opt.host_port, help="send feedback here (TouchDesigner's OSC In)")
    p.add_argument("--no-osc", action="store_true", help="no OSC listener")
    p.add_argument("--control-port", type=opt.port,
                   help=f"the operator page's port (default {PAGE_PORT}, or a free one when that is taken)")
    p.add_argument("--control-host", help="the operator page's address (default 127.0.0.1; any other needs the token "
                                          "the log prints in the URL)")
    p.add_argument("--no-control", action="store_true", help="no operator page")
    p.add_argument("--presets-dir", type=opt.folder, help="folder OSC preset/load and preset/save may use (default: the preset's)")
    p.add_argument("--keyframes-dir", type=opt.folder, help="folder OSC keyframe files come from (default: PRESETS_DIR/keyframes)")
    p.add_argument("--journal", metavar="TOML", help="live-edit journal (default ~/.local/state/stylevj/journal.toml)")
    p.add_argument("--resume", action="store_true", help="restore the show from the journal after a crash or restart")
    p.add_argument("--cues", action="store_true", help="follow the keyframes' cue times (at = ...) from the start")
    p.add_argument("--record-dir", help="where key R and OSC record/start write videos "
                   "(default: recordings/ in ~/.local/share/stylevj, $XDG_DATA_HOME)")
    p.add_argument("--record-fps", type=opt.checked_by(RECORD_FPS), default=30.0, help="frame rate of live recordings (wall clock)")
    sound = p.add_mutually_exclusive_group()
    sound.add_argument("--audio", metavar="FILE", type=opt.in_file,
                       help="play a song (any format PyAV reads) and move with it, in sync")
    sound.add_argument("--audio-in", metavar="NAME|INDEX", help="move with a sound input (see 'stylevj audio devices')")
    p.add_argument("--mute", action="store_true", help="with --audio: do not play the song; its clock still drives the show")
    p.add_argument("--ndi", metavar="NAME", type=opt.ndi_name,
                   help="publish the stage picture as the NDI source NAME (pip install 'stylevj[ndi]')")
    p.add_argument("--ndi-size", metavar="WxH", type=opt.ndi_size,
                   help="the NDI picture's own size, the show's --fit applied (default: the stage's size)")
    p.add_argument("--ndi-clean", action="store_true", help="send the picture without the overlay")
    p.add_argument("--ndi-discovery", metavar="IP,...", type=opt.ndi_discovery,
                   help="NDI's extra IPs, where no mDNS runs (containers, some stage laptops)")
    p.add_argument("--link", action="store_true", help="join the Ableton Link session on the local network: its tempo "
                   "and beat drive the show; /stylevj/bpm and taps propose a tempo (pip install 'stylevj[link]')")
    p.add_argument("--link-start-stop", action="store_true",
                   help="with --link: follow the session's start/stop (stopped: the beat lock lets go)")
    p.add_argument("--midi-in", metavar="NAME|all", type=opt.midi_port,
                   help="MIDI controllers: ports whose name holds NAME, or all (see 'stylevj midi ports'; "
                   "learn with /stylevj/midi/learn PARAM; pip install 'stylevj[midi]')")
    p.add_argument("--midi-out", metavar="NAME", type=opt.midi_port, help="send the mapped knobs' values back to this "
                   "MIDI port (LED rings, motor faders) when they change from anywhere else")
    p.add_argument("--midi-api", choices=MIDI_APIS, help="MIDI backend (default: the platform's own, alsa on Linux)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("osc", help="the OSC address table, and a small sender for trying things")
    osc_sub = p.add_subparsers(dest="osc_command", required=True, metavar="list|send")
    osc_sub.add_parser("list", help="print every address with its arguments")
    q = osc_sub.add_parser("send", help="send one message, e.g. stylevj osc send /stylevj/speed 0.5")
    q.add_argument("address")
    q.add_argument("args", nargs="*", help="arguments: whole numbers, numbers or text")
    q.add_argument("--host", default="127.0.0.1")
    q.add_argument("--port", type=opt.port, default=OSC_PORT)
    q.add_argument("--wait", type=opt.checked_by(number(0, 3600)), default=0.0, metavar="SECONDS", help="print replies for this long")
    q.add_argument("--json", action="store_true", help="print the replies as one JSON array of {address, args} "
                   "(a state reply's args hold the state as an object)")
    p.set_defaults(func=cmd_osc)

    p = sub.add_parser("render", parents=[preset, generator, look, settings], help="render a show, frame-exact, to a video file")
    p.add_argument("--out", type=opt.out_file, required=True, help="video file (.mp4 for h264, .mov for prores) or PNG folder")
    p.add_argument("--fps", type=opt.checked_by(number(0, 1000), lower_exclusive=True), default=60.0)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--seconds", type=opt.positive, help="length (default 10 s)")
    length.add_argument("--loops", type=opt.positive, help="length in passes over the whole path")
    p.add_argument("--size", type=opt.size, help="output WxH (default: the generator's resolution)")
    p.add_argument("--format", choices=FORMATS, default="h264")
    p.add_argument("--quality", type=opt.checked_by(CRF), default=18, help="H.264 CRF: lower is better (18 looks lossless)")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.add_argument("--audio", metavar="FILE", type=opt.in_file, help="move with this song, frame-exact, and put it in the video "
                   "(length: the song's, unless --seconds or --loops)")
    p.add_argument("--workers", type=opt.workers, metavar="N|auto",
                   help="split the render over N Ray workers (pip install 'stylevj[ray]'); auto: one per GPU, "
                   "else one per CPU core (default 1, or auto with --ray-address; 1 needs no Ray)")
    p.add_argument("--ray-address", metavar="HOST:PORT", help="join this Ray cluster instead of starting a local one")
    p.add_argument("--resume", action="store_true",
                   help="with --workers: finish an interrupted render, rendering only the ranges missing from OUT.parts/")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("midi", help="MIDI ports for run --midi-in and --midi-out")
    midi_sub = p.add_subparsers(dest="midi_command", required=True, metavar="ports")
    q = midi_sub.add_parser("ports", help="list MIDI input and output ports")
    q.add_argument("--midi-api", choices=MIDI_APIS, help="MIDI backend (default: the platform's own, alsa on Linux)")
    p.set_defaults(func=cmd_midi)

    p = sub.add_parser("audio", help="sound inputs for run --audio-in")
    audio_sub = p.add_subparsers(dest="audio_command", required=True, metavar="devices")
    audio_sub.add_parser("devices", help="list sound input devices (* marks the default)")
    p.set_defaults(func=cmd_audio)

    p = sub.add_parser("directions", parents=[shared["device"]],
                       help="meaningful knobs from a checkpoint: directions in W (.npy) and a contact sheet")
    p.add_argument("source", help=opt.SOURCE_HELP)
    p.add_argument("--method", choices=DIRECTION_METHODS, default="sefa",
                   help="sefa: from the style weights of the chosen layers (instant); ganspace: PCA of sampled W (cached)")
    p.add_argument("--layers", default="all", help=f"W+ rows: {', '.join(NAMED_RANGES)} or A-B (SeFa factorises those layers)")
    p.add_argument("--count", type=opt.count, default=10, help="directions written, strongest first")
    p.add_argument("--out", type=opt.out_file, required=True, metavar="FILE.npy", help="[count, w_dim] float32")
    p.add_argument("--sheet", metavar="PNG", type=opt.out_file, help="also draw a contact sheet: a row per direction, -3 to +3 sd")
    p.add_argument("--seed", type=opt.checked_by(SEED), default=0, help="the sheet's picture: this seed (default 0)")
    p.add_argument("--keyframe", metavar="FILE", type=opt.in_file, help="the sheet's picture: this W+ file instead of a seed")
    p.add_argument("--truncation", "--psi", dest="psi", type=opt.psi, default=0.7, help="the sheet seed's truncation (--psi is the same)")
    p.add_argument("--samples", type=opt.checked_by(integer(1, 10_000_000)), default=GANSPACE_SAMPLES,
                   help="GANSpace: W samples for the PCA")
    p.add_argument("--sample-seed", type=opt.checked_by(SEED), default=0, help="GANSpace: seed of the samples")
    p.add_argument("--cache-dir", metavar="DIR", help="direction cache (default ~/.cache/stylevj/directions)")
    p.add_argument("--thumb", type=opt.checked_by(opt.THUMB), default=128, help="sheet tile size in pixels")
    p.set_defaults(func=cmd_directions)

    p = sub.add_parser("models", help="NVIDIA's published networks by short name: size, source, licence, what is cached")
    p.add_argument("--fetch", nargs="+", metavar="NAME", help="download these (names or URLs) into the cache now, "
                   "e.g. before travelling to the venue")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("monitors", help="list monitors and their modes")
    p.set_defaults(func=cmd_monitors)

    p = sub.add_parser("doctor", parents=[shared["device"]],
                       help="what this machine will do for a show, and why (exit 0 when a show can run)")
    p.add_argument("--osc-port", type=opt.port, help=f"the OSC port to check (default {OSC_PORT}, as run)")
    p.add_argument("--control-port", type=opt.port, help=f"the operator page's port to check (default {PAGE_PORT})")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("preview", parents=[preset, shared["device"]], help="contact sheet of a preset's path (no GL needed)")
    p.add_argument("--out", type=opt.out_file, required=True, help="PNG file to write")
    p.add_argument("--per-segment", type=opt.checked_by(integer(1, 1000)), default=4, help="frames between two keyframes")
    p.add_argument("--columns", type=opt.checked_by(integer(1, 1000)), default=8)
    p.add_argument("--thumb", type=opt.checked_by(opt.THUMB), default=160, help="tile size in pixels")
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("project", parents=[generator], help="fit photos into W+: a keyframe, a record and a side-by-side PNG per image")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="photos (JPEG, PNG, ...); several run as one batch; each is cropped to its centred square")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for NAME.safetensors, NAME.json, NAME.png (created)")
    p.add_argument("--steps", type=opt.checked_by(PROJECTION_STEPS), default=1000, help="optimisation steps (default 1000)")
    p.add_argument("--loss", choices=LOSSES, help="default: both when VGG16 weights are found, else mse")
    p.add_argument("--mse-weight", type=opt.checked_by(number(0, 1e6)), default=1.0, help="weight of the pixel MSE in --loss both")
    p.add_argument("--vgg-weights", metavar="FILE", type=opt.in_file,
                   help="torchvision's vgg16-397923af.pth (default: torchvision's cache)")
    p.add_argument("--video", action="store_true", help="also write NAME.mp4 of the optimisation (needs PyAV)")
    p.add_argument("--batch", type=opt.checked_by(PROJECTION_BATCH), default=8,
                   help="images optimised together (lower it if GPU memory runs out)")
    p.add_argument("--seed", type=opt.checked_by(SEED), default=0, help="seed of the early exploration noise")
    p.set_defaults(func=cmd_project)

    p = sub.add_parser("bench", help="measure generator speed here (table + JSON)")
    p.add_argument("--sources", default=",".join(BENCH_SOURCES), help="comma-separated sources")
    p.add_argument("--device", default="all", help="all (CPU and CUDA if present), cpu or cuda")
    p.add_argument("--seconds", type=opt.positive, default=3.0, help="time per row after warm-up")
    p.add_argument("--json", type=opt.out_file, default="stylevj-bench.json", help="where to write the results")
    p.add_argument("--loop-source", default="demo", help="generator for the full-loop rows (upload, composite, loop)")
    p.add_argument("--soak", type=opt.checked_by(number(0, 86_400)), default=0.0, metavar="SECONDS",
                   help="also run the loop this long and report memory at start and end")
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
