"""Music moves the show: the [audio] table, the mapping (features -> commands), the drive on top
of the knobs, beat lock, the live adapter (file player, devices, tap and BPM through the one
queue), and `render --audio` (frame-exact features, the song muxed in sync, identical renders).

No sound card here: live input is the listener fed as a device callback would feed it, the
sound output is a stand-in sounddevice module, and the files are real, written with PyAV."""

from __future__ import annotations

import logging
import math
import sys
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from realtime.audio import AudioFeatures, AudioListener, read_audio
from realtime.audio.decode import AudioClip
from realtime.audio.drive import AudioDriver, FilePlayer
from realtime.audio.mapping import drive, frame_hook, heard, mappings_of
from realtime.latent.hearing import Heard
from realtime.audio.soundtrack import read_soundtrack
from realtime.display.keys import Action, KeyEvent
from realtime.latent import Drive, PathSettings, Player
from realtime.latent.keyframes import Keyframe
from realtime.presets import DEFAULT_AUDIO_MAPPINGS, AudioMapping, PresetError, parse_preset
from realtime.record.render import path_times
from realtime.show import commands as c

from .conftest import FakeClock, Rig, poll, stylevj
from .conftest import osc_message as message
from .test_audio_files import write_audio
from .test_audio_synth import SR, beat_times, blocks, click, kick, place

av = pytest.importorskip("av")


@pytest.fixture(scope="module")
def demo():
    from realtime.models import load_generator

    return load_generator("demo")


def audio_table(text: dict) -> object:
    return parse_preset({"audio": text}, "show.toml", Path(".")).audio


def path_player(count: int = 4, **kwargs) -> Player:
    torch.manual_seed(0)
    keyframes = [Keyframe(torch.randn(4, 8), f"k{i}", "test") for i in range(count)]
    return Player(keyframes, torch.zeros(8), PathSettings(blend=kwargs.pop("blend", 0.2)), **kwargs)


# ---- the [audio] table ------------------------------------------------------------------------


def test_audio_table_reads_and_every_bad_value_is_one_line():
    settings = audio_table({"bpm": 128, "mappings": [
        {"feature": "onset", "target": "speed", "amount": 2.0, "decay": 0.5},
        {"feature": "low", "target": "truncation", "amount": 0.3, "range": [0.1, 0.9], "curve": "square"},
        {"feature": "beat", "target": "path", "every": 4}]})
    assert settings.bpm == 128 and [m.feature for m in settings.mappings] == ["onset", "low", "beat"]
    assert settings.mappings[1].range == (0.1, 0.9) and settings.mappings[2].every == 4
    assert parse_preset({}, "show.toml", Path(".")).audio is None
    bad = {
        "bpm": ({"bpm": 1000}, "show.toml: [audio] bpm must be within [20, 400], got 1000"),
        "feature": ({"mappings": [{"feature": "loudness", "target": "speed"}]}, "[[audio.mappings]] #1 feature must be one of"),
        "pair": ({"mappings": [{"feature": "beat", "target": "speed"}]}, "feature 'beat' cannot drive target 'speed'"),
        "range": ({"mappings": [{"feature": "low", "target": "speed", "range": [0.8, 0.2]}]}, "range must be [low, high]"),
        "curve": ({"mappings": [{"feature": "low", "target": "speed", "curve": "cubic"}]}, "curve must be one of"),
        "every": ({"mappings": [{"feature": "beat", "target": "path", "every": 0}]}, "every must be within [1, 64]"),
        "key": ({"gain": 2}, "[audio] unknown key 'gain'"),
        "missing": ({"mappings": [{"feature": "low"}]}, "needs both 'feature' and 'target'"),
    }
    for name, (table, reason) in bad.items():
        with pytest.raises(PresetError) as caught:
            audio_table(table)
        assert reason in str(caught.value) and "\n" not in str(caught.value), name


def test_no_mappings_means_the_default_mapping():
    assert mappings_of(None) == DEFAULT_AUDIO_MAPPINGS
    assert mappings_of(audio_table({"bpm": 100})) == DEFAULT_AUDIO_MAPPINGS
    assert {(m.feature, m.target) for m in DEFAULT_AUDIO_MAPPINGS} == {("onset", "speed"), ("low", "truncation")}


