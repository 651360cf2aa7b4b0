"""What every command is: a frozen dataclass with checked fields, applied to a `Stage`.

The ranges commands share, the folders files may come from, and the part of the show a command
may touch are declared here; the commands themselves live in the modules beside this one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Hashable, Protocol, Sequence

from ...checks import FLAG, Checked, integer, number
from ...errors import StylevjError
from ...files import user_folder
from ...latent import Player
from ...presets import Preset, default_preset_path, user_presets_dir

if TYPE_CHECKING:  # pragma: no cover
    from ...clock import BeatClock
    from ...outputs import Outputs
    from ...params import Params
    from ...record.recorder import LiveRecorder
    from ..removed import Removed
    from ..state import AudioState, MidiState
    from ..thumbnail import KeyframePictures
    from ..worker import GeneratorWorker

log = logging.getLogger(__name__)

INDEX = integer(0, 100_000)
SEED = integer(0, 2**32 - 1)
PSI = number(-2, 2, optional=True)
ON = FLAG
SPEED_STEP = 1.25  # arrow keys multiply or divide the speed by this
NUDGE = 0.05  # keyframe units per arrow-key press
MAX_KEYFRAMES = 1000  # keyframes in a show: each path rebuild and each state grow with them


class CommandError(StylevjError):
    """A command that cannot be applied now; the show reports it to the sender and goes on."""


@dataclass(frozen=True)
class Folders:
    """Where files named in commands may come from (and presets be saved): nowhere else.

    `saves` is where presets are written: the presets folder, unless that is the presets shipped
    inside the package (read-only: a save must never change them), then the user's own
    ($XDG_DATA_HOME/stylevj/presets). Presets load from `saves` first, then `presets`.
    Keyframe files come from keyframes/ beside a user's show, and from the user's home
    ($XDG_DATA_HOME/stylevj/keyframes) for the packaged show: never from inside the package.
    Snapshots go to the home's snapshots/ (`realtime.files.user_folder`), never to the folder
    the show was started from.
    """

    presets: Path
    keyframes: Path
    snapshots: Path
    saves: Path

    @classmethod
    def beside(cls, presets: Path, keyframes: Path | None = None, snapshots: Path | None = None) -> Folders:
        presets = Path(presets).expanduser().resolve()
        packaged = presets == default_preset_path().parent.resolve()
        saves = user_presets_dir() if packaged else presets
        keyframes = keyframes or (user_folder("keyframes") if packaged else presets / "keyframes")
        return cls(presets, Path(keyframes).expanduser().resolve(),
                   Path(snapshots or user_folder("snapshots")).expanduser().resolve(), saves)

    def plain(self, name: str, kind: str, suffix: str = "") -> Path:
        """`name` inside the `kind` folder ('presets', 'keyframes', 'snapshots', 'saves'), judged by
        the name alone (no filesystem call: the render thread may refuse a bad name at once), not
        yet resolved; a CommandError for an absolute path, `..` or an empty name."""
        root = self._root(kind)
        candidate = Path(name if not suffix or name.endswith(suffix) else name + suffix)
        if candidate.is_absolute() or ".." in candidate.parts or not name.strip():
            raise CommandError(f"'{name}' must be a plain name inside the {kind} folder")
        return root / candidate

    def confine(self, name: str, kind: str, suffix: str = "") -> Path:
        """A plain name inside the `kind` folder, resolved (links followed), or a CommandError.
        Resolving asks the filesystem (a hung network folder blocks it): only on the loader's
        thread, inside the job that uses the file, never on the render thread."""
        path = self.plain(name, kind, suffix).resolve()
        if not path.is_relative_to(self._root(kind)):
            raise CommandError(f"'{name}' leaves the {kind} folder")
        return path

    def _root(self, kind: str) -> Path:
        return {"presets": self.presets, "keyframes": self.keyframes, "snapshots": self.snapshots,
                "saves": self.saves}[kind]


class Stage(Protocol):
    """The parts of a running show that commands change (`realtime.show.Show` is one)."""

    player: Player
    worker: GeneratorWorker
    preset: Preset
    folders: Folders
    overlays: list
    params: Params  # every knob of the parameter table, frozen: replaced through set_params
    recorder: LiveRecorder | None
    surface: Any
    thumbnails: bool  # publish a small copy of the frame on screen (SetThumbnails)
    keyframe_pictures: KeyframePictures  # each keyframe's small picture, made by the loader (MakeKeyframePictures)
    audio: AudioState  # what the audio adapter last reported (SetAudioSource, AudioHeard)
    beat_clock: BeatClock  # tempo and beat: Link, MIDI clock, taps, the music, fixed (Tap, SetBpm, AudioHeard feed it)
    outputs: Outputs  # frame outputs (NDI): added and removed live (sends.py)
    midi: MidiState  # the MIDI mappings and learning (MidiLearn, MidiMap, MidiForget) and ports (SetMidiPorts)
    removed: Removed  # what keyframe removals and clears took (UndoKeyframes puts it back)

    def set_params(self, params: Params, lenient: bool = False) -> None: ...
    def emit(self, name: str, *args: object) -> None: ...
    def load_later(self, job: Callable[[], Command], hold: bool = True) -> None: ...
    def request_snapshot(self, path: Path | None = None, confined: bool = False) -> None: ...
    def stop(self) -> None: ...
    def now(self) -> float: ...


@dataclass(frozen=True)
class Command(Checked):
    """Base: fields validated when made; `apply(show)` at a frame boundary."""

    coalesce: ClassVar[bool] = False  # a parameter: only the newest value per key() in a frame applies
    edits: ClassVar[bool] = True  # changes what a preset saves (the journal writes it)
    work: ClassVar[int] = 0  # keyframe edits it makes (map a seed, rebuild the path): bounded while waiting
    batch: ClassVar[int] = 1  # how many in a row `apply_many` takes at once (one path rebuild for all)

    def key(self) -> Hashable:
        return type(self).__name__

    def apply(self, show: Stage) -> None:
        raise NotImplementedError

    def discard(self) -> None:
        """A loader job's command that will never apply (the job overran its deadline, or the
        show stopped first): let go of what it holds. Most hold nothing."""

    @classmethod
    def apply_many(cls, show: Stage, commands: Sequence[Command]) -> list[Exception | tuple]:
        """Apply a run of up to `batch` commands of this class in one go (classes with batch > 1).
        Returns, for each in order, the exception that refused it or the event (name, *args) for
        its sender (() for none); the show counts them and addresses each to its own sender."""
        raise NotImplementedError


def no_room(show: Stage) -> CommandError:
    """The one line for a keyframe that does not fit (the show holds MAX_KEYFRAMES)."""
    return CommandError(f"the show holds {len(show.player.keyframes)} keyframes, at most {MAX_KEYFRAMES}: remove some first")


def room_for_keyframes(show: Stage, count: int = 1) -> None:
    """Raise a CommandError unless `count` more keyframes fit in the show (MAX_KEYFRAMES)."""
    if len(show.player.keyframes) + count > MAX_KEYFRAMES:
        raise no_room(show)


def existing_keyframe(show: Stage, index: int) -> int:
    count = len(show.player.keyframes)
    if not 0 <= index < count:
        raise CommandError(f"keyframe {index} does not exist (there are {count})")
    return index


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
