"""The stage keyboard, with explicit times: no sleeping, no window."""

from __future__ import annotations

import logging

import glfw
import pytest

from realtime.display import keys
from realtime.display.keys import Action, KeyMap


def press(keymap: KeyMap, key: int, now: float, mods: int = 0, action: int = keys.PRESS):
    event = keymap.handle(key, action, mods, now)
    return None if event is None else event.action


def test_key_codes_are_glfw_codes():
    for name in ("SPACE", "F", "O", "R", "S", "ESCAPE", "RIGHT", "LEFT", "DOWN", "UP"):
        assert getattr(keys, f"KEY_{name}") == getattr(glfw, f"KEY_{name}"), name
    assert (keys.PRESS, keys.REPEAT) == (glfw.PRESS, glfw.REPEAT)
    assert (keys.MOD_CONTROL, keys.MOD_ALT, keys.MOD_SUPER) == (glfw.MOD_CONTROL, glfw.MOD_ALT, glfw.MOD_SUPER)


@pytest.mark.parametrize("key, action", [
    (glfw.KEY_F, Action.TOGGLE_FULLSCREEN),
    (glfw.KEY_SPACE, Action.TOGGLE_PAUSE),
    (glfw.KEY_O, Action.TOGGLE_OVERLAY),
    (glfw.KEY_UP, Action.SPEED_UP),
    (glfw.KEY_DOWN, Action.SPEED_DOWN),
    (glfw.KEY_RIGHT, Action.NUDGE_FORWARD),
    (glfw.KEY_LEFT, Action.NUDGE_BACK),
    (glfw.KEY_S, Action.SNAPSHOT),
    (glfw.KEY_R, Action.RECORD),
])
def test_each_key_maps_to_its_action(key, action):
    event = KeyMap().handle(key, glfw.PRESS, 0, 12.5)
    assert event is not None
    assert (event.action, event.key, event.time) == (action, key, 12.5)


def test_unmapped_keys_releases_and_desktop_shortcuts_do_nothing():
    keymap = KeyMap()
    assert press(keymap, glfw.KEY_A, 0.0) is None
    assert press(keymap, glfw.KEY_F, 0.0, action=glfw.RELEASE) is None
    for mod in (glfw.MOD_CONTROL, glfw.MOD_ALT, glfw.MOD_SUPER):
        assert press(keymap, glfw.KEY_S, 0.0, mods=mod) is None
    assert press(keymap, glfw.KEY_S, 0.0, mods=glfw.MOD_SHIFT) is Action.SNAPSHOT


def test_arrows_repeat_but_toggles_do_not():
    keymap = KeyMap()
    assert press(keymap, glfw.KEY_UP, 0.0, action=glfw.REPEAT) is Action.SPEED_UP
    assert press(keymap, glfw.KEY_LEFT, 0.1, action=glfw.REPEAT) is Action.NUDGE_BACK
    assert press(keymap, glfw.KEY_F, 0.2, action=glfw.REPEAT) is None  # holding F must not flicker
    assert press(keymap, glfw.KEY_SPACE, 0.3, action=glfw.REPEAT) is None


def test_one_escape_never_quits_and_asks_for_another(caplog):
    keymap = KeyMap()
    with caplog.at_level(logging.INFO, logger="realtime.display.keys"):
        assert press(keymap, glfw.KEY_ESCAPE, 100.0) is None
    assert "press Esc again to quit" in caplog.text
    assert keymap.quit_pending(100.5)
    assert not keymap.quit_pending(101.6)


def test_escape_twice_within_the_window_quits():
    keymap = KeyMap()
    assert press(keymap, glfw.KEY_ESCAPE, 100.0) is None
    assert press(keymap, glfw.KEY_ESCAPE, 101.5) is Action.QUIT
    assert not keymap.quit_pending(101.5)


def test_escape_too_late_only_arms_again():
    keymap = KeyMap()
    assert press(keymap, glfw.KEY_ESCAPE, 100.0) is None
    assert press(keymap, glfw.KEY_ESCAPE, 101.6) is None  # 1.6 s: too slow, counts as a new first Esc
    assert press(keymap, glfw.KEY_ESCAPE, 102.0) is Action.QUIT


def test_another_key_between_escapes_cancels_the_quit():
    keymap = KeyMap()
    press(keymap, glfw.KEY_ESCAPE, 10.0)
    assert press(keymap, glfw.KEY_SPACE, 10.2) is Action.TOGGLE_PAUSE
    assert press(keymap, glfw.KEY_ESCAPE, 10.4) is None


def test_held_escape_does_not_count_twice():
    keymap = KeyMap()
    press(keymap, glfw.KEY_ESCAPE, 10.0)
    assert press(keymap, glfw.KEY_ESCAPE, 10.3, action=glfw.REPEAT) is None
    assert keymap.quit_pending(10.3)


def test_quit_window_is_configurable():
    keymap = KeyMap(quit_window_s=0.5)
    press(keymap, glfw.KEY_ESCAPE, 0.0)
    assert press(keymap, glfw.KEY_ESCAPE, 0.8) is None
