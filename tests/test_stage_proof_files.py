"""Stage-proof II, files: every file the show reads goes through one bounded, regular-file-only
reader off the render thread; loads have deadlines and never hold the stage; saves never block a
refresh and never break a backup. Real files, FIFOs, threads and OSC on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import socket
import struct
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from realtime.checks import CheckError
from realtime.errors import StylevjError
from realtime.files import read_bounded
from realtime.latent import KeyframeError, load_keyframe, snapshot
from realtime.latent.direction_files import load_direction
from realtime.latent.directions import DirectionError
from realtime.models import load_generator
from realtime.presets import PresetError, default_preset_path, load_preset, save_preset
from realtime.show import LiveShow, capture, player_from_preset
from realtime.show.commands import AddSeedKeyframe, LoadPreset, SavePreset, TogglePause

from .conftest import Rig, stylevj, until
from .conftest import osc_message as message


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


def bomb_npy(path: Path) -> Path:
    """128 bytes whose .npy header claims a 46 TiB array."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (3500000, 3500000, 1), }".ljust(117) + "\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    return path


def errors(replies) -> list[str]:
    return [p[0] for a, p in replies if a == "/stylevj/error"]


class RenderThreadFiles:
    """Records every file opened, made, moved or removed by the render thread while armed.

    An audit hook (PEP 578) sees every `open`/`os.open` in the process, whatever library makes
    it; hooks cannot be removed, so when disarmed (ident None) it does nothing."""

    EVENTS = {"open", "os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.listdir", "os.scandir", "os.truncate"}

    def __init__(self) -> None:
        self.ident: int | None = None
        self.seen: list[tuple[str, tuple]] = []
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple) -> None:
        if self.ident is not None and event in self.EVENTS and threading.get_ident() == self.ident:
            self.seen.append((event, tuple(str(a)[:120] for a in args[:2])))

    def watch(self, show) -> None:
        """Arm for exactly the duration of each `show.step()` (the refresh)."""
        step = show.step

        def audited_step() -> None:
            self.ident = threading.get_ident()
            try:
                step()
            finally:
                self.ident = None

        show.step = audited_step


@pytest.fixture(scope="module")
def render_files():
    return RenderThreadFiles()


# ---- one reader for every file ------------------------------------------------------------------


def test_a_fifo_is_refused_by_what_was_opened_not_by_a_stat_before(demo, tmp_path, monkeypatch):
    """The FIFO is swapped in after someone looked (a stat said: a regular file): the reader must
    still refuse it at once, judged by fstat on the descriptor it opened."""
    regular = tmp_path / "face.npy"
    np.save(regular, np.zeros((demo.num_ws, demo.w_dim), np.float32))
    fifo = tmp_path / "swapped.npy"
    os.mkfifo(fifo)
    looked = os.stat(regular)
    monkeypatch.setattr(Path, "stat", lambda self, **kw: looked)  # what a stat said before the swap
    outcome: list = []

    def load() -> None:
        try:
            load_keyframe(fifo, demo.num_ws, demo.w_dim)
        except KeyframeError as exc:
            outcome.append(str(exc))

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(timeout=10)
    try:
        assert not reader.is_alive(), "the reader blocked on a FIFO"
        assert len(outcome) == 1 and "swapped.npy" in outcome[0] and "not a regular file" in outcome[0]
    finally:
        if reader.is_alive():  # free the old reader: a writer opens the FIFO, then closes it
            os.close(os.open(fifo, os.O_WRONLY))


@pytest.mark.parametrize("kind", ["fifo", "zero", "folder", "big"])
def test_the_one_reader_refuses_anything_but_a_small_regular_file(tmp_path, kind):
    path = tmp_path / "thing"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"x" * 1025)
    with pytest.raises(PresetError) as err:
        read_bounded(path, 1024, "preset file", PresetError)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert {"fifo": "not a regular file", "zero": "not a regular file", "folder": "is a folder",
            "big": "too large"}[kind] in message


@pytest.mark.parametrize("what", ["control", "keyframe"])
def test_every_file_a_preset_names_goes_through_the_bounded_reader_at_start(demo, tmp_path, what):
    """A [[controls]] file of /dev/zero grew memory ~1 GB/s until the kernel killed the show."""
    os.mkfifo(tmp_path / "pipe.npy")
    entry = ('[[controls]]\nname = "z"\nfile = "/dev/zero"\n' if what == "control"
             else '[[keyframes]]\nfile = "pipe.npy"\n')
    (tmp_path / "show.toml").write_text('[[keyframes]]\nseed = 1\n' + entry)
    with pytest.raises(StylevjError) as err:  # the CLI's one line, exit 2
        player_from_preset(load_preset(tmp_path / "show.toml"), demo)
    assert "not a regular file" in str(err.value) and "\n" not in str(err.value)


