"""Video files from RGB frames, with PyAV (its wheels carry ffmpeg: no system ffmpeg needed).

Formats: `h264` (yuv420p MP4, quality as x264's CRF; MPEG-4 Part 2 where this FFmpeg has no
x264), `prores` (ProRes 4444 .mov for editors) and `png` (a folder of numbered PNGs). The one
writer for renders, live recordings and projection videos (which write into memory first). MP4 is written fragmented with a keyframe each second, so a file cut short by a crash still
plays up to its last whole second; Ctrl-C, a full disk or a generator error close it cleanly.
"""

from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import StylevjError
from ..images import save_png

log = logging.getLogger(__name__)

FORMATS = ("h264", "prores", "png")
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
        self.frames = 0
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
                raise EncoderError(f"{self.path}: cannot write frame {self.frames} ({exc})") from None
        self.frames += 1

    def close(self) -> None:
        """Flush the encoder and finish the file; safe to call twice, and after a failed write."""
        if self._container is None:
            return
        container, self._container = self._container, None
        try:
            for packet in self._stream.encode():
                container.mux(packet)
        except Exception as exc:  # finishing what we can matters more than why the flush failed
            log.error("%s: flushing the encoder failed: %s", self.path, exc)
        finally:
            container.close()

    @property
    def seconds(self) -> float:
        return self.frames / self.fps
