"""What the show publishes each frame: a frozen `ShowState`, read by every adapter.

The show never calls its listeners. After each refresh it puts a new snapshot on its
`StateBoard`; adapters (OSC feedback, the journal, the operator page) read the newest one, or
wait for the next, on their own threads, the way the overlay reads GPU telemetry. Snapshots are
immutable (keyframe tensors are never changed in place), so they cross threads as they are.

One-off happenings (a loop, a keyframe added, a command that failed, a state request) are
`Event`s with increasing serial numbers; each snapshot carries the most recent ones, so a
reader that skipped snapshots still sees every event it has not seen (up to `EVENTS_KEPT`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Hashable

from ..clock import BeatReading
from ..latent import Drive, Keyframe, PathSettings, StyleMix
from ..latent.controls import ControlReading
from ..latent.hearing import Heard
from ..midi import MidiMapping
from ..outputs import OutputReport
from ..params import Params
from ..presets import Preset
from .thumbnail import KeyframePicture, Thumbnail

EVENTS_KEPT = 256
PANELS = ("tensor", "gpu")  # the overlay's panels, each with its `overlay_<name>` parameter


@dataclass(frozen=True)
class Event:
    """Something that happened at a frame boundary. `origin`: who asked (opaque to the show; an
    adapter uses it to answer its own sender), None for the show's own events."""

    serial: int
    name: str  # "loop", "keyframe/added", "error", "state", "record/started", ...
    args: tuple = ()
    origin: Hashable | None = None


@dataclass(frozen=True)
class PanelState:
    name: str
    visible: bool
    opacity: float


def panels_of(params: Params) -> tuple[PanelState, ...]:
    """The overlay panels as the table's parameters set them (one opacity for all)."""
    return tuple(PanelState(name, bool(params[f"overlay_{name}"]), params.overlay_opacity) for name in PANELS)


@dataclass(frozen=True)
class CommandCounts:
    """Commands the show took: applied, failed when applied, coalesced (a newer value of the
    same parameter in the same frame), dropped (the queue was full), refused (too much work was
    waiting: each sender is told "busy"), and the keyframe edits waiting now (`work`)."""

    applied: int = 0
    failed: int = 0
    coalesced: int = 0
    dropped: int = 0
    refused: int = 0
    work: int = 0


@dataclass(frozen=True)
class AudioState:
    """What the audio adapter last told the show (`SetAudioSource`, `AudioHeard`): where the sound
    comes from, why there is none, and what it heard (`Heard`: its fields are the state's)."""

    source: str = ""  # "file song.wav", "input Scarlett 2i2", or "" when the show has no audio
    problem: str = ""  # why the show runs without audio now (a vanished device, a silent file), or ""
    heard: Heard = Heard()

    def to_json(self) -> dict:
        return {"source": self.source, "problem": self.problem, **self.heard.to_json()}


@dataclass(frozen=True)
class MidiState:
    """The MIDI controllers as the show holds them: the mappings (show data: saved in presets,
    journaled, changed by MidiMap / MidiForget / MidiLearn), the knob being learned, and the ports
    the MIDI adapter last reported open (SetMidiPorts), with why one is missing."""

    mappings: tuple[MidiMapping, ...] = ()
    learning: str | None = None  # the knob or trigger the next moved control maps to (MidiLearn)
    learns: int = 0  # learns armed so far: the adapter answers each one once
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    problem: str = ""  # why a port asked for is not open (unknown name, no backend), or ""

    def to_json(self) -> dict:
        return {"in": list(self.inputs), "out": list(self.outputs), "learning": self.learning,
                "mappings": [m.to_json() for m in self.mappings], "problem": self.problem}