# ---- the mapping: features -> commands --------------------------------------------------------


def boost(features: AudioFeatures, mappings: tuple[AudioMapping, ...]) -> float:
    """The speed the mappings add for these features (through what the show publishes)."""
    return drive(heard(features, mappings), mappings).speed


def test_an_onset_is_a_speed_pulse_that_decays():
    mappings = (AudioMapping(feature="onset", target="speed", amount=2.0, decay=0.2),)
    assert boost(AudioFeatures(time=1.0), mappings) == 0.0  # no onset yet
    boosts = [boost(AudioFeatures(time=1.0 + age, last_onset_time=1.0, onset_count=1), mappings)
              for age in (0.0, 0.1, 0.2, 0.4, 1.0)]
    assert boosts[0] == pytest.approx(2.0)
    assert boosts[2] == pytest.approx(2.0 / math.e)  # `decay` seconds: down to 37 %
    assert all(a > b for a, b in zip(boosts, boosts[1:]))
    assert boosts[-1] < 0.02
    # the next onset restarts the pulse
    assert boost(AudioFeatures(time=2.0, last_onset_time=2.0, onset_count=2), mappings) == pytest.approx(2.0)


def test_the_low_band_drives_truncation_through_range_and_curve():
    linear = (AudioMapping(feature="low", target="truncation", amount=0.4, range=(0.2, 0.6)),)
    values = [drive(Heard(low=x), linear).truncation for x in (0.0, 0.2, 0.4, 0.6, 1.0)]
    assert values == pytest.approx([0.0, 0.0, 0.2, 0.4, 0.4])
    square = (AudioMapping(feature="low", target="truncation", amount=0.4, range=(0.2, 0.6), curve="square"),)
    assert drive(Heard(low=0.4), square).truncation == pytest.approx(0.1)
    assert drive(Heard(low=0.4, mid=1.0, high=1.0), linear).speed == 0.0  # other bands: nothing
    both = linear + (AudioMapping(feature="high", target="truncation", amount=-3.0),)
    assert drive(Heard(low=1.0, high=1.0), both).truncation == -2.0  # kept within the knob's range


def test_beat_lock_needs_a_tempo():
    mappings = (AudioMapping(feature="beat", target="path", every=4),)
    assert drive(Heard(beat=6, beat_phase=0.5), mappings).segments is None  # tempo unknown (bpm 0)
    locked = drive(heard(AudioFeatures(bpm=120.0, beat=6, beat_phase=0.5, tempo_source="manual"), mappings), mappings)
    assert locked.segments == pytest.approx(6.5 / 4) and locked.speed == 0.0


def test_heard_is_published_as_checked_numbers():
    features = AudioFeatures(level=0.5, low=1.2, high=float("nan"), bpm=None, beat_phase=0.3, beat=7)
    out = heard(features, DEFAULT_AUDIO_MAPPINGS)  # out of range, not a number, unknown: brought into range
    assert out.to_json() == {"level": 0.5, "onset": 0.0, "low": 1.0, "mid": 0.0, "high": 0.0, "bpm": 0.0,
                             "beat_phase": 0.3, "beat": 7}


# ---- the drive sits on top of the knobs -------------------------------------------------------


def test_the_drive_adds_to_the_base_and_removing_it_returns_to_the_base():
    player = path_player(speed=0.5, truncation=0.7)
    base = player.current().clone()
    player.set_drive(Drive(speed=1.5, truncation=0.2))
    assert player.speed == 0.5 and player.truncation == 0.7  # the knobs are untouched (what a preset saves)
    assert player.driven_speed == 2.0 and player.driven_truncation == pytest.approx(0.9)
    assert not torch.allclose(player.current(), base)
    player.advance(0.5)
    assert player.position == pytest.approx(1.0)  # (0.5 + 1.5) keyframes/s for 0.5 s
    player.set_truncation(0.5)  # a knob moved while the music plays: both count
    assert player.driven_truncation == pytest.approx(0.7)
    player.set_drive(Drive())
    player.advance(0.5)
    assert player.position == pytest.approx(1.25) and player.driven_truncation == 0.5
    backwards = path_player(speed=-0.5)
    backwards.set_drive(Drive(speed=1.0))
    assert backwards.driven_speed == -1.5  # the boost goes along the direction of play


