"""Video files from RGB frames, with PyAV (its wheels carry ffmpeg: no system ffmpeg needed).

Formats: `h264` (yuv420p MP4, quality as x264's CRF; MPEG-4 Part 2 where this FFmpeg has no
x264), `prores` (ProRes 4444 .mov for editors) and `png` (a folder of numbered PNGs). The one
writer for renders, live recordings and projection videos (which write into memory first). MP4 is written fragmented with a keyframe each second, so a file cut short by a crash still
plays up to its last whole second; Ctrl-C, a full disk or a generator error close it cleanly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import StylevjError
from ..images import save_png
from ..choices import FORMATS

log = logging.getLogger(__name__)

SUFFIX = {"h264": ".mp4", "prores": ".mov", "png": ""}


class EncoderError(StylevjError):
    """The video cannot be written (no PyAV, a bad size, disk full): the message says which."""


def require_av(what: str = "writing video"):
    """The `av` module, or an EncoderError saying how to install it."""
    try:
        import av
    except ImportError:
        raise EncoderError(f"{what} needs PyAV, which is not installed (pip install 'stylevj[video]' or pip install av)") from None
    return av


class VideoWriter:
    """Frames (uint8 [H, W, 3], top row first) in, a video file (or PNG folder) out.

    target: a file path, or a writable binary file object (e.g. io.BytesIO) for h264/prores.
    """

    def __init__(self, target: str | os.PathLike | BinaryIO, fps: float, size: tuple[int, int], fmt: str = "h264",
                 quality: int = 18, speed: str = "medium") -> None:
        if fmt not in FORMATS:
            raise EncoderError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        in_memory = hasattr(target, "write")
        self.path = Path("<memory>") if in_memory else Path(target)
        self.fps, self.size, self.fmt = fps, size, fmt
        self.frames = 0  # frames handed to the encoder
        self.stored: int | None = None  # after close: frames really in the file on disk (`stored_frames`)
        self.failed = ""  # why a write failed; then nothing more is written or muxed
        self._container = self._stream = None
        width, height = size
        if fmt == "png":
            if in_memory:
                raise EncoderError("PNG frames need a folder, not a file object")
            self.path.mkdir(parents=True, exist_ok=True)
            return
        if fmt == "h264" and (width % 2 or height % 2):
            raise EncoderError(f"H.264 (yuv420p) needs an even size, got {width}x{height}")
        av = require_av()
        rate = Fraction(fps).limit_denominator(1001)
        options = {"movflags": "frag_keyframe+empty_moov+default_base_moof", "flush_packets": "1"} if fmt == "h264" else {}
        try:
            self._container = av.open(target if in_memory else str(self.path), mode="w",
                                      format="mp4" if fmt == "h264" else "mov", options=options)
        except (OSError, av.FFmpegError) as exc:
            raise EncoderError(f"{self.path}: cannot create ({exc})") from None
        if fmt == "h264" and "libx264" in av.codecs_available:
            stream = self._container.add_stream("libx264", rate=rate)
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(quality), "preset": speed}  # x264 preset: live uses a fast one
            stream.codec_context.gop_size = max(int(round(fps)), 1)  # a keyframe, so a fragment, every second
        elif fmt == "h264":
            log.warning("this FFmpeg has no x264: writing MPEG-4 Part 2 video instead")
            stream = self._container.add_stream("mpeg4", rate=rate)
            stream.pix_fmt = "yuv420p"
            stream.bit_rate = 8_000_000
            stream.codec_context.gop_size = max(int(round(fps)), 1)
        else:
            stream = self._container.add_stream("prores_ks", rate=rate)
            stream.pix_fmt = "yuva444p10le"
            stream.options = {"profile": "4"}  # 4444
        stream.width, stream.height = width, height
        self._stream = stream

    def write(self, rgb: np.ndarray) -> None:
        if self.failed:
            raise EncoderError(f"{self.path}: cannot write after an earlier write failed ({self.failed})")
        if rgb.shape[:2] != (self.size[1], self.size[0]):
            raise EncoderError(f"frame {rgb.shape[1]}x{rgb.shape[0]} does not match the video's {self.size[0]}x{self.size[1]}")
        if self.fmt == "png":
            save_png(np.ascontiguousarray(rgb[..., :3]), self.path / f"frame_{self.frames:06d}.png")
        else:
            av = require_av()
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[..., :3]), format="rgb24")
            frame.pts = self.frames
            try:
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
            except (OSError, av.FFmpegError) as exc:
                self.failed = getattr(exc, "strerror", None) or str(exc)
                raise EncoderError(f"{self.path}: cannot write frame {self.frames} ({self.failed})") from None
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file; safe to call twice, and after a failed write.
        Afterwards `stored` says how many frames the file really holds (a full disk may have
        kept the encoder's buffered frames, or all of them, from it)."""
        if self._container is None:
            if self.stored is None:
                self.stored = self.frames if self.fmt == "png" or str(self.path) == "<memory>" else stored_frames(self.path)
            return
        container, self._container = self._container, None
        try:
            if not self.failed:  # never mux after a failed write: FFmpeg's state is not to be trusted then
                for packet in self._stream.encode():
                    container.mux(packet)
        except Exception as exc:  # finishing what we can matters more than why the flush failed
            log.error("%s: flushing the encoder failed: %s", self.path, exc)
            self.failed = self.failed or getattr(exc, "strerror", None) or str(exc)
        finally:
            try:
                container.close()
            except Exception as exc:  # a full disk fails the trailer too; the fragments written still play
                log.error("%s: closing the file failed: %s", self.path, exc)
                self.failed = self.failed or getattr(exc, "strerror", None) or str(exc)
            self.stored = self.frames if str(self.path) == "<memory>" else stored_frames(self.path)

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    def shortfall(self) -> str:
        """After close: "" when every frame written is in the file, else one line saying what is
        really on disk ("x.mp4 is empty (0 bytes)", "x.mp4 holds 30 of the 41 frames")."""
        stored = self.frames if self.stored is None else self.stored
        if stored >= self.frames:
            return ""
        if stored == 0:
            size = self.path.stat().st_size if self.path.is_file() else 0
            return f"{self.path} is {'empty (0 bytes)' if size == 0 else f'unplayable ({size} bytes)'}: no frame reached the disk"
        return f"{self.path} holds {stored} of the {self.frames} frames ({stored / self.fps:.2f} s)"


