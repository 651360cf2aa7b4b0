"""The live-edit journal: the show as it stands, written to disk after every edit.

A reader of the show's snapshots, on its own thread (started by the session): whenever a
snapshot says more edits were applied than were last written, the newest state becomes a preset
file written atomically (temp file, fsync, rename), live keyframes as .safetensors beside it,
each once. At most one write per `MIN_INTERVAL` while edits pour in; the last state always lands.
`stylevj run --resume` loads that file: a crash or a restart loses no edit.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

from ..errors import StylevjError
from ..presets import save_preset
from ..show import ShowState, StateBoard, capture

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.2  # seconds between writes: a knob turned at 60 Hz is one write per 0.2 s


def default_journal_path() -> Path:
    """$XDG_STATE_HOME/stylevj/journal.toml (~/.local/state/stylevj/journal.toml)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "stylevj" / "journal.toml"


KEEP_PREVIOUS = 10  # journals of earlier runs kept, newest first


def keep_previous(path: Path) -> Path | None:
    """Move an existing journal (and its live keyframes) aside before a new run writes `path`.

    A new show never destroys the only record of the last one: it goes to
    `<folder>/previous/<date-time>/` whole, so its relative keyframe paths still work and
    `stylevj run --resume --journal <that>/journal.toml` brings it back. The oldest beyond
    `KEEP_PREVIOUS` are deleted. Returns where it went, or None when there was nothing."""
    path = Path(path)
    if not path.exists():
        return None
    folder = path.parent / "previous" / time.strftime("%Y%m%d-%H%M%S")
    n = 1
    while folder.exists():
        n += 1
        folder = folder.with_name(f"{time.strftime('%Y%m%d-%H%M%S')}-{n}")
    folder.mkdir(parents=True)
    path.rename(folder / path.name)
    keyframes = path.parent / f"{path.stem}.keyframes"
    if keyframes.is_dir():
        keyframes.rename(folder / keyframes.name)
    for old in sorted((path.parent / "previous").iterdir(), reverse=True)[KEEP_PREVIOUS:]:
        shutil.rmtree(old, ignore_errors=True)
    return folder / path.name


class Journal:
    """Writes the show's newest edited state to `path`; `start()`/`stop()` own its thread."""

    def __init__(self, path: Path, board: StateBoard) -> None:
        self.path = Path(path)
        self._board = board
        self._saved: dict = {}  # live keyframe tensors already written, by id
        self._written_edits = -1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.writes = 0

    def start(self) -> Journal:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="stylevj-journal", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the thread, writing the newest state first if it holds unwritten edits."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._write_if_edited(self._board.latest())

    def _run(self) -> None:
        serial = 0
        while not self._stop.is_set():
            state = self._board.wait_newer(serial, timeout=0.2)
            if state is None:
                continue
            serial = state.serial
            if self._write_if_edited(state):
                self._stop.wait(MIN_INTERVAL)  # let edits pile up for a moment: fewer fsyncs, nothing lost

    def _write_if_edited(self, state: ShowState | None) -> bool:
        if state is None or state.edits == self._written_edits:
            return False
        try:
            save_preset(capture(state.preset, state, self.path, self._saved), self.path)
            self.writes += 1
        except (StylevjError, OSError) as exc:  # a full disk is logged; the show goes on
            log.error("journal: cannot write %s: %s", self.path, exc)
        self._written_edits = state.edits
        return True
