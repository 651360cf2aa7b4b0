"""What a newcomer meets first (issue 26): a show on a machine without a display, the one home of
the user's files, `osc send` as a script uses it, presets written as the user gave them, the
doctor's verdict on a taken port, and `render --overlay gpu` filling the GPU panel.

Everything is real: the `stylevj` command in subprocesses, UDP sockets, the headless GL render;
the one stand-in is NVML's library (`FakeNvml`), as no NVIDIA driver exists on the test machines
(the real NVML path runs too and says which it found).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .conftest import REPO, WAIT_S, FakeNvml, fake_proc, osc_message, stylevj


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def text_of(lines) -> str:
    return "\n".join("".join(span for span, _ in line) for line in lines)


# ---- a show on a machine without a display -----------------------------------------------------


class HeadlessShow:
    """`stylevj run` as the README's first command starts it, in a subprocess with no DISPLAY and
    no WAYLAND_DISPLAY, its user files under a temporary $XDG_DATA_HOME, started from an empty
    folder; OSC on a free port, replies (events) to this test's socket."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cwd, self.data, self.state_home = root / "cwd", root / "data", root / "state"
        self.cwd.mkdir()
        self.home = self.data / "stylevj"
        (self.home / "keyframes").mkdir(parents=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = free_udp_port()
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
        env.update(XDG_DATA_HOME=str(self.data), XDG_STATE_HOME=str(self.state_home), PYTHONUNBUFFERED="1")
        self.stderr = open(root / "stderr.txt", "w+")
        # Started as a terminal starts a command, Ctrl-C heard: a test run launched in the background
        # (`pytest &` in a script) ignores SIGINT, an ignored signal stays ignored across exec, and
        # Python then never turns it into KeyboardInterrupt. A handled signal is reset to the default.
        runner_sigint = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "realtime.cli", "run", "--osc-port", str(self.port), "--control-port", "0",
                 "--osc-reply", f"127.0.0.1:{self.sock.getsockname()[1]}"],
                cwd=self.cwd, env=env, stdout=subprocess.DEVNULL, stderr=self.stderr)
        finally:
            signal.signal(signal.SIGINT, runner_sigint)

    def send(self, address: str, *args) -> None:
        self.sock.sendto(osc_message(address, *args), ("127.0.0.1", self.port))

    def wait_for(self, address: str, resend: tuple | None = None) -> list:
        """The arguments of the next `address` reply (other replies skipped); `resend` is sent
        again every second until it comes (the show may still be starting, UDP may drop one)."""
        from pythonosc.osc_message import OscMessage

        deadline, last_sent = time.monotonic() + WAIT_S, 0.0
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the show ended early:\n{self.log()}"
            if resend is not None and time.monotonic() - last_sent > 1.0:
                self.send(*resend)
                last_sent = time.monotonic()
            try:
                message = OscMessage(self.sock.recv(65536))
            except (socket.timeout, ConnectionRefusedError):
                continue
            if message.address == address:
                return list(message.params)
        raise AssertionError(f"no {address} from the show within {WAIT_S:g} s:\n{self.log()}")

    def state(self) -> dict:
        return json.loads(self.wait_for("/stylevj/state", resend=("/stylevj/state",))[0])

    def log(self) -> str:
        if not self.stderr.closed:
            self.stderr.flush()
        return (self.root / "stderr.txt").read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # Ctrl-C: how a headless show is stopped
        try:
            return self.proc.wait(timeout=WAIT_S)
        finally:
            self.sock.close()
            self.stderr.close()


@pytest.fixture(scope="module")
def headless_show(tmp_path_factory):
    show = HeadlessShow(tmp_path_factory.mktemp("headless"))
    try:
        yield show
    finally:
        if show.proc.poll() is None:
            show.proc.kill()
            show.proc.wait()


def test_run_without_a_display_plays_headless_answers_osc_and_json_and_names_its_page(headless_show):
    state = headless_show.state()
    assert len(state["keyframes"]) == 6  # the default show, playing
    result = stylevj("osc", "send", "/stylevj/state", "--port", str(headless_show.port), "--wait", "2", "--json",
                     timeout=WAIT_S)
    assert result.returncode == 0, result.stderr
    replies = json.loads(result.stdout)  # one JSON document a script can parse
    state_reply = next(r for r in replies if r["address"] == "/stylevj/state")
    assert state_reply["args"][0]["params"]["speed"] == state["params"]["speed"]
    log = headless_show.log()
    assert "no display (DISPLAY and WAYLAND_DISPLAY unset): running headless" in log
    assert "operator page on http://127.0.0.1:" in log


def test_keyframe_files_come_from_the_users_home_not_the_package(headless_show):
    show = headless_show
    state = show.state()
    np.save(show.home / "keyframes" / "face.npy", np.zeros((14, 128), np.float32))  # demo: 14 ws of 128
    show.send("/stylevj/keyframe/add/file", "face.npy")
    deadline = time.monotonic() + WAIT_S
    while len(state["keyframes"]) != 7:
        assert time.monotonic() < deadline, show.log()
        state = show.state()
    assert state["keyframes"][-1]["name"] == "face"


