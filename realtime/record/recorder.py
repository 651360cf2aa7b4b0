"""Live recording of the stage output, without slowing the display.

Each refresh, after drawing and before presenting, `capture()` asks GL to copy the frame into
one of a ring of pixel buffers (asynchronous: no stall) and picks up the copy made two
refreshes earlier, which is finished by then. Frames go to an encoder thread through a small
queue; when the encoder falls behind, frames are dropped and counted, and the display never
waits. The file follows the wall clock at a constant frame rate: a slot with no new refresh
repeats the last frame.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from pathlib import Path

import moderngl
import numpy as np

from ..errors import StylevjError
from .encoder import SUFFIX, VideoWriter

log = logging.getLogger(__name__)

RING = 3


class LiveRecorder:
    """Start/stop recordings of a surface into `folder` (file names confined to it)."""

    def __init__(self, folder: Path, fps: float = 30.0, fmt: str = "h264", quality: int = 20, queue_frames: int = 8) -> None:
        self.folder, self.fps, self.fmt, self.quality = Path(folder), fps, fmt, quality
        self.queue_frames = queue_frames
        self.dropped = 0
        self.path: Path | None = None
        self._writer: VideoWriter | None = None
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._buffers: list[moderngl.Buffer] = []
        self._pending: list[tuple[int, int]] = []  # (buffer index, slots it fills), oldest first
        self._next = 0
        self._start = 0.0
        self._slots = 0
        self._size = (0, 0)
        self.error = ""

    @property
    def recording(self) -> bool:
        return self._writer is not None

    def target(self, name: str | None) -> Path:
        """The file for `name` inside the folder (date and time when no name)."""
        stem = name or time.strftime("stylevj-%Y%m%d-%H%M%S")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,100}", stem) or ".." in stem:
            raise StylevjError(f"recording name {stem!r} must be a plain file name (letters, digits, - _ .)")
        path = self.folder / (stem if stem.endswith(SUFFIX[self.fmt]) or not SUFFIX[self.fmt] else stem + SUFFIX[self.fmt])
        if path.exists():
            raise StylevjError(f"{path}: already exists; choose another recording name")
        return path

    def start(self, ctx: moderngl.Context, size: tuple[int, int], name: str | None = None, now: float | None = None) -> Path:
        if self.recording:
            raise StylevjError(f"already recording to {self.path}")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.target(name)
        width, height = size
        size = (width - width % 2, height - height % 2) if self.fmt == "h264" else size
        self._writer = VideoWriter(path, self.fps, size, self.fmt, self.quality, speed="veryfast")
        self.path, self._size, self.dropped, self.error = path, size, 0, ""
        self._buffers = [ctx.buffer(reserve=size[0] * size[1] * 4) for _ in range(RING)]
        self._pending, self._next, self._slots = [], 0, 0
        self._start = time.perf_counter() if now is None else now
        self._queue = queue.Queue(maxsize=self.queue_frames)
        self._thread = threading.Thread(target=self._encode, args=(self._writer, self._queue), name="stylevj-record", daemon=True)
        self._thread.start()
        log.info("recording to %s (%g frames/s)", path, self.fps)
        return path

    def capture(self, framebuffer: moderngl.Framebuffer, now: float | None = None) -> None:
        """Call after drawing, before presenting: queue this refresh for the slots it covers."""
        if not self.recording:
            return
        now = time.perf_counter() if now is None else now
        due = int((now - self._start) * self.fps) + 1 - self._slots
        if due > 0:
            index = self._next % RING
            self._next += 1
            framebuffer.read_into(self._buffers[index], viewport=(0, 0, *self._size), components=4, alignment=1)
            self._pending.append((index, due))
            self._slots += due
        while len(self._pending) >= RING:  # the oldest copy was asked for two refreshes ago: done
            self._collect()

    def _collect(self) -> None:
        index, slots = self._pending.pop(0)
        try:  # only the raw copy happens here; flipping and conversion run on the encoder thread
            self._queue.put_nowait((self._buffers[index].read(), slots))
        except queue.Full:
            self.dropped += slots
            if self.dropped == slots or self.dropped % 100 < slots:
                log.warning("recording: encoder behind, %d frames dropped so far", self.dropped)

    def stop(self) -> Path | None:
        """Finish the file (every frame captured so far is written); returns its path. The file is
        read back: when it holds fewer frames than were written (a full disk), `error` says what
        is really on disk ("x.mp4 is empty (0 bytes)") and the log says it as an error."""
        if not self.recording:
            return None
        while self._pending:
            self._collect()
        self._queue.put(None)
        self._thread.join()
        self._writer.close()
        for buffer in self._buffers:
            buffer.release()
        writer, path = self._writer, self.path
        self._writer, self._buffers = None, []
        short = writer.shortfall()  # what is really on disk, read back after closing
        if short:
            self.error = f"{short}{f' ({writer.failed})' if writer.failed else ''}"
            log.error("recording %s", self.error)
        else:
            log.info("recorded %s: %d frames (%.2f s), %d dropped", path, writer.stored, writer.stored / self.fps, self.dropped)
        return path

    def _encode(self, writer: VideoWriter, frames: queue.Queue) -> None:
        while (item := frames.get()) is not None:
            if self.error:
                continue
            data, slots = item
            width, height = self._size
            rgb = np.frombuffer(data, dtype=np.uint8).reshape(height, width, 4)[::-1, :, :3]  # GL rows start at the bottom
            try:
                for _ in range(slots):
                    writer.write(rgb)
            except StylevjError as exc:  # disk full: stop writing, keep the show going
                self.error = str(exc)
                log.error("recording stopped: %s", exc)
