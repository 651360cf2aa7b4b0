"""The keyframes of the path: adding (from seeds, files, the live picture), removing, replacing,
moving, renaming. Files are read by the show's loader, off the render thread; the loader's
result comes back as `InsertKeyframe` / `ReplaceWith`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...checks import OPTIONAL_TEXT, TEXT, Check, checked
from ...errors import StylevjError
from ...latent import Keyframe, keyframe_from_seed, load_keyframe, snapshot
from .base import INDEX, PSI, SEED, Command, Stage, existing_keyframe


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
        show.player.remove(existing_keyframe(show, self.index))


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
        i = existing_keyframe(show, self.index)
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
        show.player.move(existing_keyframe(show, self.index), existing_keyframe(show, self.to))


@dataclass(frozen=True)
class RenameKeyframe(Command):
    """rename keyframe i (the name shown on the page and saved in presets)"""

    index: int = checked(INDEX)
    name: str = checked(Check("text", max_length=80))

    def apply(self, show: Stage) -> None:
        i = existing_keyframe(show, self.index)
        show.player.replace(i, replace(show.player.keyframes[i], name=self.name.strip()))


@dataclass(frozen=True)
class ClearKeyframes(Command):
    """remove every keyframe (the picture holds)"""

    def apply(self, show: Stage) -> None:
        show.player.clear()


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
        show.player.replace(existing_keyframe(show, self.index), self.keyframe)
