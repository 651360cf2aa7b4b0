"""The show loop: one step per display refresh, moved by the wall clock.

Each step: read the clock, apply queued commands (keys now, OSC later) at this frame boundary,
advance the player, ask the worker for the W+ of this instant, upload the newest finished frame
if there is one, draw, present. The step never waits for the generator; when the generator is
slower than the display, the last frame stays up (optionally cross-faded into the next one).
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ..display.compositor import Compositor
from ..display.frames import FrameSink
from ..display.keys import Action, KeyEvent
from ..display.surface import Surface
from ..errors import StylevjError
from ..images import save_png
from ..latent import Player
from ..latent.cues import CueTimeline
from ..presets import Preset
from .worker import Frame, GeneratorWorker

if TYPE_CHECKING:  # pragma: no cover
    from ..control import Controller, Journal
    from ..record.recorder import LiveRecorder

log = logging.getLogger(__name__)

Command = Callable[["Show"], None]
SPEED_STEP = 1.25  # arrow keys multiply or divide the speed by this
NUDGE = 0.05  # keyframe units per arrow-key press


@dataclass
class ShowStats:
    refreshes: int = 0
    frames_shown: int = 0  # distinct generator frames put on screen
    started: float = 0.0
    events: list[str] = field(default_factory=list)


class Show:
    """A running show: player + generator worker + surface, compositor and frame sink."""

    def __init__(
        self, player: Player, worker: GeneratorWorker, surface: Surface, compositor: Compositor, sink: FrameSink,
        crossfade: bool = False, snapshot_dir: Path = Path("."), clock: Callable[[], float] = time.perf_counter,
        preset: Preset | None = None, controller: "Controller | None" = None, journal: "Journal | None" = None,
        recorder: "LiveRecorder | None" = None,
    ) -> None:
        self.player = player
        self.worker = worker
        self.surface = surface
        self.compositor = compositor
        self.sink = sink
        self.crossfade = crossfade
        self.snapshot_dir = snapshot_dir
        self.overlays: list = []
        self.overlay_visible = True
        self.clock = clock
        self.preset = preset or Preset()
        self.controller = controller
        self.journal = journal
        self.recorder = recorder
        self.timeline: CueTimeline | None = None  # set for `run --cues`
        self._timeline_start: float | None = None
        self.stats = ShowStats()
        self.shown: Frame | None = None  # the generator frame on screen now
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._last_tick: float | None = None
        self._frame_arrived = 0.0
        self._frame_interval = 1 / 30
        self._quit = False
        self._snapshot_to: Path | None = None
        self.last_snapshot: Path | None = None

    # ---- input -----------------------------------------------------------------------------

    def submit(self, command: Command) -> None:
        """Queue a change to apply at the next frame boundary (safe from any thread)."""
        self._commands.put(command)

    def on_key(self, event: KeyEvent) -> None:
        """Keyboard actions, as commands (so they land at a frame boundary like OSC ones).

        The window itself handles fullscreen and the double-Esc quit."""
        actions: dict[Action, Command] = {
            Action.TOGGLE_PAUSE: lambda s: s.player.play() if s.player.paused else s.player.pause(),
            Action.SPEED_UP: lambda s: s.player.set_speed(s.player.speed * SPEED_STEP),
            Action.SPEED_DOWN: lambda s: s.player.set_speed(s.player.speed / SPEED_STEP),
            Action.NUDGE_FORWARD: lambda s: s.player.goto(s.player.position + NUDGE),
            Action.NUDGE_BACK: lambda s: s.player.goto(s.player.position - NUDGE),
            Action.TOGGLE_OVERLAY: lambda s: setattr(s, "overlay_visible", not s.overlay_visible),
            Action.SNAPSHOT: lambda s: s.request_snapshot(),
            Action.RECORD: lambda s: s.stop_recording() if s.recorder and s.recorder.recording else s.start_recording(),
            Action.QUIT: lambda s: s.stop(),
        }
        command = actions.get(event.action)
        if command is not None:
            self.submit(command)

    def stop(self) -> None:
        self._quit = True

    # ---- live recording (key R, OSC record/start and record/stop) ---------------------------

    def start_recording(self, name: str | None = None) -> Path:
        if self.recorder is None:
            raise StylevjError("recording is off for this show (no --record-dir)")
        return self.recorder.start(self.surface.ctx, self.surface.size, name, self.clock())

    def stop_recording(self) -> Path | None:
        return self.recorder.stop() if self.recorder is not None else None

    # ---- overlay switches (keys, OSC) ------------------------------------------------------

    def set_overlay(self, name: str, visible: bool) -> None:
        """Show or hide one overlay panel by name ('tensor', 'gpu'); all panels stay built."""
        for panel in self.overlays:
            if getattr(panel, "name", None) == name:
                panel.visible = visible

    def set_overlay_opacity(self, opacity: float) -> None:
        for panel in self.overlays:
            panel.opacity = opacity

    def overlay_state(self) -> dict:
        return {
            "visible": self.overlay_visible,
            "panels": {getattr(p, "name", "?"): bool(getattr(p, "visible", True)) for p in self.overlays},
        }

    @property
    def running(self) -> bool:
        return not self._quit and not self.surface.should_close

    # ---- one refresh -----------------------------------------------------------------------

    def step(self) -> None:
        now = self.clock()
        dt = 0.0 if self._last_tick is None else now - self._last_tick
        self._last_tick = now
        changed = self._apply_commands()
        if self.controller is not None:
            changed = self.controller.apply_pending(self) or changed
        if changed and self.journal is not None:
            self.journal.record(self.preset, self.player, self.worker.noise_mode)
        if self.timeline is not None:  # playing to a track: the cues set the position
            if self._timeline_start is None:
                self._timeline_start = now
            self.player.seek(self.timeline.position(now - self._timeline_start))
            events = []
        else:
            events = self.player.advance(dt)
        if events:
            self.stats.events.extend(events)
        if self.controller is not None:
            self.controller.feedback(self, events)
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

    def _apply_commands(self) -> bool:
        """Run the queued commands; True when any ran (the journal records the change)."""
        ran = False
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return ran
            ran = True
            try:
                command(self)
            except (StylevjError, ValueError, IndexError, OSError) as exc:  # a bad command never stops the show
                log.error("command failed: %s", exc)

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

    def request_snapshot(self, path: str | Path | None = None) -> None:
        """Save a PNG of exactly what the next refresh draws (taken before it is presented)."""
        self._snapshot_to = Path(path) if path is not None else self.snapshot_dir / time.strftime("stylevj-%Y%m%d-%H%M%S.png")

    def _write_snapshot(self, path: Path) -> None:
        try:
            self.last_snapshot = save_png(np.ascontiguousarray(self.surface.read_pixels()[..., :3]), path)
            log.info("snapshot %s", self.last_snapshot)
        except StylevjError as exc:  # a full disk must not stop the show
            log.error("snapshot failed: %s", exc)
