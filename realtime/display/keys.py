"""Stage keyboard: glfw key codes to show actions. Pure logic, no GL; time is passed in.

    F      toggle fullscreen          Space  pause / play
    O      overlay on / off           S      snapshot (PNG of what is on screen)
    Up     faster                     Down   slower
    Right  nudge forward along the path (a small step in keyframe units; held key repeats)
    Left   nudge back
    R      record the stage output (start / stop)
    T      tap the tempo (two taps or more set the beat clock of the music)
    B      blackout on / off (the stage output black at once; another press brings it back)
    Esc    twice within 1.5 s to quit (a single stray Esc never ends a show)

Keys pressed with Ctrl, Alt or Super held are ignored, so desktop shortcuts never reach the
show; Shift is allowed. Up/Down and Left/Right also act on key repeat; the others act once
per press. Any other mapped key between two Escs cancels the pending quit.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

# GLFW 3 key, action and modifier codes (stable across GLFW 3.x; tests check them against glfw).
KEY_SPACE = 32
KEY_B = 66
KEY_F = 70
KEY_O = 79
KEY_R = 82
KEY_S = 83
KEY_T = 84
KEY_ESCAPE = 256
KEY_RIGHT = 262
KEY_LEFT = 263
KEY_DOWN = 264
KEY_UP = 265

PRESS = 1
REPEAT = 2

MOD_CONTROL = 0x0002
MOD_ALT = 0x0004
MOD_SUPER = 0x0008

QUIT_WINDOW_S = 1.5


class Action(enum.Enum):
    """What a key asks the show to do."""

    TOGGLE_FULLSCREEN = "toggle_fullscreen"
    TOGGLE_PAUSE = "toggle_pause"
    TOGGLE_OVERLAY = "toggle_overlay"
    SPEED_UP = "speed_up"
    SPEED_DOWN = "speed_down"
    NUDGE_FORWARD = "nudge_forward"
    NUDGE_BACK = "nudge_back"
    SNAPSHOT = "snapshot"
    RECORD = "record"
    TAP = "tap"
    TOGGLE_BLACKOUT = "toggle_blackout"
    QUIT = "quit"


@dataclass(frozen=True)
class KeyEvent:
    """One key that meant something: the action, the glfw key and modifiers, and when (seconds)."""

    action: Action
    key: int
    mods: int
    time: float


_ON_PRESS = {
    KEY_F: Action.TOGGLE_FULLSCREEN,
    KEY_SPACE: Action.TOGGLE_PAUSE,
    KEY_O: Action.TOGGLE_OVERLAY,
    KEY_S: Action.SNAPSHOT,
    KEY_R: Action.RECORD,
    KEY_T: Action.TAP,
    KEY_B: Action.TOGGLE_BLACKOUT,
}
_REPEATING = {
    KEY_UP: Action.SPEED_UP,
    KEY_DOWN: Action.SPEED_DOWN,
    KEY_RIGHT: Action.NUDGE_FORWARD,
    KEY_LEFT: Action.NUDGE_BACK,
}


class KeyMap:
    """Turns raw glfw key callbacks into `KeyEvent`s; remembers only a pending Esc."""

    def __init__(self, quit_window_s: float = QUIT_WINDOW_S) -> None:
        self.quit_window_s = quit_window_s
        self._escape_at: float | None = None

    def quit_pending(self, now: float) -> bool:
        """True within `quit_window_s` after a first Esc (for an on-screen hint)."""
        return self._escape_at is not None and 0.0 <= now - self._escape_at <= self.quit_window_s

    def handle(self, key: int, action: int, mods: int, now: float) -> KeyEvent | None:
        """The event for one glfw key callback at time `now` (seconds, any monotonic clock), or None."""
        if action not in (PRESS, REPEAT) or mods & (MOD_CONTROL | MOD_ALT | MOD_SUPER):
            return None
        if key == KEY_ESCAPE:
            return self._escape(mods, now) if action == PRESS else None
        if action == PRESS and key in _ON_PRESS:
            meaning = _ON_PRESS[key]
        elif key in _REPEATING:
            meaning = _REPEATING[key]
        else:
            return None
        self._escape_at = None
        return KeyEvent(meaning, key, mods, now)

    def _escape(self, mods: int, now: float) -> KeyEvent | None:
        if self.quit_pending(now):
            self._escape_at = None
            log.info("Esc pressed twice: quitting")
            return KeyEvent(Action.QUIT, KEY_ESCAPE, mods, now)
        self._escape_at = now
        log.info("press Esc again to quit")
        return None
