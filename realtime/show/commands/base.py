"""What every command is: a frozen dataclass with checked fields, applied to a `Stage`.

The ranges commands share, the folders files may come from, and the part of the show a command
may touch are declared here; the commands themselves live in the modules beside this one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Hashable, Protocol

from ...checks import FLAG, Checked, integer, number
from ...errors import StylevjError
from ...latent import Player
from ...presets import Preset, default_preset_path, user_presets_dir

if TYPE_CHECKING:  # pragma: no cover
    from ...record.recorder import LiveRecorder
    from ..state import AudioState
    from ..thumbnail import KeyframePictures
    from ..worker import GeneratorWorker

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
    keyframe_pictures: KeyframePictures  # each keyframe's small picture, made by the loader (MakeKeyframePictures)
    audio: AudioState  # what the audio adapter last reported (SetAudioSource, AudioHeard)

    def emit(self, name: str, *args: object) -> None: ...
    def load_later(self, job: Callable[[], Command], hold: bool = True) -> None: ...
    def request_snapshot(self, path: Path | None = None) -> None: ...
    def stop(self) -> None: ...
    def now(self) -> float: ...


@dataclass(frozen=True)
class Command(Checked):
    """Base: fields validated when made; `apply(show)` at a frame boundary."""

    coalesce: ClassVar[bool] = False  # a parameter: only the newest value per key() in a frame applies
    edits: ClassVar[bool] = True  # changes what a preset saves (the journal writes it)

    def key(self) -> Hashable:
        return type(self).__name__

    def apply(self, show: Stage) -> None:
        raise NotImplementedError


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
