"""One owner for every thread of a running show: `ShowSession`, and `run_show` for `stylevj run`.

    show = build_show(G, preset, surface)                       # no thread yet
    with ShowSession(show, osc=osc, journal=journal, telemetry=poller):
        show.run(seconds=10)                                     # threads stop in reverse order

Threads start in order when the session opens: the generator worker (frames begin), the file
loader (files named in commands are read off the render thread), the telemetry poller (the GPU
panel), the journal (it writes the state the show starts with), the audio driver (listener,
sound input or file player, and the thread that turns what it hears into commands), the MIDI
controllers, the OSC listener (commands arrive once everything that answers them runs), and last
the operator page. Closing stops them in reverse: the page, OSC and MIDI first (no new commands), audio, a running
recording is finished, the journal writes the last state, telemetry, the loader and the worker
stop, the frame sink releases its textures (interop unregisters them while their GL context
exists), then the surface closes. The CLI, the benchmark and the tests all use this, so a show is
started and stopped one way.
"""

from __future__ import annotations

import logging
import math
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .checks import parse_host_port
from .choices import MIDI_APIS
from .clock import BeatClock, ClockError, LinkSession
from .control import Journal, MidiAdapter, OscServer, PageServer, ended_cleanly, keep_previous, key_handler, mappable
from .control.midi_ports import wanted_problem
from .control.page import DEFAULT_HOST, DEFAULT_PORT
from .display import Compositor, DisplayError, HeadlessSurface, Window, choose_sink
from .errors import StylevjError
from .files import USER_FOLDERS, user_data_home, user_folder
from .outputs import Outputs, OutputSpec, build_outputs
from .outputs.ndi import use_discovery
from .overlay import TelemetryPoller, build_overlays, parse_panels
from .presets import Preset, check_mappings, cue_timeline, default_preset_path, load_preset
from .record.recorder import LiveRecorder
from .show import Folders, GeneratorWorker, Show, player_from_preset

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    import torch

    from .audio.drive import AudioDriver
    from .display.surface import Surface
    from .latent.cues import CueTimeline
    from .overlay import Overlays

log = logging.getLogger(__name__)


def build_show(G, preset: Preset, surface: Surface, *, upload: str = "auto", fit: str = "contain",
               crossfade: bool = False, folders: Folders | None = None, recorder: LiveRecorder | None = None,
               overlays: list | None = None, timeline: CueTimeline | None = None, queue_size: int = 1024,
               cuda_graphs: bool = True, compiled: Callable[[torch.Tensor], torch.Tensor] | None = None,
               outputs: Outputs | None = None, beat_clock: BeatClock | None = None) -> Show:
    """A show of `preset` on generator G, drawing on `surface`; no thread is started.
    `cuda_graphs`: on CUDA, replay each unbent frame as a captured CUDA graph (show/graphs.py).
    `compiled`: `models.compile_synthesis(G, preset's noise)`, for unbent frames."""
    sink, why = choose_sink(upload, surface.ctx, G.device)
    log.info("upload: %s", why)
    worker = GeneratorWorker(G, noise_mode=preset.generator.noise, graphs=cuda_graphs, compiled=compiled)
    return Show(player_from_preset(preset, G), worker, surface,
                Compositor(surface.ctx, fit=fit), sink, crossfade=crossfade, preset=preset,
                folders=folders or Folders.beside(preset.base_dir), recorder=recorder, overlays=overlays,
                timeline=timeline, queue_size=queue_size, outputs=outputs, beat_clock=beat_clock)


