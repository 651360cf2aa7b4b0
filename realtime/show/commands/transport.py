"""Moving along the path: play, pause, speed, going to a place, quitting."""

from __future__ import annotations

from dataclasses import dataclass

from ...checks import checked, number
from ...latent import POSITION, SPEED
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
        show.player.goto_keyframe(existing_keyframe(show, self.index))


@dataclass(frozen=True)
class Quit(Command):
    """end the show (stage keys only: Esc twice)"""

    edits = False

    def apply(self, show: Stage) -> None:
        show.stop()
