"""The live-edit journal: the show as it stands, written to disk after every edit.

`record(show)` is called on the render thread and only takes a snapshot of the state (the
keyframe tensors are immutable, so no copy); a writer thread turns the newest snapshot into a
preset file written atomically (temp file, fsync, rename), live keyframes into .safetensors
beside it, each once. `stylevj run --resume` loads that file: a crash or a restart loses no edit.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from ..errors import StylevjError
from ..presets import Preset, capture, save_preset

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.2  # seconds between writes: a knob turned at 60 Hz is one write per 0.2 s, the last state always lands


def default_journal_path() -> Path:
    """$XDG_STATE_HOME/stylevj/journal.toml (~/.local/state/stylevj/journal.toml)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "stylevj" / "journal.toml"


class Journal:
    """Writes the newest recorded state on its own thread; `flush()` waits for it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._saved: dict = {}
        self._pending: tuple | None = None
        self._cond = threading.Condition()
        self._writing = False
        self._stop = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="stylevj-journal", daemon=True)
        self._thread.start()

    def record(self, preset: Preset, player, noise: str) -> None:
        """Queue the show's state (newest wins); cheap enough for the render thread."""
        frozen = _FrozenPlayer(player)
        with self._cond:
            self._pending = (preset, frozen, noise)
            self._cond.notify()

    def flush(self, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._writing, timeout)

    def stop(self) -> None:
        self.flush()
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._stop)
                if self._pending is None:
                    return
                preset, player, noise = self._pending
                self._pending, self._writing = None, True
            try:
                save_preset(capture(preset, player, self.path, self._saved, noise), self.path)
            except (StylevjError, OSError) as exc:  # a full disk is logged; the show goes on
                log.error("journal: cannot write %s: %s", self.path, exc)
            with self._cond:  # let edits pile up (newest wins) for a moment: fewer fsyncs, nothing lost
                self._cond.wait_for(lambda: self._stop, MIN_INTERVAL)
                self._writing = False
                self._cond.notify_all()


class _FrozenPlayer:
    """What `capture` reads from a player, copied at record time (the player keeps moving)."""

    def __init__(self, player) -> None:
        self.keyframes = player.keyframes
        self.speed = player.speed
        self.truncation = player.truncation
        self.position = player.position
        self.settings = player.settings
        self.mix = player.mix
