"""Stage-proof II, loose ends (issue 21): a keyframe edit costs the few segments around it at any
show size; keyframe file names are resolved by the loader, never on the render thread; the
overlay font and checkpoints are judged by what was opened; the operator page's picture follows
the stage's level. Real files, FIFOs, threads and OSC on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import realtime.models.loading as loading
from realtime.errors import CheckpointError, StylevjError
from realtime.latent import ArcLength, Keyframe, PathSettings, Player, build_path
from realtime.models import load_generator
from realtime.models.native import save_native
from realtime.overlay.text import GlyphAtlas, check_font, find_font
from realtime.show.thumbnail import LEVEL_STEPS, ThumbnailTap

from .conftest import Rig, until
from .conftest import osc_message as message
from .forge import to_rosinality


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


def in_thread(fn, seconds: float = 10.0) -> tuple[threading.Thread, list]:
    """Run fn in a thread and wait for it at most `seconds`; its outcome (value or exception)."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(fn())
        except Exception as exc:  # the outcome under test
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=seconds)
    return thread, outcome


def free(fifo: Path) -> None:
    """Unblock a reader stuck opening the FIFO: a writer opens it, then closes it."""
    os.close(os.open(fifo, os.O_RDWR))  # never blocks on Linux, and counts as a writer


# ---- 1. a keyframe edit costs O(1) segments -----------------------------------------------------


def keyframes(count: int, seed: int = 0) -> list[Keyframe]:
    g = torch.Generator().manual_seed(seed)
    return [Keyframe(torch.randn(4, 16, generator=g), f"k{i}", "test") for i in range(count)]


