"""Live input without a sound card: the listener thread fed blocks directly (as the device
callback feeds it), the sounddevice wrapper against a stand-in module, and the import rules."""

from __future__ import annotations

import ast
import sys
import threading
import types
from pathlib import Path

import numpy as np
import pytest

from realtime.audio import (AudioAnalyser, AudioDeviceError, AudioError, AudioListener, DeviceInput,
                            find_input_device, list_input_devices, load_sounddevice)
from tests.test_audio_synth import SR, blocks, house_loop

AUDIO = Path(__file__).resolve().parent.parent / "realtime" / "audio"


@pytest.fixture
def listener():
    made = AudioListener(queue_blocks=100_000)  # tests feed faster than real time: drop nothing
    yield made
    made.stop()


# -- the analysis thread ----------------------------------------------------------------------------


def test_nothing_starts_in_the_constructor():
    before = threading.active_count()
    made = AudioListener()
    assert not made.running and threading.active_count() == before
    made.feed(np.zeros(256, np.float32))  # queued, not analysed
    assert made.latest().time == 0.0


def test_the_thread_gives_what_the_analyser_gives(listener):
    x = house_loop(120, 6.0, 0.25)
    listener.start()
    listener.start()  # a second start is harmless
    for b in blocks(x, 256):
        listener.feed(b)
    assert listener.flush(timeout=30.0)
    reference = AudioAnalyser()
    for b in blocks(x, 256):
        expected = reference.process(b)
    assert listener.latest() == expected
    assert listener.latest().time == pytest.approx(6.0) and listener.dropped_blocks == 0
    listener.stop()
    assert not listener.running


def test_the_queue_drops_the_oldest_blocks_when_analysis_falls_behind():
    made = AudioListener(queue_blocks=4)
    for i in range(10):
        made.feed(np.full(256, 0.01 * i, np.float32))
    assert made.dropped_blocks == 6
    made.start()
    try:
        assert made.flush(timeout=10.0)
        assert made.latest().time == pytest.approx(4 * 256 / SR)  # only the newest four were heard
    finally:
        made.stop()


def test_fed_blocks_are_copied(listener):
    block = np.full(256, 0.5, np.float32)
    listener.feed(block)
    block[:] = 0.0  # a device reuses its buffer at once
    listener.start()
    assert listener.flush(timeout=10.0)
    assert listener.latest().rms_db == pytest.approx(-12.04, abs=0.01)  # 0.5 over a quarter of the window


def test_tempo_commands_reach_the_thread(listener):
    with pytest.raises(AudioError, match="BPM"):
        listener.set_bpm(1e6)  # checked at the call, in the caller's thread
    listener.set_bpm(140.0)
    listener.start()
    listener.feed(np.zeros(256, np.float32))
    assert listener.flush(timeout=10.0)
    assert listener.latest().bpm == 140.0 and listener.latest().tempo_source == "manual"
    assert listener.tap(at=100.0) is None  # a first tap: no tempo yet
    assert listener.tap(at=100.5) == pytest.approx(120.0)
    listener.feed(np.zeros(256, np.float32))
    assert listener.flush(timeout=10.0)
    assert listener.latest().tempo_source == "tap" and listener.latest().bpm == pytest.approx(120.0)
    assert listener.tap(at=200.0) is None  # a pause: taps start over
    with pytest.raises(AudioError, match="BPM"):
        listener.tap(at=200.05)  # 1200 BPM: a bounce, not a tempo
    assert listener.tap(at=200.55) == pytest.approx(120.0)  # counted from the bounce


# -- the sounddevice wrapper, against a stand-in -------------------------------------------------


class FakeStream:
    """Records how it was opened; the test plays the device by calling its callback."""

    opened: list["FakeStream"] = []

    def __init__(self, **kwargs):
        self.kwargs, self.started, self.closed = kwargs, False, False
        FakeStream.opened.append(self)

    def start(self):
        self.started = True

    def stop(self):
        self.started = False
        self.kwargs["finished_callback"]()  # PortAudio calls it on a normal stop too

    def close(self):
        self.closed = True