class ShowSession:
    """Starts a show's threads in order on enter, stops them in reverse on exit (see module doc).

    `close_surface`: also close the show's surface on exit (the session owns it).
    """

    def __init__(self, show: Show, osc: OscServer | None = None, journal: Journal | None = None,
                 telemetry: TelemetryPoller | None = None, close_surface: bool = True,
                 audio: AudioDriver | None = None, page: PageServer | None = None, midi: MidiAdapter | None = None) -> None:
        self.show, self.osc, self.journal, self.telemetry = show, osc, journal, telemetry
        self.audio, self.midi = audio, midi  # midi: controllers, started beside OSC
        self.page = page  # the operator page: started last, stopped first
        self.close_surface = close_surface
        if osc is not None and page is not None:
            osc.reports["page"] = page.report  # /stylevj/state shows the page's counters too
            page.reports["osc"] = osc.report  # and the page shows OSC's refusals

    def __enter__(self) -> ShowSession:
        try:
            self.show.worker.start()
            self.show.loader.start()
            self.show.outputs.start()  # frame outputs (NDI): their sender threads open the transports
            if self.telemetry is not None:
                self.telemetry.start()
            if self.journal is not None:
                self.show.publish()  # the journal writes the show it starts with
                self.journal.start()
            if self.audio is not None:
                self.audio.start()
            if self.midi is not None:
                self.midi.start()
            if self.osc is not None:
                self.osc.start()
            if self.page is not None:
                self.page.start()
        except BaseException:
            try:
                self.close()
            except StylevjError:
                pass  # logged; the failure to start is the one to report
            raise
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        try:
            self.close()
        except StylevjError:
            if exc_type is None:
                raise
            # logged; the exception already on its way out (Ctrl-C, a crash) is the one to report

    def close(self) -> None:
        """Stop everything, in reverse order; safe to call twice. Every step runs even when an
        earlier one raises (a MIDI port that fails to close must not keep the journal open or
        the recording unfinished); each failure is logged, and the first is raised at the end
        as one line (a StylevjError: the CLI exits 1 without a traceback)."""
        show = self.show
        failures: list[tuple[str, Exception]] = []

        def attempt(what: str, step: Callable[[], object]) -> None:
            try:
                step()
            except Exception as exc:
                log.error("stopping %s failed: %s", what, exc)
                failures.append((what, exc))

        for name in ("page", "osc", "midi", "audio"):
            part = getattr(self, name)
            if part is not None:
                setattr(self, name, None)
                attempt(name, part.stop)
        if show.recorder is not None and show.recorder.recording:
            attempt("the recording", show.recorder.stop)
        attempt("the outputs", show.outputs.stop)  # senders finish and close; their GL buffers go while the context exists
        for name in ("journal", "telemetry"):
            part = getattr(self, name)
            if part is not None:
                setattr(self, name, None)
                attempt(name, part.stop)
        attempt("the loader", show.loader.stop)
        attempt("the generator worker", show.worker.stop)
        attempt("the beat clock", show.beat_clock.close)  # leaves the Link session (the other peers see one fewer)
        try:
            show.sink.release()  # interop textures are unregistered while their GL context still exists
        except Exception as exc:  # the show is over and the surface still closes: a warning, not a failure
            log.warning("releasing the frame sink failed (%s)", exc)
        if self.close_surface:
            attempt("the surface", show.surface.close)
        if failures:
            what, exc = failures[0]
            raise StylevjError(f"the show stopped, but stopping {what} failed: {exc}") from exc


# ---- stylevj run --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    """What `stylevj run` was asked for (the CLI's flags, already parsed)."""

    preset: str | None = None
    checkpoint: str | None = None
    device: str = "cpu"
    fp32: bool = False
    headless: bool = False
    fullscreen: bool = False
    monitor: str | None = None
    size: tuple[int, int] | None = None
    fit: str = "contain"
    crossfade: bool = False
    upload: str = "auto"
    seconds: float | None = None
    frames: int | None = None
    snapshot: str | None = None
    overlay: str | None = None
    font: str | None = None
    osc: bool = True
    osc_host: str | None = None
    osc_port: int | None = None
    osc_allow: tuple[str, ...] = ()
    osc_reply: str | None = None
    presets_dir: str | None = None
    keyframes_dir: str | None = None
    journal: Path = field(default_factory=Path)
    resume: bool = False
    cues: bool = False
    record_dir: str | None = None  # None: the user's recordings folder ($XDG_DATA_HOME/stylevj/recordings)
    record_fps: float = 30.0
    control: bool = True  # the operator page (--no-control: off)
    control_host: str | None = None  # beyond loopback, a token is required (printed in the URL)
    control_port: int | None = None  # None: DEFAULT_PORT, or a free one if that is taken
    audio: str | None = None  # --audio FILE: play it and move with it
    audio_in: str | None = None  # --audio-in NAME|INDEX: move with a sound input
    audio_output: bool = True  # play --audio FILE on the default output (else only its clock drives)
    cuda_graphs: bool = True  # --no-cuda-graphs: eager synthesis on CUDA (graphs are never used on CPU)
    compile: bool = False  # --compile: torch.compile the unbent synthesis before the show (parity-checked)
    params: dict | None = None  # --set NAME=VALUE: {name: value}, checked against realtime/params.py
    ndi: str | None = None  # --ndi NAME: publish the stage picture as this NDI source
    ndi_size: tuple[int, int] | None = None  # --ndi-size WxH: its own canvas (the show's fit)
    ndi_clean: bool = False  # --ndi-clean: without the overlay
    ndi_discovery: tuple[str, ...] = ()  # --ndi-discovery IP,...: NDI's extra IPs
    link: bool = False  # --link: join the Ableton Link session; its tempo and beat drive the show
    midi_in: str | None = None  # --midi-in NAME|all: controllers (part of a port's name)
    midi_out: str | None = None  # --midi-out NAME: the knobs' values sent back (LED rings, motor faders)
    midi_api: str | None = None  # --midi-api: alsa, jack, coremidi, winmm (None: the platform's own)
    link_start_stop: bool = False  # --link-start-stop: follow the session's transport (stopped: the beat lock lets go)