def test_beat_lock_lands_keyframes_on_the_beats():
    # a 120 BPM click track, the tempo given; one path segment per two beats: every crossing of a
    # keyframe (a whole position) must fall within one frame after a click, once the beat is locked
    fps, seconds = 60, 10.0
    beats = beat_times(120, seconds, 0.25)
    clip = AudioClip(Path("clicks.wav"), place(seconds, beats, click(), 0.8))
    frames = clip.frame_count(fps)
    settings = audio_table({"bpm": 120, "mappings": [{"feature": "beat", "target": "path", "every": 2}]})
    player = path_player(speed=0.1)
    hook = frame_hook(clip, fps, frames, settings)
    positions = []
    for n in range(frames):
        hook(n, player)
        if n:
            player.advance(1 / fps)
        positions.append(player.position)
    landings = [n / fps for n in range(1, frames) if math.floor(positions[n]) != math.floor(positions[n - 1])]
    late = [t for t in landings if t > 3.0]  # after the beat clock has locked to the clicks
    assert len(late) >= 6
    for t in late:
        nearest = beats[np.argmin(np.abs(beats - t))]
        assert 0 <= t - nearest <= 1 / fps + 1e-9, (t, nearest)
    assert np.allclose(np.diff(late), 1.0, atol=1.5 / fps)  # one keyframe per two beats at 120 BPM


def test_beat_lock_survives_ping_pong_and_a_pause():
    player = path_player(count=3, speed=0.2)  # open path of length 2: back and forth
    player.set_path_settings(PathSettings(closed=False, blend=0.0))
    seen = []
    for n in range(1, 41):
        player.set_drive(Drive(segments=n * 0.25))
        player.advance(0.1)
        seen.append(round(player.position, 6))
    assert seen[3] == 1.0 and seen[7] == 2.0 and seen[11] == 1.0 and seen[15] == 0.0  # keyframes on whole segments
    player.pause()
    player.set_drive(Drive(segments=20.6))
    player.advance(0.1)
    assert round(player.position, 6) == seen[-1]  # paused: the picture holds
    player.play()
    player.advance(0.1)
    # back on the beat grid (20.6 segments: a fraction of 0.6) at the whole offset nearest the held
    # picture (2.0), with a fade, rather than jumping 10 segments ahead
    assert player.position == pytest.approx(1.6)


# ---- the show side: commands, state, events ---------------------------------------------------


class TapListener(AudioListener):
    """The real listener, noting the taps it is given (what key T and /stylevj/tap must reach)."""

    def __init__(self) -> None:
        super().__init__()
        self.taps: list[float | None] = []

    def tap(self, at: float | None = None) -> float | None:
        self.taps.append(at)
        return super().tap(at)


def wait_for(condition, rig: Rig, steps: int = 400) -> bool:
    for _ in range(steps):
        if condition():
            return True
        rig.show.step()
        time.sleep(0.005)
    return condition()


def test_tap_and_bpm_reach_the_listener_through_the_show(demo, tmp_path):
    rig = Rig(demo, tmp_path)
    listener = TapListener()
    driver = AudioDriver(rig.show.submit, rig.show.board, listener, None, "test input")
    try:
        driver.start()
        rig.send(message("/stylevj/tap"))
        assert wait_for(lambda: len(listener.taps) == 1, rig)
        from realtime.control import key_handler

        key_handler(rig.show.submit)(KeyEvent(Action.TAP, 84, 0, 0.0))  # key T
        assert wait_for(lambda: len(listener.taps) == 2, rig)
        rig.send(message("/stylevj/bpm", 128.0))
        assert wait_for(lambda: listener.latest().tempo_source == "manual", rig)
        assert listener.latest().bpm == pytest.approx(128.0)
        rig.send(message("/stylevj/bpm", 1000.0))  # refused by the command's own check, with a reply
        assert any(a == "/stylevj/error" and "bpm must be within [20, 400]" in p[0] for a, p in rig.replies(0.5))
        state = rig.state()
        assert state["audio"]["source"] == "test input" and state["audio"]["problem"] == ""
    finally:
        driver.stop()
        rig.close()


