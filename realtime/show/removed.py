"""What keyframe removals and clears took, so that `UndoKeyframes` can put it back.

    removed = Removed()                      # the show holds one (render thread only)
    removed.took(index, (keyframe,))         # RemoveKeyframe: one keyframe from its place
    removed.took(0, show.player.keyframes)   # ClearKeyframes: all of them
    taken = removed.last()                   # the newest, or None; removed.drop() once restored

Bounded (`UNDO_KEPT` takings): a long night of edits never grows memory, and an undo reaches
back only as far as an operator would remember. Keyframes are immutable, so keeping them here
shares their tensors with nothing that could change them.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ..latent import Keyframe

UNDO_KEPT = 32  # removals and clears an undo can reach back to, newest first


@dataclass(frozen=True)
class Taken:
    """Keyframes one removal (one) or clear (all) took, and where the first of them stood."""

    index: int
    keyframes: tuple[Keyframe, ...]
    what: str  # "remove" or "clear": what the undo says it restored


class Removed:
    """The show's bounded history of removals and clears (newest last)."""

    def __init__(self, kept: int = UNDO_KEPT) -> None:
        self._taken: deque[Taken] = deque(maxlen=kept)

    def took(self, index: int, keyframes: tuple[Keyframe, ...] | list[Keyframe], what: str = "remove") -> None:
        """Remember keyframes just taken from the path (nothing for an empty clear)."""
        if keyframes:
            self._taken.append(Taken(index, tuple(keyframes), what))

    def last(self) -> Taken | None:
        return self._taken[-1] if self._taken else None

    def drop(self) -> None:
        """Forget the newest taking (it was restored)."""
        self._taken.pop()

    def __len__(self) -> int:
        return len(self._taken)