def test_snapshots_and_recordings_land_in_the_users_home_and_say_where(headless_show):
    show = headless_show
    show.send("/stylevj/snapshot")
    snapshot = Path(show.wait_for("/stylevj/snapshot/saved")[0])  # the event carries the path (the page shows it)
    assert snapshot.parent == show.home / "snapshots" and snapshot.stat().st_size > 0
    show.send("/stylevj/record/start", "take1")
    started = Path(show.wait_for("/stylevj/record/started")[0])
    assert started == show.home / "recordings" / "take1.mp4"
    show.state()  # a few frames later
    show.send("/stylevj/record/stop")
    stopped = Path(show.wait_for("/stylevj/record/stopped")[0])
    assert stopped == started and stopped.stat().st_size > 0
    log = show.log()
    assert f"snapshot {snapshot}" in log and f"recording to {started}" in log
    assert list(show.cwd.iterdir()) == []  # nothing lands in the folder the show was started from


def test_a_saved_preset_writes_an_osc_float_as_the_user_gave_it(headless_show):
    show = headless_show
    show.send("/stylevj/speed", 0.6)  # an OSC float32: 0.6000000238418579
    show.send("/stylevj/keyframe/add/seed", 42, 0.7)
    show.send("/stylevj/preset/save", "mine")
    saved = Path(show.wait_for("/stylevj/preset/saved")[0])
    assert saved == show.home / "presets" / "mine.toml"  # the packaged show saves into the home
    text = saved.read_text()
    assert "speed = 0.6\n" in text and "truncation = 0.7 }" in text and "0.60000" not in text and "0.69999" not in text


def test_stopping_the_headless_show_with_ctrl_c_ends_it(headless_show):
    assert headless_show.stop() == 130  # interrupted, as a Ctrl-C ends any command
    assert "Traceback" not in headless_show.log()


# ---- osc send with nothing to answer ----------------------------------------------------------


def test_osc_send_to_a_port_nobody_listens_on_fails_in_one_line():
    result = stylevj("osc", "send", "/stylevj/speed", "0.5", "--port", str(free_udp_port()), timeout=WAIT_S)
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "no show listens on 127.0.0.1:" in result.stderr


def test_osc_send_waiting_for_a_show_that_never_answers_fails_in_one_line():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, so no refusal: just silence
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        result = stylevj("osc", "send", "/stylevj/state", "--port", str(port), "--wait", "0.3", "--json", timeout=WAIT_S)
        assert silent.recv(65536) == osc_message("/stylevj/state")  # it was sent
    assert result.returncode == 1 and json.loads(result.stdout) == []
    assert result.stderr == f"stylevj: no show answered on 127.0.0.1:{port} within 0.3 s\n"


# ---- the GPU panel in a render -----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    from realtime.models import load_generator

    return load_generator("demo", device="cpu")


def render_panel(G, poller, folder: Path):
    """Two 64x64 frames of the default show with the GPU panel on, as `stylevj render` makes them;
    the panel as it was last drawn."""
    from realtime.overlay import build_overlays
    from realtime.presets import default_preset_path, load_preset
    from realtime.record.encoder import VideoWriter
    from realtime.record.render import render
    from realtime.show import player_from_preset

    preset = load_preset(default_preset_path())
    overlays = build_overlays(preset.overlay, {"gpu"}, poller=poller)
    try:
        overlays.start_telemetry()
        writer = VideoWriter(folder / "frames", 10.0, (64, 64), "png", 20)
        result = render(G, player_from_preset(preset, G), preset, writer, 2, 10.0, (64, 64), overlays=overlays.panels)
        assert result.whole and result.frames == 2
    finally:
        overlays.close()
    panel = overlays.panel("gpu")
    return text_of(panel.lines(79, 40))


def test_render_fills_the_gpu_panel_from_the_first_frame(demo, tmp_path, egl_ctx):
    from realtime.overlay import Nvml, TelemetryPoller, TelemetrySource

    fake = TelemetryPoller(TelemetrySource(Nvml(FakeNvml()), proc=fake_proc(tmp_path, os.getpid())).sample)
    text = render_panel(demo, fake, tmp_path)
    assert "NVIDIA H100 80GB HBM3" in text and "waiting" not in text
    real = TelemetryPoller()  # this machine's NVML, or the words for why there is none
    text = render_panel(demo, real, tmp_path / "real")
    snapshot = real.latest()
    assert snapshot is not None
    if snapshot.nvml_available:
        assert all((g.name or "N/A")[:25] in text for g in snapshot.gpus)
    else:
        assert "NVML unavailable" in text and snapshot.nvml_reason[:40] in text
        assert not snapshot.nvml_reason.startswith("NVMLError")  # words, not the exception's name


def test_stylevj_render_overlay_gpu_samples_telemetry(tmp_path):
    result = stylevj("render", "--overlay", "gpu", "--seconds", "0.1", "--fps", "10", "--size", "64x64",
                     "--format", "png", "--out", str(tmp_path / "frames"), timeout=WAIT_S * 2)
    assert result.returncode == 0, result.stderr
    assert len(list((tmp_path / "frames").glob("*.png"))) == 1
    assert "GPU panel: " in result.stderr  # sampled before the first frame: the GPUs, or why CPU and RAM
    assert "GPU panel: CPU and RAM (NVMLError" not in result.stderr  # the reason is in words


def test_the_readme_names_the_system_packages_ci_installs():
    """A newcomer who follows the README gets every part the skipped tests need: the apt line in
    the README is the one `.ci/run` installs."""
    readme = " ".join((REPO / "README.md").read_text().split())
    said = re.search(r"apt-get install (libegl1[a-z0-9 .+-]+)`", readme)
    ci = re.search(r'display_pkgs="([^"]+)"', (REPO / ".ci" / "run").read_text())
    assert said and ci
    assert set(said.group(1).split()) == set(ci.group(1).split())
