"""One owner for every thread of a running show: `ShowSession`, and `run_show` for `stylevj run`.

    show = build_show(G, preset, surface)                       # no thread yet
    with ShowSession(show, osc=osc, journal=journal, telemetry=poller):
        show.run(seconds=10)                                     # threads stop in reverse order

Threads start in order when the session opens: the generator worker (frames begin), the
telemetry poller (the GPU panel), the journal (it writes the state the show starts with), and
last the OSC listener (commands arrive once everything that answers them runs). Closing stops
them in reverse: OSC first (no new commands), a running recording is finished, the journal
writes the last state, telemetry and the worker stop, then the surface closes. The CLI, the
benchmark and the tests all use this, so a show is started and stopped one way.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .checks import parse_host_port
from .control import Journal, OscServer, key_handler, mappable
from .display import Compositor, DisplayError, HeadlessSurface, Window, choose_sink
from .errors import StylevjError
from .overlay import TelemetryPoller, build_overlays, parse_panels
from .presets import Preset, check_mappings, cue_timeline, default_preset_path, load_preset
from .record.recorder import LiveRecorder
from .show import Folders, GeneratorWorker, Show, player_from_preset

if TYPE_CHECKING:  # pragma: no cover
    from .display.surface import Surface
    from .latent.cues import CueTimeline
    from .overlay import Overlays

log = logging.getLogger(__name__)


def build_show(G, preset: Preset, surface: Surface, *, upload: str = "auto", fit: str = "contain",
               crossfade: bool = False, folders: Folders | None = None, recorder: LiveRecorder | None = None,
               overlays: list | None = None, timeline: CueTimeline | None = None, queue_size: int = 1024) -> Show:
    """A show of `preset` on generator G, drawing on `surface`; no thread is started."""
    sink, why = choose_sink(upload, surface.ctx, G.device)
    log.info("upload: %s", why)
    return Show(player_from_preset(preset, G), GeneratorWorker(G, noise_mode=preset.generator.noise), surface,
                Compositor(surface.ctx, fit=fit), sink, crossfade=crossfade, preset=preset,
                folders=folders or Folders.beside(preset.base_dir), recorder=recorder, overlays=overlays,
                timeline=timeline, queue_size=queue_size)


class ShowSession:
    """Starts a show's threads in order on enter, stops them in reverse on exit (see module doc).

    `close_surface`: also close the show's surface on exit (the session owns it).
    """

    def __init__(self, show: Show, osc: OscServer | None = None, journal: Journal | None = None,
                 telemetry: TelemetryPoller | None = None, close_surface: bool = True) -> None:
        self.show, self.osc, self.journal, self.telemetry = show, osc, journal, telemetry
        self.close_surface = close_surface

    def __enter__(self) -> ShowSession:
        try:
            self.show.worker.start()
            if self.telemetry is not None:
                self.telemetry.start()
            if self.journal is not None:
                self.show.publish()  # the journal writes the show it starts with
                self.journal.start()
            if self.osc is not None:
                self.osc.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop everything, in reverse order; safe to call twice."""
        show = self.show
        if self.osc is not None:
            self.osc.stop()
            self.osc = None
        if show.recorder is not None and show.recorder.recording:
            show.recorder.stop()
        if self.journal is not None:
            self.journal.stop()
            self.journal = None
        if self.telemetry is not None:
            self.telemetry.stop()
            self.telemetry = None
        show.worker.stop()
        if self.close_surface:
            show.surface.close()


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
    record_dir: str = "recordings"
    record_fps: float = 30.0


def _check_options(o: RunOptions) -> None:
    if o.seconds is not None and not (math.isfinite(o.seconds) and o.seconds > 0):
        raise StylevjError(f"--seconds must be a positive number, got {o.seconds}")
    if o.frames is not None and o.frames < 1:
        raise StylevjError(f"--frames must be at least 1, got {o.frames}")
    if not (math.isfinite(o.record_fps) and 1 <= o.record_fps <= 240):
        raise StylevjError(f"--record-fps must be within [1, 240], got {o.record_fps}")
    if o.osc_port is not None and not 0 <= o.osc_port <= 65535:
        raise StylevjError(f"--osc-port must be within [0, 65535], got {o.osc_port}")


def run_show(o: RunOptions) -> None:
    """Play a show until it is quit or its time is up (`stylevj run`).

    Everything a user can get wrong is checked before the model loads or a window opens.
    """
    from .models import load_generator

    _check_options(o)
    if o.resume:
        if not o.journal.exists():
            raise StylevjError(f"{o.journal}: no journal to resume from (run a show first, or give --journal)")
        preset = load_preset(o.journal)
        log.info("resuming from %s", o.journal)
    else:
        preset = load_preset(o.preset or default_preset_path())
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
    G = load_generator(o.checkpoint or preset.generator_source(), device=o.device, fp16=False if o.fp32 else None)
    surface = _surface(o, G.resolution)
    try:
        show = build_show(G, preset, surface, upload=o.upload, fit=o.fit, crossfade=o.crossfade, folders=folders,
                          recorder=LiveRecorder(Path(o.record_dir).expanduser(), fps=o.record_fps),
                          overlays=overlays.panels, timeline=timeline)
        osc = None
        if o.osc:
            osc = OscServer(show.submit, show.board, host=o.osc_host or preset.osc.host,
                            port=preset.osc.port if o.osc_port is None else o.osc_port,
                            allow=o.osc_allow or preset.osc.allow, reply=reply_to, mappings=preset.osc.mappings)
    except BaseException:
        surface.close()
        raise
    if isinstance(surface, Window):
        surface.on_key = key_handler(show.submit)
    with ShowSession(show, osc=osc, journal=Journal(o.journal, show.board), telemetry=_poller(overlays)):
        if o.headless:
            show.wait_for_first_frame()
        stats = show.run(frames=o.frames, seconds=o.seconds, pace_hz=60 if o.headless else None)
        if o.snapshot:
            show.request_snapshot(Path(o.snapshot))
            show.step()
        elapsed = max(show.clock() - stats.started, 1e-9)
        log.info("%d refreshes (%.1f/s), %d generated frames shown (%.1f/s), %d generator errors",
                 stats.refreshes, stats.refreshes / elapsed, stats.frames_shown, stats.frames_shown / elapsed,
                 show.worker.errors)


def _poller(overlays: Overlays) -> TelemetryPoller | None:
    return overlays.poller if overlays.panel("gpu") is not None else None


def _surface(o: RunOptions, resolution: int) -> Surface:
    if o.headless:
        return HeadlessSurface(o.size or (resolution, resolution))
    try:
        return Window(o.size or (1280, 720), fullscreen=o.fullscreen, monitor=o.monitor)
    except DisplayError as exc:
        raise DisplayError(f"{exc} (no screen? add --headless to render offscreen)") from None
