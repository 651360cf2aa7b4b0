"""A real glfw window on a private Xvfb server: drawing, monitors, fullscreen, real key presses."""

from __future__ import annotations

import logging
import shutil
import subprocess
import time

import glfw
import numpy as np
import pytest

from realtime.display import Action, Compositor, DisplayError, HostSink, Surface, Window, find_monitor, list_monitors

pytestmark = pytest.mark.usefixtures("xvfb_display")

MAGENTA = [255, 0, 255, 255]


@pytest.fixture
def window():
    win = Window((320, 200), title="stylevj test")
    yield win
    win.close()


def wait_for(window: Window, condition, timeout: float = 3.0) -> bool:
    """Pump window events until `condition()` holds (X servers answer asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        window.poll_events()
        if condition():
            return True
        time.sleep(0.005)
    return condition()


def xdotool_key(window: Window, key: str) -> None:
    if shutil.which("xdotool") is None:
        pytest.skip("xdotool not installed (apt-get install xdotool); needed to send real key presses")
    subprocess.run(["xdotool", "key", "--window", str(glfw.get_x11_window(window.handle)), key], check=True, timeout=5)


def test_window_draws_the_frame_upright(window, frame_pattern):
    assert isinstance(window, Surface)
    assert window.size == (320, 200) and window.swap_interval == 1 and not window.fullscreen
    assert window.ctx.version_code >= 330
    compositor, sink = Compositor(window.ctx, fit="stretch"), HostSink(window.ctx)
    frame = frame_pattern(320, 200)
    compositor.draw(window, sink.upload(frame))
    pixels = window.read_pixels()
    window.present()
    assert int(np.abs(pixels.astype(int) - frame.numpy().astype(int)).max()) <= 1
    assert pixels[0, 0].tolist() == MAGENTA and pixels[-1, 0].tolist() != MAGENTA


def test_list_monitors_reports_the_xvfb_screen():
    monitors = list_monitors()
    assert len(monitors) == 1
    screen = monitors[0]
    assert screen.index == 0 and screen.primary and screen.position == (0, 0)
    assert (screen.current.width, screen.current.height) == (1280, 720)
    assert any((m.width, m.height) == (1280, 720) for m in screen.modes)
    assert find_monitor(screen.name.upper()[1:4]) is not None  # part of the name, any case
    assert find_monitor("0") is not None


def test_unknown_monitor_is_a_user_error_listing_the_monitors():
    name = list_monitors()[0].name
    with pytest.raises(DisplayError, match=f"0: {name}"):
        find_monitor("projector")
    with pytest.raises(DisplayError, match="no monitor 3"):
        Window((64, 64), monitor=3)


def test_fullscreen_switch_resizes_hides_cursor_and_reapplies_vsync(window, frame_pattern, monkeypatch):
    applied = []
    real_swap_interval = glfw.swap_interval
    monkeypatch.setattr(glfw, "swap_interval", lambda n: (applied.append(n), real_swap_interval(n)))

    window.set_fullscreen(True)
    assert wait_for(window, lambda: window.size == (1280, 720)), window.size
    assert window.fullscreen and glfw.get_window_monitor(window.handle)
    assert glfw.get_input_mode(window.handle, glfw.CURSOR) == glfw.CURSOR_HIDDEN
    assert applied == [1] and window.swap_interval == 1

    window.present()  # Mesa resizes the back buffer at the next swap; a show loop swaps every frame anyway
    compositor, sink = Compositor(window.ctx, fit="contain"), HostSink(window.ctx)
    compositor.draw(window, sink.upload(frame_pattern(64, 48)))  # 4:3 in 16:9: pillarbox, 960 wide
    pixels = window.read_pixels()
    assert pixels.shape == (720, 1280, 4)
    assert (pixels[:, :160] == [0, 0, 0, 255]).all() and (pixels[:, 1120:] == [0, 0, 0, 255]).all()
    assert pixels[5, 165].tolist() == MAGENTA
    window.present()

    window.set_fullscreen(False)
    assert wait_for(window, lambda: window.size == (320, 200)), window.size
    assert not window.fullscreen and not glfw.get_window_monitor(window.handle)
    assert glfw.get_input_mode(window.handle, glfw.CURSOR) == glfw.CURSOR_NORMAL
    assert applied == [1, 1]


def test_f_key_arrives_as_fullscreen_action(window):
    events = []
    window.on_key = events.append
    window.present()
    xdotool_key(window, "f")
    assert wait_for(window, lambda: events), "no key event arrived"
    assert [e.action for e in events] == [Action.TOGGLE_FULLSCREEN]
    assert window.fullscreen and wait_for(window, lambda: window.size == (1280, 720))
    xdotool_key(window, "f")
    assert wait_for(window, lambda: window.size == (320, 200)) and not window.fullscreen


def test_escape_once_keeps_the_show_running_twice_quits(window, caplog):
    events = []
    window.on_key = events.append
    window.present()
    with caplog.at_level(logging.INFO, logger="realtime.display.keys"):
        xdotool_key(window, "Escape")
        assert wait_for(window, lambda: "press Esc again" in caplog.text)
    assert not window.should_close and events == []
    xdotool_key(window, "Escape")
    assert wait_for(window, lambda: window.should_close)
    assert [e.action for e in events] == [Action.QUIT]


def test_on_key_must_be_callable(window):
    with pytest.raises(TypeError):
        window.on_key = "toggle"


def test_window_opens_while_a_headless_context_is_current(caplog, frame_pattern):
    """libglvnd refuses GLX over a current EGL context, and the X error would end the process."""
    from realtime.display import HeadlessSurface

    with HeadlessSurface((8, 8)) as offscreen:
        offscreen.use()
        with caplog.at_level(logging.WARNING, logger="realtime.display.window"):
            with Window((64, 48)) as win:
                assert "detached" in caplog.text
                compositor = Compositor(win.ctx, fit="stretch")
                frame = frame_pattern(64, 48)
                compositor.draw(win, HostSink(win.ctx).upload(frame))
                assert (win.read_pixels() == frame.numpy()).all()


def test_no_display_is_a_one_line_user_error():
    """Without an X server (DISPLAY unset) the user gets a reason, not a glfw warning or a crash."""
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    code = (
        "from realtime.display import DisplayError, list_monitors\n"
        "try:\n    list_monitors()\nexcept DisplayError as exc:\n    print(exc)"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cannot open the display (") and result.stdout.count("\n") == 1


def test_a_failing_key_handler_does_not_end_the_show(window, caplog):
    def handler(event):
        raise RuntimeError("handler bug")

    window.on_key = handler
    window.present()
    with caplog.at_level(logging.ERROR, logger="realtime.display.window"):
        xdotool_key(window, "o")
        assert wait_for(window, lambda: "handler bug" in caplog.text)  # poll_events did not raise
    assert "toggle_overlay failed" in caplog.text and not window.should_close
