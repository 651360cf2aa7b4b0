"""Moving along the path: play, pause, speed, going to a place, quitting."""

from __future__ import annotations

from dataclasses import dataclass

from ...checks import checked, number
from ...latent import POSITION
from .base import INDEX, Command, Stage, existing_keyframe


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
class ScaleSpeed(Command):
    """multiply the speed (arrow keys: 1.25, 0.8) within its range: below 0.01 keyframes/s it stops, a stop starts at 0.05"""

    factor: float = checked(number(0.01, 100))

    def apply(self, show: Stage) -> None:
        show.player.scale_speed(self.factor)  # the floor and the range live with the player
        show.set_params(show.params.replace(speed=show.player.speed))


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
        show.player.goto_keyframe(existing_keyframe(show, self.index))


@dataclass(frozen=True)
class Quit(Command):
    """end the show (stage keys only: Esc twice)"""

    edits = False

    def apply(self, show: Stage) -> None:
        show.stop()
