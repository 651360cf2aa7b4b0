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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Hashable

import numpy as np
import torch.utils._python_dispatch  # noqa: F401 - what torch imports on first use, imported here: the
import torch._subclasses.schema_check_mode  # noqa: F401   render thread never reads a module file

from ..clock import BeatClock, BeatReading, ClockError
from ..display.compositor import Compositor
from ..display.frames import FrameSink, HostSink
from ..display.surface import Surface
from ..errors import StylevjError
from ..images import save_png
from ..latent import PathSettings, Player
from ..models.input_transform import TRANSFORM_PARAMS, features, supported
from ..params import TABLE, Glide, Glides, Params
from ..latent.cues import CueTimeline
from ..presets import Preset
from ..outputs import Outputs
from .commands import Command, CommandError, CommandQueue, FileSaved, Folders, LoadFailed, Pending
from .loader import Loader
from .removed import Removed
from .state import EVENTS_KEPT, AudioState, CommandCounts, Event, MidiState, ShowState, StateBoard
from .thumbnail import KeyframePictures, Thumbnail, ThumbnailTap
from .worker import Frame, GeneratorWorker

if TYPE_CHECKING:  # pragma: no cover
    from ..record.recorder import LiveRecorder

log = logging.getLogger(__name__)

PATH_PARAMS = frozenset(("spline", "alpha", "closed", "constant_speed", "blend"))
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
        timeline: CueTimeline | None = None, queue_size: int = 1024, outputs: Outputs | None = None,
        beat_clock: BeatClock | None = None,
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
        self.params = self._params_of_parts(self._playable(self.preset.params))  # every knob, one frozen value (set_params)
        self._input = Glides(self.params, TRANSFORM_PARAMS)  # StyleGAN3's input transform, gliding
        fader = TABLE["fader"]
        self._fader = Glide(self.params.fader, fader.slew, fader.high - fader.low)  # the level the stage shows, gliding
        self.clock = clock
        self.beat_clock = beat_clock or BeatClock(tempo=self.params.tempo)  # Link, MIDI clock, taps, music, fixed
        self.params = self._clock_source(self.params)
        self.beat = BeatReading(source=self.params.clock)  # the beat clock at the last refresh
        self.recorder = recorder
        self.outputs = outputs or Outputs()  # frame outputs (NDI): fed after drawing, started by the session
        self.timeline = timeline  # `run --cues`: the cue times set the position
        self.commands = CommandQueue(queue_size)
        self.board = StateBoard()
        self.thumbnails = False  # SetThumbnails: publish a small copy of the frame (a page is watching)
        self.audio = AudioState()  # what the audio adapter reports (SetAudioSource, AudioHeard)
        self.midi = MidiState(mappings=self.preset.midi)  # the controllers' mappings (MidiMap, MidiLearn, SetMidiPorts)
        self.thumbnail_tap = ThumbnailTap()
        self.keyframe_pictures = KeyframePictures()  # MakeKeyframePictures: the page's strip
        self.removed = Removed()  # what keyframe removals and clears took (UndoKeyframes)
        self._thumbnail: Thumbnail | None = None
        self.loader = Loader(LoadFailed)  # its thread is started by the session
        self._waiting_for_loads: deque[Pending] = deque()  # commands of senders whose file is loading, in order
        self.stats = ShowStats()
        self.shown: Frame | None = None  # the generator frame on screen now
        self.last_snapshot: Path | None = None
        self._timeline_start: float | None = None
        self._last_tick: float | None = None
        self._frame_arrived = 0.0
        self._frame_interval = 1 / 30
        self._frames_sent = 0  # stats.frames_shown when the outputs last saw a refresh
        self._quit = False
        self._snapshot_to: tuple[Path, Hashable | None, bool] | None = None  # the origin that asked, confined
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

    def set_params(self, params: Params, lenient: bool = False) -> None:
        """Replace the show's parameters with `params` (render thread, at a frame boundary) and
        hand each changed value to the part that acts on it. The player owns motion: a change of
        path settings may convert the speed (constant speed), and the value kept is the player's.
        A knob the generator cannot act on (translate_x on StyleGAN2) is refused with a
        CommandError and nothing changes; `lenient` (a preset loaded whole) drops it with a warning."""
        if not lenient:
            has = features(self.worker.G)
            for name in params:
                p = TABLE[name]
                if p.needs and p.needs not in has and params[name] != p.default:
                    raise CommandError(f"{name} needs {p.requirement}")
        params = self._playable(params)
        joining = params.clock != self.params.clock
        if joining:
            params = self._clock_source(params, lenient)
        if params.tempo != self.params.tempo:  # proposed to Link unless the same change chose Link (a preset)
            self.beat_clock.set_tempo(params.tempo, self.clock(), propose=not joining)
        old, self.params = self.params, params
        changed = {name for name in params if params[name] != old[name]}
        if not changed:
            return
        player = self.player
        if "truncation" in changed:
            player.set_truncation(params.truncation)
        if changed & PATH_PARAMS:
            player.set_path_settings(PathSettings.of(params))
        if "speed" in changed:
            player.set_speed(params.speed)
        if player.speed != params.speed:
            self.params = params.replace(speed=player.speed)
        for overlay in self.overlays:
            overlay.visible = bool(params.get(f"overlay_{overlay.name}", overlay.visible))
            overlay.opacity = params.overlay_opacity

    def _playable(self, params: Params) -> Params:
        """`params` without the knobs this generator cannot act on (one warning names them)."""
        return supported(params, self.worker.G)

    def _clock_source(self, params: Params, lenient: bool = True) -> Params:
        """Follow `params.clock` with the beat clock; a source it cannot follow (Link without a
        session) is refused, or, `lenient` (a preset loaded whole), kept as it was with a warning."""
        try:
            self.beat_clock.select(params.clock)
        except ClockError as exc:
            if not lenient:
                raise
            log.warning("%s; the beat clock stays on %s", exc, self.beat_clock.source)
            return params.replace(clock=self.beat_clock.source)
        return params

    def _lock_to_beat(self) -> None:
        """Beat-locked arrivals: with a [[audio.mappings]] beat -> path, the path travels one
        segment per `every` beats of the beat clock as read at this refresh (free while it has
        no tempo or its transport is stopped)."""
        audio = self.preset.audio
        every = next((m.every for m in (audio.mappings if audio is not None else ()) if m.target == "path"), None)
        if every is None:
            return
        beat = self.beat
        segments = min(max(beat.beat / every, -1e9), 1e9) if beat.running and beat.bpm > 0 else None
        if segments != self.player.drive.segments:
            self.player.set_drive(replace(self.player.drive, segments=segments))

    def _params_of_parts(self, base: Params) -> Params:
        """`base` with what the parts were built with (the player's motion, the panels shown)."""
        p = self.player
        panels = {f"overlay_{o.name}": bool(o.visible) for o in self.overlays if f"overlay_{o.name}" in base}
        opacity = {"overlay_opacity": float(self.overlays[0].opacity)} if self.overlays else {}
        return base.replace(speed=p.speed, truncation=p.truncation, spline=p.settings.spline, alpha=p.settings.alpha,
                            closed=p.settings.closed, constant_speed=p.settings.constant_speed,
                            blend=p.settings.blend, **panels, **opacity)

    def load_later(self, job: Callable[[], Command], hold: bool = True, what: str = "a file") -> None:
        """Read or write files off the render thread; the job's command is applied at a later frame
        boundary, before any waiting command, addressed like the command being applied.
        `hold=False`: later commands do not wait for it (a keyframe's picture, a save).
        `what` names the job in the line its sender gets if it overruns the loader's deadline."""
        self.loader.load(job, self._origin, hold, what)

    def finish_saves(self, timeout: float = 10.0) -> bool:
        """Wait for the files being read or written (end of a run: a last snapshot) and apply
        their results; False if some did not finish in `timeout` seconds. Not during a show."""
        idle = self.loader.wait_idle(timeout)
        for command, origin in self.loader.finished():
            self._apply(command, origin)
        return idle

    def stop(self) -> None:
        self._quit = True

    def request_snapshot(self, path: Path | None = None, confined: bool = False) -> None:
        """Save a PNG of exactly what the next refresh draws (taken before it is presented).
        `confined`: a name from a command, which must stay inside the snapshots folder once the
        loader resolves it (links followed; never resolved here, on the render thread)."""
        path = path if path is not None else self.folders.snapshots / time.strftime("stylevj-%Y%m%d-%H%M%S.png")
        self._snapshot_to = (path, self._origin, confined)

    @property
    def running(self) -> bool:
        return not self._quit and not self.surface.should_close

    # ---- one refresh -----------------------------------------------------------------------

    def step(self) -> None:
        now = self.clock()
        dt = 0.0 if self._last_tick is None else now - self._last_tick
        self._last_tick = now
        self.apply_commands()
        self.beat = self.beat_clock.read(now)
        if self.timeline is not None:
            if self._timeline_start is None:
                self._timeline_start = now
            self.player.seek(self.timeline.position(now - self._timeline_start))
            self.player.controls.advance(dt)  # the cues set the position; the knobs still glide
        else:
            self._lock_to_beat()
            for name in self.player.advance(dt):
                self.emit(name)
        self.worker.request(self.player.current(), self.player.position, self.player.controls.bends(), self.params.noise,
                            self.player.drive.transform(self._input.toward(self.params, dt)))  # knobs + music
        self._upload_newest(now)
        mix = 1.0
        if self.crossfade and self.sink.previous is not None:
            mix = min((now - self._frame_arrived) / max(self._frame_interval, 1e-3), 1.0)
        overlays = self.overlays if self.params.overlay else ()
        level = 0.0 if self.params.blackout else self._fader.toward(self.params.fader, dt)
        if self.shown is not None:  # panels showing the latent (the terminal print) get the W+ on screen
            for overlay in overlays:
                getattr(overlay, "update", lambda w, now: None)(self.shown.w, now)
        self.compositor.draw(self.surface, self.sink.current, self.sink.previous if self.crossfade else None, mix, overlays,
                             level)
        if self.recorder is not None and self.recorder.recording:
            self.recorder.capture(getattr(self.surface, "framebuffer", None) or self.surface.ctx.screen, now)
        if self.outputs:  # each output reads the stage, or gets its own canvas drawn from the same inputs
            self.outputs.capture(getattr(self.surface, "framebuffer", None) or self.surface.ctx.screen, self.surface.size,
                                 lambda target, clean: self.compositor.draw(
                                     target, self.sink.current, self.sink.previous if self.crossfade else None, mix,
                                     () if clean else overlays, level),
                                 now, fresh=self.stats.frames_shown != self._frames_sent, level=level)
            self._frames_sent = self.stats.frames_shown
        if self._snapshot_to is not None:
            self._save_snapshot(*self._snapshot_to)
            self._snapshot_to = None
        self.surface.present()
        self.stats.refreshes += 1
        self._thumbnail = self.thumbnail_tap.shown(level)  # the page sees the stage's level (blackout, fader)
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

    def apply_commands(self) -> None:
        """Refusals answered, finished file loads applied, then waiting commands in order, within
        the frame's budget (a run of batched commands of one kind applies as one batch, one path
        rebuild, and ends the frame's commands: at most one such rebuild per frame, however fast
        the machine); while a file is loading, later commands wait for it (each sender's order
        holds)."""
        for refusal in self.commands.refusals():
            self._origin = refusal.origin
            self.emit("error", refusal.reason + (f" ({refusal.count} refused)" if refusal.count > 1 else ""))
        self._origin = None
        finished = self.loader.finished()
        while finished:
            kind = type(finished[0][0])
            n = 1
            while n < min(len(finished), kind.batch) and type(finished[n][0]) is kind:
                n += 1
            self._apply_run([Pending(c, o) for c, o in finished[:n]])  # type: ignore[arg-type]
            finished = finished[n:]
        deadline = time.perf_counter() + COMMAND_BUDGET_S
        taken = 0
        while taken < MAX_COMMANDS_PER_FRAME:
            if time.perf_counter() > deadline:
                break
            pending, set_aside = self._next_command()
            if pending is None:
                break
            kind = type(pending.command)
            run = [pending]
            if not set_aside:  # one set aside goes alone: later ones of its sender may wait there too
                more = self.commands.take_run(kind, min(kind.batch, MAX_COMMANDS_PER_FRAME - taken) - 1)
                run += [p for p in more if not self._wait_for_loads(p)]
            self._apply_run(run)
            taken += len(run)
            if kind.batch > 1:
                break

    def _next_command(self) -> tuple[Pending | None, bool]:
        """The oldest command that may apply now, and whether it had been set aside: a sender
        whose file is loading has its later commands set aside, in order, until the load is
        done or abandoned (the loader's deadline); everyone else, the stage keys and state
        requests included, goes on. At most the queue's size are set aside (then the queue
        fills, and drops are counted)."""
        for i, pending in enumerate(self._waiting_for_loads):
            if not self.loader.holds(pending.origin):
                del self._waiting_for_loads[i]
                return pending, True
        while len(self._waiting_for_loads) < self.commands.size:
            pending = self.commands.take()
            if pending is None or not self._wait_for_loads(pending):
                return pending, False
        return None, False

    def _wait_for_loads(self, pending: Pending) -> bool:
        """Set `pending` aside if its sender's file is loading (True), else leave it (False)."""
        if not self.loader.holds(pending.origin):
            return False
        self._waiting_for_loads.append(pending)
        return True

    def _apply_run(self, run: list[Pending]) -> None:
        """One command, or a batch of one kind through its `apply_many`, each counted and answered."""
        kind = type(run[0].command)
        if kind.batch <= 1:
            for pending in run:
                self._apply(pending.command, pending.origin)
            return
        try:
            outcomes = kind.apply_many(self, [p.command for p in run])
        except (StylevjError, ValueError, IndexError, OSError, MemoryError) as exc:
            outcomes = [exc] * len(run)
        for pending, outcome in zip(run, outcomes):
            self._origin = pending.origin
            if isinstance(outcome, Exception):
                self._refused(pending.command, outcome)
            else:
                self._applied += 1
                self._edits += pending.command.edits
                if outcome:
                    self.emit(*outcome)
        self._origin = None

    def _refused(self, command: Command, exc: Exception) -> None:
        self._failed += 1
        reason = str(exc) or type(exc).__name__
        log.warning("%s refused: %s", type(command).__name__, reason)
        self.emit("error", reason)

    def _apply(self, command: Command, origin: Hashable | None) -> None:
        self._origin = origin
        try:
            command.apply(self)
        except (StylevjError, ValueError, IndexError, OSError, MemoryError) as exc:  # a bad command never stops the show
            self._refused(command, exc)
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
            serial=self._serial, clock=now, edits=self._edits, position=p.position, paused=p.paused,
            params=self.params, mix=p.mix, keyframes=p.keyframes,
            recording=str(rec.path) if rec is not None and rec.recording else None,
            record_dropped=rec.dropped if rec is not None else 0, record_error=rec.error if rec is not None else "",
            refreshes=self.stats.refreshes, frames_shown=self.stats.frames_shown,
            generator_errors=self.worker.errors, generator_error=self.worker.last_error,
            preset=self.preset, commands=CommandCounts(self._applied, self._failed, q.coalesced, q.dropped,
                                                                 q.refused, self.commands.work),
            drive=p.drive, audio=self.audio, controls=p.controls.readings(),
            events=tuple(self._events), thumbnail=self._thumbnail,
            keyframe_pictures=self.keyframe_pictures.all_of(p.keyframes), outputs=self.outputs.reports(), beat=self.beat,
            undo=len(self.removed), features=features(self.worker.G), midi=self.midi,
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

    def _save_snapshot(self, path: Path, origin: Hashable | None, confined: bool = False) -> None:
        """Read the picture now (GL lives on this thread); encode and write it off the render
        thread (the loader's), the sender told when it is written or why not."""
        pixels = np.ascontiguousarray(self.surface.read_pixels()[..., :3])

        snapshots = self.folders.snapshots

        def job() -> Command:  # the loader's thread: resolving a name asks the filesystem
            if path.parent == snapshots:  # the user's snapshots folder is made on first use
                snapshots.mkdir(parents=True, exist_ok=True)
            if confined and not path.resolve().is_relative_to(snapshots.resolve()):
                raise StylevjError(f"'{path.name}' leaves the snapshots folder")
            self.last_snapshot = save_png(pixels, path)  # set once the file is whole
            log.info("snapshot %s", self.last_snapshot)
            return FileSaved("snapshot/saved", str(self.last_snapshot))

        self._origin = origin
        try:
            self.load_later(job, hold=origin is not None, what=f"snapshot {path.name}")  # like a save
        except StylevjError as exc:  # too many files on the way: the show goes on
            log.error("snapshot failed: %s", exc)
            self.emit("error", f"snapshot {path.name}: {exc}")
        finally:
            self._origin = None
