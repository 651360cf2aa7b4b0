"""What leaves the show besides the stage picture: recordings, snapshots, the state, thumbnails."""

from __future__ import annotations

from dataclasses import dataclass

from ...checks import OPTIONAL_TEXT, checked
from .base import ON, Command, CommandError, Stage


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
        path = None if self.name is None else show.folders.confine(self.name, "snapshots", ".png")
        show.request_snapshot(path)


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
