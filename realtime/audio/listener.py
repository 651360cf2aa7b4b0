"""Live analysis on its own thread: blocks come in through a queue, the newest snapshot goes out.

Whoever captures audio (the device callback, a file player, a test) calls `feed`, which only
copies the block into a queue and returns at once: a real-time audio callback must never wait.
The analysis thread, started and stopped explicitly, runs the `AudioAnalyser` and publishes each
new `AudioFeatures`; readers call `latest()` whenever they like and never block.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from .analyser import AudioAnalyser
from .config import AnalyserConfig
from .errors import AudioError
from .features import AudioFeatures
from .tempo import TapTempo, check_bpm, fit_taps

log = logging.getLogger(__name__)

QUEUE_BLOCKS = 64
"""Blocks the queue holds before the oldest are dropped (about 0.35 s of 256-sample blocks)."""


class AudioListener:
    """Feeds queued blocks to an analyser on a background thread; publishes the newest features.

    Nothing starts in the constructor: call `start()`, and `stop()` when done (a session object
    owns the order). Tempo overrides (`set_bpm`, `tap`) are checked in the caller's thread, so a
    bad value raises there, and applied on the analysis thread between blocks.
    """

    def __init__(self, config: AnalyserConfig | None = None, queue_blocks: int = QUEUE_BLOCKS,
                 name: str = "stylevj-audio") -> None:
        self._analyser = AudioAnalyser(config)
        self._blocks: queue.Queue[tuple[np.ndarray, float]] = queue.Queue(maxsize=queue_blocks)
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._name = name
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._done = threading.Condition()
        self._latest = self._analyser.features
        self._fed = self._handled = self._dropped = 0
        self._taps = TapTempo()
        self._clock: tuple[float, float] | None = None  # (monotonic arrival, stream time) of the newest block

    @property
    def config(self) -> AnalyserConfig:
        return self._analyser.config

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def dropped_blocks(self) -> int:
        """Blocks thrown away because the analysis fell behind (each one a gap in the stream)."""
        return self._dropped

    def latest(self) -> AudioFeatures:
        """The newest features (an immutable snapshot); never blocks."""
        return self._latest

    def feed(self, block: np.ndarray) -> None:
        """Hand over the next block of samples ([n] or [n, channels], float). Returns at once; if
        the queue is full the oldest block is dropped, so the features stay current."""
        item = (np.array(block, dtype=np.float32, copy=True), time.monotonic())
        with self._done:
            self._fed += 1
        while True:
            try:
                self._blocks.put_nowait(item)
                return
            except queue.Full:
                try:
                    self._blocks.get_nowait()
                except queue.Empty:
                    continue
                with self._done:
                    self._dropped += 1
                    self._handled += 1
                    self._done.notify_all()

    def start(self) -> None:
        """Start the analysis thread (once)."""
        if self.running:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the analysis thread after the block in hand; blocks still queued are left."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("audio analysis thread did not stop within %.1f s", timeout)
            self._thread = None

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every block fed so far is analysed (or dropped); False on timeout."""
        with self._done:
            return self._done.wait_for(lambda: self._handled >= self._fed, timeout)

    def set_bpm(self, bpm: float | None) -> None:
        """Override the tempo (None: estimate again). Raises AudioError for a bad BPM at once."""
        if bpm is not None:
            bpm = check_bpm(bpm)
        self._commands.put(lambda: self._analyser.set_bpm(bpm))

    def tap(self, at: float | None = None) -> float | None:
        """Register a tap (a key, an OSC message) at monotonic time `at` (default: now).

        Returns the tempo the taps so far give, or None after a first tap. The taps are mapped
        to the stream clock on the analysis thread, using the arrival time of the newest block.
        Raises AudioError when the taps give a tempo outside 20..400 BPM (the next taps then
        count from this one).
        """
        at = time.monotonic() if at is None else at
        taps = self._taps.tap(at)
        if len(taps) < 2:
            return None
        try:
            period, _ = fit_taps(taps)
        except AudioError:
            self._taps.restart(at)  # a bounce or a stray tap: count from this one
            raise
        self._commands.put(lambda: self._analyser.tap([self._stream_time(t) for t in taps]))
        return 60.0 / period

    # -- the analysis thread -------------------------------------------------------------------

    def _run(self) -> None:
        log.debug("audio analysis thread started")
        while not self._stopping.is_set():
            self._apply_commands()
            try:
                block, arrived = self._blocks.get(timeout=0.05)
            except queue.Empty:
                continue
            try:
                self._latest = self._analyser.process(block)
                self._clock = (arrived, self._analyser.time)
            except Exception:  # a bug, not bad input: keep listening, say why once per block
                log.exception("audio analysis failed on a block of shape %s", getattr(block, "shape", None))
            with self._done:
                self._handled += 1
                self._done.notify_all()
        self._apply_commands()
        log.debug("audio analysis thread stopped")

    def _apply_commands(self) -> None:
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            try:
                command()
                self._latest = self._analyser.features
            except Exception as exc:  # checked in the caller's thread; log whatever slips through
                log.warning("audio tempo command ignored: %s", exc)

    def _stream_time(self, monotonic: float) -> float:
        """A monotonic time on the stream clock: the newest block ended when it arrived."""
        if self._clock is None:
            return self._analyser.time + (monotonic - time.monotonic())
        arrived, stream = self._clock
        return stream + (monotonic - arrived)
