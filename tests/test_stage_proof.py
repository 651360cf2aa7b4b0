"""Stage-proof: nothing a file, a disk, a key or a flood of messages does stops, freezes or
blackens the show, or loses an edit. Real files, real sockets, a real full filesystem (a small
tmpfs; skipped with the reason where this machine cannot mount one)."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from pythonosc.osc_message import OscMessage

from realtime.models import load_generator
from realtime.presets import default_preset_path, load_preset
from realtime.show.commands import AddCurrentKeyframe, AddSeedKeyframe, Folders, SavePreset, SetParam
from realtime.show.commands.keyframes import SEEDS_PER_FRAME
from realtime.show.commands.queue import MAX_WAITING_WORK

from .conftest import Rig, SlowGenerator, stylevj
from .conftest import osc_message as message


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


def bomb_npy(path: Path) -> Path:
    """128 bytes whose .npy header claims a 46 TiB array."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3500000, 3500000, 1), }"
    header = header.ljust(117) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    return path


def errors(replies) -> list[str]:
    return [p[0] for a, p in replies if a == "/stylevj/error"]


def test_hostile_keyframe_files_are_refused_off_the_render_thread(demo, tmp_path):
    r = Rig(demo, tmp_path)
    folder = tmp_path / "keyframes"
    folder.mkdir()
    bomb_npy(folder / "bomb.npy")
    os.mkfifo(folder / "fifo.npy")  # reading it would block forever
    (folder / "zero.npy").symlink_to("/dev/zero")  # endless, and outside the folder
    np.save(folder / "huge.npy", np.full((demo.num_ws, demo.w_dim), 3e38, np.float32))  # renders black
    np.save(folder / "nan.npy", np.full((demo.num_ws, demo.w_dim), np.nan, np.float32))
    try:
        before = r.state()
        for name in ("bomb.npy", "fifo.npy", "zero.npy", "huge.npy", "nan.npy"):
            r.send(message("/stylevj/keyframe/add/file", name))
        got = errors(r.replies(2.0))
        after = r.state()
        assert after["keyframes"] == before["keyframes"]  # nothing applied
        assert len(got) == 5, got
        for name, reason in (("bomb.npy", "header declares"), ("fifo.npy", "not a regular file"), ("zero.npy", "leaves"),
                             ("huge.npy", "far outside any W"), ("nan.npy", "NaN")):
            assert any(name in e or (reason == "leaves" and "zero.npy" in e) for e in got if reason in e), (name, got)
        assert r.show.running and r.osc.listening
    finally:
        r.close()


def test_a_loading_file_holds_later_commands_so_each_senders_order_holds(demo, tmp_path):
    r = Rig(demo, tmp_path)
    (tmp_path / "keyframes").mkdir()
    np.save(tmp_path / "keyframes" / "face.npy", np.zeros((demo.num_ws, demo.w_dim), np.float32))
    try:
        r.send(message("/stylevj/keyframe/add/file", "face.npy"))
        r.send(message("/stylevj/keyframe/remove", 3))  # the file's keyframe: it must exist by then
        state = r.state()
        assert [k["source"] for k in state["keyframes"]] == ["seed:1", "seed:2", "seed:3"]
        assert state["commands"]["failed"] == 0
    finally:
        r.close()


def test_a_burst_of_commands_is_spread_over_frames_and_the_display_keeps_refreshing(demo, tmp_path):
    r = Rig(demo, tmp_path)
    try:
        for seed in range(300):
            r.show.submit(AddSeedKeyframe(seed), "test")
        r.show.step()
        first = len(r.show.board.latest().keyframes)
        assert first - 3 <= SEEDS_PER_FRAME  # the rest wait, in order, for the next frames
        steps = 1
        while len(r.show.commands):
            r.show.step()
            steps += 1
        state = r.show.board.latest()
        assert steps >= MAX_WAITING_WORK // SEEDS_PER_FRAME and len(state.keyframes) == 3 + MAX_WAITING_WORK
        assert state.commands.refused == 300 - MAX_WAITING_WORK  # beyond the bound: refused, counted, answered
        assert [k.source for k in state.keyframes[3:6]] == ["seed:0", "seed:1", "seed:2"]  # order kept
    finally:
        r.close()


def test_a_large_state_is_sent_in_parts_never_silently_dropped(demo, tmp_path):
    r = Rig(demo, tmp_path)
    try:
        for n in range(300):  # about 13 KB of state JSON: more than one datagram carries
            while r.show.commands.work >= MAX_WAITING_WORK:  # keyframe edits waiting are bounded
                r.show.step()
            assert r.show.submit(AddCurrentKeyframe(), "test")
        while len(r.show.commands):
            r.show.step()
        sender = subprocess.Popen([sys.executable, "-m", "realtime.cli", "osc", "send", "/stylevj/state", "--port",
                                   str(r.osc.address[1]), "--wait", "5"], stdout=subprocess.PIPE, text=True)
        while sender.poll() is None:  # the show keeps running while the sender waits for its parts
            r.show.step()
            time.sleep(0.005)
        result = subprocess.CompletedProcess(sender.args, sender.returncode, sender.stdout.read(), "")
        line = next(line for line in result.stdout.splitlines() if line.startswith("/stylevj/state "))
        assert len(json.loads(line.split(" ", 1)[1])["keyframes"]) == 303
    finally:
        r.close()


