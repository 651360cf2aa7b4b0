"""Stage-proof II: the journal holds every live parameter, before anyone is told of an edit;
a crashed show's journal is never rotated away; a full disk is reported as what is really on it.

Real shows on the demo generator, real OSC over UDP on 127.0.0.1, a real killed `stylevj run`,
real files, and a real full filesystem (a small tmpfs; skipped with the reason where this machine
cannot mount one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from realtime.control import PREFIX, TABLE, Journal, ended_cleanly, keep_previous
from realtime.control.addresses import ADDRESSES
from realtime.control.journal import KEEP_PREVIOUS, running_marker
from realtime.models import load_generator
from realtime.overlay import build_overlays
from realtime.presets import load_preset
from realtime.session import build_show
from realtime.latent import Drive
from realtime.show.commands import SetAudioDrive

from .conftest import FakeClock, Rig, stylevj
from .conftest import osc_message as message

SHOW = """
[generator]
source = "demo"
[play]
speed = 0.0
[[keyframes]]
seed = 1
[[keyframes]]
seed = 2
[[keyframes]]
seed = 3
[[controls]]
name = "smile"
method = "sefa"
index = 0
slew = 600.0
[[controls]]
name = "age"
method = "sefa"
index = 1
slew = 600.0
"""


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


class JournaledRig(Rig):
    """A headless show as `stylevj run` wires it: the journal started by the session, and OSC
    feedback read from the journal's board. The clock stands still (positions stay put)."""

    def __init__(self, G, folder: Path, text: str = SHOW) -> None:
        super().__init__(G, folder, text=text, journal=folder / "state" / "journal.toml", clock=FakeClock())

    def send(self, address: str, *args) -> None:
        super().send(message(address, *args))


def resumed(G, journal: Path, surface) -> dict:
    """The state a show resumed from `journal` starts with (what `stylevj run --resume` builds),
    drawn on `surface` (the running show's: one GL context stays current on this thread)."""
    preset = load_preset(journal)
    overlays = build_overlays(preset.overlay, None, None, preset.base_dir)
    show = build_show(G, preset, surface, upload="host", overlays=overlays.panels)
    try:
        return show.publish().to_json()
    finally:
        show.sink.release()
        overlays.close()


# Every OSC parameter address: (phase, concrete address, arguments, the state value it sets).
# Phase 2 runs after phase 1 (mix/off needs a mix to turn off).
PARAMS = {
    "speed": (1, "speed", [0.9], lambda s: s["speed"]),
    "goto": (1, "goto", [1.5], lambda s: round(s["position"], 5)),
    "truncation": (1, "truncation", [0.55], lambda s: s["truncation"]),
    "spline": (1, "spline", ["linear"], lambda s: s["spline"]),
    "alpha": (1, "alpha", [0.3], lambda s: s["alpha"]),
    "constant_speed": (1, "constant_speed", [1], lambda s: s["constant_speed"]),
    "noise": (1, "noise", ["random"], lambda s: s["noise"]),
    "mix": (1, "mix", [1, 0, 1], lambda s: s["mix"]),
    "mix/off": (2, "mix/off", [], lambda s: s["mix"]),
    "overlay/tensor": (1, "overlay/tensor", [1], lambda s: s["overlay"]["panels"]["tensor"]["visible"]),
    "overlay/gpu": (1, "overlay/gpu", [1], lambda s: s["overlay"]["panels"]["gpu"]["visible"]),
    "overlay/opacity": (1, "overlay/opacity", [0.4],
                        lambda s: [round(p["opacity"], 5) for p in s["overlay"]["panels"].values()]),
    "closed": (1, "closed", [0], lambda s: s["params"]["closed"]),
    "blend": (1, "blend", [2.5], lambda s: s["params"]["blend"]),
    "overlay": (1, "overlay", [0], lambda s: s["params"]["overlay"]),
    "fader": (1, "fader", [0.25], lambda s: s["params"]["fader"]),
    "blackout": (1, "blackout", [1], lambda s: s["params"]["blackout"]),
    "clock": (1, "clock", ["fixed"], lambda s: s["clock"]["source"]),
    "clock/tempo": (1, "clock/tempo", [133], lambda s: s["params"]["tempo"]),
    "control/<name>": (1, "control/smile", [1.5], lambda s: s["controls"]["smile"]["value"]),
    "control/<name>/unit": (1, "control/age/unit", [0.25], lambda s: s["controls"]["age"]["value"]),
}


def test_every_osc_parameter_survives_resume(demo, tmp_path):
    params = {a.path for a in ADDRESSES if a.param and not (a.knob is not None and a.knob.needs)}  # demo: StyleGAN2
    assert params == set(PARAMS), "a parameter address without a --resume case here (or a case for none)"
    r = JournaledRig(demo, tmp_path)
    try:
        before = r.state()
        for phase in (1, 2):
            sent = {path: case for path, case in PARAMS.items() if case[0] == phase}
            for _, address, args, _ in sent.values():
                assert PREFIX + address in TABLE or address.startswith("control/")
                r.send(PREFIX + address, *args)
            live = r.state()  # reported, so journaled (the reporter reads the journal's board)
            again = resumed(demo, r.path, r.show.surface)
            for path, (_, _, _, value) in sent.items():
                if phase == 1:
                    assert value(live) != value(before), f"{path}: the test's value changed nothing"
                assert value(again) == pytest.approx(value(live)), f"{path} did not survive --resume"
            assert live["controls"]["smile"]["current"] != live["controls"]["smile"]["value"]  # still gliding
    finally:
        r.close()


