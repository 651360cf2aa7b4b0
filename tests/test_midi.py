"""MIDI controllers for real: a JACK server (dummy backend) started here, a foreign controller made
by mido as a JACK port, and the show's MIDI adapter listening to it through rtmidi's JACK API.

Learn, pickup, encoders, 14-bit pairs, pitch bend, notes, feedback out, a flood, SysEx and broken
bytes, a controller unplugged and plugged back in, unknown ports and backends, and the mappings as
show data (presets, OSC). Without jackd or the midi extra the port tests skip and say so; the
byte decoder's tests run everywhere.
"""

from __future__ import annotations

import contextlib
import os
import threading

import pytest

from realtime.control import OscError, to_command
from realtime.control.midi_ports import MidiError
from realtime.midi import MidiDecoder, MidiMessage
from realtime.params import param
from realtime.presets import load_preset
from realtime.show.commands import MidiForget, MidiLearn, MidiMap, SavePreset, SetParam

from .conftest import Rig, poll
from .conftest import osc_message as message

SERVER = f"stylevj-test-{os.getpid()}"


# ---- the bytes: what a port delivers, as the MIDI spec reads it (no port needed) ------------------


def test_running_status_real_time_and_sysex_are_read_as_the_spec_says():
    stream = [0xB0, 7, 100, 8, 20,  # a CC, then a second one in running status
              0xF8,  # a clock pulse between messages
              0xB1, 0x10, 0xF8, 0x40,  # a clock pulse inside a CC: the CC stays whole
              0xF0, 0x7E, 0x00, 0x06, 0x01, 0xF7,  # SysEx: skipped whole
              9, 9,  # data after SysEx: no running status survives it, dropped
              0x90, 60, 0, 0xE2, 0x00, 0x40,  # note on velocity 0 (a note off), pitch bend centre
              0xF2, 0x10, 0x00, 0xFA]  # song position 16, start
    assert MidiDecoder().feed(stream) == [
        MidiMessage("cc", 1, 7, 100), MidiMessage("cc", 1, 8, 20), MidiMessage("clock"),
        MidiMessage("clock"), MidiMessage("cc", 2, 0x10, 0x40),
        MidiMessage("note_off", 1, 60, 0), MidiMessage("pitchbend", 3, 0, 8192),
        MidiMessage("songpos", 0, 0, 16), MidiMessage("start")]


def test_broken_bytes_never_become_a_message_they_were_not():
    decoder = MidiDecoder()
    assert decoder.feed([5, 6, 7]) == []  # data with no status before it
    assert decoder.feed([0xB0, 7, 0x90, 60, 100]) == [MidiMessage("note_on", 1, 60, 100)]  # the cut CC is gone
    assert decoder.feed([0xF4, 1, 2, 0xF6, 3]) == []  # undefined and data-less system bytes end running status
    assert decoder.feed([0xB0, 1]) == [] and decoder.feed([64]) == [MidiMessage("cc", 1, 1, 64)]  # split across packets


# ---- the MIDI flags: refused before anything starts (no port needed) ----------------------------


