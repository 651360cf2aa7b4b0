"""Stage-proof II, the command line: every number and path an option takes is checked when the
arguments are parsed (argparse's one line, exit 2, no model loaded, nothing written), and a
snapshot that cannot be written at the end of a run fails the run in one line."""

from __future__ import annotations

import pytest

from .conftest import stylevj


def assert_parse_error(result, option: str, reason: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1, result.stderr
    assert f"argument {option}" in lines[0] and reason in lines[0], lines[0]


@pytest.mark.parametrize("args, option, reason", [
    # the three
    (["still", "--seed", "-1", "--out", "x.png"], "--seed", "must be within [0, 4294967295], got -1"),
    (["render", "--quality", "-5", "--out", "x.mp4"], "--quality", "must be within [0, 51], got -5"),
    (["run", "--headless", "--seconds", "1", "--snapshot", "/nonexist/x.png"], "--snapshot", "does not exist"),
    # the sweep: every unchecked int, float and path found in the subcommands
    (["still", "--seed", "4294967296", "--out", "x.png"], "--seed", "must be within"),
    (["still", "--seed", "1.5", "--out", "x.png"], "--seed", "not a whole number"),
    (["still", "--seed", "1", "--out", "/nonexist/x.png"], "--out", "does not exist"),
    (["render", "--fps", "100000", "--out", "x.mp4"], "--fps", "must be within"),
    (["render", "--out", "/nonexist/x.mp4"], "--out", "does not exist"),
    (["render", "--out", "x.mp4", "--audio", "/nonexist/song.wav"], "--audio", "no such file"),
    (["run", "--record-fps", "1000"], "--record-fps", "must be within [1, 240]"),
    (["run", "--osc-reply", "nothing"], "--osc-reply", "must be host:port"),
    (["run", "--osc-allow", "10.0.0.0/99"], "--osc-allow", "not an address or network"),
    (["run", "--font", "/nonexist/Mono.ttf"], "--font", "no such file"),
    (["run", "--presets-dir", "/nonexist"], "--presets-dir", "no such folder"),
    (["osc", "send", "/stylevj/play", "--wait", "inf"], "--wait", "must be a finite number"),
    (["osc", "send", "/stylevj/play", "--wait", "-1"], "--wait", "must be within"),
    (["project", "a.png", "--out", "d", "--steps", "0"], "--steps", "must be within [1, 1000000]"),
    (["project", "a.png", "--out", "d", "--mse-weight", "nan"], "--mse-weight", "must be a finite number"),
    (["project", "a.png", "--out", "d", "--batch", "5000"], "--batch", "must be within [1, 1024]"),
    (["project", "a.png", "--out", "d", "--seed", "-3"], "--seed", "must be within"),
    (["project", "a.png", "--out", "d", "--vgg-weights", "/nonexist.pth"], "--vgg-weights", "no such file"),
    (["directions", "demo", "--out", "x.npy", "--sample-seed", "-1"], "--sample-seed", "must be within"),
    (["directions", "demo", "--out", "x.npy", "--thumb", "100000"], "--thumb", "must be within [16, 4096]"),
    (["directions", "demo", "--out", "x.npy", "--keyframe", "/nonexist.npy"], "--keyframe", "no such file"),
    (["directions", "demo", "--out", "x.npy", "--sheet", "/nonexist/s.png"], "--sheet", "does not exist"),
    (["preview", "--out", "x.png", "--columns", "100000"], "--columns", "must be within"),
    (["convert", "demo", "/nonexist/g.safetensors"], "out", "does not exist"),
    (["bench", "--soak", "-1"], "--soak", "must be within"),
])
def test_bad_values_are_refused_when_the_arguments_are_parsed(args, option, reason, tmp_path):
    result = stylevj(*args, cwd=tmp_path, timeout=120)
    assert_parse_error(result, option, reason)
    assert not list(tmp_path.iterdir())  # nothing written, nothing begun


def test_a_snapshot_that_cannot_be_written_at_the_end_fails_the_run(full_disk, tmp_path):
    """The folder exists at parse time, but the disk is full when the last frame is saved."""
    (full_disk / "filler").write_bytes(b"\0" * (full_disk_free(full_disk)))
    out = full_disk / "last.png"
    result = stylevj("run", "--headless", "--frames", "3", "--snapshot", str(out), "--no-osc", "--no-control",
                     "--journal", str(tmp_path / "journal.toml"), cwd=tmp_path, timeout=300)
    assert result.returncode != 0, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("stylevj: error:")]
    assert len(errors) == 1 and "--snapshot" in errors[0] and "not written" in errors[0], result.stderr
    assert not out.exists()  # no half file


def full_disk_free(mount) -> int:
    import os

    stat = os.statvfs(mount)
    return stat.f_bavail * stat.f_frsize
