"""Knobs with meaning, live: [[controls]] in presets, /stylevj/control/<name> over real OSC on
loopback, the W+ the show renders (offsets after truncation, on the chosen rows only), gliding
by the slew on a FakeClock, bends in the worker's synthesis, save/journal/resume, and
`stylevj directions`."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch

from realtime.control import Journal, mappable, to_command
from realtime.images import to_pixels
from realtime.latent.controls import Controls, ControlError, Knob
from realtime.latent.directions import direction_offset, sefa
from realtime.latent.layer_ranges import parse_layers
from realtime.models import load_generator, truncate
from realtime.models.bending import Bend
from realtime.presets import OscMapping, PresetError, check_mappings, load_preset
from realtime.record.render import path_times
from realtime.show import player_from_preset

from .conftest import SHOW, FakeClock, Rig, osc_message, stylevj

CONTROLS = SHOW + """
[[controls]]
name = "smile"
method = "sefa"
index = 3
layers = "middle"
range = [-3.0, 3.0]
slew = 1.0

[[controls]]
name = "spin"
bend = "rotate"
resolution = 16
range = [-180, 180]
slew = 0
"""


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


@pytest.fixture
def rig(demo, tmp_path):
    r = Rig(demo, tmp_path, text=CONTROLS)
    yield r
    r.close()


def smile_offset(G, amount: float) -> torch.Tensor:
    """What 'smile' must add, computed here from the math core: amount × SeFa(middle)[3] on middle."""
    rows = parse_layers("middle", G.num_ws)
    return direction_offset(sefa(G, rows).vectors[3], amount, rows, G.num_ws)


def base_w(player) -> torch.Tensor:
    """The path's W+ after truncation, before any control (the player's own parts)."""
    return truncate(player.raw(), player.w_avg, player.driven_truncation)


def rendered(rig, after: int) -> torch.Tensor:
    """The W+ of a frame on screen numbered above `after` + 1: requested after this call's first
    step, as the one frame that may have been in flight is number `after` + 1 at most."""
    after += 1
    for _ in range(5000):
        rig.show.step()
        if rig.show.shown is not None and rig.show.shown.number > after:
            return rig.show.shown.w
        time.sleep(0.002)
    raise AssertionError("no new frame")


# -- presets --------------------------------------------------------------------------------


def test_a_preset_with_controls_loads_and_builds(demo, tmp_path):
    (tmp_path / "show.toml").write_text(CONTROLS)
    preset = load_preset(tmp_path / "show.toml")
    assert [c.name for c in preset.controls] == ["smile", "spin"]
    player = player_from_preset(preset, demo)
    assert player.controls.names == ("smile", "spin")
    assert player.controls.value("smile") == 0.0 and player.controls.bends() is None
    assert player.controls.offset() is None  # all neutral: the path's W+ as it was


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ('name = "a b"\nmethod = "sefa"\nindex = 0', "[[controls]] #1 name must be a name"),
        ('name = "x"\nmethod = "pca"\nindex = 0', "[[controls]] #1 method must be one of sefa, ganspace"),
        ('name = "x"\nmethod = "sefa"', "needs 'index'"),
        ('name = "x"\nindex = 0', "needs exactly one of 'method', 'file' or 'bend'"),
        ('name = "x"\nmethod = "sefa"\nindex = 0\nlayers = "top"', "[[controls]] #1 layers must be all, coarse"),
        ('name = "x"\nmethod = "sefa"\nindex = 0\nrange = [2, -2]', "range must be [low, high] with low < high"),
        ('name = "x"\nmethod = "sefa"\nindex = 0\ndefault = 4', "default must be within range"),
        ('name = "x"\nmethod = "sefa"\nindex = 0\nslew = -1', "[[controls]] #1 slew must be within [0, 600]"),
        ('name = "x"\nbend = "twist"\nresolution = 8', "bend must be one of translate_x"),
        ('name = "x"\nbend = "zoom"\nresolution = 8\nrange = [-1, 2]', "a zoom range must stay above 0"),
        ('name = "x"\nbend = "rotate"', "needs 'resolution'"),
        ('name = "x"\nbend = "rotate"\nresolution = 8\nlayers = "fine"', "'index' and 'layers' are for directions"),
        ('name = "x"\nmethod = "sefa"\nindex = 0\nwhat = 1', "[[controls]] #1 unknown key 'what'"),
    ],
)
def test_bad_controls_are_one_line_naming_file_and_key(tmp_path, entry, fragment):
    path = tmp_path / "show.toml"
    path.write_text(f"[[controls]]\n{entry}\n")
    with pytest.raises(PresetError) as err:
        load_preset(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and fragment in message, message


def test_two_controls_of_one_name_are_refused(tmp_path):
    path = tmp_path / "show.toml"
    path.write_text('[[controls]]\nname = "a"\nbend = "zoom"\nresolution = 8\nrange = [0.5, 2]\n' * 2)
    with pytest.raises(PresetError, match=r"\[\[controls\]\] #2 name 'a' is used by an earlier control"):
        load_preset(path)


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ('name = "x"\nmethod = "sefa"\nindex = 500', "sefa has 128 directions (w_dim), no index 500"),
        ('name = "x"\nmethod = "sefa"\nindex = 0\nlayers = "20-30"', "rows must satisfy 0 <= A <= B <= 13"),
        ('name = "x"\nbend = "rotate"\nresolution = 512', "blocks are at 4, 8, 16, 32, 64, 128, 256 px"),
        ('name = "x"\nfile = "bad.npy"', "shape [3, 5] does not fit this generator"),
        ('name = "x"\nfile = "nan.npy"', "holds NaN or infinite values"),
        ('name = "x"\nfile = "pickle.npy"', "holds pickled Python objects"),
        ('name = "x"\nfile = "missing.npy"', "no such file"),
    ],
)
def test_controls_that_do_not_fit_the_generator_are_one_line(demo, tmp_path, entry, fragment):
    np.save(tmp_path / "bad.npy", np.ones((3, 5), np.float32))
    np.save(tmp_path / "nan.npy", np.full((demo.w_dim,), np.nan, np.float32))
    np.save(tmp_path / "pickle.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "show.toml").write_text(f"[[controls]]\n{entry}\n")
    with pytest.raises(PresetError) as err:
        player_from_preset(load_preset(tmp_path / "show.toml"), demo)
    message = str(err.value)
    assert "\n" not in message and "[[controls]] #1 (x)" in message and fragment in message, message


def test_a_direction_file_relative_to_the_preset_with_an_index(demo, tmp_path):
    vectors = torch.randn(4, demo.w_dim)
    (tmp_path / "dirs").mkdir()
    np.save(tmp_path / "dirs" / "mine.npy", vectors.numpy())
    (tmp_path / "show.toml").write_text(SHOW + '[[controls]]\nname = "mine"\nfile = "dirs/mine.npy"\nindex = 2\n'
                                        'layers = "0-1"\ndefault = 1.5\n')
    player = player_from_preset(load_preset(tmp_path / "show.toml"), demo)
    assert torch.equal(player.controls.offset(), direction_offset(vectors[2], 1.5, (0, 1), demo.num_ws))


# -- live over OSC -------------------------------------------------------------------------------


def test_a_control_moves_the_rendered_w_by_amount_times_direction_on_its_rows_only(rig, demo):
    before = rendered(rig, -1)
    assert torch.equal(before, base_w(rig.show.player))  # neutral: exactly the path's W+
    rig.show.clock = clock = FakeClock()
    rig.steps(1)
    rig.send(osc_message("/stylevj/control/smile", 1.5))
    state = rig.state()
    assert state["controls"]["smile"]["value"] == 1.5 and state["controls"]["smile"]["range"] == [-3.0, 3.0]
    clock.advance(10.0)  # far longer than the slew: the glide is over
    rig.steps(1)
    w = rendered(rig, rig.show.worker.frames_done)
    offset = smile_offset(demo, 1.5)
    rows = list(parse_layers("middle", demo.num_ws))
    others = [r for r in range(demo.num_ws) if r not in rows]
    base = base_w(rig.show.player)
    assert torch.equal(w[others], base[others])  # nowhere else, bit for bit
    assert torch.allclose(w - base, offset, atol=1e-6, rtol=0)  # exactly amount x direction (float rounding)
    assert float((w - base)[rows].norm()) == pytest.approx(1.5 * math.sqrt(len(rows)), rel=1e-5)  # unit direction
    assert rig.state()["controls"]["smile"]["current"] == 1.5


def test_a_knob_jump_glides_each_frame_bounded_by_the_slew(rig, demo):
    rig.show.clock = clock = FakeClock()
    rig.steps(1)
    rig.send(osc_message("/stylevj/control/smile", 3.0))
    rig.state()  # applied, with the clock standing still: nothing has glided yet
    assert rig.show.player.controls.current("smile") == 0.0
    rate = 6.0 / 1.0  # range width / slew seconds
    dt = 1 / 60
    unit = smile_offset(demo, 1.0)
    previous, values = rig.show.player.current(), []
    for _ in range(40):
        clock.advance(dt)
        rig.steps(1)
        w = rig.show.player.current()
        values.append(rig.show.player.controls.current("smile"))
        step = float((w - previous).norm())
        assert step <= rate * dt * float(unit.norm()) * (1 + 1e-4) + 1e-6, step  # W+ step within the slew
        previous = w
    assert all(b - a <= rate * dt + 1e-9 for a, b in zip([0.0] + values, values))
    assert values[0] == pytest.approx(rate * dt) and values[10] == pytest.approx(11 * rate * dt)
    assert values[29] == pytest.approx(3.0) and values[-1] == 3.0  # 0.5 s of 60 Hz frames, then it holds


def test_out_of_range_and_unknown_controls_are_answered_with_an_error(rig):
    rig.send(osc_message("/stylevj/control/smile", 5.0))
    errors = [p[0] for a, p in rig.replies(2.0, until="/stylevj/error") if a == "/stylevj/error"]
    assert errors and "control 'smile' must be within [-3, 3], got 5" in errors[0]
    rig.send(osc_message("/stylevj/control/nobody", 1.0))
    errors = [p[0] for a, p in rig.replies(2.0, until="/stylevj/error") if a == "/stylevj/error"]
    assert errors and "no control named 'nobody' (controls: smile, spin)" in errors[0]
    rig.send(osc_message("/stylevj/control/smile", "much"))
    errors = [p[0] for a, p in rig.replies(2.0, until="/stylevj/error") if a == "/stylevj/error"]
    assert errors and "value must be a number" in errors[0]
    state = rig.state()
    assert state["controls"]["smile"]["value"] == 0.0 and "nobody" not in state["controls"]


def test_unit_input_and_mappings_reach_a_control(demo, tmp_path):
    mappings = (OscMapping(address="/knob", param="control/smile/unit"),
                OscMapping(address="/fader", param="control/spin", input=(0.0, 1.0), output=(-90.0, 90.0)))
    r = Rig(demo, tmp_path, text=CONTROLS, mappings=mappings)
    try:
        r.send(osc_message("/knob", 0.75))
        r.send(osc_message("/fader", 1.0))
        state = r.state()
        assert state["controls"]["smile"]["value"] == pytest.approx(1.5)  # -3 + 0.75 x 6
        assert state["controls"]["spin"]["value"] == 90.0
        r.send(osc_message("/stylevj/control/smile/unit", 0.0))
        assert r.state()["controls"]["smile"]["value"] == -3.0
    finally:
        r.close()
    assert "control/smile" in mappable() and "control/x/unit" in mappable() and "control/x/add" not in mappable()
    with pytest.raises(PresetError, match="'control/a b' is not a one-number parameter"):
        check_mappings((OscMapping(address="/k", param="control/a b"),), mappable(), "show.toml")


def test_add_a_control_live_from_a_direction_index(rig, demo):
    rig.send(osc_message("/stylevj/control/eyes/add", 2, "sefa", "coarse", -2.0, 2.0, 0.0))
    state = rig.state()
    assert state["controls"]["eyes"] == {"kind": "direction", "value": 0.0, "current": 0.0, "range": [-2.0, 2.0], "slew": 0.0}
    rig.send(osc_message("/stylevj/control/eyes", -1.25))
    rig.state()
    rows = parse_layers("coarse", demo.num_ws)
    expected = direction_offset(sefa(demo, rows).vectors[2], -1.25, rows, demo.num_ws)
    assert torch.allclose(rig.show.player.current() - base_w(rig.show.player), expected, atol=1e-6, rtol=0)
    rig.send(osc_message("/stylevj/control/eyes/add", 2, "sefa", "coarse", 2.0, -2.0))
    errors = [p[0] for a, p in rig.replies(2.0, until="/stylevj/error") if a == "/stylevj/error"]
    assert errors and "range must be [low, high] with low < high" in errors[0]
    rig.send(osc_message("/stylevj/control/eyes/add", 500))
    errors = [p[0] for a, p in rig.replies(2.0, until="/stylevj/error") if a == "/stylevj/error"]
    assert errors and "no index 500" in errors[0]
    assert rig.state()["controls"]["eyes"]["value"] == -1.25  # a refused add changes nothing


def test_save_and_resume_keep_the_controls(rig, demo, tmp_path):
    journal = Journal(tmp_path / "journal.toml", rig.show.board).start()
    try:
        rig.send(osc_message("/stylevj/control/smile", 1.5))
        rig.send(osc_message("/stylevj/control/spin", -45.0))
        rig.send(osc_message("/stylevj/control/eyes/add", 1, "sefa", "fine"))
        rig.send(osc_message("/stylevj/control/eyes", 0.5))
        rig.send(osc_message("/stylevj/preset/save", "saved"))
        rig.state()
    finally:
        journal.stop()
    for path in (tmp_path / "saved.toml", tmp_path / "journal.toml"):
        preset = load_preset(path)
        assert {c.name: c.default for c in preset.controls} == {"smile": 1.5, "spin": -45.0, "eyes": 0.5}, path
        eyes = next(c for c in preset.controls if c.name == "eyes")
        assert (eyes.method, eyes.index, eyes.layers) == ("sefa", 1, "fine")
        player = player_from_preset(preset, demo)  # what `stylevj run --resume` does with the journal
        assert player.controls.value("smile") == 1.5 and player.controls.current("smile") == 1.5
        assert player.controls.bends() == (Bend(16, rotate=-45.0),)


def test_a_saved_file_control_keeps_pointing_at_its_file(demo, tmp_path):
    (tmp_path / "show").mkdir()
    np.save(tmp_path / "show" / "d.npy", torch.randn(demo.w_dim).numpy())
    (tmp_path / "show" / "show.toml").write_text(SHOW + '[[controls]]\nname = "d"\nfile = "d.npy"\n')
    from realtime.show import LiveShow, capture
    from realtime.presets import save_preset

    preset = load_preset(tmp_path / "show" / "show.toml")
    player = player_from_preset(preset, demo)
    player.controls.set("d", 2.0)
    player.advance(1.0)  # the default slew (0.5 s for the whole range) is over
    (tmp_path / "elsewhere").mkdir()
    out = tmp_path / "elsewhere" / "copy.toml"
    save_preset(capture(preset, LiveShow.of(player, preset.params), out), out)
    saved = load_preset(out)
    assert saved.controls[0].file == "../show/d.npy" and saved.controls[0].default == 2.0
    assert torch.equal(player_from_preset(saved, demo).controls.offset(), player.controls.offset())


def test_a_bend_control_bends_the_picture_and_zero_is_bit_identical(rig, demo):
    w = rendered(rig, -1)
    plain = to_pixels(demo.synthesis(w[None]), torch.full_like(rig.show.shown.pixels, 255)).clone()
    assert torch.equal(rig.show.shown.pixels, plain)  # spin at 0: no bend reaches the synthesis
    assert torch.equal(demo.synthesis(w[None], bend=Bend(16, rotate=0.0)), demo.synthesis(w[None]))
    rig.send(osc_message("/stylevj/control/spin", 90.0))  # slew 0: at once
    rig.state()
    assert rig.show.player.controls.bends() == (Bend(16, rotate=90.0),)
    w = rendered(rig, rig.show.worker.frames_done)
    bent = to_pixels(demo.synthesis(w[None], bend=(Bend(16, rotate=90.0),)), torch.full_like(plain, 255))
    assert torch.equal(rig.show.shown.pixels, bent) and not torch.equal(bent, plain)
    rig.send(osc_message("/stylevj/control/spin", 0.0))
    rig.state()
    assert rig.show.player.controls.bends() is None


def test_offline_renders_see_the_controls(demo, tmp_path):
    (tmp_path / "show.toml").write_text(CONTROLS.replace("slew = 1.0", "slew = 1.0\ndefault = -2.0"))
    preset = load_preset(tmp_path / "show.toml")
    player = player_from_preset(preset, demo)
    for w, _ in path_times(player, preset, 30.0, 3):
        assert torch.allclose(w - base_w(player), smile_offset(demo, -2.0), atol=1e-6, rtol=0)


def test_an_offline_render_draws_the_offsets_and_the_bends(demo, tmp_path):
    from PIL import Image

    from realtime.record import VideoWriter
    from realtime.record.render import render

    text = CONTROLS.replace("slew = 1.0", "slew = 1.0\ndefault = -2.0").replace("slew = 0", "slew = 0\ndefault = 90")
    (tmp_path / "show.toml").write_text(text)
    preset = load_preset(tmp_path / "show.toml")
    size = (demo.resolution, demo.resolution)
    result = render(demo, player_from_preset(preset, demo), preset, VideoWriter(tmp_path / "frames", 30, size, "png"),
                    2, 30.0, size, fit="stretch")
    assert result.frames == 2 and not result.interrupted
    player = player_from_preset(preset, demo)
    for n, (w, _) in enumerate(path_times(player, preset, 30.0, 2)):
        assert torch.allclose(w - base_w(player), smile_offset(demo, -2.0), atol=1e-6, rtol=0)
        with torch.no_grad():
            bent = demo.synthesis(w[None], bend=(Bend(16, rotate=90.0),))[0]
            plain = demo.synthesis(w[None])[0]
        expected, unbent = ((img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy() for img in (bent, plain))
        got = np.asarray(Image.open(tmp_path / "frames" / f"frame_{n:06d}.png").convert("RGB"))
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1, n
        assert np.abs(got.astype(int) - unbent.astype(int)).max() > 10, n


# -- the controls' math -----------------------------------------------------------------------


def test_controls_sum_glide_and_combine_bends():
    unit_a = torch.zeros(4, 3)
    unit_a[1] = torch.tensor([1.0, 0.0, 0.0])
    unit_b = torch.zeros(4, 3)
    unit_b[2:] = torch.tensor([0.0, 1.0, 0.0])
    controls = Controls([Knob("a", -1, 1, 0.0, unit_offset=unit_a), Knob("b", 0, 4, 2.0, unit_offset=unit_b),
                         Knob("x", -1, 1, 0, bend="translate_x", resolution=8),
                         Knob("y", -1, 1, 0, bend="translate_y", resolution=8),
                         Knob("z", 0.5, 2, 0, bend="zoom", resolution=8),
                         Knob("f", 0, 1, 1.0, bend="flip_x", resolution=16),
                         Knob("g", 0, 2, 0, bend="gain", resolution=16, channels=3)])
    controls.set("a", 0.5)
    controls.set("b", 4.0)
    controls.advance(0.5)  # b: 2 units/s -> 1.0
    assert torch.equal(controls.offset(), 0.5 * unit_a + 1.0 * unit_b)
    controls.advance(10)
    assert controls.current("b") == 4.0
    controls.set("x", 0.25)
    controls.set("y", -0.5)
    controls.set("z", 2.0)
    controls.set("g", 0.5)
    controls.set("f", 1.0)
    controls.advance(0.25)  # f glides 0 -> 0.25: still off
    assert controls.bends() == (Bend(8, translate=(0.25, -0.5), zoom=2.0), Bend(16, gain=(0.5,) * 3))
    controls.advance(0.5)
    assert controls.bends()[1] == Bend(16, gain=(0.5,) * 3, flip_x=True)
    controls.set_unit("z", 0.0)
    assert controls.value("z") == 0.5
    with pytest.raises(ControlError, match="must be within"):
        controls.set("a", 1.5)
    with pytest.raises(ControlError, match="no control named 'q'"):
        controls.set("q", 0)


def test_osc_addresses_for_controls():
    from realtime.show.commands import AddControl, SetControl

    assert to_command("/stylevj/control/smile", [1.5]) == SetControl("smile", 1.5)
    assert to_command("/stylevj/control/head-turn/add", [4, "ganspace"]) == AddControl("head-turn", 4, "ganspace")
    from realtime.control import OscError

    for address, values in [("/stylevj/control/a b", [1.0]), ("/stylevj/control/smile", []),
                            ("/stylevj/control/smile/unit", [1.5]), ("/stylevj/control/x/y/z", [1.0])]:
        with pytest.raises(OscError):
            to_command(address, values)


# -- stylevj directions -------------------------------------------------------------------------


def test_the_directions_command_writes_the_npy_and_the_sheet(demo, tmp_path):
    result = stylevj("directions", "demo", "--method", "sefa", "--layers", "coarse", "--count", "4",
                     "--out", str(tmp_path / "d.npy"), "--sheet", str(tmp_path / "s.png"), "--thumb", "32",
                     "--device", "cpu", "--cache-dir", str(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr
    written = np.load(tmp_path / "d.npy")
    assert written.shape == (4, demo.w_dim) and written.dtype == np.float32
    assert np.allclose(written, sefa(demo, parse_layers("coarse", demo.num_ws)).vectors[:4].numpy(), atol=1e-6)
    from PIL import Image

    with Image.open(tmp_path / "s.png") as sheet:
        assert sheet.size[1] > 4 * 32


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--layers", "top"], "layers 'top'"),
        (["--method", "pca"], "invalid choice: 'pca'"),
        (["--count", "0"], "must be at least 1"),
        (["--sheet", "/nowhere/s.png"], "argument --sheet: /nowhere/s.png: folder /nowhere does not exist"),
    ],
)
def test_the_directions_command_refuses_bad_input_in_one_line(tmp_path, args, fragment):
    result = stylevj("directions", "demo", "--out", str(tmp_path / "d.npy"), "--device", "cpu", *args)
    assert result.returncode == 2 and fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "d.npy").exists()
