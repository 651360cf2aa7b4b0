"""The keyframes of the path: adding (from seeds, files, the live picture), removing (and undoing
a removal or a clear), replacing, moving, renaming. Files are found (their names resolved) and read by the show's loader, off the
render thread; the loader's result comes back as `InsertKeyframe` / `ReplaceWith`."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch

from ...checks import OPTIONAL_TEXT, TEXT, Check, checked
from ...errors import StylevjError
from ...latent import Keyframe, keyframe_from_seed, load_keyframe, snapshot
from ...models.seeds import z_from_seed
from .base import INDEX, MAX_KEYFRAMES, PSI, SEED, Command, CommandError, Stage, existing_keyframe, no_room, room_for_keyframes

SEEDS_PER_FRAME = 16  # seed keyframes mapped in one batch and added with one path rebuild per frame


@torch.no_grad()
def keyframes_from_seeds(G, seeds: Sequence[tuple[int, float | None]]) -> list[Keyframe]:
    """The keyframes of (seed, psi) pairs, mapped in one batch per psi (one call, not one per seed)."""
    out: dict[int, Keyframe] = {}
    for psi in dict.fromkeys(psi for _, psi in seeds):
        rows = [i for i, (_, p) in enumerate(seeds) if p == psi]
        z = torch.cat([z_from_seed(seeds[i][0], G.z_dim, G.device) for i in rows])
        ws = G.mapping(z, truncation_psi=1.0 if psi is None else psi).float()
        for n, i in enumerate(rows):
            seed = seeds[i][0]
            out[i] = Keyframe(ws[n].clone(), f"seed {seed}", f"seed:{seed}" + (f"@{psi:g}" if psi is not None else ""))
    return [out[i] for i in range(len(seeds))]


@dataclass(frozen=True)
class AddSeedKeyframe(Command):
    """append the keyframe of a seed, optionally truncated"""

    work = 1
    batch = SEEDS_PER_FRAME

    seed: int = checked(SEED)
    truncation: float | None = checked(PSI, None)

    def apply(self, show: Stage) -> None:
        (outcome,) = self.apply_many(show, [self])
        if isinstance(outcome, Exception):
            raise outcome
        show.emit(*outcome)

    @classmethod
    def apply_many(cls, show: Stage, commands: Sequence[Command]) -> list[Exception | tuple]:
        """Map the run's seeds in one batch and append them with one path rebuild; those past
        MAX_KEYFRAMES are refused, each with one line."""
        fits = list(commands[:max(0, MAX_KEYFRAMES - len(show.player.keyframes))])
        outcomes: list[Exception | tuple] = []
        if fits:
            try:
                keyframes = keyframes_from_seeds(show.worker.G, [(c.seed, c.truncation) for c in fits])  # type: ignore[attr-defined]
                first = show.player.extend(keyframes)
            except (StylevjError, ValueError, IndexError, OSError, MemoryError) as exc:
                return [exc] * len(commands)
            outcomes = [("keyframe/added", first + n) for n in range(len(fits))]
        for _ in commands[len(fits):]:
            outcomes.append(no_room(show))
        return outcomes


@dataclass(frozen=True)
class AddFileKeyframe(Command):
    """append a W+ file from the keyframes folder"""

    work = 1

    file: str = checked(TEXT)

    def apply(self, show: Stage) -> None:
        room_for_keyframes(show)
        folders, name, G = show.folders, self.file, show.worker.G
        folders.plain(name, "keyframes")  # a bad name is refused at once, by the name alone
        show.load_later(lambda: InsertKeyframe(load_keyframe(folders.confine(name, "keyframes"), G.num_ws, G.w_dim)))


@dataclass(frozen=True)
class AddCurrentKeyframe(Command):
    """append the live W+ as a keyframe"""

    work = 1

    def apply(self, show: Stage) -> None:
        room_for_keyframes(show)
        index = show.player.add(snapshot(show.player.raw(), name=f"live {len(show.player.keyframes)}"))
        show.emit("keyframe/added", index)


@dataclass(frozen=True)
class RemoveKeyframe(Command):
    """remove keyframe i"""

    work = 1

    index: int = checked(INDEX)

    def apply(self, show: Stage) -> None:
        i = existing_keyframe(show, self.index)
        show.removed.took(i, (show.player.remove(i),), "remove")


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
    """replace keyframe i by a seed (and its truncation), a file, or (no argument) the live W+"""

    work = 1

    index: int = checked(INDEX)
    seed_or_file: int | str | None = checked(Check("any", optional=True, extra=_seed_or_file), None)
    truncation: float | None = checked(PSI, None)

    def apply(self, show: Stage) -> None:
        i = existing_keyframe(show, self.index)
        G = show.worker.G
        if self.seed_or_file is None:
            kf = snapshot(show.player.raw(), name=f"live {i}")
        elif isinstance(self.seed_or_file, str):
            folders, name = show.folders, self.seed_or_file
            folders.plain(name, "keyframes")  # resolved by the loader: the filesystem is never asked here
            show.load_later(lambda: ReplaceWith(i, load_keyframe(folders.confine(name, "keyframes"), G.num_ws, G.w_dim)))
            return
        else:
            kf = keyframe_from_seed(G, int(self.seed_or_file), self.truncation)
        show.player.replace(i, kf)


@dataclass(frozen=True)
class MoveKeyframe(Command):
    """move keyframe i to position j"""

    work = 1

    index: int = checked(INDEX)
    to: int = checked(INDEX)

    def apply(self, show: Stage) -> None:
        show.player.move(existing_keyframe(show, self.index), existing_keyframe(show, self.to))


@dataclass(frozen=True)
class RenameKeyframe(Command):
    """rename keyframe i (the name shown on the page and saved in presets)"""

    work = 1  # a rename replaces the keyframe: the path is rebuilt

    index: int = checked(INDEX)
    name: str = checked(Check("text", max_length=80))

    def apply(self, show: Stage) -> None:
        i = existing_keyframe(show, self.index)
        show.player.replace(i, replace(show.player.keyframes[i], name=self.name.strip()))


@dataclass(frozen=True)
class ClearKeyframes(Command):
    """remove every keyframe (the picture holds)"""

    def apply(self, show: Stage) -> None:
        show.removed.took(0, show.player.keyframes, "clear")
        show.player.clear()


@dataclass(frozen=True)
class UndoKeyframes(Command):
    """put back what the last keyframe remove or clear took (again: the one before, up to 32)"""

    work = 1  # a path rebuild

    def apply(self, show: Stage) -> None:
        taken = show.removed.last()
        if taken is None:
            raise CommandError("nothing to undo: no keyframe was removed or cleared")
        room_for_keyframes(show, len(taken.keyframes))
        count = len(show.player.keyframes)
        if taken.what == "remove":
            index = show.player.add(taken.keyframes[0], min(taken.index, count))
        else:  # a clear: the keyframes come back after any added since
            index = show.player.extend(list(taken.keyframes))
        show.removed.drop()
        show.emit("keyframe/restored", index, len(taken.keyframes))


@dataclass(frozen=True)
class InsertKeyframe(Command):
    """append a keyframe read and checked by the loader (made by AddFileKeyframe, never sent)"""

    batch = SEEDS_PER_FRAME  # loads finished in one frame join with one path rebuild

    keyframe: Keyframe

    def apply(self, show: Stage) -> None:
        room_for_keyframes(show)
        show.emit("keyframe/added", show.player.add(self.keyframe))

    @classmethod
    def apply_many(cls, show: Stage, commands: Sequence[Command]) -> list[Exception | tuple]:
        """Append the run's keyframes with one path rebuild; those past MAX_KEYFRAMES are refused."""
        fits = list(commands[:max(0, MAX_KEYFRAMES - len(show.player.keyframes))])
        first = show.player.extend([c.keyframe for c in fits])  # type: ignore[attr-defined]
        return [("keyframe/added", first + n) for n in range(len(fits))] + [no_room(show) for _ in commands[len(fits):]]


@dataclass(frozen=True)
class ReplaceWith(Command):
    """replace keyframe i by one read and checked by the loader (made by ReplaceKeyframe, never sent)"""

    index: int
    keyframe: Keyframe

    def apply(self, show: Stage) -> None:
        show.player.replace(existing_keyframe(show, self.index), self.keyframe)
