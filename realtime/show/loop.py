"""The show loop: one step per display refresh, moved by the wall clock.

Each step: read the clock, apply the queued commands at this frame boundary, advance the player,
ask the worker for the W+ of this instant, upload the newest finished frame if there is one,
draw, present, and publish a `ShowState` snapshot for the adapters. The step never waits for the
generator; when the generator is slower than the display, the last frame stays up (optionally
cross-faded into the next one). Threads are started and stopped by a `ShowSession`, not here.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Hashable

import numpy as np

from ..display.compositor import Compositor
from ..display.frames import FrameSink, HostSink
from ..display.surface import Surface
from ..errors import StylevjError
from ..images import save_png
from ..latent import Player
from ..latent.cues import CueTimeline
from ..presets import Preset
from .commands import Command, CommandQueue, Folders, LoadFailed
from .loader import Loader
from .state import EVENTS_KEPT, AudioState, CommandCounts, Event, PanelState, ShowState, StateBoard
from .thumbnail import KeyframePictures, Thumbnail, ThumbnailTap
from .worker import Frame, GeneratorWorker

if TYPE_CHECKING:  # pragma: no cover
    from ..record.recorder import LiveRecorder

log = logging.getLogger(__name__)

MAX_COMMANDS_PER_FRAME = 64  # a burst of commands waits for later frames rather than freezing this one
COMMAND_BUDGET_S = 0.004  # and so does the rest of a frame's commands once they took this long


@dataclass
class ShowStats:
    refreshes: int = 0
    frames_shown: int = 0  # distinct generator frames put on screen
    started: float = 0.0


class Show:
    """A running show: player + generator worker + surface, compositor and frame sink.

    Commands come in through `submit` (any thread); the state goes out through `board`.
    """

    def __init__(
        self, player: Player, worker: GeneratorWorker, surface: Surface, compositor: Compositor, sink: FrameSink,
        crossfade: bool = False, folders: Folders | None = None, clock: Callable[[], float] = time.perf_counter,
        preset: Preset | None = None, recorder: LiveRecorder | None = None, overlays: list | None = None,
        timeline: CueTimeline | None = None, queue_size: int = 1024,
    ) -> None:
        self.player = player
        self.worker = worker
        self.surface = surface
        self.compositor = compositor
        self.sink = sink
        self.crossfade = crossfade
        self.preset = preset or Preset()
        self.folders = folders or Folders.beside(self.preset.base_dir)
        self.overlays: list = list(overlays or [])
        self.overlay_visible = True
        self.clock = clock
        self.recorder = recorder
        self.timeline = timeline  # `run --cues`: the cue times set the position
        self.commands = CommandQueue(queue_size)
        self.board = StateBoard()
        self.thumbnails = False  # SetThumbnails: publish a small copy of the frame (a page is watching)
        self.audio = AudioState()  # what the audio adapter reports (SetAudioSource, AudioHeard)
        self.thumbnail_tap = ThumbnailTap()
        self.keyframe_pictures = KeyframePictures()  # MakeKeyframePictures: the page's strip
        self._thumbnail: Thumbnail | None = None
        self.loader = Loader(LoadFailed)  # its thread is started by the session
        self.stats = ShowStats()
        self.shown: Frame | None = None  # the generator frame on screen now
        self.last_snapshot: Path | None = None
        self._timeline_start: float | None = None
        self._last_tick: float | None = None
        self._frame_arrived = 0.0
        self._frame_interval = 1 / 30
        self._quit = False
        self._snapshot_to: Path | None = None
        self._events: deque[Event] = deque(maxlen=EVENTS_KEPT)
        self._event_serial = 0
        self._origin: Hashable | None = None  # of the command being applied
        self._reported_generator_error = ""
        self._edits = 0
        self._applied = 0
        self._failed = 0
        self._serial = 0

    # ---- input (any thread) -------------------------------------------------------------------

    def submit(self, command: Command, origin: Hashable | None = None) -> bool:
        """Queue a command for the next frame boundary; False when the queue is full (counted)."""
        return self.commands.submit(command, origin)

    # ---- what commands use (render thread) ----------------------------------------------------

    def emit(self, name: str, *args: object) -> None:
        """Publish an event with the next snapshot, addressed to the command being applied."""
        self._event_serial += 1
        self._events.append(Event(self._event_serial, name, args, self._origin))

    def now(self) -> float:
        return self.clock()

    def load_later(self, job: Callable[[], Command], hold: bool = True) -> None:
        """Read files off the render thread; the job's command is applied at a later frame
        boundary, before any waiting command, addressed like the command being applied.
        `hold=False`: later commands do not wait for it (a keyframe's picture)."""
        self.loader.load(job, self._origin, hold)

    def stop(self) -> None:
        self._quit = True

    def request_snapshot(self, path: Path | None = None) -> None:
        """Save a PNG of exactly what the next refresh draws (taken before it is presented)."""
        self._snapshot_to = path if path is not None else self.folders.snapshots / time.strftime("stylevj-%Y%m%d-%H%M%S.png")

    @property
    def running(self) -> bool:
        return not self._quit and not self.surface.should_close

    # ---- one refresh -----------------------------------------------------------------------

    def step(self) -> None:
        now = self.clock()
        dt = 0.0 if self._last_tick is None else now - self._last_tick
        self._last_tick = now
        self._apply_commands()
        if self.timeline is not None:
            if self._timeline_start is None:
                self._timeline_start = now
            self.player.seek(self.timeline.position(now - self._timeline_start))
            self.player.controls.advance(dt)  # the cues set the position; the knobs still glide
        else:
            for name in self.player.advance(dt):
                self.emit(name)
        self.worker.request(self.player.current(), self.player.position, self.player.controls.bends())
        self._upload_newest(now)
        mix = 1.0
        if self.crossfade and self.sink.previous is not None:
            mix = min((now - self._frame_arrived) / max(self._frame_interval, 1e-3), 1.0)
        overlays = self.overlays if self.overlay_visible else ()
        if self.shown is not None:  # panels showing the latent (the terminal print) get the W+ on screen
            for overlay in overlays:
                getattr(overlay, "update", lambda w, now: None)(self.shown.w, now)
        self.compositor.draw(self.surface, self.sink.current, self.sink.previous if self.crossfade else None, mix, overlays)
        if self.recorder is not None and self.recorder.recording:
            self.recorder.capture(getattr(self.surface, "framebuffer", None) or self.surface.ctx.screen, now)
        if self._snapshot_to is not None:
            self._write_snapshot(self._snapshot_to)
            self._snapshot_to = None
        self.surface.present()
        self.stats.refreshes += 1
        self._thumbnail = self.thumbnail_tap.ready() or self._thumbnail
        self._report_faults()
        self.board.publish(self._state(now))

    def _report_faults(self) -> None:
        """Generator and recording failures become events (each new reason once); a recording
        whose disk failed is finished, so the state never claims a recording that is not happening."""
        worker, rec = self.worker, self.recorder
        if worker.errors and worker.last_error != self._reported_generator_error:
            self._reported_generator_error = worker.last_error
            self.emit("error", f"generator: {worker.last_error}")
        if rec is not None and rec.recording and rec.error:
            error = rec.error
            path = rec.stop()
            self.emit("record/stopped", str(path or ""))
            self.emit("error", f"recording stopped: {error}")

    def _apply_commands(self) -> None:
        """Finished file loads first, then waiting commands in order, within the frame's budget;
        while a file is loading, later commands wait for it (each sender's order holds)."""
        for command, origin in self.loader.finished():
            self._apply(command, origin)
        deadline = time.perf_counter() + COMMAND_BUDGET_S
        for _ in range(MAX_COMMANDS_PER_FRAME):
            if self.loader.pending or time.perf_counter() > deadline:
                break
            pending = self.commands.take()
            if pending is None:
                break
            self._apply(pending.command, pending.origin)

    def _apply(self, command: Command, origin: Hashable | None) -> None:
        self._origin = origin
        try:
            command.apply(self)
        except (StylevjError, ValueError, IndexError, OSError, MemoryError) as exc:  # a bad command never stops the show
            self._failed += 1
            reason = str(exc) or type(exc).__name__
            log.warning("%s refused: %s", type(command).__name__, reason)
            self.emit("error", reason)
        else:
            self._applied += 1
            self._edits += command.edits
        finally:
            self._origin = None

    def _upload_newest(self, now: float) -> None:
        frame = self.worker.latest()
        if frame is None or (self.shown is not None and frame.number == self.shown.number):
            return
        if frame.event is not None and not frame.event.query():
            return  # unfinished (the worker publishes only finished frames): the previous one stays up
        self.worker.acquire(frame)
        released = None
        try:
            try:
                self.sink.upload(frame.pixels, frame.event)
            except Exception as exc:  # interop failed mid-show: the host copy works everywhere
                if isinstance(self.sink, HostSink):
                    raise
                self._upload_by_host(exc)
                self.sink.upload(frame.pixels, frame.event)
            if self.thumbnails and self.thumbnail_tap.due(now):  # queued, never waited for (show/thumbnail.py)
                released = self.thumbnail_tap.take(frame.pixels, frame.event, frame.number, now,
                                                   getattr(self.sink, "consumed", None))
        finally:
            self.worker.release(frame, released or getattr(self.sink, "consumed", None))
        if self.shown is not None:
            self._frame_interval = 0.8 * self._frame_interval + 0.2 * max(now - self._frame_arrived, 1e-3)
        self._frame_arrived = now
        self.shown = frame
        self.stats.frames_shown += 1

    def _upload_by_host(self, exc: Exception) -> None:
        """Replace a failing sink by the host copy, with one log line (its textures are freed)."""
        log.warning("upload: %s failed (%s: %s); host copy from now on", self.sink.kind, type(exc).__name__,
                    str(exc).splitlines()[0] if str(exc) else "")
        broken, self.sink = self.sink, HostSink(self.surface.ctx)
        try:
            broken.release()
        except Exception as release_exc:  # a broken interop may fail to unregister too: the textures go with GL
            log.warning("releasing the %s sink failed too (%s)", broken.kind, release_exc)

    def publish(self) -> ShowState:
        """Publish the state now, between refreshes (e.g. before the first, for the journal)."""
        state = self._state(self.clock())
        self.board.publish(state)
        return state

    def _state(self, now: float) -> ShowState:
        self._serial += 1
        p, rec, q = self.player, self.recorder, self.commands.counts
        return ShowState(
            serial=self._serial, clock=now, edits=self._edits, position=p.position, speed=p.speed, paused=p.paused,
            truncation=p.truncation, path=p.settings, mix=p.mix, noise=self.worker.noise_mode, keyframes=p.keyframes,
            overlay_visible=self.overlay_visible,
            panels=tuple(PanelState(o.name, bool(o.visible), float(o.opacity)) for o in self.overlays),
            recording=str(rec.path) if rec is not None and rec.recording else None,
            record_dropped=rec.dropped if rec is not None else 0, record_error=rec.error if rec is not None else "",
            refreshes=self.stats.refreshes, frames_shown=self.stats.frames_shown,
            generator_errors=self.worker.errors, generator_error=self.worker.last_error,
            preset=self.preset, commands=CommandCounts(self._applied, self._failed, q.coalesced, q.dropped),
            drive=p.drive, audio=self.audio, controls=p.controls.readings(),
            events=tuple(self._events), thumbnail=self._thumbnail,
            keyframe_pictures=self.keyframe_pictures.all_of(p.keyframes),
        )

    # ---- running ---------------------------------------------------------------------------

    def run(self, frames: int | None = None, seconds: float | None = None, pace_hz: float | None = None) -> ShowStats:
        """Step until quit (window closed, Esc twice), or `frames` refreshes / `seconds` elapsed.

        pace_hz: sleep to this refresh rate (headless has no vsync to pace it).
        """
        self.stats = ShowStats(started=self.clock())
        while self.running:
            if frames is not None and self.stats.refreshes >= frames:
                break
            if seconds is not None and self.clock() - self.stats.started >= seconds:
                break
            tick = self.clock()
            self.step()
            if pace_hz:
                time.sleep(max(0.0, 1.0 / pace_hz - (self.clock() - tick)))
        return self.stats

    def wait_for_first_frame(self, timeout: float = 60.0) -> bool:
        """Keep refreshing until a generated frame is on screen (start-up, tests, snapshots)."""
        deadline = self.clock() + timeout
        while self.shown is None and self.clock() < deadline and self.running:
            self.step()
            time.sleep(0.002)
        return self.shown is not None

    def _write_snapshot(self, path: Path) -> None:
        try:
            self.last_snapshot = save_png(np.ascontiguousarray(self.surface.read_pixels()[..., :3]), path)
            log.info("snapshot %s", self.last_snapshot)
        except StylevjError as exc:  # a full disk must not stop the show
            log.error("snapshot failed: %s", exc)