def edits(p: Player, count: int) -> dict[str, tuple[int, int]]:
    """Each kind of edit once; the segments and arc tables the path computed for it (and a frame)."""
    new = keyframes(3, seed=99)
    ops = {
        "add": lambda: p.add(new[0], count // 2),
        "remove": lambda: p.remove(count // 3),
        "move": lambda: p.move(1, count // 2),
        "replace": lambda: p.replace(count // 4, new[1]),
        "rename": lambda: p.replace(2, replace(p.keyframes[2], name="renamed")),
        "append": lambda: p.extend([new[2]]),
    }
    work = {}
    for name, op in ops.items():
        op()
        p.advance(1 / 60)
        p.current()
        work[name] = (p.path.segments_computed, p.path.arcs_computed)
    return work


@pytest.mark.parametrize("spline, closed", [("catmull-rom", True), ("catmull-rom", False), ("linear", True)])
def test_a_keyframe_edit_computes_the_same_few_segments_at_any_show_size(spline, closed):
    """It rebuilt every segment and its arc-length table: 105 ms at 1,000 keyframes (7 s with
    constant speed), on the render thread."""
    settings = PathSettings(spline=spline, closed=closed, constant_speed=True)
    work = {}
    for count in (8, 600):
        p = Player(keyframes(count), torch.zeros(16), settings, speed=0.7)
        p.advance(0.5)
        work[count] = edits(p, count)
        fresh = build_path([k.w for k in p.keyframes], settings)  # the edited path is exactly the one built anew
        t = torch.linspace(-1.0, fresh.length + 1, 301, dtype=torch.float64)
        assert torch.allclose(p.path.evaluate(t), fresh.evaluate(t), atol=1e-6)
        assert ArcLength(p.path).total == pytest.approx(ArcLength(fresh).total, rel=1e-9)
    assert work[600] == work[8], work  # the same work at 600 keyframes as at 8
    assert all(segments <= 8 and arcs <= 8 for segments, arcs in work[600].values()), work[600]  # a move: 2 x 4
    assert work[600]["rename"] == (0, 0)  # a rename keeps the W+: nothing to compute


def test_the_constant_speed_table_matches_dense_sampling_and_a_settings_change_keeps_the_geometry():
    """The arc-length table from the Gram matrix equals summing chords of evaluated points."""
    p = build_path(torch.stack([k.w for k in keyframes(6)]), PathSettings(alpha=0.5, closed=False))
    arc = ArcLength(p)
    t = torch.linspace(0.0, p.length, int(p.length) * 256 + 1, dtype=torch.float64)  # the table's own samples
    w = p.evaluate(t).flatten(1).double()
    dense = torch.cat([torch.zeros(1, dtype=torch.float64), (w[1:] - w[:-1]).norm(dim=1).cumsum(0)])
    assert torch.allclose(arc.distance_at(t), dense, rtol=1e-4, atol=1e-5)
    assert torch.allclose(arc.time_at(arc.distance_at(t)), t, atol=1e-6)
    closed = build_path([k.w for k in keyframes(6)], PathSettings(alpha=0.5, closed=True), previous=p)
    assert closed.segments_computed == 0  # nothing computed yet: each segment on first use
    closed.evaluate(torch.tensor([2.5]))
    assert closed.segments_computed == 1


# ---- 2. keyframe file names are resolved by the loader ------------------------------------------


class RenderThreadStats:
    """Records stat, lstat and readlink calls (what `Path.resolve` and `exists` make, and what an
    audit hook never sees) made on the render thread while it runs `show.step()`."""

    def __init__(self, monkeypatch, show) -> None:
        self.ident: int | None = None
        self.seen: list[tuple[str, str]] = []
        for name in ("stat", "lstat", "readlink"):
            real = getattr(os, name)
            monkeypatch.setattr(os, name, self._wrap(name, real))
        step = show.step

        def audited_step() -> None:
            self.ident = threading.get_ident()
            try:
                step()
            finally:
                self.ident = None

        show.step = audited_step

    def _wrap(self, name: str, real):
        def call(path, *args, **kwargs):
            if self.ident is not None and threading.get_ident() == self.ident:
                self.seen.append((name, str(path)[:120]))
            return real(path, *args, **kwargs)

        return call


def test_keyframe_file_names_are_resolved_by_the_loader_never_on_the_render_thread(demo, tmp_path, monkeypatch):
    folder = tmp_path / "keyframes"
    folder.mkdir()
    np.save(folder / "face.npy", np.zeros((demo.num_ws, demo.w_dim), np.float32))
    np.save(tmp_path / "outside.npy", np.ones((demo.num_ws, demo.w_dim), np.float32))
    (folder / "link.npy").symlink_to(folder / "face.npy")
    (folder / "escape.npy").symlink_to(tmp_path / "outside.npy")
    r = Rig(demo, tmp_path)
    try:
        assert r.show.wait_for_first_frame()
        stats = RenderThreadStats(monkeypatch, r.show)
        r.send(message("/stylevj/keyframe/add/file", "face.npy"))
        r.send(message("/stylevj/keyframe/replace", 0, "link.npy"))
        r.send(message("/stylevj/keyframe/add/file", "escape.npy"))  # a link out of the folder
        r.send(message("/stylevj/keyframe/add/file", "../outside.npy"))  # refused by its name, at once
        got = [p[0] for a, p in r.replies(3.0) if a == "/stylevj/error"]
        state = r.state()
        assert stats.seen == [], stats.seen
        assert len(state["keyframes"]) == 4 and state["keyframes"][0]["source"].endswith("face.npy")
        assert any("escape.npy" in e and "leaves the keyframes folder" in e for e in got), got
        assert any("../outside.npy" in e and "plain name" in e for e in got), got
    finally:
        r.close()


# ---- 3. the overlay font ------------------------------------------------------------------------


def test_a_font_that_is_a_fifo_is_one_line_even_swapped_in_after_a_look(tmp_path, monkeypatch):
    """find_font looked (is_file), then Pillow opened the path: a FIFO there blocked start-up."""
    fifo = tmp_path / "mono.ttf"
    os.mkfifo(fifo)
    monkeypatch.setattr(Path, "is_file", lambda self: True)  # what a look said before the swap
    thread, outcome = in_thread(lambda: check_font(find_font(fifo)))
    try:
        assert not thread.is_alive(), "reading the font blocked on a FIFO"
        (error,) = outcome
        assert isinstance(error, StylevjError) and "\n" not in str(error)
        assert "mono.ttf" in str(error) and "not a regular file" in str(error)
    finally:
        if thread.is_alive():
            free(fifo)


def test_the_font_is_read_once_and_atlases_at_other_sizes_never_open_it_again(tmp_path):
    font = tmp_path / "mono.ttf"
    shutil.copyfile(find_font(), font)
    check_font(font)  # start-up: the one read
    font.unlink()  # a later atlas (a new output size) must not need the file
    atlas = GlyphAtlas(font, 23)
    assert atlas.bitmap.max() > 0


# ---- 4. checkpoints are parsed from the file that was judged ------------------------------------


def test_a_checkpoint_swapped_for_a_fifo_after_a_look_is_refused_at_once(tmp_path, monkeypatch):
    fifo = tmp_path / "net.pt"
    os.mkfifo(fifo)
    regular = tmp_path / "regular"
    regular.write_bytes(b"x" * 64)
    looked = os.stat(regular)
    for name in ("exists", "is_file"):
        monkeypatch.setattr(Path, name, lambda self: True)
    monkeypatch.setattr(Path, "is_dir", lambda self: False)
    monkeypatch.setattr(Path, "stat", lambda self, **kw: looked)
    thread, outcome = in_thread(lambda: load_generator(str(fifo)))
    try:
        assert not thread.is_alive(), "loading the checkpoint blocked on a FIFO"
        (error,) = outcome
        assert isinstance(error, CheckpointError) and "net.pt" in str(error) and "not a regular file" in str(error)
    finally:
        if thread.is_alive():
            free(fifo)


@pytest.mark.parametrize("kind", ["safetensors", "torch"])
def test_a_checkpoint_is_parsed_from_the_file_that_was_opened_not_reopened_by_name(demo, tmp_path, monkeypatch, kind):
    """The name is swapped for junk after the format was sniffed: what was opened is what loads."""
    path = tmp_path / f"net.{kind}"
    if kind == "safetensors":
        save_native(demo, path)
    else:
        torch.save(to_rosinality(demo), path)
    junk = tmp_path / "junk"
    junk.write_bytes(b"\x80\x04junk" * 100)
    real = loading.sniff_format

    def sniff_then_swap(*args):
        found = real(*args)
        os.replace(junk, path)  # another file takes the name
        return found

    monkeypatch.setattr(loading, "sniff_format", sniff_then_swap)
    G = load_generator(str(path))
    z = torch.randn(1, demo.z_dim, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(G.synthesis(G.mapping(z)), demo.synthesis(demo.mapping(z)), atol=1e-5)


# ---- 5. the page's picture follows the stage's level --------------------------------------------


def test_the_thumbnail_is_scaled_by_the_stage_level_and_only_when_it_moves():
    frame = torch.full((64, 64, 4), 200, dtype=torch.uint8)
    tap = ThumbnailTap(hz=4.0, size=32)
    tap.take(frame, None, 1, 0.0, None)
    full = tap.shown(1.0)
    assert full.pixels.max() == 200
    dark = tap.shown(0.0)  # a blackout
    assert dark.serial > full.serial and dark.pixels.max() == 0 and not dark.pixels.flags.writeable
    assert tap.shown(0.0) is dark  # the level did not move: nothing re-made, nothing re-sent
    half = tap.shown(0.5 + 0.2 / LEVEL_STEPS)  # a fade: within a step of the level
    assert half.serial > dark.serial and abs(int(half.pixels.max()) - 100) <= 200 / LEVEL_STEPS
    assert tap.shown(0.5) is half
    tap.take(frame, None, 2, 1.0, None)
    newer = tap.shown(0.5)  # a new copy at the same level
    assert newer.frame == 2 and newer.serial > half.serial and newer.pixels.max() == half.pixels.max()


def test_a_blackout_shows_on_the_operator_page_picture(demo, tmp_path):
    """The page's picture was the generator's frame: during a blackout the page showed a face
    the audience did not see."""
    r = Rig(demo, tmp_path)
    try:
        r.show.thumbnails = True
        assert r.show.wait_for_first_frame()

        def page_picture() -> int:
            thumbnail = r.show.board.latest().thumbnail
            return -1 if thumbnail is None else int(thumbnail.pixels.max())

        assert until(lambda: page_picture() > 0, r)
        r.send(message("/stylevj/blackout", 1))
        assert until(lambda: page_picture() == 0, r)
        assert r.show.board.latest().params.blackout
        r.send(message("/stylevj/blackout", 0))
        assert until(lambda: page_picture() > 0, r)
    finally:
        r.close()
