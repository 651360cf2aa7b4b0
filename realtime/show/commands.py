"""The show's vocabulary: every change it accepts, as a typed, validated command.

    show.submit(SetSpeed(0.5), origin=("osc", sender))      # from any thread
    # at the next frame boundary the show calls command.apply(show)

A command is a frozen dataclass whose fields carry their ranges (`realtime.checks`): it cannot
be made with a bad value, so every sender (OSC, the operator page, keys, MIDI through OSC,
audio) gets the same checks and the same behaviour. `apply` runs on the render thread at a frame
boundary; what can only be known then (a keyframe index that does not exist, a file that cannot
be read) raises `CommandError`, which the show reports as an "error" event to the sender.

Parameters (`coalesce = True`) collapse within a frame to the newest value per `key()`; other
commands all apply, in order. Adapters never reach into the show: they make commands and read
the published `ShowState`.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Hashable, Protocol

from ..checks import FLAG, OPTIONAL_TEXT, TEXT, Check, Checked, checked, choice, integer, number
from ..errors import StylevjError
from ..latent import (POSITION, SPEED, SPLINES, TRUNCATION, Drive, Keyframe, Player, StyleMix, keyframe_from_seed,
                      load_keyframe, snapshot)
from ..models import NOISE_MODES
from ..latent.controls import CONTROL_NAME, ControlError, Controls, Knob
from ..latent.directions import METHODS
from ..presets import LAYER_RANGE, ControlSpec, Preset, default_preset_path, load_preset, save_preset, user_presets_dir
from .build import LiveShow, build_controls, capture, check_mix, load_keyframes, make_knob
from .state import AudioState

if TYPE_CHECKING:  # pragma: no cover
    from ..record.recorder import LiveRecorder
    from .worker import GeneratorWorker

log = logging.getLogger(__name__)

INDEX = integer(0, 100_000)
SEED = integer(0, 2**32 - 1)
PSI = number(-2, 2, optional=True)
ON = FLAG
OPACITY = number(0, 1)
PANEL_NAMES = ("tensor", "gpu")
SPEED_STEP = 1.25  # arrow keys multiply or divide the speed by this
NUDGE = 0.05  # keyframe units per arrow-key press


class CommandError(StylevjError):
    """A command that cannot be applied now; the show reports it to the sender and goes on."""


# ---- what a command may touch --------------------------------------------------------------------


@dataclass(frozen=True)
class Folders:
    """Where files named in commands may come from (and presets be saved): nowhere else.

    `saves` is where presets are written: the presets folder, unless that is the presets shipped
    inside the package (read-only: a save must never change them), then the user's own
    ($XDG_DATA_HOME/stylevj/presets). Presets load from `saves` first, then `presets`.
    """

    presets: Path
    keyframes: Path
    snapshots: Path
    saves: Path

    @classmethod
    def beside(cls, presets: Path, keyframes: Path | None = None, snapshots: Path | None = None) -> Folders:
        presets = Path(presets).expanduser().resolve()
        saves = user_presets_dir() if presets == default_preset_path().parent.resolve() else presets
        return cls(presets, Path(keyframes or presets / "keyframes").expanduser().resolve(),
                   Path(snapshots or Path(".")).expanduser().resolve(), saves)

    def confine(self, name: str, kind: str, suffix: str = "") -> Path:
        """A plain name inside the `kind` folder ('presets', 'keyframes', 'snapshots', 'saves'), or a CommandError."""
        root = {"presets": self.presets, "keyframes": self.keyframes, "snapshots": self.snapshots,
                "saves": self.saves}[kind]
        candidate = Path(name if not suffix or name.endswith(suffix) else name + suffix)
        if candidate.is_absolute() or ".." in candidate.parts or not name.strip():
            raise CommandError(f"'{name}' must be a plain name inside the {kind} folder")
        path = (root / candidate).resolve()
        if not path.is_relative_to(root):
            raise CommandError(f"'{name}' leaves the {kind} folder")
        return path


class Stage(Protocol):
    """The parts of a running show that commands change (`realtime.show.Show` is one)."""

    player: Player
    worker: GeneratorWorker
    preset: Preset
    folders: Folders
    overlays: list
    overlay_visible: bool
    recorder: LiveRecorder | None
    surface: Any
    thumbnails: bool  # publish a small copy of the frame on screen (SetThumbnails)
    audio: AudioState  # what the audio adapter last reported (SetAudioSource, AudioHeard)

    def emit(self, name: str, *args: object) -> None: ...
    def load_later(self, job: Callable[[], Command]) -> None: ...
    def request_snapshot(self, path: Path | None = None) -> None: ...
    def stop(self) -> None: ...
    def now(self) -> float: ...


# ---- the commands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command(Checked):
    """Base: fields validated when made; `apply(show)` at a frame boundary."""

    coalesce: ClassVar[bool] = False  # a parameter: only the newest value per key() in a frame applies
    edits: ClassVar[bool] = True  # changes what a preset saves (the journal writes it)

    def key(self) -> Hashable:
        return type(self).__name__

    def apply(self, show: Stage) -> None:
        raise NotImplementedError


def _keyframe(show: Stage, index: int) -> int:
    count = len(show.player.keyframes)
    if not 0 <= index < count:
        raise CommandError(f"keyframe {index} does not exist (there are {count})")
    return index


@dataclass(frozen=True)
class Play(Command):
    """play"""

    def apply(self, show: Stage) -> None:
        show.player.play()


@dataclass(frozen=True)
class Pause(Command):
    """pause (the picture holds)"""

    def apply(self, show: Stage) -> None:
        show.player.pause()


@dataclass(frozen=True)
class TogglePause(Command):
    """pause when playing, play when paused"""

    def apply(self, show: Stage) -> None:
        show.player.play() if show.player.paused else show.player.pause()


@dataclass(frozen=True)
class SetSpeed(Command):
    """keyframes per second (W+ distance/s in constant-speed mode); negative plays backwards"""

    coalesce = True
    speed: float = checked(SPEED)

    def apply(self, show: Stage) -> None:
        show.player.set_speed(self.speed)


@dataclass(frozen=True)
class ScaleSpeed(Command):
    """multiply the speed (arrow keys: 1.25 and 0.8), kept within the speed range"""

    factor: float = checked(number(0.01, 100))

    def apply(self, show: Stage) -> None:
        show.player.set_speed(min(max(show.player.speed * self.factor, SPEED.lo), SPEED.hi))


@dataclass(frozen=True)
class Goto(Command):
    """go to a path position in keyframe units"""

    coalesce = True
    position: float = checked(POSITION)

    def apply(self, show: Stage) -> None:
        show.player.goto(self.position)


@dataclass(frozen=True)
class Nudge(Command):
    """move along the path by this many keyframe units (arrow keys: 0.05)"""

    amount: float = checked(number(-100, 100))

    def apply(self, show: Stage) -> None:
        show.player.goto(show.player.position + self.amount)


@dataclass(frozen=True)
class GotoKeyframe(Command):
    """go to keyframe i"""

    index: int = checked(INDEX)

    def apply(self, show: Stage) -> None:
        show.player.goto_keyframe(_keyframe(show, self.index))


@dataclass(frozen=True)
class AddSeedKeyframe(Command):
    """append the keyframe of a seed, optionally truncated"""

    seed: int = checked(SEED)
    psi: float | None = checked(PSI, None)

    def apply(self, show: Stage) -> None:
        index = show.player.add(keyframe_from_seed(show.worker.G, self.seed, self.psi))
        show.emit("keyframe/added", index)


@dataclass(frozen=True)
class AddFileKeyframe(Command):
    """append a W+ file from the keyframes folder"""

    file: str = checked(TEXT)

    def apply(self, show: Stage) -> None:
        path, G = show.folders.confine(self.file, "keyframes"), show.worker.G
        show.load_later(lambda: InsertKeyframe(load_keyframe(path, G.num_ws, G.w_dim)))


@dataclass(frozen=True)
class AddCurrentKeyframe(Command):
    """append the live W+ as a keyframe"""

    def apply(self, show: Stage) -> None:
        index = show.player.add(snapshot(show.player.raw(), name=f"live {len(show.player.keyframes)}"))
        show.emit("keyframe/added", index)


@dataclass(frozen=True)
class RemoveKeyframe(Command):
    """remove keyframe i"""

    index: int = checked(INDEX)

    def apply(self, show: Stage) -> None:
        show.player.remove(_keyframe(show, self.index))


def _seed_or_file(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        OPTIONAL_TEXT(value)  # a file name: raises if empty or too long
        return None
    try:
        SEED(value)
    except StylevjError as exc:
        return f"as a seed {exc}"
    return None


@dataclass(frozen=True)
class ReplaceKeyframe(Command):
    """replace keyframe i by a seed (and psi), a file, or (no argument) the live W+"""

    index: int = checked(INDEX)
    seed_or_file: int | str | None = checked(Check("any", optional=True, extra=_seed_or_file), None)
    psi: float | None = checked(PSI, None)

    def apply(self, show: Stage) -> None:
        i = _keyframe(show, self.index)
        G = show.worker.G
        if self.seed_or_file is None:
            kf = snapshot(show.player.raw(), name=f"live {i}")
        elif isinstance(self.seed_or_file, str):
            path = show.folders.confine(self.seed_or_file, "keyframes")
            show.load_later(lambda: ReplaceWith(i, load_keyframe(path, G.num_ws, G.w_dim)))
            return
        else:
            kf = keyframe_from_seed(G, int(self.seed_or_file), self.psi)
        show.player.replace(i, kf)


@dataclass(frozen=True)
class MoveKeyframe(Command):
    """move keyframe i to position j"""

    index: int = checked(INDEX)
    to: int = checked(INDEX)

    def apply(self, show: Stage) -> None:
        show.player.move(_keyframe(show, self.index), _keyframe(show, self.to))


@dataclass(frozen=True)
class RenameKeyframe(Command):
    """rename keyframe i (the name shown on the page and saved in presets)"""

    index: int = checked(INDEX)
    name: str = checked(Check("text", max_length=80))

    def apply(self, show: Stage) -> None:
        i = _keyframe(show, self.index)
        show.player.replace(i, replace(show.player.keyframes[i], name=self.name.strip()))


@dataclass(frozen=True)
class ClearKeyframes(Command):
    """remove every keyframe (the picture holds)"""

    def apply(self, show: Stage) -> None:
        show.player.clear()


@dataclass(frozen=True)
class SetTruncation(Command):
    """truncation toward w_avg, after interpolation"""

    coalesce = True
    psi: float = checked(TRUNCATION)

    def apply(self, show: Stage) -> None:
        show.player.set_truncation(self.psi)


@dataclass(frozen=True)
class SetSpline(Command):
    """path kind"""

    coalesce = True
    kind: str = checked(choice(SPLINES))

    def apply(self, show: Stage) -> None:
        show.player.set_path_settings(replace(show.player.settings, spline=self.kind))


@dataclass(frozen=True)
class SetAlpha(Command):
    """Catmull-Rom alpha: 0 uniform, 0.5 centripetal, 1 chordal"""

    coalesce = True
    alpha: float = checked(number(0, 1))

    def apply(self, show: Stage) -> None:
        show.player.set_path_settings(replace(show.player.settings, alpha=self.alpha))


@dataclass(frozen=True)
class SetConstantSpeed(Command):
    """1: speed is W+ distance per second"""

    coalesce = True
    on: bool = checked(ON)

    def apply(self, show: Stage) -> None:
        show.player.set_path_settings(replace(show.player.settings, constant_speed=self.on))


@dataclass(frozen=True)
class SetNoise(Command):
    """noise inputs"""

    coalesce = True
    mode: str = checked(choice(NOISE_MODES))

    def apply(self, show: Stage) -> None:
        show.worker.noise_mode = self.mode


@dataclass(frozen=True)
class SetMix(Command):
    """style mixing: W+ rows first..last from keyframe i"""

    coalesce = True
    index: int = checked(INDEX)
    first: int = checked(integer(0, 1000))
    last: int = checked(integer(0, 1000))

    def key(self) -> Hashable:
        return "mix"

    def apply(self, show: Stage) -> None:
        num_ws = show.worker.G.num_ws
        if self.first > self.last or self.last >= num_ws:
            raise CommandError(f"layers {self.first}..{self.last} are not within 0..{num_ws - 1}")
        show.player.set_mix(StyleMix(_keyframe(show, self.index), (self.first, self.last)))


@dataclass(frozen=True)
class MixOff(Command):
    """style mixing off"""

    coalesce = True

    def key(self) -> Hashable:
        return "mix"

    def apply(self, show: Stage) -> None:
        show.player.set_mix(None)


@dataclass(frozen=True)
class SetPanel(Command):
    """show or hide an overlay panel"""

    coalesce = True
    panel: str = checked(choice(PANEL_NAMES))
    on: bool = checked(ON)

    def key(self) -> Hashable:
        return ("panel", self.panel)

    def apply(self, show: Stage) -> None:
        for p in show.overlays:
            if p.name == self.panel:
                p.visible = self.on


@dataclass(frozen=True)
class SetOverlayOpacity(Command):
    """overlay opacity"""

    coalesce = True
    opacity: float = checked(OPACITY)

    def apply(self, show: Stage) -> None:
        for p in show.overlays:
            p.opacity = self.opacity


@dataclass(frozen=True)
class ToggleOverlay(Command):
    """hide or show all overlay panels at once"""

    def apply(self, show: Stage) -> None:
        show.overlay_visible = not show.overlay_visible


@dataclass(frozen=True)
class LoadPreset(Command):
    """load a preset from the presets folder"""

    name: str = checked(TEXT)

    def apply(self, show: Stage) -> None:
        saved = show.folders.confine(self.name, "saves", ".toml")
        path = saved if saved.exists() else show.folders.confine(self.name, "presets", ".toml")
        G = show.worker.G

        def job() -> Command:
            preset = load_preset(path)
            check_mix(preset, G.num_ws, len(preset.keyframes), str(path))
            return PresetLoaded(preset, tuple(load_keyframes(preset, G)), path,  # all or nothing
                                build_controls(preset, G, str(path)))

        show.load_later(job)


@dataclass(frozen=True)
class PresetLoaded(Command):
    """switch to a preset read and checked by the loader (made by LoadPreset, never sent)"""

    preset: Preset
    keyframes: tuple
    path: Path
    controls: Controls | None = None  # the preset's [[controls]], built by the loader

    def apply(self, show: Stage) -> None:
        preset, keyframes, path = self.preset, self.keyframes, self.path
        player = show.player
        if self.controls is not None:
            player.controls = self.controls
        player.clear()
        for kf in keyframes:
            player.add(kf)
        player.set_path_settings(preset.path)
        player.set_speed(preset.play.speed)
        player.set_truncation(preset.play.truncation)
        player.set_mix(preset.mix)
        show.worker.noise_mode = preset.generator.noise
        show.preset = replace(preset, generator=replace(preset.generator, source=show.preset.generator.source),
                              base_dir=show.preset.base_dir)
        log.info("loaded preset %s", path)


@dataclass(frozen=True)
class SavePreset(Command):
    """save the live show as a preset in the presets folder"""

    edits = False

    name: str = checked(TEXT)

    def apply(self, show: Stage) -> None:
        path = show.folders.confine(self.name, "saves", ".toml")
        path.parent.mkdir(parents=True, exist_ok=True)
        save_preset(capture(show.preset, LiveShow.of(show.player, show.worker.noise_mode), path), path, backup=True)
        log.info("saved preset %s", path)
        show.emit("preset/saved", str(path))


@dataclass(frozen=True)
class StartRecording(Command):
    """record the stage output to the recordings folder (named by date and time, or NAME)"""

    edits = False

    name: str | None = checked(OPTIONAL_TEXT, None)

    def apply(self, show: Stage) -> None:
        if show.recorder is None:
            raise CommandError("recording is off for this show (no --record-dir)")
        path = show.recorder.start(show.surface.ctx, show.surface.size, self.name, show.now())
        show.emit("record/started", str(path))


@dataclass(frozen=True)
class StopRecording(Command):
    """stop recording; the file is finished and playable"""

    edits = False

    def apply(self, show: Stage) -> None:
        path = show.recorder.stop() if show.recorder is not None else None
        show.emit("record/stopped", str(path or ""))


@dataclass(frozen=True)
class ToggleRecording(Command):
    """start recording, or stop the recording running (key R)"""

    edits = False

    def apply(self, show: Stage) -> None:
        if show.recorder is not None and show.recorder.recording:
            StopRecording().apply(show)
        else:
            StartRecording().apply(show)


@dataclass(frozen=True)
class Snapshot(Command):
    """save a PNG of the stage output in the snapshots folder (named by date and time, or NAME)"""

    edits = False

    name: str | None = checked(OPTIONAL_TEXT, None)

    def apply(self, show: Stage) -> None:
        path = None if self.name is None else show.folders.confine(self.name, "snapshots", ".png")
        show.request_snapshot(path)


@dataclass(frozen=True)
class ReportState(Command):
    """reply with the whole state as one JSON string (/stylevj/state s)"""

    edits = False

    def apply(self, show: Stage) -> None:
        show.emit("state")  # the adapter answers from the snapshot that carries this event


@dataclass(frozen=True)
class SetThumbnails(Command):
    """publish a small copy of the frame on screen a few times a second (the operator page's picture)"""

    coalesce = True
    edits = False
    on: bool = checked(ON)

    def apply(self, show: Stage) -> None:
        show.thumbnails = self.on


@dataclass(frozen=True)
class Quit(Command):
    """end the show (stage keys only: Esc twice)"""

    edits = False

    def apply(self, show: Stage) -> None:
        show.stop()


# ---- made by the show itself (the loader), never sent from outside ---------------------------------


@dataclass(frozen=True)
class InsertKeyframe(Command):
    """append a keyframe read and checked by the loader (made by AddFileKeyframe, never sent)"""

    keyframe: Keyframe

    def apply(self, show: Stage) -> None:
        show.emit("keyframe/added", show.player.add(self.keyframe))


@dataclass(frozen=True)
class ReplaceWith(Command):
    """replace keyframe i by one read and checked by the loader (made by ReplaceKeyframe, never sent)"""

    index: int
    keyframe: Keyframe

    def apply(self, show: Stage) -> None:
        show.player.replace(_keyframe(show, self.index), self.keyframe)


@dataclass(frozen=True)
class LoadFailed(Command):
    """report a file the loader could not use (never sent)"""

    edits = False
    reason: str

    def apply(self, show: Stage) -> None:
        raise CommandError(self.reason)


# ---- music: made by the audio adapter (realtime.audio), or a tap/BPM that the show passes on to it -----

UNIT = number(0, 1)
BPM = number(20, 400, optional=True)


def _line(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    return None if len(value) <= 512 and "\n" not in value else "must be one line of at most 512 characters"


LINE = Check("any", extra=_line)  # text that may be empty ("": none)


@dataclass(frozen=True)
class SetAudioDrive(Command):
    """the music's modulation on top of the knobs: speed boost, truncation offset, beat-locked travel"""

    coalesce = True
    edits = False  # the base values are what a preset saves; the drive is recomputed every frame
    speed: float = checked(SPEED, 0.0)
    truncation: float = checked(TRUNCATION, 0.0)
    segments: float | None = checked(number(-1e9, 1e9, optional=True), None)

    def as_drive(self) -> Drive:
        """The player's value (an offline render sets it on its player directly)."""
        return Drive(self.speed, self.truncation, self.segments)

    def apply(self, show: Stage) -> None:
        show.player.set_drive(self.as_drive())


@dataclass(frozen=True)
class AudioHeard(Command):
    """what the music is doing now (published in the state and over --osc-reply as /stylevj/audio/...)"""

    coalesce = True
    edits = False
    level: float = checked(UNIT, 0.0)
    onset: float = checked(UNIT, 0.0)
    low: float = checked(UNIT, 0.0)
    mid: float = checked(UNIT, 0.0)
    high: float = checked(UNIT, 0.0)
    bpm: float = checked(number(0, 400), 0.0)
    beat_phase: float = checked(UNIT, 0.0)
    beat: int = checked(integer(0, 2**31 - 1), 0)

    def apply(self, show: Stage) -> None:
        show.audio = replace(show.audio, level=self.level, onset=self.onset, low=self.low, mid=self.mid,
                             high=self.high, bpm=self.bpm, beat_phase=self.beat_phase, beat=self.beat)


@dataclass(frozen=True)
class SetAudioSource(Command):
    """where the sound comes from, or why the show runs without it (one line)"""

    coalesce = True
    edits = False
    source: str = checked(LINE, "")
    problem: str = checked(LINE, "")

    def apply(self, show: Stage) -> None:
        show.audio = AudioState(source=self.source, problem=self.problem) if self.problem or not self.source \
            else replace(show.audio, source=self.source, problem="")
        show.emit("audio/status", self.source, self.problem)


@dataclass(frozen=True)
class Tap(Command):
    """tap the tempo (key T): two or more taps set the beat clock"""

    edits = False

    def apply(self, show: Stage) -> None:
        show.emit("audio/tap", show.now())  # the audio adapter passes it to its listener


@dataclass(frozen=True)
class SetBpm(Command):
    """set the tempo in beats per minute; without a value the music's own tempo is estimated again"""

    edits = False
    bpm: float | None = checked(BPM, None)

    def apply(self, show: Stage) -> None:
        show.emit("audio/bpm", 0.0 if self.bpm is None else self.bpm)  # the audio adapter passes it on


# ---- controls: knobs with meaning (latent directions, network bending) ----------------------------


def _on_control(show: Stage, change: Callable[[Controls], None]) -> None:
    try:
        change(show.player.controls)
    except ControlError as exc:
        raise CommandError(str(exc)) from None


@dataclass(frozen=True)
class SetControl(Command):
    """set a control to a value within its own range; it glides there at its slew"""

    coalesce = True
    name: str = checked(CONTROL_NAME)
    value: float = checked(Check("number"))  # the control's own range is checked when applied

    def key(self) -> Hashable:
        return ("control", self.name)

    def apply(self, show: Stage) -> None:
        _on_control(show, lambda controls: controls.set(self.name, self.value))


@dataclass(frozen=True)
class SetControlUnit(Command):
    """set a control by a fraction of its range: 0 its low end, 1 its high end (mappings, MIDI)"""

    coalesce = True
    name: str = checked(CONTROL_NAME)
    amount: float = checked(number(0, 1))

    def key(self) -> Hashable:
        return ("control", self.name)

    def apply(self, show: Stage) -> None:
        _on_control(show, lambda controls: controls.set_unit(self.name, self.amount))


@dataclass(frozen=True)
class AddControl(Command):
    """make a control live from a direction of this checkpoint (index 0: the strongest), or replace one"""

    edits = False  # InstallControl, when the direction is ready, is the edit
    name: str = checked(CONTROL_NAME)
    index: int = checked(INDEX)
    method: str = checked(choice(METHODS), "sefa")
    layers: str = checked(LAYER_RANGE, "all")
    low: float = checked(number(-1e6, 1e6), -3.0)
    high: float = checked(number(-1e6, 1e6), 3.0)
    slew: float = checked(number(0, 600), 0.5)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.spec()  # a range that does not hold 0 or is upside down is refused when made

    def spec(self) -> ControlSpec:
        """The [[controls]] entry this control is (what a save writes)."""
        return ControlSpec(name=self.name, method=self.method, index=self.index,
                           layers=None if self.layers == "all" else self.layers, range=(self.low, self.high),
                           slew=self.slew)

    def apply(self, show: Stage) -> None:
        spec, G, preset = self.spec(), show.worker.G, show.preset
        show.load_later(lambda: InstallControl(make_knob(spec, G, preset)))  # GANSpace may take seconds


@dataclass(frozen=True)
class InstallControl(Command):
    """put a control made by the loader live at its neutral value (made by AddControl, never sent)"""

    knob: Knob

    def apply(self, show: Stage) -> None:
        show.player.controls.add(self.knob)
        show.emit("control/added", self.knob.name)


# ---- the queue ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    command: Command
    origin: Hashable | None


@dataclass
class QueueCounts:
    coalesced: int = 0
    dropped: int = 0


class CommandQueue:
    """Commands from any thread, taken by the render thread at frame boundaries, in order.

    Bounded: `submit` returns False (and counts a drop) when `size` commands wait already.
    Parameters coalesce while they wait: a new value for a key replaces the one not yet applied
    (counted), and takes its place at the end, so the newest value lands in order.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._waiting: deque[Pending] = deque()
        self._lock = threading.Lock()
        self.counts = QueueCounts()

    def submit(self, command: Command, origin: Hashable | None = None) -> bool:
        if not isinstance(command, Command):
            raise TypeError(f"not a show command: {command!r}")
        with self._lock:
            if command.coalesce:
                key = command.key()
                older = next((p for p in self._waiting if p.command.coalesce and p.command.key() == key), None)
                if older is not None:
                    self._waiting.remove(older)
                    self.counts.coalesced += 1
            if len(self._waiting) >= self.size:
                self.counts.dropped += 1
                return False
            self._waiting.append(Pending(command, origin))
        return True

    def take(self) -> Pending | None:
        """The oldest waiting command, or None."""
        with self._lock:
            return self._waiting.popleft() if self._waiting else None

    def __len__(self) -> int:
        return len(self._waiting)


def all_commands() -> list[type[Command]]:
    """Every command class, for the tables and the test that each is reachable."""
    found, todo = [], list(Command.__subclasses__())
    while todo:
        cls = todo.pop(0)
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def describe(cls: type[Command]) -> str:
    """The command's meaning: the first line of its docstring."""
    return (cls.__doc__ or "").strip().splitlines()[0]


def arguments(cls: type[Command]) -> list:
    """The command's checked fields, in order (what a sender gives, positionally)."""
    return [f for f in fields(cls) if "check" in f.metadata]

