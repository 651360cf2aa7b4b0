"""Audio files: decoding with PyAV (written here with PyAV), the one-line errors, and the offline
walk that gives the features valid at each video frame time."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from realtime.audio import (AudioAnalyser, AudioError, AudioFileError, frame_features, frames_covering, read_audio,
                            sample_at)
from tests.test_audio_synth import SR, blocks, click, house_loop, place

av = pytest.importorskip("av")


def write_audio(path: Path, samples: np.ndarray, rate: int, codec: str, channels: int = 1) -> Path:
    """Encode float samples in [-1, 1] (mono, copied to each channel) with PyAV."""
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        fmt = stream.codec_context.codec.audio_formats[0].name  # the encoder's own sample format
        planes = np.repeat(samples[None, :], channels, axis=0)
        step = 1024
        for start in range(0, samples.size, step):
            chunk = planes[:, start:start + step]
            if fmt.startswith("s16"):
                chunk = np.round(chunk * 32767).astype(np.int16)
            elif fmt.startswith("s32"):
                chunk = np.round(chunk * 2147483647.0).astype(np.int32)
            else:
                chunk = chunk.astype(np.float32)
            if not fmt.endswith("p"):  # packed: samples interleaved in one plane
                chunk = chunk.T.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format=fmt, layout=layout)
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def dominant_frequency(x: np.ndarray, rate: int = SR) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1.0 / rate)[np.argmax(spectrum)])


def needs_encoder(name: str):
    return pytest.mark.skipif(name not in av.codecs_available, reason=f"this PyAV has no {name} encoder")


# -- decoding -------------------------------------------------------------------------------------


def test_float_wav_at_48k_decodes_to_the_very_samples(tmp_path):
    x = house_loop(120, 2.0, 0.25) * 0.5
    clip = read_audio(write_audio(tmp_path / "loop.wav", x, SR, "pcm_f32le"))
    assert clip.sample_rate == SR and clip.samples.dtype == np.float32
    assert clip.samples.shape == x.shape
    assert np.max(np.abs(clip.samples - x)) < 1e-6
    assert not clip.samples.flags.writeable
    assert clip.duration == pytest.approx(2.0)


def test_stereo_44k1_wav_is_resampled_and_mixed_to_mono(tmp_path):
    x = (0.5 * np.sin(2 * np.pi * 440 * np.arange(88_200) / 44_100)).astype(np.float32)  # 2 s at 44.1 kHz
    clip = read_audio(write_audio(tmp_path / "tone.wav", x, 44_100, "pcm_s16le", channels=2))
    assert abs(clip.samples.size - 2 * SR) <= 64
    assert dominant_frequency(clip.samples) == pytest.approx(440, abs=1)
    middle = clip.samples[SR // 2: -SR // 2]
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.01)  # average, not a sum


@needs_encoder("flac")
def test_flac_is_lossless_after_16_bit_rounding(tmp_path):
    x = house_loop(95, 2.0, 0.3) * 0.5
    clip = read_audio(write_audio(tmp_path / "loop.flac", x, SR, "flac"))
    assert clip.samples.shape == x.shape
    assert np.max(np.abs(clip.samples - x)) <= 1.0 / 32767


@pytest.mark.parametrize("codec, suffix", [pytest.param("libmp3lame", ".mp3", marks=needs_encoder("libmp3lame")),
                                           pytest.param("aac", ".m4a", marks=needs_encoder("aac"))])
def test_lossy_files_decode_to_the_same_music(tmp_path, codec, suffix):
    x = house_loop(120, 6.0, 0.25) * 0.5
    clip = read_audio(write_audio(tmp_path / f"loop{suffix}", x, SR, codec))
    assert abs(clip.duration - 6.0) < 0.1  # encoder padding at most
    reference = AudioAnalyser()
    for b in blocks(x, 512):
        expected = reference.process(b)
    decoded = AudioAnalyser()
    for b in blocks(np.asarray(clip.samples[: x.size]), 512):
        got = decoded.process(b)
    assert got.bpm == pytest.approx(expected.bpm, abs=1.0)
    assert abs(got.onset_count - expected.onset_count) <= 3  # a lossy codec's smear may add a few
    assert got.level == pytest.approx(expected.level, abs=0.1)


# -- one clear line for a bad file ------------------------------------------------------------------


def one_line_error(path: Path, reason: str) -> str:
    with pytest.raises(AudioFileError) as caught:
        read_audio(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message and reason in message, message
    return message


def test_missing_file(tmp_path):
    one_line_error(tmp_path / "nowhere.wav", "no such file")


def test_unreadable_file(tmp_path):
    bad = tmp_path / "song.mp3"
    bad.write_bytes(b"this is not audio at all\n" * 40)
    one_line_error(bad, "not an audio file PyAV can read")


def test_a_folder_is_not_a_file(tmp_path):
    one_line_error(tmp_path, "not a file")


def test_silent_file(tmp_path):
    path = write_audio(tmp_path / "silence.wav", np.zeros(SR, np.float32), SR, "pcm_s16le")
    one_line_error(path, "silent")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    with wave.open(str(path), "wb") as w:  # a valid header and no samples
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
    one_line_error(path, "no audio samples")


def test_a_video_without_sound(tmp_path):
    path = tmp_path / "picture.mkv"
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
        for packet in stream.encode(frame.reformat(format="yuv420p")):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    one_line_error(path, "has no audio stream")


def test_the_errors_are_stylevj_errors():
    from realtime.errors import StylevjError

    assert issubclass(AudioFileError, AudioError) and issubclass(AudioError, StylevjError)


# -- offline: features at each video frame time ---------------------------------------------------


def test_frame_times_in_samples_are_exact():
    assert [sample_at(n, 30, SR) for n in range(4)] == [0, 1600, 3200, 4800]
    assert sample_at(30_000, 30_000 / 1001, SR) == 1001 * SR  # NTSC: no drift after 1001 s
    assert sample_at(2997, 29.97, SR) == 100 * SR  # as the video writer reads fps: 2997/100
    assert frames_covering(SR, 30, SR) == 30 and frames_covering(SR + 1, 30, SR) == 31


def test_each_frame_sees_exactly_the_audio_before_its_time(tmp_path):
    x = house_loop(120, 4.0, 0.25)
    clip = read_audio(write_audio(tmp_path / "loop.wav", x, SR, "pcm_f32le"))
    frames = list(frame_features(clip, fps=24))
    assert len(frames) == 96
    assert frames[0].time == 0.0 and frames[0].onset_count == 0
    for n, f in enumerate(frames):
        assert f.time == sample_at(n, 24, SR) / SR
    # the same analyser, fed the same samples by hand up to frame 50's time, agrees exactly
    by_hand = AudioAnalyser()
    for b in blocks(x[: sample_at(50, 24, SR)], 512):
        by_hand.process(b)
    assert frames[50] == by_hand.features


def test_onsets_show_on_the_first_frame_after_each_click():
    fps = 30
    truth = np.array([0.5, 0.91, 1.37, 2.02, 2.5, 3.333])
    frames = list(frame_features(place(4.0, truth, click(), 0.8), fps=fps))
    rises = [n for n in range(1, len(frames)) if frames[n].onset_count > frames[n - 1].onset_count]
    assert len(rises) == len(truth)
    for n, t in zip(rises, truth):
        # the frame whose time first follows the click (or the next, when the click falls in the
        # last few ms before a frame time: the attack must be heard before it can be seen)
        first = int(np.floor(t * fps)) + 1
        assert n in (first, first + 1), (t, n)
        assert abs(frames[n].last_onset_time - t) <= 0.010


def test_two_renders_get_identical_features_and_silence_after_the_song():
    x = house_loop(128, 5.0, 0.2)
    first = list(frame_features(x, fps=25, frames=200))
    assert first == list(frame_features(x, fps=25, frames=200))
    assert len(first) == 200 and first[-1].time == 199 / 25
    assert max(f.level for f in first[100:125]) > 0.5  # the music plays until 5 s ...
    assert max(f.level for f in first[140:]) < 0.01  # ... then the song has ended


def test_offline_arguments_are_checked():
    with pytest.raises(AudioError, match="fps"):
        frame_features(np.zeros(100, np.float32), fps=0)
    with pytest.raises(AudioError, match="mono"):
        frame_features(np.zeros((100, 2), np.float32), fps=30)