def test_preset_load_of_fifos_and_devices_is_refused_and_the_show_goes_on(demo, tmp_path):
    """preset/load of a FIFO, of a preset whose control file is a FIFO or /dev/zero: each one
    line to the sender, nothing changed, the loader free for the next load."""
    os.mkfifo(tmp_path / "fifo.toml")
    os.mkfifo(tmp_path / "pipe.npy")
    (tmp_path / "ctl.toml").write_text('[[keyframes]]\nseed = 4\n[[controls]]\nname = "p"\nfile = "pipe.npy"\n')
    (tmp_path / "zero.toml").write_text('[[keyframes]]\nseed = 4\n[[controls]]\nname = "z"\nfile = "/dev/zero"\n')
    (tmp_path / "fine.toml").write_text('[[keyframes]]\nseed = 7\n')
    r = Rig(demo, tmp_path)
    try:
        for name in ("fifo", "ctl", "zero"):
            r.send(message("/stylevj/preset/load", name))
        got = errors(r.replies(3.0))
        assert len(got) == 3 and all("not a regular file" in e for e in got), got
        r.send(message("/stylevj/preset/load", "fine"))
        assert [k["source"] for k in r.state()["keyframes"]] == ["seed:7"]
        assert r.show.running and r.osc.listening
    finally:
        r.close()


# ---- no file I/O on the render thread -----------------------------------------------------------


def test_the_render_thread_never_touches_a_file(demo, tmp_path, render_files):
    """Saves (with live keyframes, twice: a backup), loads, keyframe files and snapshots, all
    with the render thread audited: not one open, mkdir, rename or listing on it."""
    (tmp_path / "keyframes").mkdir()
    np.save(tmp_path / "keyframes" / "face.npy", np.zeros((demo.num_ws, demo.w_dim), np.float32))
    r = Rig(demo, tmp_path)
    render_files.watch(r.show)
    try:
        assert r.show.wait_for_first_frame()
        r.send(message("/stylevj/keyframe/add/current"))
        r.send(message("/stylevj/preset/save", "live"))
        r.send(message("/stylevj/keyframe/add/file", "face.npy"))
        r.send(message("/stylevj/preset/save", "live"))
        r.send(message("/stylevj/preset/load", "live"))
        r.show.request_snapshot(tmp_path / "snap.png")
        r.state()
        assert until(lambda: (tmp_path / "snap.png").exists() and (tmp_path / "live.toml.bak").exists(), r)
        assert len(r.state()["keyframes"]) == 5
        assert render_files.seen == [], render_files.seen
    finally:
        render_files.ident = None
        r.close()


def test_saving_onto_a_fifo_is_one_line_and_never_holds_a_refresh(demo, tmp_path):
    """It blocked the render thread: 0 refreshes in 8 s."""
    os.mkfifo(tmp_path / "stage.toml")
    r = Rig(demo, tmp_path)
    try:
        r.send(message("/stylevj/preset/save", "stage"))
        before = r.show.stats.refreshes
        got = errors(r.replies(2.0))
        assert any("stage.toml" in e and "not a regular file" in e for e in got), got
        assert r.show.stats.refreshes - before > 20  # it kept refreshing throughout
    finally:
        r.close()


# ---- deadlines: a stuck load never holds the stage ----------------------------------------------


def test_a_stuck_load_is_abandoned_and_never_holds_the_stage_keys_or_state(demo, tmp_path):
    r = Rig(demo, tmp_path)
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    other.settimeout(0.05)
    gate, returned = threading.Event(), threading.Event()
    r.show.loader.deadline = 1.0

    def stuck():  # a read from a hung network folder
        gate.wait(60)
        returned.set()
        return AddSeedKeyframe(99)  # its late result must be discarded

    try:
        sender = ("osc", r.client.getsockname(), "/stylevj/preset/load")
        r.show.loader.load(stuck, sender, what="preset hung")
        r.send(message("/stylevj/keyframe/add/seed", 5))  # the same sender: waits for its load
        paused = r.show.player.paused
        r.show.submit(TogglePause(), "keys")
        assert until(lambda: r.show.player.paused != paused, r, 0.5)  # the stage key applies at once
        other.sendto(message("/stylevj/state"), r.osc.address)  # another sender's state request
        answered = []

        def heard() -> bool:
            try:
                answered.append(other.recvfrom(65536))
            except socket.timeout:
                pass
            return bool(answered)

        assert until(heard, r, 0.8)  # answered before the deadline
        assert len(r.show.player.keyframes) == 3  # the sender's own command still waits
        got = errors(r.replies(3.0))
        assert any("preset hung" in e and "abandoned" in e for e in got), got
        assert [k.source for k in r.show.player.keyframes][-1] == "seed:5"  # it went on after the deadline
        gate.set()
        assert returned.wait(10)
        r.send(message("/stylevj/keyframe/add/seed", 6))
        (tmp_path / "keyframes").mkdir()
        np.save(tmp_path / "keyframes" / "face.npy", np.zeros((demo.num_ws, demo.w_dim), np.float32))
        r.send(message("/stylevj/keyframe/add/file", "face.npy"))  # a fresh loader thread reads it
        sources = [k["source"] for k in r.state()["keyframes"]]
        assert sources[3:] == ["seed:5", "seed:6", f"file:{tmp_path / 'keyframes' / 'face.npy'}"]
        assert "seed:99" not in sources  # the late result was discarded
    finally:
        gate.set()
        other.close()
        r.close()