def _headless_without_display(o: RunOptions) -> RunOptions:
    """On a machine with no display (a server, a container: DISPLAY and WAYLAND_DISPLAY unset),
    `stylevj run` plays headless, steered by the operator page and OSC and seen through its
    outputs, and says so in one line; --fullscreen or --monitor there is a user error."""
    if o.headless or os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return o
    if o.fullscreen or o.monitor is not None:
        raise DisplayError("--fullscreen and --monitor need a display, and DISPLAY and WAYLAND_DISPLAY are unset "
                           "(without them the show runs headless)")
    log.info("no display (DISPLAY and WAYLAND_DISPLAY unset): running headless, steered by the operator page "
             "and OSC%s; Ctrl-C stops", "" if o.ndi is None else f", seen through NDI '{o.ndi}'")
    return replace(o, headless=True)


def _check_options(o: RunOptions) -> None:
    if o.seconds is not None and not (math.isfinite(o.seconds) and o.seconds > 0):
        raise StylevjError(f"--seconds must be a positive number, got {o.seconds}")
    if o.frames is not None and o.frames < 1:
        raise StylevjError(f"--frames must be at least 1, got {o.frames}")
    if not (math.isfinite(o.record_fps) and 1 <= o.record_fps <= 240):
        raise StylevjError(f"--record-fps must be within [1, 240], got {o.record_fps}")
    if o.audio is not None and o.audio_in is not None:
        raise StylevjError("--audio and --audio-in: give one source of sound")
    if o.osc_port is not None and not 0 <= o.osc_port <= 65535:
        raise StylevjError(f"--osc-port must be within [0, 65535], got {o.osc_port}")
    if o.control_port is not None and not 0 <= o.control_port <= 65535:
        raise StylevjError(f"--control-port must be within [0, 65535], got {o.control_port}")
    _check_ndi(o)
    _check_midi(o)


def _check_midi(o: RunOptions) -> None:
    """--midi-in and --midi-out name ports; --midi-api is one of the backends and needs one of them.
    A port or backend missing at run time is a log line and the show runs on (`midi_ports`)."""
    for option, wanted in (("--midi-in", o.midi_in), ("--midi-out", o.midi_out)):
        problem = None if wanted is None else wanted_problem(wanted)
        if problem is not None:
            raise StylevjError(f"{option} {problem}")
    if o.midi_api is not None:
        if o.midi_api not in MIDI_APIS:
            raise StylevjError(f"--midi-api {o.midi_api}: not a MIDI API (choose from {', '.join(MIDI_APIS)})")
        if o.midi_in is None and o.midi_out is None:
            raise StylevjError("--midi-api needs --midi-in NAME or --midi-out NAME")


def _check_ndi(o: RunOptions) -> None:
    """--ndi's companions need it; the binding must be installed (a runtime that fails later is a log line)."""
    if o.ndi is None:
        if o.ndi_size is not None or o.ndi_clean or o.ndi_discovery:
            raise StylevjError("--ndi-size, --ndi-clean and --ndi-discovery need --ndi NAME")
        return
    try:
        import NDIlib  # noqa: F401 - is the binding there at all
    except ImportError:
        raise StylevjError(f"--ndi {o.ndi}: NDI is not installed (pip install 'stylevj[ndi]')") from None
    except OSError:  # the runtime inside it fails to load: the sender says so in one line, the show runs
        pass