def test_the_presets_audio_table_sets_the_tempo_and_the_mapping_live(demo, tmp_path):
    from .conftest import SHOW

    table = '[audio]\nbpm = 100\n[[audio.mappings]]\nfeature = "beat"\ntarget = "path"\nevery = 2\n'
    rig = Rig(demo, tmp_path, text=SHOW + table)
    listener = AudioListener()
    driver = AudioDriver(rig.show.submit, rig.show.board, listener, None, "test input")
    try:
        driver.start()
        assert wait_for(lambda: listener.latest().tempo_source == "manual", rig)  # the preset's bpm reached it
        assert listener.latest().bpm == pytest.approx(100.0)
        assert wait_for(lambda: rig.show.player.drive.segments is not None, rig)  # beat-locked, not the default
        assert rig.show.player.drive.speed == 0.0 and rig.state()["audio"]["bpm"] == pytest.approx(100.0)
    finally:
        driver.stop()
        rig.close()


def test_the_drive_is_published_and_the_knobs_stay_the_base(demo, tmp_path):
    reply = __import__("socket").socket(__import__("socket").AF_INET, __import__("socket").SOCK_DGRAM)
    reply.bind(("127.0.0.1", 0))
    reply.settimeout(0.05)
    rig = Rig(demo, tmp_path, reply=reply.getsockname())
    try:
        rig.show.submit(c.SetAudioDrive(Drive(speed=0.8, truncation=0.1, segments=None)), "audio")
        rig.show.submit(c.AudioHeard(Heard(level=0.5, low=0.75, bpm=120.0, beat=3)), "audio")
        rig.show.submit(c.SetAudioSource("file song.wav", ""), "audio")
        rig.steps(2)
        state = rig.state()
        assert state["speed"] == 0.0 and state["truncation"] == 0.7  # the preset's knobs
        assert state["drive"] == {"speed": 0.8, "truncation": 0.1, "segments": None,
                                  "translate_x": 0.0, "translate_y": 0.0, "rotate": 0.0}
        assert state["audio"]["level"] == 0.5 and state["audio"]["bpm"] == 120.0
        assert rig.show.player.driven_truncation == pytest.approx(0.8)
        from pythonosc.osc_message import OscMessage

        got: dict[str, list] = {}

        def refresh() -> None:
            rig.show.step()
            try:
                data, _ = reply.recvfrom(65536)
            except OSError:
                return
            msg = OscMessage(data)
            got[msg.address] = list(msg.params)

        poll(lambda: {"/stylevj/audio/low", "/stylevj/audio/status"} <= set(got),
             "the audio feedback and the source's status message", step=refresh)
        assert got["/stylevj/audio/low"] == [pytest.approx(0.75)]
        assert got["/stylevj/audio/status"] == ["file song.wav", ""]  # the event SetAudioSource sends, once
        rig.show.submit(c.SetAudioDrive(), "audio")
        rig.steps(2)
        assert rig.state()["drive"]["speed"] == 0.0
    finally:
        rig.close()
        reply.close()


# ---- the live adapter: files, devices, bad input ------------------------------------------------


def one_warning(caplog, text: str) -> str:
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and text in r.getMessage()]
    assert len(lines) == 1, lines
    assert "\n" not in lines[0]
    return lines[0]