# ---- backups are whole --------------------------------------------------------------------------


def test_a_backup_still_finds_the_keyframes_it_names(demo, tmp_path):
    """A second save overwrote the live keyframe file the `.bak` refers to."""
    preset = load_preset(default_preset_path())
    player = player_from_preset(preset, demo)
    first = torch.full((demo.num_ws, demo.w_dim), 0.5)
    player.add(snapshot(first, name="live"))
    path = tmp_path / "show.toml"
    save_preset(capture(preset, LiveShow.of(player, preset.params), path), path, backup=True)
    player.replace(len(player.keyframes) - 1, snapshot(torch.full((demo.num_ws, demo.w_dim), -0.5), name="live"))
    save_preset(capture(preset, LiveShow.of(player, preset.params), path), path, backup=True)
    bak = load_preset(tmp_path / "show.toml.bak")
    kept = load_keyframe(bak.resolve(bak.keyframes[-1].file), demo.num_ws, demo.w_dim)
    assert torch.equal(kept.w, first)  # the previous version, whole
    now = load_preset(path)
    assert now.keyframes[-1].file != bak.keyframes[-1].file


# ---- one-line messages --------------------------------------------------------------------------


def test_a_direction_file_with_a_46_tib_header_is_one_line_at_start(tmp_path):
    bomb_npy(tmp_path / "bomb.npy")
    (tmp_path / "show.toml").write_text('[[keyframes]]\nseed = 1\n[[controls]]\nname = "b"\nfile = "bomb.npy"\n')
    result = stylevj("run", str(tmp_path / "show.toml"), "--headless", "--frames", "1", "--no-osc", "--no-control",
                     "--journal", str(tmp_path / "journal.toml"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "header declares" in result.stderr
    assert len([line for line in result.stderr.splitlines() if "bomb.npy" in line]) == 1


def test_deeply_nested_toml_is_one_line(tmp_path):
    (tmp_path / "arrays.toml").write_text("[play]\nspeed = " + "[" * 3000 + "]" * 3000 + "\n")
    (tmp_path / "tables.toml").write_text("[[keyframes]]\nseed = 1\nat" + ".a" * 3000 + " = 1\n")
    for name in ("arrays.toml", "tables.toml"):
        with pytest.raises(PresetError) as err:
            load_preset(tmp_path / name)
        assert "nested" in str(err.value) and "\n" not in str(err.value)


def test_a_void_dtype_keyframe_is_one_line_and_no_traceback_in_the_log(demo, tmp_path, caplog):
    (tmp_path / "keyframes").mkdir()
    np.save(tmp_path / "keyframes" / "void.npy", np.zeros((demo.num_ws, demo.w_dim), "V4"))
    np.save(tmp_path / "direction.npy", np.zeros((demo.w_dim,), "V4"))
    with pytest.raises(DirectionError, match="not plain numbers"):
        load_direction(tmp_path / "direction.npy", demo.num_ws, demo.w_dim)
    r = Rig(demo, tmp_path)
    try:
        with caplog.at_level(logging.INFO):
            r.send(message("/stylevj/keyframe/add/file", "void.npy"))
            got = errors(r.replies(2.0))
        assert any("void.npy" in e and "not plain numbers" in e for e in got), got
        assert not [rec for rec in caplog.records if rec.exc_info], "a traceback went to the log"
    finally:
        r.close()


@pytest.mark.parametrize("name", [" default", "..", ".", "...", "a/b", "x.", ".toml"])
def test_one_preset_name_rule_for_save_load_and_osc(demo, tmp_path, name):
    """' default', '..' and '.' made files such as '...toml'."""
    for command in (SavePreset, LoadPreset):
        with pytest.raises(CheckError, match="plain name inside the presets folder"):
            command(name)
    r = Rig(demo, tmp_path)
    try:
        before = sorted(p.name for p in tmp_path.iterdir())
        r.send(message("/stylevj/preset/save", name))
        got = errors(r.replies(0.5))
        assert got and all("plain name inside the presets folder" in e for e in got), got
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written
    finally:
        r.close()
