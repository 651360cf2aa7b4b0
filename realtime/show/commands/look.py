"""How the picture looks beyond the table's knobs (`SetParam`): style mixing, the overlay toggle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable

from ...checks import checked, integer
from ...latent import StyleMix
from .base import INDEX, Command, CommandError, Stage, existing_keyframe


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
        show.player.set_mix(StyleMix(existing_keyframe(show, self.index), (self.first, self.last)))


@dataclass(frozen=True)
class MixOff(Command):
    """style mixing off"""

    coalesce = True

    def key(self) -> Hashable:
        return "mix"

    def apply(self, show: Stage) -> None:
        show.player.set_mix(None)


@dataclass(frozen=True)
class ToggleOverlay(Command):
    """hide or show all overlay panels at once"""

    def apply(self, show: Stage) -> None:
        show.set_params(show.params.replace(overlay=not show.params.overlay))
