"""Audio, declared once (issue 22): one record of what is heard (`Heard`), one onset pulse.

The OSC feedback, the state JSON, the mapping's features and the presets' feature names are all
read from `Heard`'s fields; "onset" means only the pulse (1 at an onset, decaying with the
mapping's `decay`), and a mapping on `onset` reads exactly the value the show publishes. The
show, the listener, the driver and the OSC sockets are the real ones (UDP on 127.0.0.1)."""

from __future__ import annotations

import dataclasses
import math
import socket
from pathlib import Path

import pytest
from pythonosc.osc_message import OscMessage

from realtime.audio import AudioFeatures, AudioListener
from realtime.audio.drive import AudioDriver
from realtime.audio.mapping import drive, heard, value
from realtime.latent import Drive
from realtime.latent.hearing import Heard
from realtime.presets import AUDIO_FEATURES, AudioMapping, PresetError, parse_preset
from realtime.show import commands as c
from realtime.show.state import AudioState

from .conftest import SHOW, Rig, poll
from .test_audio_synth import SR, blocks, click, place

DISTINCT = Heard(level=0.125, onset=0.25, low=0.375, mid=0.5, high=0.625, bpm=123.5, beat_phase=0.75, beat=9)
"""A `Heard` whose every field holds a different value, so a field read under the wrong name shows."""


@pytest.fixture(scope="module")
def demo():
    from realtime.models import load_generator

    return load_generator("demo")


def test_the_state_json_lists_exactly_the_records_fields(demo, tmp_path):
    names = [f.name for f in dataclasses.fields(Heard)]
    assert list(AudioState(heard=DISTINCT).to_json()) == ["source", "problem", *names]
    rig = Rig(demo, tmp_path)
    try:
        rig.show.submit(c.SetAudioSource("file song.wav", ""), "audio")
        rig.show.submit(c.AudioHeard(DISTINCT), "audio")
        rig.steps(2)
        audio = rig.state()["audio"]
        assert {k: v for k, v in audio.items() if k not in ("source", "problem")} == dataclasses.asdict(DISTINCT)
    finally:
        rig.close()


def test_the_osc_feedback_sends_exactly_the_records_fields(demo, tmp_path):
    reply = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    reply.bind(("127.0.0.1", 0))
    reply.settimeout(0.05)
    rig = Rig(demo, tmp_path, reply=reply.getsockname())
    got: dict[str, list] = {}

    def refresh() -> None:
        rig.show.step()
        try:
            while True:
                msg = OscMessage(reply.recvfrom(65536)[0])
                got[msg.address] = list(msg.params)
        except OSError:
            return

    try:
        rig.show.submit(c.SetAudioSource("file song.wav", ""), "audio")
        rig.show.submit(c.AudioHeard(DISTINCT), "audio")
        fields = {f"/stylevj/audio/{name}" for name in Heard.names()}
        poll(lambda: fields <= set(got), "every field of Heard as /stylevj/audio/<field>", step=refresh)
        sent = {a.rpartition("/")[2]: p for a, p in got.items() if a.startswith("/stylevj/audio/") and a != "/stylevj/audio/status"}
        assert set(sent) == set(Heard.names())  # nothing more, nothing less
        for name, params in sent.items():
            expected = getattr(DISTINCT, name)
            assert params == [pytest.approx(expected)] and type(params[0]) is type(expected), name  # beat: an int
    finally:
        rig.close()
        reply.close()


def test_the_mapping_features_are_the_records_fields():
    levels = [f.name for f in dataclasses.fields(Heard) if f.name not in ("bpm", "beat")]
    assert list(AUDIO_FEATURES) == [*levels, "beat"]  # the 0..1 fields move speed or truncation; beat the path
    for name in levels:  # each feature reads its own field of what the show publishes, and only that
        mapping = AudioMapping(feature=name, target="speed", amount=1.0)
        assert value(mapping, DISTINCT) == pytest.approx(getattr(DISTINCT, name)), name
        assert drive(dataclasses.replace(Heard(), **{name: 1.0}), (mapping,)).speed == 1.0, name
    beat = drive(DISTINCT, (AudioMapping(feature="beat", target="path", every=2),))
    assert beat.segments == pytest.approx((DISTINCT.beat + DISTINCT.beat_phase) / 2)
    # the analyser's snapshot names every field the same (onset aside: the pulse is made from its events)
    analysed = {f.name for f in dataclasses.fields(AudioFeatures)}
    assert set(Heard.names()) - analysed == {"onset"}
    assert not {"onset", "onset_pulse"} & analysed  # one meaning of "onset": the show's pulse


