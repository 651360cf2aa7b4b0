"""`stylevj render`: the show, frame-exact, into a video file.

Frame n shows path time n / fps (times the preset's speed, or the cue timing), never the wall
clock, through the same headless compositor as the stage. Generation, GL drawing + readback and
encoding run as three stages with small queues between them, so a render goes at the speed of
its slowest stage. Ctrl-C, a full disk or a generator error stop it cleanly: the file holds
what was rendered so far, and the message says so.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from ..display import Compositor, HeadlessSurface, HostSink
from ..images import to_pixels
from ..latent import Player
from ..models.input_transform import apply_transform, knob_values, supported
from ..presets import Preset, cue_timeline
from ..progress import progress_bar
from .encoder import VideoWriter

log = logging.getLogger(__name__)

_DONE = object()


@dataclass
class RenderResult:
    frames: int  # frames really in the file (read back after closing it), not frames handed to the encoder
    seconds: float
    interrupted: str = ""  # why it stopped early, or ""
    shortfall: str = ""  # what is really on disk when it is less than was written ("x.mp4 is empty (0 bytes)...")

    def message(self, out: Path | str) -> str:
        """One line for a render that did not end whole: why, and what the file really holds."""
        why = self.interrupted or "the file is short"
        if self.frames == 0:
            return f"{why}; {self.shortfall or f'{out} holds no frame'}"
        return f"{why}; {out} holds the {self.frames} frames ({self.seconds:.2f} s) that reached the disk"

    @property
    def whole(self) -> bool:
        """Every frame asked for was rendered and is in the file."""
        return not self.interrupted and not self.shortfall


class NonFiniteFrame(Exception):
    """The generator gave NaN or inf for a frame: the render stops there, naming it."""

    def __init__(self, frame: int) -> None:
        super().__init__(f"frame {frame}: the generator gave non-finite values (NaN or inf)")
        self.frame = frame


FrameHook = Callable[[int, Player], None]
"""Called with (n, player) before frame n is advanced to: `render --audio` sets the music's drive
for time n / fps here (the CLI passes it, so this module knows nothing of audio)."""


def path_times(player: Player, preset: Preset, fps: float, frames: int, before_frame: FrameHook | None = None,
               first: int = 0):
    """W+ and path position of each frame n = first .. first + frames - 1 at show time n / fps (a
    generator). The frames before `first` are walked without being drawn (cheap: the path only), so
    a range that starts mid-show is in exactly the state a whole render reaches there."""
    timeline = cue_timeline(preset)
    for n in range(first + frames):
        if before_frame is not None:
            before_frame(n, player)
        if timeline is not None:
            player.seek(timeline.position(n / fps))
        elif n:
            player.advance(1.0 / fps)
        if n >= first:
            yield player.current(), player.position


def loop_frames(player: Player, fps: float, loops: float) -> int:
    """Frames for `loops` passes over the path at the player's speed."""
    path = player.path
    if path is None or player.speed == 0:
        raise ValueError("--loops needs keyframes and a non-zero speed")
    span = path.length if path.closed else 2 * path.length
    if player.settings.constant_speed:
        from ..latent import ArcLength

        span = ArcLength(path).total * (1 if path.closed else 2)
    if span <= 0:  # a path of no length (one keyframe, open; or constant speed over one W+) never loops
        raise ValueError("--loops needs a path that moves: its keyframes are all one point (use --seconds)")
    return int(round(loops * span / abs(player.speed) * fps))


