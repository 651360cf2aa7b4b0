"""The live audio adapter: sound in, show commands out, at display rate.

    listener = AudioListener()
    player = FilePlayer(read_soundtrack("song.wav"), listener.feed)      # or DeviceInput(listener.feed, "Scarlett")
    driver = AudioDriver(show.submit, show.board, listener, player, "file song.wav")
    driver.start() ... driver.stop()                                      # a ShowSession does this

Each time the show publishes a refresh, the driver takes the listener's newest features, maps
them (`realtime.audio.mapping.commands`, the preset's `[audio]` as published in the state, so a
loaded preset brings its own mapping) and submits `SetAudioDrive` and `AudioHeard`: they apply at the
next frame boundary. Tap and BPM reach the listener the same one-way route: key T or
`/stylevj/tap` become show commands, the show publishes "audio/tap" / "audio/bpm" events, and
the driver passes them on. A file that cannot be played, a device that is missing or vanishes:
one log line, `SetAudioSource("", reason)`, the drive drops to nothing, and the show goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Hashable, Protocol

import numpy as np

from ..clock import BeatReading
from ..presets import AudioMapping, AudioSettings
from ..show.commands import Command, SetAudioDrive, SetAudioSource
from ..show.state import StateBoard, StateFollower
from .config import MAX_BLOCK
from .device import load_sounddevice
from .errors import AudioError
from .listener import AudioListener
from .mapping import commands, mappings_of
from .soundtrack import Soundtrack
from .stream import ReadAhead

log = logging.getLogger(__name__)

ORIGIN = "audio"
READ_AHEAD = 2.0
"""Seconds of a song decoded ahead of the playhead (768 KB of stereo float32 at 48 kHz): the
player's whole memory for the song, whatever its length."""
PRIME_TIMEOUT = 5.0
"""Seconds `FilePlayer.start` waits for the first read-ahead before it plays anyway."""


def one_line(text: str, limit: int = 500) -> str:
    """A message as the show's state holds it: one line, bounded."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Input(Protocol):
    """Something that feeds the listener: a `DeviceInput` or a `FilePlayer`."""

    failure: str | None

    def start(self) -> object: ...
    def stop(self) -> None: ...


class FilePlayer:
    """Plays a song and feeds the analysis from the song's own clock, so picture and sound agree.

    The song streams: a decoding thread keeps at most READ_AHEAD seconds ahead of the playhead
    (`ReadAhead`), so playing starts at once and memory does not grow with the song. With a
    sound output (sounddevice), each output block the device asks for is also fed to the
    listener at that moment: the device's clock paces both. Without one, a thread feeds the
    blocks at the pace of a monotonic clock (the show still moves in time, silently) and the
    log says so in one line. At the end of the song `failure` says it ended (or why the
    decoding stopped). If the decoder falls behind, the output plays silence for that moment
    and the song resumes where it was (`underruns` counts them). Nothing starts in the
    constructor.
    """

    def __init__(self, track: Soundtrack, feed: Callable[[np.ndarray], None], block: int = MAX_BLOCK,
                 output: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.track = track
        self._reader: ReadAhead | None = None
        self._reader_from = 0  # where in the song the reader started
        self._feed = feed
        self._block = block
        self._output = output
        self._clock = clock
        self._stream = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.played = 0  # samples handed to the speakers (or to the clock) so far
        self.underruns = 0  # blocks the decoder could not fill in time (silence was played)
        self.failure: str | None = None
        self.silent: str | None = None  # why there is no sound output, or None

    @property
    def seconds(self) -> float:
        return self.played / self.track.sample_rate

    @property
    def decoded(self) -> int:
        """Samples of the song decoded so far: never more than READ_AHEAD seconds past `played`."""
        return self.played if self._reader is None else self._reader_from + self._reader.decoded

    def start(self) -> FilePlayer:
        if self._stream is not None or self._thread is not None:
            return self
        self._stopping.clear()
        self._reader_from = self.played
        self._reader = ReadAhead(self.track.planes, int(READ_AHEAD * self.track.sample_rate), self.track.channels,
                                 skip=self.played, what=str(self.track.path)).start()
        if not self._reader.wait_ready(PRIME_TIMEOUT):
            log.warning("%s: decoding is slow; playing starts before %g s are ready", self.track.path.name, READ_AHEAD)
        if self._output:
            try:
                self._stream = self._open_output()
                return self
            except AudioError as exc:
                self.silent = str(exc)
        else:
            self.silent = "sound output off"
        log.warning("no sound output (%s): the show follows %s's clock in silence", self.silent, self.track.path.name)
        self._thread = threading.Thread(target=self._pace, name="stylevj-audio-file", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception as exc:  # a vanished output: it is gone either way
                log.debug("closing the sound output: %s", exc)
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self._reader is not None:
            self._reader.stop()
            self._reader = None

    def _open_output(self):
        try:
            sd = load_sounddevice()
        except AudioError:
            raise AudioError("playing needs sounddevice and PortAudio: pip install 'stylevj[audio]', "
                             "apt install libportaudio2") from None
        self._stop_signal = getattr(sd, "CallbackStop", StopIteration)  # ends the stream after the last block
        try:
            stream = sd.OutputStream(samplerate=self.track.sample_rate, channels=self.track.channels, dtype="float32",
                                     blocksize=self._block, callback=self._callback, finished_callback=self._finished)
            stream.start()
        except Exception as exc:  # PortAudioError: no default output, busy device
            raise AudioError(f"cannot play on the default output: {exc}") from None
        log.info("playing %s on the default output", self.track.path.name)
        return stream

    def _next(self, frames: int) -> np.ndarray:
        """The next (at most) `frames` samples [n, channels] as the device takes them, fed to the
        analysis as their mono mix; the end of the song (or a decoding error) is marked. Never
        waits for the decoder: what is not decoded yet is not played yet."""
        reader = self._reader
        if reader is None:
            return np.zeros((0, self.track.channels), dtype=np.float32)
        planes = reader.take(frames)
        count = planes.shape[1]
        if count:
            self.played += count
            self._feed(planes.mean(axis=0, dtype=np.float32) if planes.shape[0] > 1 else planes[0])
        if count < frames and reader.finished and self.failure is None:
            self.failure = reader.error or f"{self.track.path.name} ended"
        return planes.T

    def _callback(self, outdata: np.ndarray, frames: int, time_info, status) -> None:
        """The output device's thread: copy the next block out, feed the same block in."""
        block = self._next(frames)
        outdata[: len(block)] = block
        outdata[len(block):] = 0
        if len(block) < frames:
            if self.failure is not None:
                raise self._stop_signal
            self.underruns += 1

    def _finished(self) -> None:
        if not self._stopping.is_set() and self.failure is None:
            self.failure = f"the sound output stopped while playing {self.track.path.name}"
            log.warning(self.failure)

    def _pace(self) -> None:
        start, offset = self._clock(), self.played
        rate = self.track.sample_rate
        while not self._stopping.is_set() and self.failure is None:
            due = int((self._clock() - start) * rate) + offset
            while self.played < due and self.failure is None:
                if len(self._next(min(self._block, due - self.played))) == 0:
                    break  # the decoder is behind: catch up at the next tick
            self._stopping.wait(0.005)