def test_onset_mappings_share_one_decay_because_there_is_one_pulse():
    def table(*decays: float):
        mappings = [{"feature": "onset", "target": t, "decay": d} for t, d in zip(("speed", "truncation"), decays)]
        return parse_preset({"audio": {"mappings": mappings}}, "show.toml", Path(".")).audio

    assert len(table(0.3, 0.3).mappings) == 2
    with pytest.raises(PresetError) as caught:
        table(0.2, 0.5)
    assert "onset mappings must share one decay" in str(caught.value) and "\n" not in str(caught.value)


def test_the_drive_command_carries_a_drive(demo, tmp_path):
    assert [f.name for f in dataclasses.fields(c.SetAudioDrive)] == ["drive"]
    assert [f.name for f in dataclasses.fields(c.AudioHeard)] == ["heard"]
    rig = Rig(demo, tmp_path)
    try:
        rig.show.submit(c.SetAudioDrive(Drive(speed=0.5, truncation=0.1, segments=None)), "audio")
        rig.steps(2)
        assert rig.show.player.drive == Drive(speed=0.5, truncation=0.1)
        assert rig.state()["drive"] == {"speed": 0.5, "truncation": 0.1, "segments": None,
                                        "translate_x": 0.0, "translate_y": 0.0, "rotate": 0.0}
    finally:
        rig.close()


def test_an_onset_is_one_pulse_published_and_read_by_the_mapping(demo, tmp_path):
    """A click makes the published `onset` jump to about 1 and fall with the mapping's decay;
    the speed the onset mapping adds is `amount` times that same published value."""
    decay, amount = 0.2, 2.0
    table = f'[audio]\n[[audio.mappings]]\nfeature = "onset"\ntarget = "speed"\namount = {amount}\ndecay = {decay}\n'
    mappings = (AudioMapping(feature="onset", target="speed", amount=amount, decay=decay),)
    rig = Rig(demo, tmp_path, text=SHOW + table)
    listener = AudioListener()
    driver = AudioDriver(rig.show.submit, rig.show.board, listener, None, "test input")
    sound = place(1.0, [0.5], click())

    def hear_until(seconds: float, start: int) -> int:
        for n, block in enumerate(blocks(sound[start:int(seconds * SR)], 512)):
            listener.feed(block)
            if n % 16 == 15:
                assert listener.flush()
        assert listener.flush()
        return int(seconds * SR)

    def published() -> dict:
        features = listener.latest()
        expected = heard(features, mappings)
        poll(lambda: rig.state()["audio"]["onset"] == expected.onset, "the show publishes the pulse",
             step=rig.show.step)
        state = rig.state()
        return {"features": features, "onset": state["audio"]["onset"], "speed": state["drive"]["speed"]}

    try:
        driver.start()
        at = hear_until(0.49, 0)
        before = published()
        assert before["features"].onset_count == 0 and before["onset"] == 0.0 and before["speed"] == 0.0
        at = hear_until(0.515, at)
        hit = published()
        assert hit["features"].onset_count == 1
        age = hit["features"].time - hit["features"].last_onset_time
        assert hit["onset"] == pytest.approx(math.exp(-age / decay)) and hit["onset"] > 0.85  # jumped to about 1
        assert hit["speed"] == pytest.approx(amount * hit["onset"])  # the mapping reads that same value
        hear_until(0.515 + decay, at)
        later = published()
        age = later["features"].time - later["features"].last_onset_time
        assert later["onset"] == pytest.approx(math.exp(-age / decay))
        assert later["onset"] == pytest.approx(hit["onset"] / math.e, rel=0.01)  # one decay later: 37 %
        assert later["speed"] == pytest.approx(amount * later["onset"])
    finally:
        driver.stop()
        rig.close()


def test_the_pulse_does_not_depend_on_how_a_mapping_reads_it():
    """Offline (render) and live use the same `heard`: the pulse is a function of the onset
    event's time and the decay, nothing else."""
    mappings = (AudioMapping(feature="onset", target="truncation", amount=0.5, decay=0.1),)
    features = AudioFeatures(time=2.05, last_onset_time=2.0, onset_count=3, flux=0.9)
    now = heard(features, mappings)
    assert now.onset == pytest.approx(math.exp(-0.5))
    assert drive(now, mappings).truncation == pytest.approx(0.5 * now.onset)