@pytest.fixture
def fake_sounddevice(monkeypatch):
    FakeStream.opened = []
    module = types.ModuleType("sounddevice")
    module.query_devices = lambda: [
        {"name": "Built-in Output", "max_input_channels": 0, "hostapi": 0, "default_samplerate": 48000.0},
        {"name": "Built-in Microphone", "max_input_channels": 1, "hostapi": 0, "default_samplerate": 48000.0},
        {"name": "Scarlett 2i2 USB", "max_input_channels": 2, "hostapi": 0, "default_samplerate": 44100.0},
        {"name": "USB Audio CODEC", "max_input_channels": 8, "hostapi": 0, "default_samplerate": 48000.0},
    ]
    module.query_hostapis = lambda: [{"name": "ALSA"}]
    module.default = types.SimpleNamespace(device=(1, 0))
    module.check_input_settings = lambda **kwargs: None
    module.InputStream = FakeStream
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    return module


def test_missing_sounddevice_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails as if not installed
    for call in (load_sounddevice, list_input_devices, lambda: DeviceInput(lambda b: None).start()):
        with pytest.raises(AudioDeviceError) as caught:
            call()
        message = str(caught.value)
        assert "pip install 'stylevj[audio]'" in message and "libportaudio2" in message and "\n" not in message


def test_devices_are_listed_and_found(fake_sounddevice):
    devices = list_input_devices()
    assert [d.index for d in devices] == [1, 2, 3]
    assert devices[0].is_default and devices[1].hostapi == "ALSA"
    assert "Scarlett" in devices[1].describe()
    assert find_input_device(None).index == 1
    assert find_input_device(2).name == "Scarlett 2i2 USB"
    assert find_input_device("scarlett").index == 2
    assert find_input_device("USB Audio CODEC").index == 3
    with pytest.raises(AudioDeviceError, match="ambiguous"):
        find_input_device("usb")
    with pytest.raises(AudioDeviceError, match="no sound input device 'Focusrite'.*Scarlett"):
        find_input_device("Focusrite")
    with pytest.raises(AudioDeviceError, match="no sound input device '0'"):
        find_input_device(0)  # an output only


def test_the_device_callback_only_feeds_the_listener(fake_sounddevice, listener):
    device = DeviceInput(listener.feed, "scarlett")
    assert FakeStream.opened == []  # nothing opens in the constructor
    assert device.start().index == 2
    stream = FakeStream.opened[0]
    assert stream.started and stream.kwargs["samplerate"] == SR and stream.kwargs["channels"] == 2
    assert stream.kwargs["blocksize"] <= 512 and stream.kwargs["dtype"] == "float32"
    x = house_loop(120, 1.0, 0.25)
    for b in blocks(x, 256):
        if len(b) == 256:
            stream.kwargs["callback"](np.stack([b, b], axis=1), 256, None, None)
    assert listener.latest().time == 0.0  # the callback analysed nothing itself
    listener.start()
    assert listener.flush(timeout=10.0)
    assert listener.latest().time == pytest.approx(len(x) // 256 * 256 / SR)
    assert listener.latest().onset_count > 0
    device.stop()
    assert stream.closed and device.failure is None  # a normal stop is no failure
    device.stop()  # twice is fine


def test_a_vanished_device_is_one_line_and_nothing_stops(fake_sounddevice, listener):
    device = DeviceInput(listener.feed)
    device.start()
    FakeStream.opened[0].kwargs["finished_callback"]()  # PortAudio: the stream ended by itself
    assert not device.active
    assert "Built-in Microphone" in device.failure and "\n" not in device.failure
    device.stop()


def test_a_device_that_cannot_record_at_48k_says_so(fake_sounddevice):
    def refuse(**kwargs):
        raise ValueError("Invalid sample rate")

    fake_sounddevice.check_input_settings = refuse
    with pytest.raises(AudioDeviceError, match="cannot record from 'Built-in Microphone' at 48000 Hz"):
        DeviceInput(lambda b: None).start()


# -- import rules -------------------------------------------------------------------------------


ADAPTER_MODULES = {"mapping.py", "drive.py"}  # the adapter half: features to show commands


def test_audio_analysis_imports_only_errors_files_and_third_party_packages():
    # and the beat clock's tap math (realtime/clock imports only layer 0 itself): one home for taps
    allowed_project = {"realtime.errors", "realtime.files", "realtime.clock.errors", "realtime.clock.taps"}
    for path in sorted(p for p in AUDIO.glob("*.py") if p.name not in ADAPTER_MODULES):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level == 1:  # inside realtime.audio
                    continue
                name = "realtime." + (node.module or "") if node.level == 2 else node.module or ""
                names = [name]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.startswith("realtime"):
                    assert name in allowed_project, f"{path.name} imports {name}"
