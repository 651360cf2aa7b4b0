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
from ..display.frames import FrameSink
from ..display.surface import Surface
from ..errors import StylevjError
from ..images import save_png
from ..latent import Player
from ..latent.cues import CueTimeline
from ..presets import Preset
from .commands import Command, CommandQueue, Folders
from .state import EVENTS_KEPT, CommandCounts, Event, PanelState, ShowState, StateBoard
from .worker import Frame, GeneratorWorker

if TYPE_CHECKING:  # pragma: no cover
    from ..record.recorder import LiveRecorder

log = logging.getLogger(__name__)


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
        else:
            for name in self.player.advance(dt):
                self.emit(name)
        self.worker.request(self.player.current(), self.player.position)
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
        self.board.publish(self._state(now))

    def _apply_commands(self) -> None:
        for pending in self.commands.take():
            self._origin = pending.origin
            try:
                pending.command.apply(self)
            except (StylevjError, ValueError, IndexError, OSError) as exc:  # a bad command never stops the show
                self._failed += 1
                reason = str(exc) or type(exc).__name__
                log.warning("%s refused: %s", type(pending.command).__name__, reason)
                self.emit("error", reason)
            else:
                self._applied += 1
                self._edits += pending.command.edits
            finally:
                self._origin = None

    def _upload_newest(self, now: float) -> None:
        frame = self.worker.latest()
        if frame is None or (self.shown is not None and frame.number == self.shown.number):
            return
        self.worker.acquire(frame)
        try:
            self.sink.upload(frame.pixels, frame.event)
        finally:
            self.worker.release(frame, getattr(self.sink, "consumed", None))
        if self.shown is not None:
            self._frame_interval = 0.8 * self._frame_interval + 0.2 * max(now - self._frame_arrived, 1e-3)
        self._frame_arrived = now
        self.shown = frame
        self.stats.frames_shown += 1

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
            events=tuple(self._events),
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
