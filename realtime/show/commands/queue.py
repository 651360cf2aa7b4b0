"""The show's one queue: commands from any thread, taken in order at frame boundaries."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Hashable

from .base import Command


@dataclass(frozen=True)
class Pending:
    command: Command
    origin: Hashable | None


@dataclass
class QueueCounts:
    coalesced: int = 0
    dropped: int = 0


class CommandQueue:
    """Commands from any thread, taken by the render thread at frame boundaries, in order.

    Bounded: `submit` returns False (and counts a drop) when `size` commands wait already.
    Parameters coalesce while they wait: a new value for a key replaces the one not yet applied
    (counted), and takes its place at the end, so the newest value lands in order.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._waiting: deque[Pending] = deque()
        self._lock = threading.Lock()
        self.counts = QueueCounts()

    def submit(self, command: Command, origin: Hashable | None = None) -> bool:
        if not isinstance(command, Command):
            raise TypeError(f"not a show command: {command!r}")
        with self._lock:
            if command.coalesce:
                key = command.key()
                older = next((p for p in self._waiting if p.command.coalesce and p.command.key() == key), None)
                if older is not None:
                    self._waiting.remove(older)
                    self.counts.coalesced += 1
            if len(self._waiting) >= self.size:
                self.counts.dropped += 1
                return False
            self._waiting.append(Pending(command, origin))
        return True

    def take(self) -> Pending | None:
        """The oldest waiting command, or None."""
        with self._lock:
            return self._waiting.popleft() if self._waiting else None

    def __len__(self) -> int:
        return len(self._waiting)