def test_a_silent_or_unreadable_file_is_one_line_and_the_show_runs_on(demo, tmp_path, caplog):
    from realtime.session import build_audio

    write_audio(tmp_path / "silent.wav", np.zeros(SR, dtype=np.float32), SR, "pcm_s16le")
    (tmp_path / "noise.mp3").write_bytes(b"this is not audio" * 100)
    for name, reason in (("silent.wav", "silent"), ("noise.mp3", "not an audio file"), ("gone.wav", "no such file")):
        caplog.clear()
        rig = Rig(demo, tmp_path)
        driver = build_audio(rig.show, str(tmp_path / name), None, output=False)
        try:
            with caplog.at_level(logging.WARNING):
                driver.start()
                poll(lambda: rig.show.audio.problem, "the audio problem reaching the show", step=rig.show.step)
            line = one_warning(caplog, "audio:")
            assert reason in line and "without audio" in line
            state = rig.state()
            assert state["audio"]["source"] == "" and reason in state["audio"]["problem"]
            # the show runs on: it still takes commands and draws new frames (a picture of the new place)
            rig.send(message("/stylevj/goto", 1.5))
            poll(lambda: rig.show.shown is not None and rig.show.shown.path_time == 1.5, "a frame of the new place",
                 step=rig.show.step)
            assert rig.show.running
        finally:
            driver.stop()
            rig.close()


class FakeInputStream:
    def __init__(self, **kwargs) -> None:
        self.kwargs = kwargs

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def fake_sounddevice(monkeypatch):
    module = types.ModuleType("sounddevice")
    module.query_devices = lambda: [{"name": "Built-in Microphone", "max_input_channels": 1, "hostapi": 0,
                                     "default_samplerate": 48000.0}]
    module.query_hostapis = lambda: [{"name": "ALSA"}]
    module.default = types.SimpleNamespace(device=(0, 0))
    module.check_input_settings = lambda **kwargs: None
    module.InputStream = FakeInputStream
    module.OutputStream = FakeInputStream
    module.CallbackStop = type("CallbackStop", (Exception,), {})
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    return module


def test_a_missing_device_is_one_line_and_the_show_runs_on(demo, tmp_path, caplog, fake_sounddevice):
    from realtime.session import build_audio

    rig = Rig(demo, tmp_path)
    driver = build_audio(rig.show, None, "Scarlett")
    try:
        with caplog.at_level(logging.WARNING):
            driver.start()
            rig.steps(3)
        line = one_warning(caplog, "audio:")
        assert "no sound input device 'Scarlett'" in line and "Built-in Microphone" in line
        assert "no sound input device 'Scarlett'" in rig.state()["audio"]["problem"]
    finally:
        driver.stop()
        rig.close()


def test_a_device_that_vanishes_mid_show_is_one_line_and_the_drive_stops(demo, tmp_path, caplog, fake_sounddevice):
    from realtime.session import build_audio

    rig = Rig(demo, tmp_path)
    driver = build_audio(rig.show, None, "0")
    try:
        driver.start()
        stream = driver.source._stream
        for n, block in enumerate(blocks(place(1.0, [0.2, 0.6], click(), 0.8), 256)):
            stream.kwargs["callback"](block[:, None], len(block), None, None)  # as PortAudio calls it
            if n % 16 == 15:  # a device delivers in real time: never faster than the analysis
                assert driver.listener.flush(5.0)
        assert driver.listener.flush(5.0)
        assert driver.listener.latest().onset_count >= 2
        assert wait_for(lambda: rig.show.player.drive.speed > 0, rig)  # the clicks pushed the speed
        assert rig.state()["audio"]["source"] == "input 0"
        with caplog.at_level(logging.WARNING):
            stream.kwargs["finished_callback"]()  # the interface was unplugged
            assert wait_for(lambda: rig.show.audio.problem != "", rig)
            rig.steps(3)
        assert "Built-in Microphone" in one_warning(caplog, "audio:")
        assert rig.show.player.drive == Drive()  # back on the knobs
        assert rig.show.running
    finally:
        driver.stop()
        rig.close()


def test_the_file_player_feeds_what_it_plays_by_the_output_clock(tmp_path, fake_sounddevice):
    song = place(0.5, [0.1], click(), 0.8)
    stereo = np.stack([song, -song])
    path = tmp_path / "song.wav"
    with av.open(str(path), "w") as container:  # a stereo file: the output gets both channels
        stream = container.add_stream("pcm_f32le", rate=SR, layout="stereo")
        frame = av.AudioFrame.from_ndarray(stereo.T.reshape(1, -1).copy(), format="flt", layout="stereo")
        frame.sample_rate = SR
        for packet in list(stream.encode(frame)) + list(stream.encode(None)):
            container.mux(packet)
    fed: list[np.ndarray] = []
    player = FilePlayer(read_soundtrack(path), fed.append, block=512)
    player.start()
    callback = player._stream.kwargs["callback"]
    out = np.zeros((512, 2), dtype=np.float32)
    callback(out, 512, None, None)
    np.testing.assert_array_equal(out, stereo[:, :512].T)  # the original channels go out ...
    np.testing.assert_allclose(fed[0], song[:512], atol=1e-7)  # ... and their mix is analysed, same block
    while player.failure is None:
        try:
            callback(out, 512, None, None)
        except fake_sounddevice.CallbackStop:
            break
    assert player.played == len(song) and sum(len(b) for b in fed) == len(song)
    assert player.failure == "song.wav ended"
    player.stop()


