"""The show's one queue: commands from any thread, taken in order at frame boundaries.

Commands that make work (a keyframe mapped and added, a path rebuilt: `Command.work`) are
bounded while they wait: at most `MAX_WAITING_WORK` units. Beyond that a new one is refused at
once, never queued: counted (`refused`), and kept with its sender as a `Refusal` the show
reports at its next frame boundary ("busy: 64 keyframe edits waiting"). So a burst of work can
never hold the commands behind it (a state request) for longer than that much work takes.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, replace
from typing import Hashable

from .base import Command

MAX_WAITING_WORK = 64  # keyframe edits waiting at once (about a second of work on two CPU cores)
REFUSALS_KEPT = 256  # senders told of their refusals per frame; more are only counted


@dataclass(frozen=True)
class Pending:
    command: Command
    origin: Hashable | None


@dataclass(frozen=True)
class Refusal:
    """Commands from `origin` refused at submit since the show last reported (too much work
    waiting): `count` of them, the first one's reason. The show answers each origin once."""

    origin: Hashable | None
    reason: str
    count: int = 1


@dataclass
class QueueCounts:
    coalesced: int = 0
    dropped: int = 0  # the queue was full
    refused: int = 0  # too much work was waiting (see the module doc)


class CommandQueue:
    """Commands from any thread, taken by the render thread at frame boundaries, in order.

    Bounded: `submit` returns False (and counts a drop) when `size` commands wait already.
    Work is bounded too: a command whose `work` would take the waiting work past `max_work` is
    refused (counted, kept for the show to report to its sender) and `submit` returns True: it
    is answered, not lost. Parameters coalesce while they wait: a new value for a key replaces
    the one not yet applied (counted), and takes its place at the end, so the newest value lands
    in order.
    """

    def __init__(self, size: int = 1024, max_work: int = MAX_WAITING_WORK) -> None:
        self.size = size
        self.max_work = max_work
        self._waiting: deque[Pending] = deque()
        self._refusals: dict[Hashable | None, Refusal] = {}  # per origin, until the show reports them
        self._work = 0  # units of work waiting
        self._lock = threading.Lock()
        self.counts = QueueCounts()

    def submit(self, command: Command, origin: Hashable | None = None) -> bool:
        """Queue `command`; False when the queue is full (dropped, counted). Too much work
        waiting: refused, counted and kept for the show to answer (True: the sender hears)."""
        if not isinstance(command, Command):
            raise TypeError(f"not a show command: {command!r}")
        with self._lock:
            if command.work and self._work + command.work > self.max_work:
                self.counts.refused += 1
                known = self._refusals.get(origin)
                if known is not None:
                    self._refusals[origin] = replace(known, count=known.count + 1)
                elif len(self._refusals) < REFUSALS_KEPT:  # beyond: counted only
                    self._refusals[origin] = Refusal(origin, f"busy: {self._work} keyframe edits waiting, "
                                                             "try again in a moment")
                return True
            if command.coalesce:
                key = command.key()
                older = next((p for p in self._waiting if p.command.coalesce and p.command.key() == key), None)
                if older is not None:
                    self._waiting.remove(older)
                    self._work -= older.command.work
                    self.counts.coalesced += 1
            if len(self._waiting) >= self.size:
                self.counts.dropped += 1
                return False
            self._waiting.append(Pending(command, origin))
            self._work += command.work
        return True

    def take(self) -> Pending | None:
        """The oldest waiting command, or None."""
        with self._lock:
            if not self._waiting:
                return None
            pending = self._waiting.popleft()
            self._work -= pending.command.work
            return pending

    def take_run(self, kind: type[Command], limit: int) -> list[Pending]:
        """Up to `limit` more waiting commands of exactly `kind` from the front (a batch)."""
        run: list[Pending] = []
        with self._lock:
            while self._waiting and len(run) < limit and type(self._waiting[0].command) is kind:
                pending = self._waiting.popleft()
                self._work -= pending.command.work
                run.append(pending)
        return run

    def refusals(self) -> list[Refusal]:
        """The refusals since the last call, one per origin (at most REFUSALS_KEPT origins)."""
        with self._lock:
            taken = list(self._refusals.values())
            self._refusals.clear()
        return taken

    @property
    def work(self) -> int:
        """Units of work waiting."""
        return self._work

    def __len__(self) -> int:
        return len(self._waiting)