@pytest.mark.parametrize("argv, fragment", [
    (["--midi-in", ""], "argument --midi-in: needs part of a port's name, or all (see 'stylevj midi ports'), got ''"),
    (["--midi-out", "  "], "argument --midi-out: needs part of a port's name"),
    (["--midi-in", "nano\nKONTROL"], "argument --midi-in: must be one printable line of at most 256 characters"),
    (["--midi-in", "all", "--midi-api", "oss"], "argument --midi-api: invalid choice: 'oss'"),
])
def test_bad_midi_flags_are_one_line_at_parse_time(argv, fragment, capsys):
    from realtime.cli import main

    with pytest.raises(SystemExit) as done:
        main(["run", *argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert done.value.code == 2 and len(lines) == 1 and lines[0].startswith("stylevj run: error: "), err
    assert fragment in lines[0] and "Traceback" not in err


def test_run_options_refuse_bad_midi_settings_before_the_show_starts(capsys):
    from realtime.cli import main
    from realtime.errors import StylevjError
    from realtime.session import RunOptions, run_show

    for options, message in ((RunOptions(midi_in=""), "--midi-in needs part of a port's name"),
                             (RunOptions(midi_out="fb", midi_api="oss"), "--midi-api oss: not a MIDI API (choose from alsa"),
                             (RunOptions(midi_api="jack"), "--midi-api needs --midi-in NAME or --midi-out NAME")):
        with pytest.raises(StylevjError) as refused:
            run_show(options)
        assert str(refused.value).startswith(message)
    assert main(["run", "--midi-api", "jack", "--device", "cpu"]) == 2  # the CLI's way: one line, status 2
    assert capsys.readouterr().err.strip() == "stylevj: error: --midi-api needs --midi-in NAME or --midi-out NAME"


# ---- a JACK server, a foreign controller, a show listening ---------------------------------------


@pytest.fixture(scope="module")
def jack():
    """A private JACK server on the dummy backend for this module (its own name: no clash), in
    synchronous mode: a busy CPU makes its periods late but never drops a client's MIDI."""
    from realtime.bench.midi import private_jack

    server = contextlib.ExitStack()
    try:
        import mido  # noqa: F401

        server.enter_context(private_jack(SERVER))
    except (MidiError, ImportError) as exc:
        pytest.skip(f"no JACK MIDI here: {exc}")
    with server:
        yield mido_backend()


def mido_backend():
    import mido

    return mido.Backend("mido.backends.rtmidi/UNIX_JACK")


@pytest.fixture(scope="module")
def demo():
    from realtime.models import load_generator

    return load_generator("demo")


@pytest.fixture(scope="module")
def stage(jack, demo, tmp_path_factory):
    """The show (3 keyframes, speed 0), a controller 'foreign' and a feedback sink 'fbsink' as
    foreign JACK ports, and the MIDI adapter listening to the one and answering the other."""
    from realtime.control import MidiAdapter

    controller = jack.open_output("foreign", virtual=True)
    sink = jack.open_input("fbsink", virtual=True)
    rig = Rig(demo, tmp_path_factory.mktemp("midi"))
    heard: list[tuple] = []
    adapter = MidiAdapter(rig.show.submit, rig.show.board, inputs="foreign", output="fbsink", api="jack",
                          clock=lambda kind, at, value: heard.append((kind, value)), rescan_s=0.1).start()
    stage = Stage(rig, adapter, controller, sink, heard)
    stage.wait(lambda s: s.midi.inputs and s.midi.outputs, "the ports open")
    yield stage
    adapter.stop()
    rig.close()
    stage.controller.close()
    sink.close()


def stepped(name: str, start: float, *steps: float) -> float:
    """Where an encoder's steps take a knob, each step held as the table keeps a value."""
    for step in steps:
        start = param(name)(start + step)
    return start


class Stage:
    def __init__(self, rig, adapter, controller, sink, heard) -> None:
        self.rig, self.show, self.adapter, self.controller, self.sink, self.heard = rig, rig.show, adapter, controller, sink, heard

    def wait(self, condition, what: str):
        return poll(lambda: (s := self.show.board.latest()) is not None and condition(s) and s, what,
                    step=self.show.step, timeout=30)

    def cc(self, number: int, value: int, channel: int = 0) -> None:
        import mido

        self.controller.send(mido.Message("control_change", channel=channel, control=number, value=value))

    def send(self, **fields) -> None:
        import mido

        self.controller.send(mido.Message(**fields))

    def param(self, name: str):
        return self.show.board.latest().params[name]

    def settle(self, name: str, value) -> None:
        """Wait until knob `name` holds `value` as the table keeps it (realtime.params)."""
        value = param(name)(value)
        try:
            self.wait(lambda s: s.params[name] == value, f"{name} = {value}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}: it is {self.param(name)}") from None

    def submit(self, command) -> None:
        self.show.submit(command, "test")

    def mapping(self, command: MidiMap) -> None:
        self.submit(command)
        self.wait(lambda s: command.mapping() in s.midi.mappings, f"the mapping of {command.param}")
        self.sink_drain()

    def sink_drain(self) -> list:
        return [m.bytes() for m in self.sink.iter_pending()]


def test_learn_maps_the_moved_knob_and_pickup_takes_over_only_past_the_value(stage):
    stage.submit(MidiLearn("fader"))
    stage.wait(lambda s: s.midi.learning == "fader", "learning armed")
    stage.cc(7, 127)  # the knob is at the top: where the fader is
    state = stage.wait(lambda s: s.midi.mappings and s.midi.learning is None, "the learned mapping")
    assert [m.to_json() for m in state.midi.mappings] == [
        {"port": "RtMidiOut Client:foreign", "channel": 1, "kind": "cc", "number": 7, "param": "fader",
         "mode": "absolute", "range": None}]
    assert state.to_json()["midi"]["mappings"][0]["param"] == "fader"
    stage.sink_drain()

    stage.submit(SetParam("fader", 0.5))  # from elsewhere (OSC, the page): the controller is told
    stage.settle("fader", 0.5)
    poll(lambda: [0xB0, 7, 64] in stage.sink_drain(), "the new value sent back on CC 7", timeout=10)
    stage.cc(7, 100)  # the knob moves but stays above 0.5: nothing jumps
    stage.cc(7, 60)  # passes 0.5: it takes over
    stage.settle("fader", 60 / 127)
    stage.cc(7, 30)
    stage.settle("fader", 30 / 127)
    assert stage.sink_drain() == []  # its own moves are not echoed back


def test_relative_encoders_in_both_common_modes(stage):
    stage.mapping(MidiMap("truncation", "cc", 20, mode="relative"))
    stage.mapping(MidiMap("alpha", "cc", 21, mode="offset64"))
    start_t, start_a = stage.param("truncation"), stage.param("alpha")
    for value in (1, 1, 1, 127):  # two's complement: +1 three times, -1
        stage.cc(20, value)
    stage.settle("truncation", stepped("truncation", start_t, *[4 / 127] * 3, -4 / 127))
    for value in (66, 63):  # offset 64: +2, -1
        stage.cc(21, value)
    stage.settle("alpha", stepped("alpha", start_a, 2 / 127, -1 / 127))


def test_a_14_bit_pair_is_learned_and_read_with_its_fine_half(stage):
    stage.submit(MidiLearn("overlay_opacity"))
    stage.wait(lambda s: s.midi.learning == "overlay_opacity", "learning armed")
    stage.cc(1, 108)  # 0.85 in 14 bits: 108 * 128 + 102
    stage.cc(33, 102)
    state = stage.wait(lambda s: s.midi.learning is None, "the 14-bit mapping")
    assert [(m.kind, m.number) for m in state.midi.mappings if m.param == "overlay_opacity"] == [("cc14", 1)]
    stage.cc(1, 64)  # the coarse half alone: 64 * 128 / 16383 (the fine half starts again at 0)
    stage.settle("overlay_opacity", 64 * 128 / 16383)
    stage.cc(33, 100)  # a step only 14 bits can make
    stage.settle("overlay_opacity", (64 * 128 + 100) / 16383)


def test_pitch_bend_drives_a_knob(stage):
    stage.mapping(MidiMap("blend", "pitchbend"))  # blend 0..60 s, at 0.5: near the bend's bottom
    stage.send(type="pitchwheel", pitch=-8192 + 120)  # 120/16383 of the way: just past 0.5 s, it takes over
    stage.settle("blend", 60 * 120 / 16383)
    stage.send(type="pitchwheel", pitch=0)  # the centre: half the range
    stage.settle("blend", 60 * 8192 / 16383)


def test_notes_toggle_and_trigger_commands(stage):
    stage.mapping(MidiMap("blackout", "note", 36))
    stage.mapping(MidiMap("next", "note", 37))
    stage.send(type="note_on", note=36, velocity=100)
    stage.send(type="note_off", note=36)
    stage.settle("blackout", True)
    stage.send(type="note_on", note=36, velocity=90)
    stage.settle("blackout", False)
    start = int(stage.show.board.latest().position)
    stage.send(type="note_on", note=37, velocity=100)
    stage.wait(lambda s: s.position == (start + 1) % 3, "the next keyframe")


def test_a_flood_of_10000_ccs_ends_on_the_last_value(stage):
    stage.mapping(MidiMap("overlay_opacity", "cc", 7, mode="absolute"))  # replaces fader's mapping of CC 7
    stage.cc(7, round(stage.param("overlay_opacity") * 127))  # the knob where the value is: taken over
    before, heard = stage.show.board.latest().commands, stage.adapter.received
    values = [n % 128 for n in range(9999)] + [33]

    def flood() -> None:  # in bursts of 500: the sender's JACK buffer holds about that many per period
        for start in range(0, len(values), 500):
            for value in values[start:start + 500]:
                stage.cc(7, value)
            poll(lambda: stage.adapter.received - heard >= start + 500, "the burst through JACK", timeout=30)

    sender = threading.Thread(target=flood)
    sender.start()
    while sender.is_alive():  # the show keeps refreshing while the flood comes in
        stage.show.step()
    sender.join()
    state = stage.wait(lambda s: s.params.overlay_opacity == param("overlay_opacity")(33 / 127), "the flood's last value")
    assert state.params.fader != param("fader")(33 / 127)  # CC 7 no longer drives the fader
    applied = state.commands.applied - before.applied
    assert applied < 2000, f"{applied} commands applied for 10,000 CCs: values of one knob were not coalesced"


SYSEX_DUMP = [0xF0, 0x42, 0x30] + [0x15, 0x41] * 500 + [0xF7]  # a 1 kB patch dump; inside, "CC 21 = 65" pairs


def test_sysex_floods_and_garbage_change_nothing_but_mapped_knobs(stage):
    """A second controller floods 400 kB of SysEx (a patch-bank dump) between a broken one's bytes:
    stray data after a SysEx (running status does not survive it), a lone status, cut messages, an
    undefined status. Each round holds one well-formed unmapped CC and nothing else: the adapter
    decodes exactly one message a round, and only the mapped knob ever moves."""
    import rtmidi

    raw = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="broken")
    raw.open_virtual_port("broken")
    ports, old = stage.adapter.ports, stage.adapter.ports.wanted_in
    try:
        ports.wanted_in = "o"  # 'foreign' and 'broken:broken' (the next rescan opens it)
        stage.wait(lambda s: "broken:broken" in s.midi.inputs and len(s.midi.inputs) == 2, "the broken port open")
        stage.mapping(MidiMap("alpha", "cc", 21, mode="offset64"))
        before, heard, rounds = stage.show.board.latest().params, stage.adapter.received, 400
        for n in range(rounds):
            raw.send_message([0xB0, 99, n % 128])  # unmapped, and it leaves running status B0 behind
            raw.send_message(SYSEX_DUMP)
            for chunk in ([0x15, 0x41], [0xB0], [0x9F, 0x7F], [0xF4, 0x15, 0x41], [0xE0, 0x01]):
                raw.send_message(chunk)  # each would be CC 21 = 65, a note or a bend if misread
        raw.send_message([0xB0, 99, 127])  # the last: once it is decoded, everything before it was
        try:
            poll(lambda: stage.adapter.received >= heard + rounds + 1, "the flood's CCs through JACK", timeout=30)
        except AssertionError as exc:
            raise AssertionError(f"{exc}: {stage.adapter.received - heard} of {rounds + 1} came") from None
        stage.show.step()
        assert stage.adapter.received == heard + rounds + 1, "garbage was decoded as messages"
        assert stage.show.board.latest().params == before

        stage.cc(21, 65)  # one real step on the mapped encoder, from the real controller
        after = stage.wait(lambda s: s.params.alpha != before.alpha, "the mapped knob's step")
        assert after.params.alpha == stepped("alpha", before.alpha, 1 / 127)
        assert after.params.replace(alpha=before.alpha) == before
        raw.send_message([0xB0, 21, 66])  # a well-formed CC from the broken port still counts
        raw.send_message([21, 67])  # and running status after it: one more step
        stage.settle("alpha", stepped("alpha", before.alpha, 1 / 127, 2 / 127, 3 / 127))
    finally:
        ports.wanted_in = old
        raw.close_port()
        raw.delete()
    stage.wait(lambda s: s.midi.inputs == ("RtMidiOut Client:foreign",), "the broken port closed")


def test_a_controller_unplugged_and_plugged_back_in_is_found_again(stage, jack):
    stage.mapping(MidiMap("overlay_opacity", "cc", 7, mode="absolute"))
    stage.controller.close()  # unplugged: the JACK port is destroyed
    state = stage.wait(lambda s: not s.midi.inputs, "the port reported gone")
    assert state.midi.problem.startswith("no MIDI input port matches 'foreign'")
    stage.controller = jack.open_output("foreign", virtual=True)  # plugged back in
    stage.wait(lambda s: s.midi.inputs == ("RtMidiOut Client:foreign",) and not s.midi.problem, "the port open again")
    stage.cc(7, round(stage.param("overlay_opacity") * 127))
    stage.cc(7, 11)
    stage.settle("overlay_opacity", 11 / 127)


def test_midi_clock_reaches_the_beat_clock_with_its_kind(stage):
    stage.heard.clear()
    stage.send(type="songpos", pos=32)
    stage.send(type="start")
    for _ in range(3):
        stage.send(type="clock")
    stage.send(type="stop")
    poll(lambda: ("stop", 0) in stage.heard, "the clock messages", timeout=10)
    assert stage.heard == [("songpos", 32), ("start", 0), ("clock", 0), ("clock", 0), ("clock", 0), ("stop", 0)]


def test_mappings_are_show_data_saved_in_presets_and_forgotten(stage):
    stage.mapping(MidiMap("tap", "note", 40))
    stage.submit(SavePreset("with-midi"))
    path = stage.show.folders.saves / "with-midi.toml"
    poll(lambda: path.exists(), "the saved preset", step=stage.show.step, timeout=30)
    saved = load_preset(path).midi
    assert saved == stage.show.board.latest().midi.mappings and any(m.param == "tap" for m in saved)
    stage.submit(MidiForget("tap"))
    stage.wait(lambda s: all(m.param != "tap" for m in s.midi.mappings), "tap forgotten")


def test_unknown_ports_and_backends_are_one_line_and_the_show_runs_on(stage, caplog):
    from realtime.control.midi_ports import MidiPorts, list_ports

    ports = MidiPorts("jack", "no-such-pad", "no-such-out")
    assert ports.rescan()
    assert ports.problem == ("no MIDI input port matches 'no-such-pad' (ports: RtMidiOut Client:foreign); "
                             "no MIDI output port matches 'no-such-out' (ports: RtMidiIn Client:fbsink)")
    ports.close()
    assert list_ports("jack") == (["RtMidiOut Client:foreign"], ["RtMidiIn Client:fbsink"])  # not stylevj's own
    missing = MidiPorts("coremidi", "all", None)  # a backend this build lacks
    missing.rescan()
    assert missing.problem.startswith("MIDI API coremidi is not built into python-rtmidi here (it has: ")
    stage.show.step()  # the show runs on


def test_learning_an_unknown_param_is_refused_with_the_tables_names(stage):
    with pytest.raises(OscError, match=r"'nope' cannot be learned: not a learnable parameter or trigger "
                                       r"\(parameters: speed, truncation, .*fader.*; triggers: next, tap, snapshot, record\)"):
        to_command("/stylevj/midi/learn", ["nope"])
    with pytest.raises(OscError, match="'spline' cannot be learned"):  # in the table, not learnable
        to_command("/stylevj/midi/learn", ["spline"])
    stage.rig.send(message("/stylevj/midi/learn", "nope"))
    replies = stage.rig.replies(5.0, until="/stylevj/error")
    assert any(a == "/stylevj/error" and "cannot be learned" in p[0] for a, p in replies)
    assert stage.show.board.latest().midi.learning is None
    assert to_command("/stylevj/midi/forget", ["fader"]) == MidiForget("fader")


def test_midi_ports_command_lists_ports_or_says_why_not(stage, capsys):
    from realtime.cli import main

    assert main(["midi", "ports", "--midi-api", "jack"]) == 0
    out = capsys.readouterr().out
    assert "RtMidiOut Client:foreign" in out and "RtMidiIn Client:fbsink" in out and "stylevj-" not in out
    assert main(["midi", "ports", "--midi-api", "coremidi"]) == 2
    assert "MIDI API coremidi is not built into python-rtmidi here" in capsys.readouterr().err


def test_the_bench_row_measures_ccs_through_a_virtual_port_on_the_show(stage, demo):
    from realtime.bench.midi import midi_latency

    before = stage.param("truncation")
    row = midi_latency(stage.show, "demo", demo, trials=4)
    assert row.part == "midi->applied" and "skipped" not in row.note, row.note
    assert row.frames == 4 and row.ms_min >= 1  # each CC applied at a frame boundary after it was sent
    assert "virtual jack port" in row.note  # the tests' JACK server, found running (ALSA is not here)
    assert stage.param("truncation") != before  # the bench's controller really drove the knob
    stage.wait(lambda s: all(m.param != "truncation" for m in s.midi.mappings), "the bench's mapping forgotten")


def test_no_jackd_is_one_line_saying_so(monkeypatch):
    from realtime.bench.midi import private_jack

    monkeypatch.setenv("PATH", "")
    with pytest.raises(MidiError, match=r"^no JACK server to start: jackd is not installed \(apt-get install jackd2\)"):
        with private_jack("never-started"):
            pass