def test_without_a_sound_output_the_file_clock_still_drives(tmp_path, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # not installed
    path = write_audio(tmp_path / "song.wav", place(1.0, [0.1], click(), 0.8), SR, "pcm_s16le")
    clock = FakeClock(0.0)
    fed: list[int] = []
    player = FilePlayer(read_soundtrack(path), lambda b: fed.append(len(b)), clock=clock)
    with caplog.at_level(logging.WARNING):
        player.start()
    assert "no sound output" in one_warning(caplog, "no sound output") and "song.wav's clock" in caplog.text
    try:
        assert player.played == 0
        clock.advance(0.25)
        deadline = time.monotonic() + 5
        while player.played < SR // 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert player.played == SR // 4 and max(fed) <= 512  # exactly the song's clock, in small blocks
        clock.advance(1.0)
        while player.failure is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert player.failure == "song.wav ended" and player.played == SR
    finally:
        player.stop()


# ---- render --audio -----------------------------------------------------------------------------

RENDER_SHOW = """
[generator]
source = "demo"
[play]
speed = 0.05
truncation = 0.7
[[keyframes]]
seed = 1
[[keyframes]]
seed = 4
[[keyframes]]
seed = 20
"""
CLICKS = [0.4, 1.1, 1.65]


def click_track() -> np.ndarray:
    return place(2.2, CLICKS, click(), 0.8) + place(2.2, CLICKS, kick(), 0.5)


def test_a_click_track_moves_the_picture_on_each_click(demo, tmp_path):
    # the default mapping, the render's own path (frame_hook before each frame, n / fps): the
    # picture's change from one frame to the next peaks within one frame of each click
    fps = 20
    (tmp_path / "show.toml").write_text(RENDER_SHOW)
    preset = parse_preset(__import__("tomllib").loads(RENDER_SHOW), "show.toml", tmp_path)
    clip = AudioClip(Path("clicks.wav"), click_track())
    frames = clip.frame_count(fps)
    from realtime.show import player_from_preset

    player = player_from_preset(preset, demo)
    pictures = []
    with torch.no_grad():
        for w, _ in path_times(player, preset, fps, frames, frame_hook(clip, fps, frames, preset.audio)):
            pictures.append(demo.synthesis(w.unsqueeze(0))[0].numpy())
    change = np.array([0.0] + [np.abs(b - a).mean() for a, b in zip(pictures, pictures[1:])])
    for t in CLICKS:
        first = math.ceil(t * fps)  # the first frame that shows a time at or after the click
        window = range(first - 3, min(first + 5, frames))
        peak = max(window, key=lambda n: change[n])
        assert abs(peak - first) <= 1, (t, peak, first, change[list(window)].round(4))
        assert change[peak] > 3 * np.median(change[1:])


def decode_render(path: Path) -> tuple[list[np.ndarray], float, float, float]:
    """The frames, the video's end, the sound's end, and when the first click is heard (seconds,
    on the file's timeline from the first frame: what a player does with the timestamps)."""
    with av.open(str(path)) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
        video = container.streams.video[0]
        video_start = float(video.start_time * video.time_base)
        frames, video_end = [], 0.0
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            video_end = float(frame.pts * frame.time_base) + 1 / float(video.average_rate)
    with av.open(str(path)) as container:
        audio_end, heard_at = 0.0, None
        for frame in container.decode(audio=0):
            start = float(frame.pts * frame.time_base)
            audio_end = start + frame.samples / frame.sample_rate
            loud = np.flatnonzero(np.abs(frame.to_ndarray().mean(axis=0)) > 0.3)
            if heard_at is None and len(loud):
                heard_at = start + loud[0] / frame.sample_rate - video_start
    return frames, video_end - video_start, audio_end - video_start, heard_at


def test_render_with_audio_muxes_the_song_in_sync_and_repeats_exactly(tmp_path):
    fps = 20
    (tmp_path / "show.toml").write_text(RENDER_SHOW)
    song = click_track()
    write_audio(tmp_path / "song.wav", song, SR, "pcm_s16le")
    outs = []
    for name in ("a.mp4", "b.mp4"):
        result = stylevj("render", str(tmp_path / "show.toml"), "--audio", str(tmp_path / "song.wav"), "--out",
                         str(tmp_path / name), "--fps", str(fps), "--size", "64x64")
        assert result.returncode == 0, result.stderr
        outs.append(decode_render(tmp_path / name))
    frames, video_end, audio_end, heard_at = outs[0]
    assert len(frames) == read_audio(tmp_path / "song.wav").frame_count(fps)  # stops at the end of the song
    assert abs(audio_end - video_end) <= 1 / fps  # one video and one audio stream, the same length within a frame
    assert len(outs[1][0]) == len(frames) and all(np.array_equal(a, b) for a, b in zip(frames, outs[1][0]))
    assert abs(heard_at - CLICKS[0]) <= 1 / fps, heard_at  # in sync: the click is heard where the song has it


def test_render_to_mov_carries_pcm_and_seconds_override_the_song(tmp_path):
    fps = 20
    (tmp_path / "show.toml").write_text(RENDER_SHOW)
    write_audio(tmp_path / "song.wav", click_track(), SR, "pcm_s16le")
    out = tmp_path / "clip.mov"
    result = stylevj("render", str(tmp_path / "show.toml"), "--audio", str(tmp_path / "song.wav"), "--out", str(out),
                     "--fps", str(fps), "--size", "64x64", "--format", "prores", "--seconds", "0.6")
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == "pcm_s16le"
        samples = sum(f.samples for f in container.decode(audio=0))
    assert samples == int(0.6 * SR)  # the song cut where the video ends
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12


def test_render_with_an_unusable_file_is_one_line(tmp_path):
    (tmp_path / "show.toml").write_text(RENDER_SHOW)
    write_audio(tmp_path / "silent.wav", np.zeros(SR, dtype=np.float32), SR, "pcm_s16le")
    result = stylevj("render", str(tmp_path / "show.toml"), "--audio", str(tmp_path / "silent.wav"), "--out",
                     str(tmp_path / "x.mp4"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "silent" in result.stderr
    assert not (tmp_path / "x.mp4").exists()


# ---- the command line --------------------------------------------------------------------------


def test_run_with_a_song_and_with_a_silent_file(tmp_path):
    (tmp_path / "show.toml").write_text(RENDER_SHOW)
    write_audio(tmp_path / "song.wav", click_track(), SR, "pcm_s16le")
    write_audio(tmp_path / "silent.wav", np.zeros(SR, dtype=np.float32), SR, "pcm_s16le")
    common = ["run", str(tmp_path / "show.toml"), "--headless", "--seconds", "1", "--no-osc",
              "--journal", str(tmp_path / "journal.toml")]
    played = stylevj(*common, "--audio", str(tmp_path / "song.wav"), "--mute")
    assert played.returncode == 0, played.stderr
    assert "the show follows song.wav's clock in silence" in played.stderr and "audio:" not in played.stderr
    silent = stylevj(*common, "--audio", str(tmp_path / "silent.wav"))
    assert silent.returncode == 0, silent.stderr  # the show ran on
    lines = [line for line in silent.stderr.splitlines() if "audio:" in line]
    assert len(lines) == 1 and "silent" in lines[0] and "goes on without audio" in lines[0]


def test_audio_devices_without_sounddevice_is_one_line():
    result = stylevj("audio", "devices")
    if result.returncode == 0:  # a machine with sounddevice and PortAudio: a list (maybe empty)
        return
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "libportaudio2" in result.stderr