def test_a_reported_edit_is_already_journaled_and_the_knob_is_what_is_saved(demo, tmp_path):
    r = JournaledRig(demo, tmp_path)
    try:
        r.show.submit(SetAudioDrive(Drive(speed=29.34, truncation=0.3)), "audio")  # the music pushes on top of the knobs
        r.send(PREFIX + "speed", 0.5)
        assert r.state()["speed"] == pytest.approx(0.5)
        for speed in (0.9, 0.7, 0.9):  # edits in quick succession; each reported one must be on disk
            r.send(PREFIX + "speed", speed)
            state = r.state()
            assert state["speed"] == pytest.approx(speed) and state["drive"]["speed"] == pytest.approx(29.34)
            saved = load_preset(r.path)  # read at once, as a crash right now would leave it
            assert saved.play.speed == pytest.approx(speed)  # the knob, not 30.24 (the driven speed)
            assert saved.play.truncation == pytest.approx(state["truncation"])  # base, not base + drive
    finally:
        r.close()


def test_a_crashed_shows_journal_survives_any_number_of_plain_runs(demo, tmp_path):
    journal = tmp_path / "state" / "journal.toml"
    show = subprocess.Popen([sys.executable, "-m", "realtime.cli", "run", "--headless", "--seconds", "300",
                             "--no-osc", "--no-control", "--journal", str(journal)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not journal.exists():
            assert time.monotonic() < deadline and show.poll() is None, "the show never wrote its journal"
            time.sleep(0.05)
    finally:
        os.kill(show.pid, signal.SIGKILL)  # a crash: nothing runs after this
        show.wait()
    assert not ended_cleanly(journal)
    crashed = journal.read_bytes()
    (tmp_path / "rig").mkdir()
    r = JournaledRig(demo, tmp_path / "rig")  # its board stands in for each plain run's show
    try:
        for _ in range(KEEP_PREVIOUS + 1):
            keep_previous(journal)
            Journal(journal, r.show.board).start().stop()
            assert ended_cleanly(journal)
    finally:
        r.close()
    kept = sorted((tmp_path / "state" / "previous").iterdir())
    survivors = [k for k in kept if (k / "journal.toml").read_bytes() == crashed]
    assert len(survivors) == 1 and not ended_cleanly(survivors[0] / "journal.toml")
    assert load_preset(survivors[0] / "journal.toml").keyframes  # resumable with --resume --journal
    assert len(kept) == KEEP_PREVIOUS + 1  # the 10 newest, and the crashed one beyond them
    assert not running_marker(journal).exists()


def test_sigterm_stops_a_show_as_ctrl_c_does_and_the_journal_ends_cleanly(tmp_path):
    journal = tmp_path / "state" / "journal.toml"
    show = subprocess.Popen([sys.executable, "-m", "realtime.cli", "run", "--headless", "--seconds", "300",
                             "--no-osc", "--no-control", "--journal", str(journal)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not journal.exists():
            assert time.monotonic() < deadline and show.poll() is None, "the show never wrote its journal"
            time.sleep(0.05)
        show.terminate()  # systemd, docker stop
        _, err = show.communicate(timeout=60)
    finally:
        show.kill()
    assert show.returncode == 143 and "stopped (SIGTERM)" in err and "Traceback" not in err, err
    assert ended_cleanly(journal)  # the orderly end ran: a next plain run will not keep it as a crash


# ---- a full disk: what is really on it ---------------------------------------------------------


def fill(folder: Path) -> None:
    """Take every byte the filesystem has left."""
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:  # ENOSPC: nothing left
            pass


def test_a_render_onto_a_full_disk_says_the_file_is_empty(full_disk):
    fill(full_disk)
    out = full_disk / "set.mp4"
    result = stylevj("render", "--out", str(out), "--seconds", "20", "--fps", "30")
    last = result.stderr.splitlines()[-1]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert out.stat().st_size == 0  # what the disk took: nothing
    assert "set.mp4 is empty (0 bytes)" in last and "No space left on device" in last, last
    assert "holds the" not in last  # never a count of frames that are not there


def test_a_recording_onto_a_full_disk_says_the_file_is_empty(demo, tmp_path, full_disk):
    from realtime.record.recorder import LiveRecorder

    fill(full_disk)
    r = Rig(demo, tmp_path, recorder=LiveRecorder(full_disk, fps=30))
    try:
        assert r.show.wait_for_first_frame()
        r.send(message("/stylevj/record/start", "take"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and r.show.recorder.recording or not r.show.recorder.path:
            assert time.monotonic() < deadline, "the recording never stopped on the full disk"
            r.show.step()
        state = r.state()
        assert (full_disk / "take.mp4").stat().st_size == 0
        assert state["recording"]["file"] is None
        assert "take.mp4 is empty (0 bytes)" in state["recording"]["error"], state["recording"]
        assert r.show.running
    finally:
        r.close()
