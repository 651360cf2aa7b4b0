"""Files named in commands are read here, off the render thread: a slow disk, a huge or hostile
file never holds a frame.

A command that needs a file (`AddFileKeyframe`, `LoadPreset`, ...) hands a job to the loader and
returns at once. The job runs on the loader's thread, reads and checks everything (bounded sizes,
shapes against the generator, finite sane values), and returns the command that applies the
result. The show applies finished jobs' commands at the next frame boundary, with the origin of
the command that asked (so its sender hears of success or failure), and holds the commands that
came after it until then, so every sender's commands still apply in the order sent. A job loaded
with `hold=False` (a keyframe's picture for the operator page) holds nothing: its command applies
whenever it is done. The session starts and stops the thread.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Callable, Hashable

from ..errors import StylevjError

log = logging.getLogger(__name__)

Job = Callable[[], object]  # returns a Command (typed loosely: commands.py imports this module)


class Loader:
    """One thread that runs file jobs in order; each job's command is submitted to the show."""

    def __init__(self, failed: Callable[[str], object], size: int = 64) -> None:
        self._failed = failed  # reason -> the command that reports a failure to the sender
        self._jobs: queue.Queue[tuple[Job, Hashable, bool] | None] = queue.Queue(maxsize=size)
        self._done: queue.SimpleQueue[tuple[object, Hashable, bool]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.pending = 0  # holding jobs asked for and not yet taken back with finished()

    def start(self) -> Loader:
        self._thread = threading.Thread(target=self._run, name="stylevj-loader", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=10)
            self._thread = None

    def load(self, job: Job, origin: Hashable, hold: bool = True) -> None:
        """Run `job` off the render thread; a full queue refuses at once (the sender is told).
        `hold`: later commands wait for this job's command (see the module doc)."""
        try:
            self._jobs.put_nowait((job, origin, hold))
        except queue.Full:
            raise StylevjError("too many files are being loaded; try again in a moment") from None
        self.pending += hold

    def finished(self) -> list[tuple[object, Hashable]]:
        """The commands of finished jobs, in order, with their origins (render thread)."""
        done = []
        while True:
            try:
                command, origin, hold = self._done.get_nowait()
            except queue.Empty:
                break
            done.append((command, origin))
            self.pending -= hold
        return done

    def _run(self) -> None:
        while (item := self._jobs.get()) is not None:
            job, origin, hold = item
            try:
                command = job()
            except (StylevjError, OSError, ValueError, MemoryError, RuntimeError) as exc:
                command = self._failed(str(exc) or type(exc).__name__)
            except Exception as exc:  # a bug in a loader must not end the show's loading for good
                log.exception("loader job failed")
                command = self._failed(f"{type(exc).__name__}: {exc}")
            self._done.put((command, origin, hold))
