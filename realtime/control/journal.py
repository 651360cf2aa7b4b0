"""The live-edit journal: the show as it stands, written to disk after every edit.

A reader of the show's snapshots, on its own thread (started by the session): whenever a
snapshot says more edits were applied than were last written, the newest state becomes a preset
file written atomically (temp file, fsync, rename), live keyframes as .safetensors beside it,
each once. Each edited state is written as soon as the previous write is done (edits that come
meanwhile land together in the next write), and only then passed on to the adapters that report
the show (`Journal.board`): an edit is on disk before anyone is told it happened.
`stylevj run --resume` loads that file: a crash or a restart loses no reported edit.
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


def default_journal_path() -> Path:
    """$XDG_STATE_HOME/stylevj/journal.toml (~/.local/state/stylevj/journal.toml)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "stylevj" / "journal.toml"


KEEP_PREVIOUS = 10  # journals of earlier runs kept, newest first (beyond that, only clean ones are deleted)


def running_marker(path: Path) -> Path:
    """`<journal>.running`: made when a show starts writing `path`, removed when it ends cleanly.
    A journal still beside one is the record of a show that crashed (or is running)."""
    path = Path(path)
    return path.with_name(path.name + ".running")


def ended_cleanly(path: Path) -> bool:
    """Whether the show that wrote journal `path` ended cleanly (its marker is gone)."""
    return not running_marker(path).exists()


def _age(folder: Path) -> tuple[str, int]:
    """A kept folder's place in time: its date-time, then the '-n' of several in one second."""
    n = folder.name[16:]
    return folder.name[:15], int(n) if n.isdigit() else 1


def keep_previous(path: Path) -> Path | None:
    """Move an existing journal (and its live keyframes) aside before a new run writes `path`.

    A new show never destroys the only record of the last one: it goes to
    `<folder>/previous/<date-time>/` whole, so its relative keyframe paths still work and
    `stylevj run --resume --journal <that>/journal.toml` brings it back. Beyond the newest
    `KEEP_PREVIOUS`, the journals of shows that ended cleanly are deleted; a crashed show's is
    never rotated away (it may be the only record of a night's edits). Returns where it went,
    or None when there was nothing."""
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
    for beside in (path.parent / f"{path.stem}.keyframes", running_marker(path)):
        if beside.exists():
            beside.rename(folder / beside.name)
    kept = sorted((f for f in (path.parent / "previous").iterdir() if f.is_dir()), key=_age, reverse=True)
    for old in kept[KEEP_PREVIOUS:]:
        if ended_cleanly(old / path.name):
            shutil.rmtree(old, ignore_errors=True)
    return folder / path.name


class Journal:
    """Writes the show's newest edited state to `path`; `start()`/`stop()` own its thread.

    `board` holds the states the journal has handled: every edit in a state published there is
    already on disk (or its write failed, and was logged). Adapters that report the show (OSC
    feedback, the operator page) read this board, so an edit is journaled before its effect is
    reported: a crash can lose only edits nobody was told had happened.
    """

    def __init__(self, path: Path, board: StateBoard) -> None:
        self.path = Path(path)
        self.board = StateBoard()  # the show's states, each after its edits are on disk
        self._show_board = board
        self._saved: dict = {}  # live keyframe tensors already written, by id
        self._written_edits = -1
        self._failed = False  # the last write failed: the file on disk is behind the show
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.writes = 0

    def start(self) -> Journal:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            running_marker(self.path).write_text(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        except OSError as exc:  # a full disk is logged; the show goes on
            log.error("journal: cannot mark %s as running: %s", self.path, exc.strerror or exc)
        self._thread = threading.Thread(target=self._run, name="stylevj-journal", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the thread, writing the newest state first if it holds unwritten edits; a show
        whose journal is whole on disk is marked as ended cleanly."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        latest = self._show_board.latest()
        self._write_if_edited(latest)
        if latest is not None:
            self.board.publish(latest)
        if not self._failed and self.path.exists():
            running_marker(self.path).unlink(missing_ok=True)

    def _run(self) -> None:
        serial = 0
        while not self._stop.is_set():
            state = self._show_board.wait_newer(serial, timeout=0.2)
            if state is None:
                continue
            serial = state.serial
            self._write_if_edited(state)  # states that came meanwhile wait; the newest is written next
            self.board.publish(state)

    def _write_if_edited(self, state: ShowState | None) -> bool:
        if state is None or state.edits == self._written_edits:
            return False
        try:
            save_preset(capture(state.preset, state, self.path, self._saved), self.path)
            self.writes += 1
            if self._failed:
                log.warning("journal: %s is written again", self.path)
            self._failed = False
        except (StylevjError, OSError) as exc:  # a full disk is logged (once, not per edit); the show goes on
            if not self._failed:
                log.error("journal: cannot write %s: %s", self.path, exc)
            self._failed = True
        self._written_edits = state.edits
        return True
