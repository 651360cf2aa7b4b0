"""Stage-proof II (issue 21), songs: a song is analysed, played and muxed streaming, in bounded
memory, and the show starts at once whatever the song's length.

The rule (realtime/audio/stream.py, soundtrack.py): no reader holds a song whole. Each one (the
live player, the render's analysis, the muxer) decodes it afresh as PyAV chunks; the player keeps
at most READ_AHEAD seconds decoded ahead of the playhead, the analysis and the muxer one chunk
(plus < 1024 samples for the muxer); the check before a show decodes only up to the song's first
sound. Memory does not grow with the song: a 2-hour song costs what a 10-minute one does.

The songs are real files written here (a 2-hour 8 kHz mono 16-bit WAV is 115 MB, written
streaming with `wave`); the shows, the players' threads and the video files are real.
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
import tracemalloc
import wave
from pathlib import Path

import numpy as np
import pytest

from realtime.audio import AudioError, AudioFileError, frame_features, read_audio
from realtime.audio.drive import READ_AHEAD, FilePlayer
from realtime.audio.soundtrack import Soundtrack, read_soundtrack
from realtime.record.encoder import AudioVideoWriter

from .conftest import REPO, FakeClock, Rig
from .test_audio_files import needs_encoder, write_audio

av = pytest.importorskip("av")

RATE = 48_000  # the analysis rate every song is decoded to
SONG_RATE = 8_000
SHORT, LONG = 600, 7_200  # seconds: 10 minutes and 2 hours
MiB = 2**20


def write_song(path: Path, seconds: int, rate: int = SONG_RATE) -> Path:
    """A mono 16-bit WAV of `seconds` (a 220 Hz tone with a click each second), written 10 s at a
    time: the test never holds the song either."""
    t = np.arange(10 * rate) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    tone[(np.arange(t.size) % rate) < 40] = 0.9
    block = np.round(tone * 32767).astype("<i2").tobytes()
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        for _ in range(seconds // 10):
            out.writeframes(block)
    return path


@pytest.fixture(scope="module")
def songs(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("songs")
    return write_song(folder / "short.wav", SHORT), write_song(folder / "long.wav", LONG)


@pytest.fixture(scope="module")
def demo():
    from realtime.models import load_generator

    return load_generator("demo")


SHOW = """
[generator]
source = "demo"
[play]
speed = 0.05
[[keyframes]]
seed = 1
[[keyframes]]
seed = 4
"""

STAGES = """
import json, resource, sys
from realtime.cli import main

