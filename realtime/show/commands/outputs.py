"""What leaves the show besides the stage picture: recordings, snapshots, the state, thumbnails."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from ...checks import OPTIONAL_TEXT, checked
from ...errors import StylevjError
from ..thumbnail import render_keyframe
from .base import ON, Command, CommandError, Stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StartRecording(Command):
    """record the stage output to the recordings folder (named by date and time, or NAME)"""

    edits = False

    name: str | None = checked(OPTIONAL_TEXT, None)

    def apply(self, show: Stage) -> None:
        if show.recorder is None:
            raise CommandError("recording is off for this show (no --record-dir)")
        path = show.recorder.start(show.surface.ctx, show.surface.size, self.name, show.now())
        show.emit("record/started", str(path))


@dataclass(frozen=True)
class StopRecording(Command):
    """stop recording; the file is finished and playable"""

    edits = False

    def apply(self, show: Stage) -> None:
        path = show.recorder.stop() if show.recorder is not None else None
        show.emit("record/stopped", str(path or ""))
        if path is not None and show.recorder.error:  # the file holds less than was recorded (read back)
            show.emit("error", f"recording: {show.recorder.error}")


@dataclass(frozen=True)
class ToggleRecording(Command):
    """start recording, or stop the recording running (key R)"""

    edits = False

    def apply(self, show: Stage) -> None:
        if show.recorder is not None and show.recorder.recording:
            StopRecording().apply(show)
        else:
            StartRecording().apply(show)


@dataclass(frozen=True)
class Snapshot(Command):
    """save a PNG of the stage output in the snapshots folder (named by date and time, or NAME)"""

    edits = False

    name: str | None = checked(OPTIONAL_TEXT, None)

    def apply(self, show: Stage) -> None:
        path = None if self.name is None else show.folders.plain(self.name, "snapshots", ".png")  # resolved by the loader
        show.request_snapshot(path, confined=path is not None)


@dataclass(frozen=True)
class ReportState(Command):
    """reply with the whole state as one JSON string (/stylevj/state s)"""

    edits = False

    def apply(self, show: Stage) -> None:
        show.emit("state")  # the adapter answers from the snapshot that carries this event


@dataclass(frozen=True)
class SetThumbnails(Command):
    """publish a small copy of the frame on screen a few times a second (the operator page's picture)"""

    coalesce = True
    edits = False
    on: bool = checked(ON)

    def apply(self, show: Stage) -> None:
        show.thumbnails = self.on


@dataclass(frozen=True)
class MakeKeyframePictures(Command):
    """make the small pictures of the keyframes that have none, off the render thread (the page's strip)"""

    coalesce = True
    edits = False

    def apply(self, show: Stage) -> None:
        G = show.worker.G
        for w in show.keyframe_pictures.wanted(show.player.keyframes):
            try:
                show.load_later(lambda w=w: _picture(G, w), hold=False)
            except StylevjError:  # the loader's queue is full: the page asks again later
                break
            show.keyframe_pictures.asked(w)


def _picture(G, w: torch.Tensor) -> Command:
    """The loader's job: one keyframe's picture (a failure is logged once and not tried again)."""
    started = time.perf_counter()
    try:
        pixels = render_keyframe(G, w)
    except (RuntimeError, ValueError, MemoryError) as exc:
        log.warning("a keyframe's picture failed: %s", exc)
        pixels = None
    return KeyframePictureMade(w, pixels, (time.perf_counter() - started) * 1000)


@dataclass(frozen=True)
class KeyframePictureMade(Command):
    """a keyframe's picture, made by the loader (made by MakeKeyframePictures, never sent)"""

    edits = False
    w: torch.Tensor
    pixels: np.ndarray | None
    cost_ms: float

    def apply(self, show: Stage) -> None:
        show.keyframe_pictures.store(self.w, self.pixels, self.cost_ms)