def render(G, player: Player, preset: Preset, writer: VideoWriter, frames: int, fps: float,
           size: tuple[int, int], fit: str = "contain", overlays: list | None = None,
           before_frame: FrameHook | None = None, first: int = 0) -> RenderResult:
    """Render `frames` frames of the show into `writer`, from frame `first` on (a range of a
    distributed render); always leaves a finished file. A frame with non-finite values (NaN, inf)
    stops it, named by its number."""
    generated: queue.Queue = queue.Queue(maxsize=3)
    encoded: queue.Queue = queue.Queue(maxsize=3)
    stop = threading.Event()
    failure: list[str] = []  # why it ended early (the generator's frames before it still count)

    def generate() -> None:
        try:
            with torch.inference_mode():
                knobs, drawn = knob_values(supported(preset.params, G)), None  # StyleGAN3's input transform, as
                # the preset sets it, moved each frame by the music's drive as live (`Drive.transform`)
                rgba = torch.full((G.resolution, G.resolution, 4), 255, dtype=torch.uint8, device=G.device)
                for n, (w, position) in enumerate(path_times(player, preset, fps, frames, before_frame, first), first):
                    if stop.is_set():
                        break
                    if (transform := player.drive.transform(knobs)) != drawn:
                        apply_transform(G, transform)
                        drawn = transform
                    bend = player.controls.bends()  # None while no bend control is away from neutral
                    img = G.synthesis(w.unsqueeze(0).to(G.device), noise_mode=preset.generator.noise, **({} if bend is None else {"bend": bend}))
                    if not bool(torch.isfinite(img).all()):  # the generator's sanity check: never encode NaN as black
                        raise NonFiniteFrame(n)
                    generated.put((to_pixels(img, rgba).cpu().clone(), w, position))
        except NonFiniteFrame as exc:
            failure.append(str(exc))
        except Exception as exc:  # reported below; the file keeps what was rendered
            failure.append(f"generator error: {type(exc).__name__}: {exc}")
        finally:
            generated.put(_DONE)

    def encode() -> None:
        try:
            while (item := encoded.get()) is not _DONE:
                writer.write(item)
        except Exception as exc:
            failure.append(f"cannot write the video: {exc}")
            stop.set()
            while encoded.get() is not _DONE:  # keep draining so the drawing stage never blocks
                pass

    producer = threading.Thread(target=generate, name="stylevj-render-generate", daemon=True)
    consumer = threading.Thread(target=encode, name="stylevj-render-encode", daemon=True)
    surface = HeadlessSurface(size)
    sink, compositor = HostSink(surface.ctx), Compositor(surface.ctx, fit=fit)
    level = 0.0 if preset.params.blackout else preset.params.fader  # the stage's fader and blackout, as set
    bar = progress_bar(frames, "render", "frame")
    done, interrupted = 0, ""
    producer.start()
    consumer.start()
    try:
        while (item := generated.get()) is not _DONE:
            pixels, w, position = item
            sink.upload(pixels)
            for overlay in overlays or ():
                if hasattr(overlay, "update"):
                    overlay.update(w, (first + done) / fps)
            compositor.draw(surface, sink.current, overlays=(overlays or ()) if preset.params.overlay else (), level=level)
            encoded.put(surface.read_pixels()[..., :3].copy())
            done += 1
            bar.update(1)
            if stop.is_set():  # the encoder failed: nothing more can be written
                break
    except KeyboardInterrupt:
        interrupted = "interrupted (Ctrl-C)"
    finally:
        bar.close()
        stop.set()
        while producer.is_alive():  # unblock the generator if it waits on a full queue
            try:
                generated.get(timeout=0.05)
            except queue.Empty:
                pass
        encoded.put(_DONE)
        consumer.join()
        writer.close()
        sink.release()
        compositor.release()
        surface.close()
    if failure and not interrupted:
        interrupted = failure[0]
    stored = writer.frames if writer.stored is None else writer.stored
    return RenderResult(stored, stored / fps, interrupted, writer.shortfall())


def output_path(out: str, fmt: str, force: bool) -> Path:
    from ..errors import StylevjError

    path = Path(out).expanduser()
    if path.exists() and not force:
        raise StylevjError(f"{path}: already exists (add --force to replace it)")
    if not path.parent.is_dir():
        raise StylevjError(f"{path}: folder {path.parent} does not exist")
    if path.exists() and force and fmt == "png":
        import shutil

        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return path
