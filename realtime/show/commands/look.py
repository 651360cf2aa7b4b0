"""How the picture looks: truncation, the kind of path, noise, style mixing, the overlay panels."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Hashable

from ...checks import checked, choice, integer, number
from ...latent import SPLINES, TRUNCATION, StyleMix
from ...models import NOISE_MODES
from .base import INDEX, ON, OPACITY, PANEL_NAMES, Command, CommandError, Stage, existing_keyframe


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
