"""The parameter table drives everything: every knob reaches OSC, presets, state, the journal's
format and the CLI by its one declaration, a value outside its range changes nothing, and the
master fader and blackout act on what the stage shows."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import SHOW, FakeClock, Rig, osc_message
from realtime.checks import CheckError
from realtime.control.addresses import reference, to_command
from realtime.display import HeadlessSurface
from realtime.models import load_generator
from realtime.params import PARAMS, TABLE, Params
from realtime.presets import PresetError, load_preset, save_preset
from realtime.session import ShowSession, build_show
from realtime.show.commands import SetParam, ToggleParam


# The knobs the demo (StyleGAN2) generator acts on; those that need StyleGAN3 (translate_x, ...)
# are refused here and walked on a StyleGAN3 network in tests/test_stylegan3_show.py.
DEMO_PARAMS = tuple(p for p in PARAMS if not p.needs)


def other_value(p):
    """A valid value of `p` that is not its default (what a test sets to see it arrive)."""
    if p.kind == "bool":
        return not p.default
    if p.kind == "choice":
        return next(c for c in p.check.choices if c != p.default)
    middle = (p.low + p.high) / 2
    value = middle if middle != p.default else (p.low + middle) / 2
    return int(value) if p.kind == "int" else round(value, 3)


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


def test_every_parameter_has_an_osc_address_that_sets_it_and_is_listed():
    listed = reference()
    for p in PARAMS:
        value = other_value(p)
        wire = int(value) if p.kind == "bool" else value  # OSC on/off arrives as 0/1
        assert to_command(p.osc, [wire]) == SetParam(p.name, value)
        assert f"{p.osc} {p.name}:{p.check.describe()}" in listed


def test_every_saved_parameter_round_trips_through_a_preset_file(tmp_path):
    (tmp_path / "show.toml").write_text(SHOW)
    preset = load_preset(tmp_path / "show.toml")
    changed = preset.params.replace(**{p.name: other_value(p) for p in PARAMS if p.saved})
    out = save_preset(preset.with_params(changed), tmp_path / "again.toml")
    again = load_preset(out).params
    for p in PARAMS:
        if p.saved:
            assert again[p.name] == changed[p.name], p.name
    text = out.read_text()
    assert all(f"{p.preset.split('.')[1]} = " in text for p in PARAMS if p.saved)


def test_a_preset_value_out_of_range_names_the_file_the_key_and_the_range(tmp_path):
    (tmp_path / "show.toml").write_text(SHOW + "[stage]\nfader = 1.5\n")
    with pytest.raises(PresetError, match=r"show\.toml: \[stage\] fader must be within \[0, 1\], got 1.5"):
        load_preset(tmp_path / "show.toml")


def test_state_carries_every_parameter_and_a_refused_value_changes_nothing(demo, tmp_path):
    rig = Rig(demo, tmp_path)
    try:
        state = rig.state()
        assert set(state["params"]) == set(TABLE)
        rig.send(osc_message("/stylevj/fader", 0.4))
        assert rig.state()["params"]["fader"] == pytest.approx(0.4)
        rig.send(osc_message("/stylevj/fader", 1.5))
        errors = [p[0] for a, p in rig.replies(1.0) if a == "/stylevj/error"]
        assert any("fader must be within [0, 1], got 1.5" in e for e in errors)
        assert rig.state()["params"]["fader"] == pytest.approx(0.4)
        for p in DEMO_PARAMS:  # every knob set over the wire lands in params.<name>
            value = other_value(p)
            rig.send(osc_message(p.osc, int(value) if p.kind == "bool" else value))
        state = rig.state()["params"]
        for p in DEMO_PARAMS:
            if p.name != "speed":  # constant_speed converts the speed (the player owns motion)
                assert state[p.name] == pytest.approx(other_value(p)), p.name
    finally:
        rig.close()


def test_params_are_frozen_and_checked():
    params = Params()
    with pytest.raises(AttributeError):
        params.fader = 0.5  # type: ignore[misc]
    with pytest.raises(CheckError, match=r"fader must be within \[0, 1\], got 2"):
        params.replace(fader=2)
    with pytest.raises(CheckError, match="unknown parameter 'loudness'.*fader"):
        params.replace(loudness=1)
    assert params.replace(fader=0.5).fader == 0.5 and params.fader == 1.0


def _mean(show) -> float:
    return float(show.surface.read_pixels()[..., :3].mean())


def test_fader_glides_to_black_and_blackout_is_instant_and_toggles(demo, tmp_path):
    (tmp_path / "show.toml").write_text(SHOW)
    clock = FakeClock()
    show = build_show(demo, load_preset(tmp_path / "show.toml"), HeadlessSurface((64, 64)), upload="host")
    show.clock = clock
    with ShowSession(show):
        assert show.wait_for_first_frame()
        show.step()
        lit = _mean(show)
        assert lit > 10
        show.submit(SetParam("fader", 0.0))
        clock.advance(1 / 60)
        show.step()
        gliding = _mean(show)
        assert 0 < gliding < lit  # one refresh in: on its way down, not yet black
        for _ in range(30):  # 0.5 s: the glide (0.25 s over the whole range) is over
            clock.advance(1 / 60)
            show.step()
        assert _mean(show) == 0.0
        show.submit(SetParam("fader", 1.0))
        for _ in range(30):
            clock.advance(1 / 60)
            show.step()
        assert _mean(show) == pytest.approx(lit, rel=0.2)
        show.submit(ToggleParam("blackout"))
        clock.advance(1 / 60)
        show.step()
        assert _mean(show) == 0.0 and show.params.blackout  # instant: the very next refresh
        show.submit(ToggleParam("blackout"))
        clock.advance(1 / 60)
        show.step()
        assert _mean(show) > 10 and not show.params.blackout


def test_a_preset_with_blackout_renders_black_and_the_fader_dims_a_render(demo, tmp_path):
    from realtime.record.render import render
    from realtime.show import player_from_preset

    frames = {}
    for name, stage in (("lit", ""), ("half", "[stage]\nfader = 0.5\n"), ("black", "[stage]\nblackout = true\n")):
        (tmp_path / f"{name}.toml").write_text(SHOW + stage)
        preset = load_preset(tmp_path / f"{name}.toml")

        class Collect:  # the frames as the encoder would get them
            stored = None  # (what a file holds: a real writer reads it back)

            def __init__(self):
                self.pictures = []

            @property
            def frames(self):
                return len(self.pictures)

            def write(self, pixels):
                self.pictures.append(np.array(pixels))

            def close(self):
                pass

            def shortfall(self):
                return ""

        writer = Collect()
        render(demo, player_from_preset(preset, demo), preset, writer, frames=2, fps=30, size=(64, 64))
        frames[name] = np.mean(writer.pictures)
    assert frames["black"] == 0.0
    assert frames["half"] == pytest.approx(frames["lit"] / 2, rel=0.05)


def test_the_journal_keeps_every_saved_parameter(demo, tmp_path):
    from realtime.show import capture  # what the journal writes with, as a preset

    rig = Rig(demo, tmp_path)
    try:
        for p in DEMO_PARAMS:
            value = other_value(p)
            rig.send(osc_message(p.osc, int(value) if p.kind == "bool" else value))
        rig.state()  # a sync point: everything sent before is applied
        state = rig.show.publish()
        out = tmp_path / "journal.toml"
        save_preset(capture(state.preset, state, out), out)
        again = load_preset(out).params
        assert all(again[p.name] == state.params[p.name] for p in DEMO_PARAMS if p.saved)
    finally:
        rig.close()


def test_set_on_the_command_line_reaches_the_show_and_the_render(tmp_path):
    from .conftest import stylevj

    out = tmp_path / "black.png"
    done = stylevj("run", "--headless", "--seconds", "1", "--no-osc", "--journal", str(tmp_path / "j.toml"),
                   "--set", "blackout=on", "--snapshot", str(out))
    assert done.returncode == 0, done.stderr
    from PIL import Image

    assert np.asarray(Image.open(out)).max() == 0  # the stage output, blacked out from the first refresh
    assert "blackout = true" in (tmp_path / "j.toml").read_text()  # and journaled as set


def test_every_parameter_can_be_set_on_the_command_line():
    from realtime.cli import build_parser

    for p in PARAMS:
        value = other_value(p)
        text = ("on" if value else "off") if p.kind == "bool" else str(value)
        args = build_parser().parse_args(["run", "--set", f"{p.name}={text}"])
        assert args.set == {p.name: value}, p.name