folder, show, short, long = sys.argv[1:5]
peaks = {}
for command in ("run", "render"):
    for label, song in (("short", short), ("long", long)):  # the short song first: the long one may only add
        if command == "run":
            argv = ["run", show, "--headless", "--seconds", "1", "--no-osc", "--no-control", "--mute",
                    "--journal", f"{folder}/journal-{label}.toml", "--audio", song]
        else:
            argv = ["render", show, "--audio", song, "--seconds", "1", "--fps", "10", "--size", "32x32",
                    "--out", f"{folder}/{label}.mp4"]
        code = main(argv)
        if code != 0:
            sys.exit(f"{command} {label} exited with {code}")
        peaks[f"{command} {label}"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
print("PEAKS " + json.dumps(peaks))
"""


def test_a_two_hour_song_plays_and_renders_in_the_memory_of_a_ten_minute_one(songs, tmp_path):
    # one process plays a show with the 10-minute song, then with the 2-hour one, then renders a
    # second of video with each (analysis + the song muxed): the peak resident memory after the
    # 2-hour song is within 64 MiB of the peak after the 10-minute one (holding the 2-hour song
    # decoded would take 1.3 GiB per channel; before the rule, `run` peaked at 4.4 GB)
    import subprocess

    (tmp_path / "show.toml").write_text(SHOW)
    script = tmp_path / "stages.py"
    script.write_text(textwrap.dedent(STAGES))
    result = subprocess.run([sys.executable, str(script), str(tmp_path), str(tmp_path / "show.toml"),
                             str(songs[0]), str(songs[1])], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "audio:" not in result.stderr  # both songs were played, no problem reported
    peaks = json.loads(result.stdout.split("PEAKS ", 1)[1])
    for command in ("run", "render"):
        growth = peaks[f"{command} long"] - peaks[f"{command} short"]
        assert growth < 64 * MiB, f"{command}: the 2-hour song took {growth / MiB:.0f} MiB more than the 10-minute one"
    with av.open(str(tmp_path / "long.mp4")) as container:  # the song is in the video, cut at its end
        heard = sum(frame.samples for frame in container.decode(audio=0)) / RATE
    assert abs(heard - 1.0) <= 0.1, heard


def test_the_show_starts_before_the_song_is_decoded(demo, songs, tmp_path):
    # `run --audio` with the 2-hour song: the show refreshes, and moves with the song, while at
    # most READ_AHEAD seconds of it have been decoded past the playhead (a few seconds of 2 hours)
    from realtime.session import build_audio

    rig = Rig(demo, tmp_path, text=SHOW)
    tracemalloc.start()
    try:
        driver = build_audio(rig.show, str(songs[1]), None, output=False)
        driver.start()
        refreshes = rig.show.stats.refreshes
        deadline = time.monotonic() + 30
        while driver.listener.latest().level == 0 and time.monotonic() < deadline:  # the analysis hears the song
            rig.steps(1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    try:
        assert peak < 32 * MiB, f"{peak / MiB:.0f} MiB traced while starting a 2-hour song"
        player = driver.source
        assert isinstance(player, FilePlayer) and player.failure is None
        assert rig.show.stats.refreshes > refreshes and driver.listener.latest().level > 0
        assert player.played <= player.decoded <= player.played + READ_AHEAD * RATE + RATE  # (+ one decoded chunk)
        assert player.decoded < 0.01 * LONG * RATE  # the show did not wait for the song
        assert rig.state()["audio"]["source"] == "file long.wav"
    finally:
        driver.stop()
        rig.close()


def stereo_song(path: Path, codec: str, seconds: int = 20) -> Path:
    t = np.arange(44_100 * seconds) / 44_100
    return write_audio(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 44_100, codec, channels=2)


@pytest.mark.parametrize("codec,suffix", [  # (WAV: the 2-hour tests above)
    ("flac", ".flac"),
    pytest.param("libmp3lame", ".mp3", marks=needs_encoder("libmp3lame")),
    pytest.param("aac", ".m4a", marks=needs_encoder("aac")),
])
def test_every_format_is_checked_played_and_muxed_streaming(tmp_path, codec, suffix):
    # the one decoder (PyAV) for every format: reading the song through, playing it to its end
    # and muxing it into a video each hold at most 2 MiB (the player's read-ahead is 0.75 MiB),
    # under a third of the decoded song (7.3 MiB here)
    path = stereo_song(tmp_path / f"song{suffix}", codec)
    decoded_bytes = 20 * RATE * 2 * 4
    tracemalloc.start()
    try:
        track = read_soundtrack(path, scan=True)
        checked = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()

        clock, fed = FakeClock(0.0), []
        player = FilePlayer(track, lambda block: fed.append(len(block)), output=False, clock=clock)
        player.start()
        clock.advance(30.0)
        deadline = time.monotonic() + 60
        while player.failure is None and time.monotonic() < deadline:
            time.sleep(0.01)
        player.stop()
        played = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()

        writer = AudioVideoWriter(tmp_path / "video.mp4", 2, (16, 16), audio=track.planes(), audio_rate=track.sample_rate)
        for _ in range(20 * 2):
            writer.write(np.zeros((16, 16, 3), np.uint8))
        writer.close()
        muxed = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert track.channels == 2 and abs(track.length - 20 * RATE) <= 4096  # (codec padding)
    assert player.failure == f"song{suffix} ended" and player.played == sum(fed) == track.length
    for stage, peak in (("check", checked), ("play", played), ("mux", muxed)):
        assert peak < 2 * MiB, f"{stage}: {peak / MiB:.1f} MiB traced for a {decoded_bytes / MiB:.0f} MiB song"
    with av.open(str(tmp_path / "video.mp4")) as container:
        assert container.streams.audio[0].codec_context.channels == 2
        heard = sum(frame.samples for frame in container.decode(audio=0)) / RATE
    assert abs(heard - 20.0) <= 0.1, heard


def test_the_renders_analysis_walks_a_song_as_it_decodes(tmp_path):
    # frame_features over a song (not a clip): the same features as over the samples in memory,
    # frame for frame, while holding a chunk at a time (under 1 MiB for a 2.2 MiB song)
    path = write_audio(tmp_path / "song.flac", clicks(12.0), RATE, "flac")
    track = read_soundtrack(path, scan=True)
    list(frame_features(clicks(1.0), fps=25))  # the analysis' first use (imports, FFT plans) is not the song's
    tracemalloc.start()
    try:
        streamed = list(frame_features(track, fps=25))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    whole = list(frame_features(read_audio(path), fps=25))
    assert len(streamed) == track.frame_count(25) == len(whole) == 300
    assert streamed == whole
    assert streamed[-1].onset_count >= 11
    assert peak < 1 * MiB, f"{peak / MiB:.1f} MiB traced walking a {12 * RATE * 4 / MiB:.1f} MiB song"


def clicks(seconds: float) -> np.ndarray:
    x = np.zeros(int(seconds * RATE), dtype=np.float32)
    for start in range(RATE // 2, x.size - 200, RATE):
        x[start:start + 200] = 0.8 * np.hanning(200)
    return x


class BreaksMidway(Soundtrack):
    """A song whose decoding fails after two seconds (a file damaged halfway)."""

    def planes(self):
        left = 2 * RATE
        for chunk in super().planes():
            if left <= 0:
                raise AudioFileError(f"{self.path}: audio cannot be decoded (Invalid data found)")
            yield chunk[:, :left]
            left -= chunk.shape[1]


def test_a_song_that_breaks_midway_is_one_line_and_the_player_stops(tmp_path):
    path = stereo_song(tmp_path / "song.wav", "pcm_s16le", seconds=5)
    track = read_soundtrack(path)
    broken = BreaksMidway(path=track.path, channels=track.channels, sample_rate=track.sample_rate)
    clock = FakeClock(0.0)
    player = FilePlayer(broken, lambda block: None, output=False, clock=clock)
    player.start()
    try:
        clock.advance(10.0)
        deadline = time.monotonic() + 30
        while player.failure is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert player.failure is not None and "\n" not in player.failure
        assert "song.wav" in player.failure and "cannot be decoded" in player.failure
        assert player.played == 2 * RATE  # everything decoded before the damage was played
    finally:
        player.stop()


def test_a_clip_read_whole_is_bounded_and_says_how_to_stream(tmp_path):
    path = write_audio(tmp_path / "long.wav", clicks(3.0), RATE, "pcm_s16le")
    with pytest.raises(AudioFileError) as caught:
        read_audio(path, max_seconds=1.0)
    message = str(caught.value)
    assert "\n" not in message and "long.wav" in message and "longer than 1 s" in message
    assert "read_soundtrack" in message
    assert read_audio(path).duration == pytest.approx(3.0)  # under the default bound: read whole as before


def test_the_check_before_a_show_stops_at_the_first_sound(tmp_path):
    # a long song that starts loud: checking it decodes its first chunk, not the song; a song
    # that is silent throughout is still refused by name (read through, streaming)
    loud = read_soundtrack(write_song(tmp_path / "loud.wav", 600))
    assert loud.length is None and loud.duration is None and loud.channels == 1
    with pytest.raises(AudioError, match="not known"):
        loud.frame_count(30)
    silent = tmp_path / "silent.wav"
    with wave.open(str(silent), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SONG_RATE)
        out.writeframes(bytes(2 * SONG_RATE * 20))
    with pytest.raises(AudioFileError, match="silent"):
        read_soundtrack(silent)