def run_outputs(o: RunOptions, preset: Preset) -> Outputs:
    """The frame outputs `o` and the preset's [[outputs]] ask for (no thread yet; `--ndi` wins over
    an entry of the same name); --ndi-discovery is set before NDI starts."""
    specs = [] if o.ndi is None else [OutputSpec("ndi", o.ndi, o.ndi_size, o.ndi_clean)]
    specs += [spec for spec in preset.outputs if spec.name != o.ndi]
    if o.ndi_discovery:
        use_discovery(o.ndi_discovery)
    return build_outputs(specs)


def run_show(o: RunOptions) -> None:
    """Play a show until it is quit or its time is up (`stylevj run`).

    Everything a user can get wrong is checked before the model loads or a window opens.
    """
    from .models import compile_synthesis, load_generator

    _check_options(o)
    o = _headless_without_display(o)
    if o.resume:
        if not o.journal.exists():
            raise StylevjError(f"{o.journal}: no journal to resume from (run a show first, or give --journal)")
        preset = load_preset(o.journal)
        log.info("resuming from %s", o.journal)
    else:
        preset = load_preset(o.preset or default_preset_path())
        kept = keep_previous(o.journal)
        if kept is not None and not ended_cleanly(kept):
            log.warning("the last show did not end cleanly: its journal is kept as %s (stylevj run --resume --journal %s)",
                        kept, kept)
        elif kept is not None:
            log.info("the last show's journal is kept as %s (stylevj run --resume --journal %s)", kept, kept)
    if o.params:  # --set NAME=VALUE (checked at parse time) over the preset's (or the journal's) values
        preset = preset.with_params(preset.params.replace(**o.params))
    if o.link:
        preset = preset.with_params(preset.params.replace(clock="link"))
    beat_clock = make_beat_clock(preset, o.link, o.link_start_stop)
    timeline = cue_timeline(preset) if o.cues else None
    if o.cues and timeline is None:
        raise StylevjError("--cues: the preset has no keyframe with 'at = ...'")
    check_mappings(preset.osc.mappings, mappable(), str(o.journal if o.resume else o.preset or default_preset_path()))
    reply = o.osc_reply if o.osc_reply is not None else preset.osc.reply
    try:
        reply_to = parse_host_port(reply) if reply else None
    except StylevjError as exc:
        raise StylevjError(f"--osc-reply {exc}") from None
    overlays = build_overlays(preset.overlay, None if o.overlay is None else parse_panels(o.overlay), o.font, preset.base_dir)
    folders = Folders.beside(Path(o.presets_dir) if o.presets_dir else preset.base_dir,
                             Path(o.keyframes_dir) if o.keyframes_dir else None)
    make_user_folders()
    G = load_generator(o.checkpoint or preset.generator_source(), device=o.device, fp16=False if o.fp32 else None)
    compiled = None
    if o.compile:
        log.info("compiling the generator (tens of seconds, once) ...")
        compiled, why = compile_synthesis(G, preset.generator.noise)
        if compiled is None:
            log.warning("%s", why)
        else:
            log.info("%s", why)
    surface = _surface(o, G.resolution)
    try:
        show = build_show(G, preset, surface, upload=o.upload, fit=o.fit, crossfade=o.crossfade, folders=folders,
                          cuda_graphs=o.cuda_graphs, compiled=compiled,
                          recorder=LiveRecorder(Path(o.record_dir).expanduser() if o.record_dir else user_folder("recordings"),
                                                fps=o.record_fps),
                          overlays=overlays.panels, timeline=timeline, outputs=run_outputs(o, preset), beat_clock=beat_clock)
        journal = Journal(o.journal, show.board)  # reporters read journal.board: an edit is on disk before it is told
        osc = None
        if o.osc:
            osc = OscServer(show.submit, journal.board, host=o.osc_host or preset.osc.host,
                            port=preset.osc.port if o.osc_port is None else o.osc_port,
                            allow=o.osc_allow or preset.osc.allow, reply=reply_to, mappings=preset.osc.mappings)
        page = None
        if o.control:
            poller = _poller(overlays)
            page = PageServer(show.submit, journal.board, show.folders, host=o.control_host or DEFAULT_HOST,
                              port=DEFAULT_PORT if o.control_port is None else o.control_port,
                              any_port_if_taken=o.control_port is None, telemetry=poller.latest if poller is not None else None)
    except BaseException:
        surface.close()
        raise
    if isinstance(surface, Window):
        surface.on_key = key_handler(show.submit)
    midi = None if o.midi_in is None and o.midi_out is None else MidiAdapter(
        show.submit, show.board, o.midi_in, o.midi_out, o.midi_api, clock=show.beat_clock.midi.feed, now=show.clock)
    with ShowSession(show, osc=osc, journal=journal, telemetry=_poller(overlays),
                     audio=build_audio(show, o.audio, o.audio_in, o.audio_output), page=page, midi=midi):
        if page is not None and page.token is not None:
            print(page.invitation(), file=sys.stderr)  # the URL and QR code, or why no phone can reach it
        if o.headless:
            show.wait_for_first_frame()
        stats = show.run(frames=o.frames, seconds=o.seconds, pace_hz=60 if o.headless else None)
        if o.snapshot:
            show.request_snapshot(Path(o.snapshot))
            show.step()
            show.finish_saves()  # written, or refused with its reason in the log, before the run ends
            if show.last_snapshot is None:
                raise StylevjError(f"--snapshot {o.snapshot}: not written (the warning above says why)")
        elapsed = max(show.clock() - stats.started, 1e-9)
        log.info("%d refreshes (%.1f/s), %d generated frames shown (%.1f/s), %d generator errors",
                 stats.refreshes, stats.refreshes / elapsed, stats.frames_shown, stats.frames_shown / elapsed,
                 show.worker.errors)