class AudioDriver:
    """Turns the listener's newest features into show commands once per published refresh.

    Owns the listener and its input: `start()` starts the listener, then the input (a failure is
    one line and the show runs on without audio), then its own thread; `stop()` reverses that.
    """

    def __init__(self, submit: Callable[[Command, Hashable], bool], board: StateBoard, listener: AudioListener,
                 source: Input | None, name: str, problem: str = "") -> None:
        self._submit = submit
        self._board = board
        self.listener = listener
        self.source = source
        self.name = name
        self.problem = problem  # why there is no audio ("" while it plays)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._settings: AudioSettings | None | bool = False  # False: not read yet
        self._mappings: tuple[AudioMapping, ...] = mappings_of(None)
        self.submitted = 0

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> AudioDriver:
        if self.running:
            return self
        self.listener.start()
        if self.source is not None and not self.problem:
            try:
                self.source.start()
            except AudioError as exc:
                self.problem = f"{exc}; the show goes on without audio"
        if self.problem:
            log.warning("audio: %s", self.problem)
            self._submit(SetAudioSource("", one_line(self.problem)), ORIGIN)
        else:
            self._submit(SetAudioSource(one_line(self.name), ""), ORIGIN)
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="stylevj-audio-drive", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        if self.source is not None:
            self.source.stop()
        self.listener.stop()

    # ---- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        follower = StateFollower(self._board)
        while not self._stopping.is_set():
            news = follower.next(timeout=0.1)
            if news is None:
                continue
            state, events = news
            for event in events:
                self.handle_event(event.name, event.args)
            try:
                self.step(state.preset.audio, state.features, state.beat)
            except Exception:  # a bug, not bad input: the show must not lose its audio thread over it
                log.exception("audio: mapping failed")

    def handle_event(self, name: str, args: tuple) -> None:
        """Tap and BPM from the show's events (key T, /stylevj/tap, /stylevj/bpm) to the listener."""
        try:
            if name == "audio/tap":
                bpm = self.listener.tap()
                if bpm is not None:
                    log.info("tapped tempo: %.1f BPM", bpm)
            elif name == "audio/bpm":
                bpm = float(args[0]) if args else 0.0
                self.listener.set_bpm(bpm or None)
                log.info("tempo %s", f"set to {bpm:g} BPM" if bpm else "estimated from the music again")
        except AudioError as exc:
            log.warning("audio: %s", exc)

    def step(self, settings: AudioSettings | None, has: frozenset[str] | None = None,
             beat: BeatReading | None = None) -> None:
        """One refresh: follow the preset's [audio], report a failure once, submit the drive.
        `has`: what the show's generator offers (`ShowState.features`); mappings it cannot act on
        are left out with one warning when the preset arrives (`mappings_of`)."""
        if settings != self._settings:  # the first refresh, or a preset loaded
            old_bpm = None if self._settings is False else getattr(self._settings, "bpm", None)
            new_bpm = getattr(settings, "bpm", None)
            if new_bpm != old_bpm:
                self.listener.set_bpm(new_bpm)
            self._mappings = mappings_of(settings, has)
            self._settings = settings
        if self.problem:
            return
        failure = self.source.failure if self.source is not None else None
        if failure:
            self.problem = f"{failure}; the show goes on without audio"
            log.warning("audio: %s", self.problem)
            self._submit(SetAudioSource("", one_line(self.problem)), ORIGIN)
            self._submit(SetAudioDrive(), ORIGIN)
            return
        for command in commands(self.listener.latest(), self._mappings, beat):  # beat: the show's clock
            self._submit(command, ORIGIN)
        self.submitted += 1