def stored_frames(path: Path) -> int:
    """Video frames a file really holds: its packets, read back from disk after it is closed
    (what a player can find: a cut fragment or a missing header counts nothing)."""
    try:
        if path.stat().st_size == 0:
            return 0
    except OSError:
        return 0
    av = require_av()
    count = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return 0
            if container.streams.video[0].frames > 0:  # a finished MOV's index: no need to read the frames
                return container.streams.video[0].frames
            for packet in container.demux(container.streams.video[0]):  # fragmented MP4: count the fragments
                count += packet.size > 0
    except (OSError, av.FFmpegError) as exc:  # a cut fragment: what came before it still plays
        log.debug("%s: read back %d frames, then %s", path, count, exc)
    return count


# ---- the song beside the picture (render --audio) --------------------------------------------------

AUDIO_CODECS = {"h264": "aac", "prores": "pcm_s16le"}  # AAC in MP4, PCM in MOV
AUDIO_FRAME = 1024  # samples per encoded audio frame (AAC's frame size)


class AudioVideoWriter(VideoWriter):
    """A VideoWriter that also muxes a soundtrack: AAC in MP4, 16-bit PCM in MOV.

    audio: float32 samples [channels (1 or 2), n] at `audio_rate`, or an iterable of such
    chunks (a song decoded as it is muxed: the writer pulls only what the frames written so far
    need and holds at most one chunk plus one audio frame, so memory does not grow with the
    song). Sample k plays at k / audio_rate and frame n shows n / fps, both from the file's
    start, so they stay in sync. After each frame the sound up to that frame's end is written
    (interleaved, so a file cut short keeps its sound); `close` writes the rest up to the
    video's end: a longer song is cut there (the rest is never decoded), a shorter one just
    ends. A source that fails midway is one log line and the picture goes on, without the rest
    of the sound. Everything else is the VideoWriter's.
    """

    def __init__(self, target: str | os.PathLike | BinaryIO, fps: float, size: tuple[int, int], fmt: str = "h264",
                 quality: int = 18, speed: str = "medium", *, audio: np.ndarray | Iterable[np.ndarray],
                 audio_rate: int) -> None:
        if fmt not in AUDIO_CODECS:
            raise EncoderError(f"{fmt} output cannot carry sound: render to h264 (.mp4) or prores (.mov)")
        chunks: Iterator[np.ndarray] = iter((audio,) if isinstance(audio, np.ndarray) else audio)
        try:
            first = _first_chunk(chunks)
            if first.shape[0] not in (1, 2) or first.shape[1] == 0:
                raise EncoderError(f"a soundtrack must be 1 or 2 channels of samples, got shape {first.shape}")
            super().__init__(target, fps, size, fmt, quality, speed)
        except BaseException:
            _close_source(chunks)
            raise
        av = require_av()
        self._layout = "mono" if first.shape[0] == 1 else "stereo"
        try:
            self._audio_stream = self._container.add_stream(AUDIO_CODECS[fmt], rate=int(audio_rate), layout=self._layout)
        except (ValueError, av.FFmpegError) as exc:
            _close_source(chunks)
            self._container.close()
            self._container = None
            raise EncoderError(f"{self.path}: cannot add a {AUDIO_CODECS[fmt]} sound stream ({exc})") from None
        self._audio_rate, self._audio_sent = int(audio_rate), 0
        self._source: Iterator[np.ndarray] | None = chunks  # None once it has ended (or failed)
        self._pending = first  # decoded, not yet written: starts at sample self._audio_sent

    def write(self, rgb: np.ndarray) -> None:
        super().write(rgb)
        if self._container is not None and not self.failed:
            self._write_audio(self.frames, final=False)

    def close(self) -> None:
        if self._container is not None and not self.failed:  # never mux after a failed write
            try:
                self._write_audio(self.frames, final=True)
                for packet in self._audio_stream.encode():
                    self._container.mux(packet)
            except Exception as exc:  # the picture still gets finished
                log.error("%s: finishing the sound failed: %s", self.path, exc)
        if getattr(self, "_source", None) is not None:
            _close_source(self._source)  # a song longer than the video: its file closes here
            self._source = None
        super().close()

    def _pull(self, end: int) -> None:
        """Decode until the pending samples reach sample `end` (or the source ends)."""
        while self._source is not None and self._audio_sent + self._pending.shape[1] < end:
            try:
                chunk = next(self._source, None)
            except Exception as exc:  # a song that cannot be decoded further: the picture goes on
                log.error("%s: the sound stops at %.2f s: %s", self.path,
                          (self._audio_sent + self._pending.shape[1]) / self._audio_rate, exc)
                chunk = None
            if chunk is None:
                _close_source(self._source)
                self._source = None
                break
            chunk = _audio_chunk(chunk)
            if chunk.shape[0] != self._pending.shape[0]:
                chunk = np.repeat(chunk.mean(axis=0, keepdims=True), self._pending.shape[0], axis=0)
            self._pending = np.concatenate([self._pending, chunk], axis=1)

    def _write_audio(self, frames: int, final: bool) -> None:
        """Encode the soundtrack up to the end of video frame `frames - 1` (all of it when final)."""
        av = require_av()
        wanted = int(round(frames * self._audio_rate / self.fps))
        self._pull(wanted)
        end = min(wanted, self._audio_sent + self._pending.shape[1])
        try:
            while end - self._audio_sent >= AUDIO_FRAME or (final and end > self._audio_sent):
                n = min(AUDIO_FRAME, end - self._audio_sent)
                block = np.ascontiguousarray(self._pending[:, :n])
                frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=self._layout)
                frame.sample_rate, frame.pts = self._audio_rate, self._audio_sent
                for packet in self._audio_stream.encode(frame):
                    self._container.mux(packet)
                self._pending = self._pending[:, n:]
                self._audio_sent += n
        except (OSError, av.FFmpegError) as exc:
            raise EncoderError(f"{self.path}: cannot write the sound ({exc})") from None


def _audio_chunk(chunk: np.ndarray) -> np.ndarray:
    """A chunk of sound as float32 [channels, n]."""
    return np.atleast_2d(np.asarray(chunk, dtype=np.float32))


def _first_chunk(chunks: Iterator[np.ndarray]) -> np.ndarray:
    """The first chunk that holds samples (its channels set the stream's layout), or an empty one."""
    for chunk in chunks:
        chunk = _audio_chunk(chunk)
        if chunk.shape[-1]:
            return chunk
    return np.zeros((1, 0), dtype=np.float32)


def _close_source(chunks: Iterator[np.ndarray]) -> None:
    """Close a generator of chunks (a decoder: this closes its file); anything else is left."""
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