def build_audio(show: Show, audio: str | None, audio_in: str | None, output: bool = True) -> AudioDriver | None:
    """The audio adapter for `--audio FILE` or `--audio-in DEVICE` (None for neither); no thread
    starts here. A file that cannot be used is one log line: the show runs without audio."""
    if audio is None and audio_in is None:
        return None
    from .audio import AudioError, AudioListener, DeviceInput
    from .audio.drive import AudioDriver, FilePlayer
    from .audio.soundtrack import read_soundtrack

    listener = AudioListener()
    if audio_in is not None:
        return AudioDriver(show.submit, show.board, listener, DeviceInput(listener.feed, audio_in), f"input {audio_in}")
    try:
        player = FilePlayer(read_soundtrack(audio), listener.feed, output=output)  # refuses a silent or empty file
    except AudioError as exc:
        return AudioDriver(show.submit, show.board, listener, None, f"file {audio}", problem=f"{exc}; the show goes on without audio")
    return AudioDriver(show.submit, show.board, listener, player, f"file {Path(audio).name}")


def make_beat_clock(preset: Preset, link: bool = False, start_stop: bool = False) -> BeatClock:
    """The show's beat clock, with a Link session (not joined yet: following the `link` clock
    joins it) when `--link` asks for one or the preset follows Link. Without the link extra,
    `--link` is a one-line error; a preset's link clock is a warning (the show follows its music)."""
    session = None
    if link or preset.clock.source == "link":
        try:
            session = LinkSession(preset.clock.tempo, start_stop=start_stop)
        except ClockError as exc:
            if link:
                raise StylevjError(f"--link: {exc}") from None
            log.warning("%s", exc)
    return BeatClock(tempo=preset.clock.tempo, link=session)


def make_user_folders() -> None:
    """The user's home of files, made if missing and named once in the log, so that the first
    keyframe file, snapshot or recording has an obvious place (a failure is a warning only)."""
    home = user_data_home()
    try:
        for kind in USER_FOLDERS:
            user_folder(kind).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        log.warning("cannot make %s (%s): snapshots and recordings may fail", home, exc.strerror or exc)
        return
    log.info("your files: %s (%s)", home, ", ".join(f"{kind}/" for kind in USER_FOLDERS))


def _poller(overlays: Overlays) -> TelemetryPoller | None:
    return overlays.poller if overlays.panel("gpu") is not None else None


def _surface(o: RunOptions, resolution: int) -> Surface:
    if o.headless:
        return HeadlessSurface(o.size or (resolution, resolution))
    try:
        return Window(o.size or (1280, 720), fullscreen=o.fullscreen, monitor=o.monitor)
    except DisplayError as exc:
        raise DisplayError(f"{exc} (no screen? add --headless to render offscreen)") from None
