"""The stage keys as show commands: the same commands OSC and the page send.

The window turns key presses into `Action`s (realtime.display.keys) and handles fullscreen
itself; everything else becomes a command here.
"""

from __future__ import annotations

from typing import Callable, Hashable

from ..display.keys import Action, KeyEvent
from ..show import Command
from ..show import commands as c

KEY_COMMANDS: dict[Action, Command] = {
    Action.TOGGLE_PAUSE: c.TogglePause(),
    Action.SPEED_UP: c.ScaleSpeed(c.SPEED_STEP),
    Action.SPEED_DOWN: c.ScaleSpeed(1 / c.SPEED_STEP),
    Action.NUDGE_FORWARD: c.Nudge(c.NUDGE),
    Action.NUDGE_BACK: c.Nudge(-c.NUDGE),
    Action.TOGGLE_OVERLAY: c.ToggleOverlay(),
    Action.SNAPSHOT: c.Snapshot(),
    Action.RECORD: c.ToggleRecording(),
    Action.TAP: c.Tap(),
    Action.TOGGLE_BLACKOUT: c.ToggleParam("blackout"),
    Action.QUIT: c.Quit(),
}


def key_handler(submit: Callable[[Command, Hashable], bool]) -> Callable[[KeyEvent], None]:
    """A window's `on_key`: each mapped key submits its command (origin "keys")."""

    def on_key(event: KeyEvent) -> None:
        command = KEY_COMMANDS.get(event.action)
        if command is not None:
            submit(command, "keys")

    return on_key
