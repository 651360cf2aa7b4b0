"""Files named in commands are read and written here, off the render thread: a slow disk, a huge
or hostile file never holds a frame.

A command that needs a file (`AddFileKeyframe`, `LoadPreset`, `SavePreset`, a snapshot, ...)
hands a job to the loader and returns at once. The job runs on the loader's thread, reads and
checks everything (bounded sizes, shapes against the generator, finite sane values) or writes,
and returns the command that applies the result. The show applies finished jobs' commands at
the next frame boundary, with the origin of the command that asked (so its sender hears of
success or failure), and holds the later commands *of that sender* until then, so every
sender's commands still apply in the order sent; other senders, the stage keys and their state
requests go on. A job loaded with `hold=False` (a keyframe's picture) holds nothing.

Every job has a deadline: one that overruns it (a hung network folder, a FIFO that a check
missed) is abandoned: its sender is told, the commands held behind it go on, its late result is
discarded, and a fresh thread takes the next jobs. A few stuck threads at most; then new loads
are refused until one returns. The session starts and stops the thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Hashable

from ..errors import StylevjError

log = logging.getLogger(__name__)

Job = Callable[[], object]  # returns a Command (typed loosely: commands.py imports this module)
DEADLINE_S = 20.0  # a job running longer is abandoned (GANSpace directions take seconds, a file far less)
MAX_STUCK = 4  # abandoned threads still blocked in a job; beyond this new jobs are refused


def sender_of(origin: Hashable) -> Hashable:
    """Who sent a command: an origin tuple's kind and sender (("osc", address), ("page", n); an
    OSC origin's third item is the address the message came to), any other origin as it is."""
    return origin[:2] if isinstance(origin, tuple) else origin


def _discard(command: object) -> None:
    """Let a command that will never apply free what it holds (an opened NDI sender)."""
    try:
        getattr(command, "discard", lambda: None)()
    except Exception:  # closing a late result must not end the loader
        log.exception("loader: discarding a late result failed")


@dataclass(eq=False)
class _Task:
    job: Job
    origin: Hashable
    hold: bool
    what: str
    started: float = 0.0
    settled: bool = False  # its result was delivered or it was abandoned (under the loader's lock)


@dataclass(eq=False)
class _Runner:
    thread: threading.Thread | None = None
    current: _Task | None = None


class Loader:
    """Threads that run file jobs in order, each within `deadline` seconds; each job's command is
    handed back to the show (`finished`)."""

    def __init__(self, failed: Callable[[str], object], size: int = 64, deadline: float = DEADLINE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._failed = failed  # reason -> the command that reports a failure to the sender
        self.deadline = deadline
        self._clock = clock
        self._jobs: queue.Queue[_Task | None] = queue.Queue(maxsize=size)
        self._done: queue.SimpleQueue[tuple[object, _Task]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._runner: _Runner | None = None
        self._stuck: list[threading.Thread] = []
        self._holding: Counter[Hashable] = Counter()  # sender -> holding jobs not yet taken back (render thread)
        self._unsettled = 0  # jobs asked for whose result is not yet delivered nor abandoned

    @property
    def pending(self) -> int:
        """Holding jobs asked for and not yet taken back with finished()."""
        return sum(self._holding.values())

    def holds(self, origin: Hashable) -> bool:
        """Whether commands from this origin's sender must wait for a job of theirs."""
        return self._holding.get(sender_of(origin), 0) > 0

    def start(self) -> Loader:
        self._runner = self._start_runner()
        return self

    def _start_runner(self) -> _Runner:
        runner = _Runner()
        runner.thread = threading.Thread(target=self._run, args=(runner,), name="stylevj-loader", daemon=True)
        runner.thread.start()
        return runner

    def stop(self) -> None:
        """End the thread; results that arrived but were never applied are discarded."""
        runner, self._runner = self._runner, None
        if runner is not None and runner.thread is not None:
            self._jobs.put(None)
            runner.thread.join(timeout=10)
        while True:
            try:
                command, _ = self._done.get_nowait()
            except queue.Empty:
                break
            _discard(command)

    def load(self, job: Job, origin: Hashable, hold: bool = True, what: str = "a file") -> None:
        """Run `job` off the render thread; a full queue or too many stuck jobs refuse at once (the
        sender is told). `hold`: later commands of the same sender wait for this job's command."""
        with self._lock:
            self._stuck = [t for t in self._stuck if t.is_alive()]
            stuck = len(self._stuck)
        if stuck >= MAX_STUCK:
            raise StylevjError(f"{stuck} file jobs are stuck (a hung disk or network folder?); "
                               "no more loads until one returns")
        try:
            self._jobs.put_nowait(_Task(job, origin, hold, what))
        except queue.Full:
            raise StylevjError("too many files are being loaded; try again in a moment") from None
        with self._lock:
            self._unsettled += 1
        self._holding[sender_of(origin)] += hold

    def finished(self) -> list[tuple[object, Hashable]]:
        """The commands of finished (or abandoned) jobs, in order, with their origins (render thread)."""
        self._watch()
        done = []
        while True:
            try:
                command, task = self._done.get_nowait()
            except queue.Empty:
                break
            done.append((command, task.origin))
            if task.hold:
                sender = sender_of(task.origin)
                self._holding[sender] -= 1
                if self._holding[sender] <= 0:
                    del self._holding[sender]
        return done

    def wait_idle(self, timeout: float) -> bool:
        """Wait (not on the render thread) until every job asked for is done or abandoned."""
        end = self._clock() + timeout
        while self._unsettled and self._clock() < end:
            self._watch()
            time.sleep(0.005)
        return not self._unsettled

    def _watch(self) -> None:
        """Abandon a job past its deadline: its sender is told now, and a fresh thread goes on."""
        with self._lock:
            runner = self._runner
            task = runner.current if runner is not None else None
            if task is None or task.settled or self._clock() - task.started <= self.deadline:
                return
            task.settled = True
            self._unsettled -= 1
            reason = f"{task.what} took longer than {self.deadline:g} s (a hung disk or network folder?); abandoned"
            self._done.put((self._failed(reason), task))
            if runner.thread is not None:
                self._stuck.append(runner.thread)
            self._runner = self._start_runner()
        log.warning("loader: %s", reason)

    def _run(self, runner: _Runner) -> None:
        while (task := self._jobs.get()) is not None:
            with self._lock:
                task.started = self._clock()
                runner.current = task
            try:
                command = task.job()
            except (StylevjError, OSError, ValueError, MemoryError, RuntimeError) as exc:
                command = self._failed(str(exc) or type(exc).__name__)
            except Exception as exc:  # a bug in a loader must not end the show's loading for good
                log.exception("loader job failed")
                command = self._failed(f"{type(exc).__name__}: {exc}")
            with self._lock:
                runner.current = None
                late = task.settled  # abandoned: the late result is discarded, another thread took over
                if not late:
                    task.settled = True
                    self._unsettled -= 1
                    self._done.put((command, task))
            if late:
                log.info("loader: %s returned after it was abandoned; result discarded", task.what)
                _discard(command)
                return
