"""Preset files: strict loading with clear errors, atomic saving, live keyframes kept."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from realtime.latent import snapshot
from realtime.models import load_generator
from realtime.presets import PresetError, default_preset_path, load_preset, save_preset
from realtime.show import LiveShow, capture, load_keyframes, player_from_preset

MINIMAL = """
[generator]
source = "demo"
[[keyframes]]
seed = 1
[[keyframes]]
seed = 2
truncation = 0.5
name = "calm"
"""


def write(tmp_path, text, name="show.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_default_preset_runs_the_demo():
    preset = load_preset(default_preset_path())
    assert preset.generator.source == "demo" and len(preset.keyframes) >= 4
    assert preset.path.spline == "catmull-rom" and preset.path.alpha == 0.5


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("[play]\nsped = 1.0\n", "[play] unknown key 'sped'"),
        ("[play]\nspeed = 'fast'\n", "[play] speed must be a number"),
        ("[path]\nalpha = 2.0\n", "[path] alpha must be within [0, 1], got 2"),
        ("[path]\nspline = 'bezier'\n", "[path] spline must be one of catmull-rom, linear"),
        ("[generator]\nnoise = 'loud'\n", "[generator] noise must be one of"),
        ("[osc]\nport = 70000\n", "[osc] port must be within [1, 65535]"),
        ("[visuals]\nx = 1\n", "unknown section [visuals]"),
        ("[[keyframes]]\nname = 'x'\n", "[[keyframes]] #1 needs exactly one of 'seed' or 'file'"),
        ("[[keyframes]]\nseed = 1\nfile = 'a.npy'\n", "needs exactly one of"),
        ("[[keyframes]]\nseed = -3\n", "[[keyframes]] #1 seed must be within"),
        ("[mix]\nkeyframe = 1\n", "[mix] needs both 'keyframe' and 'layers'"),
        ("[osc]\nreply = 'nowhere'\n", "[osc] reply must be host:port"),
        ("[osc]\nallow = ['10.0.0.300/8']\n", "[osc] allow holds '10.0.0.300/8', not an address"),
        ("[[osc.mappings]]\naddress = 'speed'\nparam = 'speed'\n", "[[osc.mappings]] #1 address must start with '/'"),
        ("[[keyframes]]\nseed = 1\nat = 'soon'\n", "[[keyframes]] #1 at must be a time"),
        ("[overlay]\ntensor = 1\n", "[overlay] tensor must be true or false"),
        ("[mix]\nkeyframe = 1\nlayers = [5, 2]\n", "[mix] layers must satisfy"),
        ("speed = = 1\n", "not valid TOML"),
    ],
)
def test_bad_presets_name_file_key_and_reason(tmp_path, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(PresetError) as err:
        load_preset(path)
    assert str(path) in str(err.value) and fragment in str(err.value)


def test_a_preset_saved_with_a_bom_by_an_editor_loads(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeff[play]\nspeed = 0.5\n".encode("utf-8"))
    assert load_preset(path).play.speed == 0.5


def test_every_key_round_trips_through_toml(tmp_path):
    preset = load_preset(default_preset_path())
    assert load_preset(save_preset(preset, tmp_path / "copy.toml")) == preset


def test_missing_preset():
    with pytest.raises(PresetError, match="show.toml: no such file"):
        load_preset("/nowhere/show.toml")


def test_paths_resolve_relative_to_the_preset(tmp_path):
    G = load_generator("demo")
    (tmp_path / "kf").mkdir()
    w = torch.randn(G.num_ws, G.w_dim)
    np.save(tmp_path / "kf" / "face.npy", w.numpy())
    path = write(tmp_path, '[[keyframes]]\nfile = "kf/face.npy"\nname = "face"\n')
    keyframes = load_keyframes(load_preset(path), G)
    assert torch.allclose(keyframes[0].w, w) and keyframes[0].name == "face"


def test_seed_keyframes_use_their_own_truncation(tmp_path):
    G = load_generator("demo")
    keyframes = load_keyframes(load_preset(write(tmp_path, MINIMAL)), G)
    plain = G.mapping(torch.from_numpy(np.random.RandomState(2).randn(1, G.z_dim)).float())[0]
    assert torch.allclose(keyframes[1].w, G.w_avg + 0.5 * (plain - G.w_avg), atol=1e-5)
    assert keyframes[1].name == "calm" and keyframes[0].name == "seed 1"


def test_save_and_load_round_trip_with_live_keyframes(tmp_path):
    G = load_generator("demo")
    preset = load_preset(write(tmp_path, MINIMAL))
    player = player_from_preset(preset, G)
    player.advance(1.3)
    live = player.raw().clone()
    player.add(snapshot(live, name="the drop!"))
    player.set_speed(0.75)
    out = tmp_path / "saved" / "show.toml"
    out.parent.mkdir()
    saved = save_preset(capture(preset, LiveShow.of(player, preset.params.replace(speed=player.speed)), out), out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["show.keyframes", "show.toml"]  # no temp files
    again = load_preset(saved)
    assert again.play.speed == 0.75 and again.keyframes[0].seed == 1 and again.keyframes[1].truncation == 0.5
    assert re.fullmatch(r"show\.keyframes/the-drop-[0-9a-f]{16}\.safetensors", again.keyframes[2].file)  # by content
    restored = load_keyframes(again, G)
    assert torch.equal(restored[2].w, live) and restored[2].name == "the drop!"
    assert torch.allclose(restored[1].w, player.keyframes[1].w)


def test_saving_elsewhere_keeps_file_references_working(tmp_path):
    G = load_generator("demo")
    np.save(tmp_path / "face.npy", np.zeros((G.num_ws, G.w_dim), np.float32))
    preset = load_preset(write(tmp_path, '[[keyframes]]\nfile = "face.npy"\n'))
    (tmp_path / "other").mkdir()
    moved = save_preset(preset, tmp_path / "other" / "copy.toml")
    assert load_preset(moved).keyframes[0].file == "../face.npy"
    assert load_keyframes(load_preset(moved), G)[0].w.abs().sum() == 0


def test_preview_contact_sheet(tmp_path):
    path = write(tmp_path, MINIMAL)
    out = tmp_path / "sheet.png"
    result = subprocess.run(
        [sys.executable, "-m", "realtime.cli", "preview", str(path), "--out", str(out), "--per-segment", "3",
         "--columns", "3", "--thumb", "64"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    sheet = np.asarray(Image.open(out).convert("RGB"))
    assert sheet.shape == (2 * 70 + 6, 3 * 70 + 6, 3)  # 6 frames (2 keyframes x 3, closed) in 3 columns
    top_left_frame = sheet[3, 3:67]
    assert (top_left_frame == (255, 196, 0)).all()  # keyframe 0 is marked


def test_preview_bad_preset_is_one_line(tmp_path):
    path = write(tmp_path, "[play]\nspeed = 'x'\n")
    result = subprocess.run([sys.executable, "-m", "realtime.cli", "preview", str(path), "--out", str(tmp_path / "s.png")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr and "speed must be a number" in result.stderr


def test_saved_files_are_readable_by_others_and_keep_their_mode(tmp_path):
    import os
    import stat

    from realtime.files import atomic_write

    new = atomic_write(tmp_path / "new.toml", b"a")
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o644
    os.chmod(new, 0o600)
    atomic_write(new, b"b")
    assert stat.S_IMODE(os.stat(new).st_mode) == 0o600 and new.read_bytes() == b"b"
