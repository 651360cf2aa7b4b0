"""Songs as streams: decoded chunks in, blocks of any size out, in bounded memory.

A song is never held whole (a 2-hour file at 48 kHz is 1.4 GB of float32 per channel). Whoever
reads one pulls the decoder's chunks (PyAV frames: a few thousand samples each) through a
`ChunkReader`, which keeps at most the chunk it is cutting from. The live player decodes on its
own thread through a `ReadAhead`, which keeps at most `limit` samples (plus one chunk) ahead of
the playhead, so the device callback never waits for the decoder and never sees the file.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from .errors import AudioError

log = logging.getLogger(__name__)


class ChunkReader:
    """Cuts a stream of chunks (arrays whose last axis is time) into blocks of the sizes asked for.

    Holds one chunk at a time; `take` returns fewer samples than asked only when the source has
    none left for now (at the end of the song, or a read-ahead that is momentarily empty).
    """

    def __init__(self, chunks: Iterable[np.ndarray], lead: tuple[int, ...] = ()) -> None:
        self._chunks: Iterator[np.ndarray] = iter(chunks)
        self._head: np.ndarray | None = None
        self._offset = 0
        self._lead = lead  # the shape before the time axis: () for mono, (channels,) for planes

    def take(self, count: int) -> np.ndarray:
        """The next `count` samples (fewer when the source has run dry), float32."""
        parts: list[np.ndarray] = []
        need = count
        while need > 0:
            if self._head is None or self._offset >= self._head.shape[-1]:
                try:
                    self._head, self._offset = next(self._chunks), 0
                except StopIteration:
                    self._head = None
                    break
                continue
            part = self._head[..., self._offset:self._offset + need]
            self._offset += part.shape[-1]
            need -= part.shape[-1]
            parts.append(part)
        if not parts:
            return np.zeros(self._lead + (0,), dtype=np.float32)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)


class _Drain:
    """An iterator over a deque that may run dry and fill again (a generator could not)."""

    def __init__(self, chunks: deque) -> None:
        self._chunks = chunks

    def __iter__(self) -> _Drain:
        return self

    def __next__(self) -> np.ndarray:
        try:
            return self._chunks.popleft()
        except IndexError:
            raise StopIteration from None


class ReadAhead:
    """Decodes a song on a thread into a buffer of at most `limit` samples (plus one chunk).

    `source()` makes the chunk iterator (called on the decoding thread, which also closes it).
    `take(n)` never blocks: it hands out what is buffered, so a real-time callback can call it.
    `finished` says the song is over (decoded to its end and handed out); `error` says why the
    decoding stopped early (one line naming `what`). Nothing starts in the constructor.
    """

    def __init__(self, source: Callable[[], Iterator[np.ndarray]], limit: int, channels: int,
                 skip: int = 0, what: str = "audio", name: str = "stylevj-audio-decode") -> None:
        self._source = source
        self._what = what  # the song, as error messages name it
        self._limit = max(int(limit), 1)
        self._skip = skip  # samples to drop at the start (resuming after a stop)
        self._name = name
        self._chunks: deque[np.ndarray] = deque()
        self._reader = ChunkReader(_Drain(self._chunks), (channels,))
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._buffered = 0
        self._done = False
        self.decoded = 0  # samples decoded so far (the playhead is at most this far)
        self.error: str | None = None

    @property
    def finished(self) -> bool:
        """True once the decoder has stopped (at the end, or on an error) and the buffer is empty."""
        with self._lock:
            return self._done and self._buffered == 0

    def start(self) -> ReadAhead:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        return self

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the buffer is full or the decoding has stopped (at most `timeout` s)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._done or self._buffered >= self._limit, timeout)

    def take(self, count: int) -> np.ndarray:
        """Up to `count` buffered samples [channels, n]; never blocks on the decoder."""
        with self._lock:
            block = self._reader.take(count)
            self._buffered -= block.shape[-1]
            self._lock.notify_all()
        return block

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def _run(self) -> None:
        chunks = self._source()
        skip = self._skip
        try:
            for chunk in chunks:
                if skip:
                    cut = min(skip, chunk.shape[-1])
                    chunk, skip = chunk[..., cut:], skip - cut
                with self._lock:
                    self._lock.wait_for(lambda: self._stopping.is_set() or self._buffered < self._limit)
                    if self._stopping.is_set():
                        break
                    self._chunks.append(chunk)
                    self._buffered += chunk.shape[-1]
                    self.decoded += chunk.shape[-1]
                    self._lock.notify_all()
        except AudioError as exc:
            self.error = str(exc)
        except Exception as exc:  # PyAV raising something unforeseen: the song stops, the show goes on
            self.error = f"{self._what}: decoding stopped ({type(exc).__name__}: {exc})"
            log.exception("audio: decoding failed")
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
            with self._lock:
                self._done = True
                self._lock.notify_all()
