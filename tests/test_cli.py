"""The `stylevj` command as a user runs it: real processes, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from realtime.images import to_rgb8
from realtime.models import load_generator
from realtime.models.seeds import z_from_seed

from .conftest import stylevj
from .forge import Reducer, dump


def read_png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_still_from_the_demo_generator(tmp_path):
    out = tmp_path / "still.png"
    result = stylevj("still", "--seed", "7", "--psi", "0.8", "--out", str(out))
    assert result.returncode == 0, result.stderr
    pixels = read_png(out)
    assert pixels.shape == (256, 256, 3)
    assert pixels.std() > 20
    again = tmp_path / "again.png"
    stylevj("still", "--seed", "7", "--psi", "0.8", "--out", str(again))
    assert np.array_equal(pixels, read_png(again))


def test_still_psi_zero_is_the_same_picture_for_any_seed(tmp_path):
    for seed in ("1", "2"):
        assert stylevj("still", "--seed", seed, "--psi", "0", "--out", str(tmp_path / f"{seed}.png")).returncode == 0
    assert np.array_equal(read_png(tmp_path / "1.png"), read_png(tmp_path / "2.png"))


def test_still_from_a_user_checkpoint_matches_the_library(fixtures, tmp_path):
    out = tmp_path / "nv.png"
    assert stylevj("still", "--checkpoint", str(fixtures / "nvada_tiny.pkl"), "--seed", "3", "--out", str(out)).returncode == 0
    G = load_generator(fixtures / "nvada_tiny.pkl")
    with torch.no_grad():
        expected = to_rgb8(G.synthesis(G.mapping(z_from_seed(3, G.z_dim)))[0])
    assert np.array_equal(read_png(out), expected)


def assert_user_error(result, *fragments: str) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.startswith("stylevj: error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_missing_checkpoint_is_one_line_exit_2(tmp_path):
    result = stylevj("still", "--checkpoint", str(tmp_path / "gone.pkl"), "--seed", "1", "--out", str(tmp_path / "x.png"))
    assert_user_error(result, "gone.pkl", "no such file")
    assert not (tmp_path / "x.png").exists()


def test_hostile_pickle_is_one_line_exit_2(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pkl"
    dump({"G_ema": Reducer(os.system, f"touch {marker}")}, evil)
    result = stylevj("still", "--checkpoint", str(evil), "--seed", "1", "--out", str(tmp_path / "x.png"))
    assert_user_error(result, "evil.pkl", "system")
    assert not marker.exists()


def test_output_folder_missing(tmp_path):
    result = stylevj("still", "--seed", "1", "--out", str(tmp_path / "no" / "x.png"))
    assert result.returncode == 2 and "Traceback" not in result.stderr  # refused when parsed, before the model loads
    assert "argument --out" in result.stderr and "does not exist" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["still", "--seed", "1", "--psi", "nan?", "--out", "x.png"], "not a number"),
    (["render", "--out", "x.mp4", "--fps", "0"], "must be positive"),
    (["render", "--out", "x.mp4", "--fps", "nan"], "must be a finite number"),
    (["render", "--out", "x.mp4", "--seconds", "inf"], "must be a finite number"),
    (["render", "--out", "x.mp4", "--seconds", "-1"], "must be positive"),
    (["run", "--headless", "--seconds", "nan"], "must be a finite number"),
    (["run", "--osc-port", "80000"], "a port must be within [0, 65535]"),
])
def test_bad_flag_values_are_one_line_exit_2(args, message, tmp_path):
    result = stylevj(*args, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr and message in result.stderr
    assert not list(tmp_path.iterdir())  # nothing was written


@pytest.mark.parametrize("args, message", [
    (["run", "--set", "sped=0.5"], "unknown parameter 'sped' (parameters: speed, truncation"),
    (["run", "--set", "speed=5000"], "speed must be within [-1000, 1000], got 5000"),
    (["render", "--out", "x.mp4", "--set", "fader=nan"], "fader must be finite"),
    (["run", "--set", "overlay=maybe"], "overlay must be 0/1, true/false or on/off, got 'maybe'"),
    (["render", "--out", "x.mp4", "--set", "spline=bezier"], "spline must be one of catmull-rom, linear"),
    (["still", "--seed", "1", "--out", "x.png", "--set", "truncation"], "expected NAME=VALUE"),
])
def test_a_bad_set_is_one_line_exit_2(args, message, tmp_path):
    result = stylevj(*args, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "argument --set: " + message in result.stderr
    assert not list(tmp_path.iterdir())  # refused when parsed: nothing was written


def test_set_reads_each_value_as_its_parameter_kind():
    from realtime.cli import build_parser

    args = build_parser().parse_args(["run", "--set", "speed=-2", "--set", "closed=OFF", "--set", "overlay=1",
                                      "--set", "noise=random", "--set", "blend=3", "--set", "speed=0.5"])
    assert args.set == {"speed": 0.5, "closed": False, "overlay": True, "noise": "random", "blend": 3.0}  # the last wins
    assert build_parser().parse_args(["run"]).set == {}
    still = build_parser().parse_args(["still", "--seed", "1", "--out", "x.png", "--set", "truncation=0.25"])
    assert still.set == {"truncation": 0.25} and isinstance(still.set["truncation"], float)


def test_a_still_takes_its_truncation_from_set(tmp_path):
    by_set, by_psi = tmp_path / "set.png", tmp_path / "psi.png"
    assert stylevj("still", "--seed", "3", "--set", "truncation=0", "--out", str(by_set)).returncode == 0
    assert stylevj("still", "--seed", "3", "--psi", "0", "--out", str(by_psi)).returncode == 0
    plain = stylevj("still", "--seed", "3", "--out", str(tmp_path / "plain.png"))
    assert np.array_equal(read_png(by_set), read_png(by_psi))
    assert not np.array_equal(read_png(by_set), read_png(tmp_path / "plain.png")), plain.stderr


@pytest.mark.parametrize("name", ["nvada_tiny.pkl", "rosinality_tiny.pt"])
def test_convert_round_trips_bit_exactly(fixtures, tmp_path, name):
    first, second = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    assert stylevj("convert", str(fixtures / name), str(first)).returncode == 0
    assert stylevj("convert", str(first), str(second)).returncode == 0
    assert first.read_bytes() == second.read_bytes()
    original, converted = load_generator(fixtures / name), load_generator(first)
    assert converted.cfg == original.cfg
    for key, tensor in original.state_dict().items():
        assert torch.equal(tensor, converted.state_dict()[key]), key
    ws = original.mapping(torch.randn(2, original.z_dim), truncation_psi=0.7)
    assert torch.equal(original.synthesis(ws), converted.synthesis(ws))


def test_convert_never_overwrites_without_force(fixtures, tmp_path):
    out = tmp_path / "keep.safetensors"
    out.write_bytes(b"precious")
    assert_user_error(stylevj("convert", str(fixtures / "nvada_tiny.pkl"), str(out)), "already exists")
    assert out.read_bytes() == b"precious"
    assert stylevj("convert", str(fixtures / "nvada_tiny.pkl"), str(out), "--force").returncode == 0
    assert load_generator(out).num_ws == 8


def test_bench_prints_a_table_and_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    result = stylevj("bench", "--sources", "demo", "--device", "cpu", "--seconds", "0.2", "--json", str(out))
    assert result.returncode == 0, result.stderr
    assert "generator" in result.stdout and "demo" in result.stdout
    data = json.loads(out.read_text())
    rows = {r["part"]: r for r in data["rows"]}
    assert set(rows) >= {"generator", "upload-host", "composite", "loop"}
    assert rows["upload-interop"]["frames"] == 0 and "interop impossible" in rows["upload-interop"]["note"]
    assert rows["loop"]["frames"] > 0 and rows["osc->applied"]["frames"] == 30
    row = rows["generator"]
    assert row["source"] == "demo" and row["device"] == "cpu" and row["frames"] >= 3
    assert row["ms_per_frame"] > 0 and abs(row["fps"] - 1000 / row["ms_per_frame"]) < 0.05 * row["fps"]
    motion = {m["path"]: m for m in data["motion"]}
    assert motion["catmull-rom a=0.5"]["max_turn_deg"] < 1.0 < motion["linear"]["max_turn_deg"]
    assert "max turn" in result.stdout


def test_help_version_and_osc_send_start_without_torch():
    """A quick `stylevj --help` on a stage laptop: the parser's choices come from realtime/choices.py."""
    code = ("import sys; from realtime.cli import build_parser, main; build_parser(); "
            "main(['osc', 'send', '/stylevj/play', '--port', '9']); "
            "heavy = [m for m in ('torch', 'moderngl', 'glfw') if m in sys.modules]; assert not heavy, heavy")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_choices_are_the_codes_own():
    from realtime.choices import FITS
    from realtime.display import Fit

    assert FITS == tuple(f.value for f in Fit)