@dataclass(frozen=True)
class ShowState:
    """The whole show at one refresh, for feedback, `/stylevj/state`, the journal and the page."""

    serial: int  # one more per published refresh
    clock: float  # the show's clock (seconds) at this refresh
    edits: int  # changes applied so far: the journal writes when this grows
    position: float
    paused: bool
    params: Params  # every knob of the parameter table (realtime/params.py), as set
    mix: StyleMix | None
    keyframes: tuple[Keyframe, ...]
    recording: str | None  # the file being recorded, or None
    record_dropped: int
    record_error: str
    refreshes: int
    frames_shown: int
    generator_errors: int
    generator_error: str
    preset: Preset = Preset()  # what the show was started with (or loaded): the base a save captures onto
    commands: CommandCounts = CommandCounts()
    controls: tuple[ControlReading, ...] = ()  # the knobs: value (target) and current (gliding), in order
    drive: Drive = Drive()  # the music's modulation on top of speed, truncation and the transform (all stay the base values)
    audio: AudioState = AudioState()
    events: tuple[Event, ...] = field(default=(), repr=False)
    thumbnail: Thumbnail | None = field(default=None, repr=False)  # while SetThumbnails is on (the page)
    keyframe_pictures: tuple[KeyframePicture | None, ...] = field(default=(), repr=False)  # beside `keyframes` (MakeKeyframePictures)
    outputs: tuple[OutputReport, ...] = ()  # the frame outputs (NDI): name as sent, size, frames/s, receivers, drops
    beat: BeatReading = BeatReading()  # the beat clock at this refresh (realtime/clock): tempo, beat, source, Link peers
    midi: MidiState = MidiState()  # controllers: mappings, learning, ports (realtime/control/midi.py)
    undo: int = 0  # keyframe removals and clears that UndoKeyframes can put back
    features: frozenset[str] = frozenset()  # what the generator offers of the knobs' `needs` ("stylegan3")

    # Views of `params` under the names the journal, captures and older readers use.
    @property
    def speed(self) -> float:
        return self.params.speed

    @property
    def truncation(self) -> float:
        return self.params.truncation

    @property
    def path(self) -> PathSettings:
        return PathSettings.of(self.params)

    @property
    def noise(self) -> str:
        return self.params.noise

    @property
    def overlay_visible(self) -> bool:
        return self.params.overlay

    @property
    def panels(self) -> tuple[PanelState, ...]:
        return panels_of(self.params)

    def events_after(self, serial: int) -> list[Event]:
        """The events newer than `serial` (what a reader has not seen yet)."""
        return [e for e in self.events if e.serial > serial]

    def to_json(self) -> dict:
        """The state as plain JSON data (what `/stylevj/state` answers)."""
        return {
            "serial": self.serial,  # one more per refresh: a reader can tell a fresh answer from an old one
            "params": self.params.to_json(),
            "position": self.position, "speed": self.speed, "paused": self.paused, "truncation": self.truncation,
            "spline": self.path.spline, "alpha": self.path.alpha, "closed": self.path.closed,
            "constant_speed": self.path.constant_speed, "blend": self.path.blend, "noise": self.noise,
            "mix": None if self.mix is None else [self.mix.keyframe, self.mix.first, self.mix.last],
            "keyframes": [{"name": k.name, "source": k.source} for k in self.keyframes],
            "overlay": {"visible": self.overlay_visible,
                        "panels": {p.name: {"visible": p.visible, "opacity": p.opacity} for p in self.panels}},
            "recording": {"file": self.recording, "dropped": self.record_dropped, "error": self.record_error},
            "frames": {"refreshes": self.refreshes, "shown": self.frames_shown,
                       "generator_errors": self.generator_errors, "generator_error": self.generator_error},
            "commands": {"applied": self.commands.applied, "failed": self.commands.failed,
                         "coalesced": self.commands.coalesced, "dropped": self.commands.dropped,
                         "refused": self.commands.refused, "work": self.commands.work},
            "controls": {c.name: {"kind": c.kind, "value": c.value, "current": c.current, "range": [c.low, c.high],
                                  "slew": c.slew} for c in self.controls},
            "drive": {"speed": self.drive.speed, "truncation": self.drive.truncation, "segments": self.drive.segments,
                      "translate_x": self.drive.translate_x, "translate_y": self.drive.translate_y,
                      "rotate": self.drive.rotate},
            "audio": self.audio.to_json(),
            "outputs": [o.to_json() for o in self.outputs],
            "clock": self.beat.to_json(),  # {"bpm", "source", "peers", "beat", "running"}
            "midi": self.midi.to_json(),
            "undo": self.undo,
            "generator": {"features": sorted(self.features)},  # a knob whose `needs` is missing here does nothing
        }


class StateBoard:
    """The newest `ShowState`: the show publishes, any thread reads or waits for a newer one."""

    def __init__(self) -> None:
        self._latest: ShowState | None = None
        self._changed = threading.Condition()

    def publish(self, state: ShowState) -> None:
        with self._changed:
            self._latest = state
            self._changed.notify_all()

    def latest(self) -> ShowState | None:
        """The newest snapshot (None before the first refresh); never blocks."""
        return self._latest

    def wait_newer(self, serial: int, timeout: float) -> ShowState | None:
        """A snapshot newer than `serial`, waiting up to `timeout` seconds; None if none came."""
        with self._changed:
            self._changed.wait_for(lambda: self._latest is not None and self._latest.serial > serial, timeout)
            latest = self._latest
        return latest if latest is not None and latest.serial > serial else None


class StateFollower:
    """One reader's place on a `StateBoard`: each newer snapshot in turn, with the events it has
    not seen yet. Events from before the follower was made are not its to answer."""

    def __init__(self, board: StateBoard) -> None:
        self._board = board
        latest = board.latest()
        self.serial = latest.serial if latest is not None else 0
        self.seen = max((e.serial for e in latest.events), default=0) if latest is not None else 0

    def next(self, timeout: float) -> tuple[ShowState, list[Event]] | None:
        """The next snapshot and its unseen events, waiting up to `timeout`; None if none came."""
        state = self._board.wait_newer(self.serial, timeout)
        if state is None:
            return None
        self.serial = state.serial
        events = state.events_after(self.seen)
        if events:
            self.seen = events[-1].serial
        return state, events

