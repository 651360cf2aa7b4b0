"""A distributed render's finished ranges on the driver's disk, and the join into one file.

Beside the output `OUT` lies `OUT.parts/` while a render is unfinished: `job.json` (the plan: the
frame ranges, and a fingerprint of what is rendered) and one file per finished range, written
atomically, so Ctrl-C or a dead driver never leaves half a range. PNG frames go straight into the
output folder by index (a range's marker `FIRST-END.done` follows its frames); H.264 and ProRes
ranges are whole closed-GOP segments (`FIRST-END.mp4` / `.mov`), joined without re-encoding, with
the song encoded once over the whole video. `--resume` reads the plan and renders only the ranges
without a file. The folder goes once the output is whole.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import StylevjError
from ..files import atomic_write
from .encoder import AUDIO_CODECS, AUDIO_FRAME, SUFFIX, EncoderError, require_av, stored_frames

log = logging.getLogger(__name__)

Range = tuple[int, int]  # frames first .. end - 1


def plan_ranges(frames: int, workers: int, fps: float) -> list[Range]:
    """Frame ranges for `workers`: about four per worker, so a slow or retried one evens out and the
    bar moves, but none longer than ten seconds of video (a lost range is cheap to redo) and none
    shorter than one frame."""
    size = max(1, min(-(-frames // (4 * workers)), int(round(10 * fps))))
    return [(first, min(first + size, frames)) for first in range(0, frames, size)]


class Parts:
    """The `OUT.parts/` folder of one render: its plan, its finished ranges, and their files."""

    def __init__(self, out: Path, fmt: str) -> None:
        self.out, self.fmt = out, fmt
        self.folder = out.with_name(out.name + ".parts")

    @property
    def exists(self) -> bool:
        return (self.folder / "job.json").is_file()

    def start(self, ranges: list[Range], fingerprint: str) -> None:
        """A fresh plan (any earlier folder is removed first: the caller checked --force)."""
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir()
        if self.fmt == "png":
            self.out.mkdir(exist_ok=True)
        self._write(self.folder / "job.json", json.dumps({"fingerprint": fingerprint, "ranges": ranges}).encode())

    def resume(self, fingerprint: str) -> list[Range]:
        """The plan of the unfinished render, when it renders the same thing; else one line why not."""
        try:
            plan = json.loads((self.folder / "job.json").read_text())
            ranges = [(int(a), int(b)) for a, b in plan["ranges"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StylevjError(f"{self.folder}: cannot resume from it ({exc}); delete it or add --force") from None
        if plan.get("fingerprint") != fingerprint:
            raise StylevjError(f"{self.folder}: holds a different render (preset, generator, song or settings "
                               "changed); render it as before, or add --force to start over")
        if self.fmt == "png":
            self.out.mkdir(exist_ok=True)
        return ranges

    def done(self, r: Range) -> bool:
        return self._file(r).is_file()

    def store(self, r: Range, payload: bytes | list[bytes]) -> None:
        """Keep a finished range: its PNG frames by index (then its marker), or its video segment."""
        if self.fmt == "png":
            for n, data in enumerate(payload, r[0]):
                self._write(self.out / f"frame_{n:06d}.png", data)
            self._write(self._file(r), b"")
        else:
            self._write(self._file(r), payload)

    def segments(self, ranges: list[Range]) -> list[Path]:
        return [self._file(r) for r in ranges]

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def _file(self, r: Range) -> Path:
        suffix = ".done" if self.fmt == "png" else SUFFIX[self.fmt]
        return self.folder / f"{r[0]:08d}-{r[1]:08d}{suffix}"

    def _write(self, path: Path, data: bytes) -> None:
        try:
            atomic_write(path, data)
        except OSError as exc:
            raise StylevjError(f"{path}: cannot write ({exc.strerror or exc}); the finished ranges stay in "
                               f"{self.folder}, add --resume once there is room") from None


def join_segments(segments: list[Path], counts: list[int], out: Path, fmt: str, fps: float,
                  audio: Iterable[np.ndarray] | None = None, audio_rate: int = 0) -> int:
    """Concatenate closed-GOP segments (`counts` frames each) into `out` without re-encoding, the
    song (float32 [channels, n] chunks) encoded once beside them; returns the frames in `out`.
    A failure (a full disk) is one line, and the segments are left as they are."""
    av = require_av()
    options = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"} if fmt == "h264" else {}
    try:
        with av.open(str(segments[0])) as first:
            template = first.streams.video[0]
            container = av.open(str(out), mode="w", format="mp4" if fmt == "h264" else "mov", options=options)
            copy = getattr(container, "add_stream_from_template", None)  # PyAV 13.1+; older: template=
            video = copy(template) if copy is not None else container.add_stream(template=template)
            extradata = template.codec_context.extradata
    except (OSError, av.FFmpegError) as exc:
        raise EncoderError(f"{out}: cannot create ({exc})") from None
    sound = _Sound(container, fmt, audio, audio_rate, fps) if audio is not None else None
    done = 0
    try:
        for path, count in zip(segments, counts):
            with av.open(str(path)) as source:
                stream = source.streams.video[0]
                if stream.codec_context.extradata != extradata:
                    raise EncoderError(f"{path}: encoded with other settings than the first range; delete "
                                       f"{path.parent} and render again")
                shift = Fraction(done) / Fraction(fps).limit_denominator(1001) / stream.time_base
                for packet in source.demux(stream):
                    if packet.dts is None:  # the demuxer's end-of-stream marker
                        continue
                    packet.pts, packet.dts = packet.pts + round(shift), packet.dts + round(shift)
                    packet.stream = video
                    container.mux(packet)
            done += count
            if sound is not None:
                sound.until(done)
        if sound is not None:
            sound.finish(done)
        container.close()
    except (OSError, av.FFmpegError) as exc:
        _close_quietly(container)
        raise EncoderError(f"{out}: cannot write the joined video ({getattr(exc, 'strerror', None) or exc}); "
                           f"the finished ranges stay in {segments[0].parent}, add --resume once there is room") from None
    except BaseException:
        _close_quietly(container)
        raise
    finally:
        if sound is not None:
            sound.close()
    return stored_frames(out)


def _close_quietly(container) -> None:
    try:
        container.close()
    except Exception as exc:  # the error that brought us here is the one to report
        log.debug("closing after a failed join: %s", exc)


class _Sound:
    """The song encoded into the joined file, in AUDIO_FRAME blocks from sample 0, exactly as
    `AudioVideoWriter` does for a single-process render (so the two carry the same sound)."""

    def __init__(self, container, fmt: str, audio: Iterable[np.ndarray], rate: int, fps: float) -> None:
        self.container, self.rate, self.fps = container, int(rate), fps
        self.chunks: Iterator[np.ndarray] | None = iter(audio)
        self.pending = np.zeros((0, 0), dtype=np.float32)
        self.sent = 0
        first = self._next()
        channels = 1 if first is None else first.shape[0]
        self.pending = np.zeros((channels, 0), dtype=np.float32) if first is None else first
        self.layout = "mono" if channels == 1 else "stereo"
        self.stream = container.add_stream(AUDIO_CODECS[fmt], rate=self.rate, layout=self.layout)

    def _next(self) -> np.ndarray | None:
        while self.chunks is not None:
            chunk = next(self.chunks, None)
            if chunk is None:
                self.close()
                return None
            chunk = np.atleast_2d(np.asarray(chunk, dtype=np.float32))
            if chunk.shape[-1]:
                return chunk
        return None

    def until(self, frames: int, final: bool = False) -> None:
        """Encode the song up to the end of video frame `frames - 1` (all of it up to there when final)."""
        av = require_av()
        wanted = int(round(frames * self.rate / self.fps))
        while self.sent + self.pending.shape[1] < wanted and (chunk := self._next()) is not None:
            if chunk.shape[0] != self.pending.shape[0]:
                chunk = np.repeat(chunk.mean(axis=0, keepdims=True), self.pending.shape[0], axis=0)
            self.pending = np.concatenate([self.pending, chunk], axis=1)
        end = min(wanted, self.sent + self.pending.shape[1])
        while end - self.sent >= AUDIO_FRAME or (final and end > self.sent):
            n = min(AUDIO_FRAME, end - self.sent)
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(self.pending[:, :n]), format="fltp", layout=self.layout)
            frame.sample_rate, frame.pts = self.rate, self.sent
            for packet in self.stream.encode(frame):
                self.container.mux(packet)
            self.pending = self.pending[:, n:]
            self.sent += n

    def finish(self, frames: int) -> None:
        self.until(frames, final=True)
        for packet in self.stream.encode():
            self.container.mux(packet)

    def close(self) -> None:
        """Close the song's decoder (a song longer than the video ends here, never decoded further)."""
        chunks, self.chunks = self.chunks, None
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