def test_non_finite_output_is_a_generator_fault_and_the_last_good_frame_stays(demo, tmp_path):
    class Overflowing(SlowGenerator):
        def synthesis(self, ws, noise_mode="const"):
            img = super().synthesis(ws, noise_mode)
            return img if self.calls <= 1 else img * float("inf")

    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.05)
    r = Rig(demo, tmp_path, reply=listener.getsockname(), generator=Overflowing(demo))
    try:
        assert r.show.wait_for_first_frame()
        good = r.show.surface.read_pixels().copy()
        for _ in range(30):
            r.show.step()
            time.sleep(0.01)
        assert np.array_equal(r.show.surface.read_pixels(), good) and good[..., :3].std() > 5  # not black
        state = r.show.board.latest()
        assert state.generator_errors >= 1 and "not finite" in state.generator_error
        seen = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any("generator" in s for s in seen):
            r.show.step()
            try:
                msg = OscMessage(listener.recvfrom(65536)[0])
                if msg.address == "/stylevj/error":
                    seen.append(msg.params[0])
            except OSError:
                pass
        assert [s for s in seen if "generator" in s][:1] and sum("generator" in s for s in seen) == 1  # once
    finally:
        r.close()
        listener.close()


def test_saving_never_destroys_a_preset(demo, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    packaged = default_preset_path()
    original = packaged.read_bytes()
    r = Rig(demo, tmp_path)
    try:
        r.show.folders = Folders.beside(packaged.parent)  # a show started from the packaged default
        r.show.submit(SavePreset("default"), "test")
        r.show.step()
        assert r.show.finish_saves()  # saves are written off the render thread
        saved = tmp_path / "data" / "stylevj" / "presets" / "default.toml"
        assert packaged.read_bytes() == original and saved.exists()  # the package is never written
        first = saved.read_bytes()
        r.show.submit(SetParam("speed", 0.9), "test")
        r.show.submit(SavePreset("default"), "test")
        r.show.step()
        assert r.show.finish_saves()
        assert saved.with_name("default.toml.bak").read_bytes() == first  # the previous version is kept
        assert load_preset(saved).play.speed == pytest.approx(0.9)
    finally:
        r.close()


def test_a_new_run_keeps_the_last_runs_journal(tmp_path):
    journal = tmp_path / "state" / "journal.toml"
    args = ("run", "--headless", "--frames", "3", "--no-osc", "--no-control", "--journal", str(journal))
    assert stylevj(*args).returncode == 0 and journal.exists()
    journal.write_text(journal.read_text().replace("speed = 0.25", "speed = 0.625"))  # as a killed show left it
    second = stylevj(*args)
    assert second.returncode == 0 and "journal is kept as" in second.stderr
    (kept,) = (tmp_path / "state" / "previous").glob("*/journal.toml")
    assert load_preset(kept).play.speed == 0.625  # resumable with --resume --journal <kept>


def test_a_full_disk_leaves_a_playable_render_and_one_line(full_disk):
    out = full_disk / "set.mp4"
    result = stylevj("render", "--out", str(out), "--seconds", "20", "--fps", "30")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "No space left on device" in result.stderr.splitlines()[-1]
    frames = 0
    with av.open(str(out)) as container:
        try:
            for _ in container.decode(video=0):
                frames += 1
        except av.error.InvalidDataError:
            pass  # the fragment the disk cut
    assert frames >= 30  # a second or more plays


def test_a_full_disk_stops_a_live_recording_not_the_show(demo, tmp_path, full_disk):
    from realtime.record.recorder import LiveRecorder

    (full_disk / "filler").write_bytes(b"\0" * 140_000)  # a few KB left: the recording fills it within seconds
    r = Rig(demo, tmp_path, recorder=LiveRecorder(full_disk, fps=30))
    try:
        assert r.show.wait_for_first_frame()
        r.send(message("/stylevj/record/start", "take"))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not r.show.board.latest().record_error:
            r.show.step()
        state = r.state()
        assert state["recording"]["file"] is None and "No space left" in state["recording"]["error"]
        assert r.show.running
    finally:
        r.close()


def test_convert_and_still_to_a_full_disk_are_one_line(full_disk):
    (full_disk / "filler").write_bytes(b"\0" * 150_000)
    for args in (("convert", "demo", str(full_disk / "g.safetensors")), ("still", "--seed", "1", "--out", str(full_disk / "a.png"))):
        result = stylevj(*args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert "No space left on device" in result.stderr
        assert not [p for p in full_disk.iterdir() if p.name != "filler"]  # no half file left behind
