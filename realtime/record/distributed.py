"""`stylevj render --workers N`: one render split into frame ranges over Ray workers.

The show at frame n is a function of its time, so every worker renders its ranges of the same
show, frame-exact: it gets the show as the driver built it (the player at frame 0, keyframes as
tensors), the drive of every frame from the song (the driver walks the streaming analyser once,
`audio.mapping.frame_drives`, and ships the list), and the generator: a built-in name, or the
checkpoint file's bytes through Ray's object store with their SHA-256, written to the worker's
disk and read by the same safe loader as on the driver. A range walks the path from frame 0 to
its first frame without drawing (the path only), then draws through `render.render`.

Each worker is a Ray actor (one GPU each where there are GPUs, else one CPU), loading the
generator once and rendering ranges as the driver hands them out; what it returns (PNG bytes by
frame, or a closed-GOP segment) the driver keeps in `OUT.parts/` (`distributed_parts`), then
joins. A worker that dies is replaced by a new one and its range handed out again; Ctrl-C leaves the
finished ranges for `--resume`. Ray is an extra (`pip install 'stylevj[ray]'`), imported only here.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import os
import signal
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from ..errors import StylevjError
from ..latent import Drive, Player
from ..presets import Preset
from ..progress import progress_bar
from .distributed_parts import Parts, Range, join_segments, plan_ranges
from .render import RenderResult

log = logging.getLogger(__name__)

RANGE_TRIES = 3  # a range whose worker died this often fails the render (something kills every worker)
RAY_CONNECT_S = 10.0  # how long a --ray-address may take to answer at all
WORKER_START_S = 600.0  # how long the workers may take to be placed and to load the generator


class FarmError(StylevjError):
    """A distributed render cannot start or cannot finish: the message says which and why."""


def require_ray():
    """The `ray` module, or a FarmError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise FarmError("--workers above 1 and --ray-address need Ray, which is not installed "
                        "(pip install 'stylevj[ray]'; --workers 1 renders without it)") from None
    return ray


@dataclass(frozen=True)
class Checkpoint:
    """How a worker gets the generator: `name` alone for a built-in ('demo', 'arch:...'), or the
    file's bytes in Ray's object store (`data`, an ObjectRef) with their SHA-256."""

    name: str
    sha256: str = ""
    data: Any = None


@dataclass
class RenderJob:
    """Everything a worker needs to render any range of one show, shipped once to each worker."""

    checkpoint: Checkpoint
    player: Player  # the show at frame 0, on the CPU (each range starts from a copy)
    preset: Preset
    fps: float
    frames: int
    size: tuple[int, int]
    fmt: str = "png"
    quality: int = 18
    fit: str = "contain"
    panels: tuple[str, ...] | None = None  # overlay panels (None: the preset's)
    font: str | None = None
    drives: list[Drive] | None = None  # the song's drive of every frame, or None without a song
    device: str = "auto"  # auto, cpu or cuda: what each worker runs the generator on
    fp16: bool | None = None
    threads: int = 0  # torch threads per CPU worker (0: torch's default)

    def fingerprint(self) -> str:
        """What the frames depend on, hashed: `--resume` refuses a folder made by another render."""
        h = hashlib.sha256()
        preset = self.preset
        what = (self.checkpoint.name, self.checkpoint.sha256, *(repr(getattr(preset, name)) for name in (
                "params", "path", "generator", "play", "mix", "overlay", "keyframes", "controls", "audio")),
                self.fps, self.frames, self.size, self.fmt, self.quality, self.fit, self.panels, self.font,
                repr(self.drives))
        h.update(repr(what).encode())
        for keyframe in self.player.keyframes:
            h.update(keyframe.w.detach().cpu().numpy().tobytes())
        return h.hexdigest()


def ship_checkpoint(source: str, resolved: Path | None, put: Callable[[bytes], Any]) -> Checkpoint:
    """The generator as workers get it: a built-in by name, a file by its bytes (`put` into the
    object store) and their SHA-256 (a path on the driver alone means nothing on another node)."""
    if resolved is None:
        return Checkpoint(source)
    try:
        data = resolved.read_bytes()
    except OSError as exc:
        raise FarmError(f"{resolved}: cannot read the checkpoint to ship it to the workers ({exc.strerror})") from None
    return Checkpoint(source, hashlib.sha256(data).hexdigest(), put(data))


class _PngFrames:
    """A render writer that keeps each frame as PNG bytes (the worker's reply), by index."""

    def __init__(self) -> None:
        self.pngs: list[bytes] = []
        self.frames = 0
        self.stored: int | None = None

    def write(self, rgb) -> None:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(rgb[..., :3]).save(buffer, format="PNG")  # as images.save_png encodes
        self.pngs.append(buffer.getvalue())
        self.frames += 1

    def close(self) -> None:
        self.stored = self.frames

    def shortfall(self) -> str:
        return ""


class RangeWorker:
    """One Ray actor: the generator loaded once, then ranges of the job rendered on request."""

    def __init__(self, job: RenderJob) -> None:
        import torch

        from ..models import load_generator

        self.job = job
        if job.threads:
            torch.set_num_threads(job.threads)
        cuda = job.device != "cpu" and torch.cuda.is_available()
        self.device = "cuda" if cuda else "cpu"
        path = self._checkpoint_file()
        try:
            self.G = load_generator(path, device=self.device, fp16=job.fp16)
        except StylevjError as exc:  # named as the user named it, not by the worker's copy
            raise FarmError(str(exc).replace(path, job.checkpoint.name)) from None

    def _checkpoint_file(self) -> str:
        """A built-in's name, or the shipped bytes as a file here, checked against their SHA-256."""
        shipped = self.job.checkpoint
        if shipped.data is None:
            return shipped.name
        import ray

        data = ray.get(shipped.data)
        if hashlib.sha256(data).hexdigest() != shipped.sha256:
            raise FarmError(f"{shipped.name}: the checkpoint reached this worker damaged (SHA-256 differs)")
        folder = Path(tempfile.gettempdir()) / "stylevj-workers"
        folder.mkdir(exist_ok=True)
        path = folder / f"{shipped.sha256}.checkpoint"
        if not path.is_file():
            from ..files import atomic_write

            atomic_write(path, data)
        return str(path)

    def hello(self) -> tuple[str, int]:
        """Where this worker runs, for the driver's log (host, process, device), and its process id."""
        return f"{socket.gethostname()} (pid {os.getpid()}, {self.device})", os.getpid()

    def render(self, first: int, end: int) -> bytes | list[bytes]:
        """Frames first .. end - 1: PNG bytes per frame, or one closed-GOP video segment."""
        from ..overlay import build_overlays
        from .encoder import VideoWriter
        from .render import render

        job, count = self.job, end - first
        player = copy.deepcopy(job.player)
        hook = None if job.drives is None else (lambda n, p: p.set_drive(job.drives[n]))
        buffer = io.BytesIO()
        writer = _PngFrames() if job.fmt == "png" else VideoWriter(buffer, job.fps, job.size, job.fmt, job.quality)
        overlays = build_overlays(job.preset.overlay, job.panels, job.font, job.preset.base_dir)
        try:
            overlays.start_telemetry()  # the GPU panel samples this worker's board, as `render` does its own
            result = render(self.G, player, job.preset, writer, count, job.fps, job.size, fit=job.fit,
                            overlays=overlays.panels, before_frame=hook, first=first)
        finally:
            overlays.close()
        if not result.whole or result.frames != count:
            raise FarmError(result.interrupted or f"frames {first}-{end - 1}: only {result.frames} of {count} were rendered")
        return writer.pngs if job.fmt == "png" else buffer.getvalue()


@dataclass
class Farm:
    """The Ray workers of one render, and where they run."""

    ray: Any
    actors: list
    where: str  # "a local Ray instance" or "the Ray cluster at ADDR"
    started: bool  # this process started the Ray instance (and shuts it down)
    places: list[str] = field(default_factory=list)
    pids: dict = field(default_factory=dict)  # actor -> its process id (on its node), as it said at start
    spawn: Callable[[], Any] | None = None  # a new worker for the same job (held: the job stays in the store)

    def replace(self, dead) -> Any:
        """A new worker in place of a dead one (Ray puts it wherever there is room)."""
        fresh = self.spawn()
        self.actors[self.actors.index(dead)] = fresh
        return fresh

    def close(self) -> None:
        for actor in self.actors:
            try:
                self.ray.kill(actor)
            except Exception as exc:  # already gone
                log.debug("killing a worker: %s", exc)
        if self.started:
            self.ray.shutdown()


def check_reachable(address: str, timeout: float = RAY_CONNECT_S) -> None:
    """One line, quickly, when nothing answers at `address` ('auto' and names Ray resolves itself pass)."""
    if address == "auto" or address == "local":
        return
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise FarmError(f"--ray-address {address}: expected HOST:PORT (or ray://HOST:PORT), e.g. 10.0.0.5:6379")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise FarmError(f"--ray-address {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


def start_farm(job: RenderJob, workers: int | None, address: str | None, checkpoint_file: Path | None = None) -> Farm:
    """Ray joined at `address` (or a local instance started), `workers` actors on it (None: one
    per GPU there, else one per CPU), each loading the generator (`checkpoint_file`'s bytes shipped
    through the object store when the job's generator is a file). One line when it cannot be."""
    ray = require_ray()
    if address:
        check_reachable(address)
    started = not ray.is_initialized()
    if started:
        try:
            if address:
                ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            else:
                cpus = os.cpu_count() or 1
                ray.init(num_cpus=max(cpus, workers or 1), include_dashboard=False, log_to_driver=False,
                         configure_logging=False)
        except Exception as exc:  # ConnectionError, a version mismatch, ...: one line
            raise FarmError(f"cannot start Ray{f' at {address}' if address else ''}: {str(exc).splitlines()[0]}") from None
    where = f"the Ray cluster at {address}" if address else "a local Ray instance"
    try:
        farm = _start_workers(ray, job, workers, where, started, checkpoint_file)
    except BaseException:
        if started:
            ray.shutdown()
        raise
    log.info("%d Ray workers on %s: %s", len(farm.actors), where, ", ".join(farm.places))
    return farm


def _start_workers(ray, job: RenderJob, workers: int | None, where: str, started: bool,
                   checkpoint_file: Path | None) -> Farm:
    """The actors of a farm on a running Ray, each with the generator loaded and saying where it runs."""
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
    use_gpus = job.device != "cpu" and gpus > 0
    if job.device.startswith("cuda") and not use_gpus:
        raise FarmError(f"--device {job.device}: {where} has no GPU")
    count = workers or (gpus if use_gpus else cpus)
    available = gpus if use_gpus else cpus
    if count > available:
        raise FarmError(f"--workers {count}: {where} has only {available} {'GPU' if use_gpus else 'CPU'}s")
    if not use_gpus and not job.threads:
        job.threads = max(1, cpus // count)
    options = {"num_gpus": 1, "num_cpus": 1} if use_gpus else {"num_cpus": 1}
    job.checkpoint = ship_checkpoint(job.checkpoint.name, checkpoint_file, ray.put)
    remote = ray.remote(RangeWorker).options(**options)
    job_ref = ray.put(job)

    def spawn():
        return remote.remote(job_ref)

    farm = Farm(ray, [spawn() for _ in range(count)], where, started=False, spawn=spawn)
    actors = farm.actors
    try:
        hellos = ray.get([a.hello.remote() for a in actors], timeout=WORKER_START_S)
        farm.places = [place for place, _ in hellos]
        farm.pids = {a: pid for a, (_, pid) in zip(actors, hellos)}
    except ray.exceptions.RayActorError as exc:  # the generator did not load on a worker
        farm.close()
        raise FarmError(f"a worker could not start: {_cause(exc)}") from None
    except ray.exceptions.GetTimeoutError:
        farm.close()
        raise FarmError(f"{count} workers did not start within {WORKER_START_S:.0f} s: {where} has no free "
                        f"{'GPU' if use_gpus else 'CPU'} for them (see `ray status`)") from None
    farm.started = started
    return farm


def _cause(exc: BaseException) -> str:
    """The one line to show for a Ray error: the worker's own exception when there is one."""
    cause = getattr(exc, "cause", None) or getattr(exc, "error_msg", None) or exc
    if isinstance(cause, StylevjError):
        return str(cause)
    text = str(cause).strip().splitlines()
    return (text[-1] if text else type(cause).__name__)[:300]


@contextmanager
def ctrl_c_noted() -> Iterator[threading.Event]:
    """An Event that Ctrl-C (SIGINT) sets while the block runs, instead of raising KeyboardInterrupt.

    A KeyboardInterrupt lands wherever the main thread happens to be: inside Ray's client code, a
    finalizer (where Python prints and drops it) or a write to OUT.parts/, so whether a render
    stopped depended on timing. The farm loop checks the Event between ranges instead. Installed
    only on the main thread over Python's default handler (a handler someone else set is left
    alone, and KeyboardInterrupt is still caught); the previous handler is back after the block.
    """
    pressed = threading.Event()
    ours = (threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    if ours:
        signal.signal(signal.SIGINT, lambda signum, frame: pressed.set())
    try:
        yield pressed
    finally:
        if ours:
            signal.signal(signal.SIGINT, signal.default_int_handler)


RangeHook = Callable[[Range, Farm, Any], None]
"""Called on the driver with (range, farm, the worker that rendered it) after each finished range
is on disk (tests use it to kill a worker or to press Ctrl-C at a known point)."""


def render_on_farm(job: RenderJob, farm: Farm, out: Path, resume: bool = False,
                   audio: Any = None, audio_rate: int = 0, after_range: RangeHook | None = None) -> RenderResult:
    """Render `job` on `farm` into `out`, the finished ranges kept in `OUT.parts/` until the join.
    Ctrl-C returns an interrupted result (the finished ranges stay for `resume`); a failed range
    (non-finite frame, a worker that died RANGE_TRIES times) or a failed join is a FarmError."""
    parts = Parts(out, job.fmt)
    fingerprint = job.fingerprint()
    if resume and parts.exists:
        ranges = parts.resume(fingerprint)
    else:
        ranges = plan_ranges(job.frames, len(farm.actors), job.fps)
        parts.start(ranges, fingerprint)
    todo = [r for r in ranges if not parts.done(r)]
    already = sum(b - a for a, b in ranges) - sum(b - a for a, b in todo)
    if resume:
        log.info("resuming %s: %d of %d frames already rendered, %d ranges to go", out, already, job.frames, len(todo))
    ray = farm.ray
    tries = {r: 0 for r in todo}
    idle, busy = list(farm.actors), {}
    bar = progress_bar(job.frames, "render", "frame", initial=already)
    started, rendered, interrupted = time.perf_counter(), 0, ""
    with ctrl_c_noted() as pressed:
        try:
            while (todo or busy) and not pressed.is_set():
                while idle and todo:
                    actor, r = idle.pop(0), todo.pop(0)
                    busy[actor.render.remote(*r)] = (r, actor)
                ready, _ = ray.wait(list(busy), num_returns=1, timeout=0.5)
                for ref in ready:
                    r, actor = busy.pop(ref)
                    try:
                        payload = ray.get(ref)
                    except ray.exceptions.RayActorError as exc:  # the worker died: a new one, and the range goes again
                        tries[r] += 1
                        if tries[r] >= RANGE_TRIES:
                            raise FarmError(f"frames {r[0]}-{r[1] - 1}: {RANGE_TRIES} workers died rendering them "
                                            f"({_cause(exc)}); the finished ranges stay in {parts.folder}") from None
                        log.warning("a worker died rendering frames %d-%d: rendering them again", r[0], r[1] - 1)
                        todo.insert(0, r)
                        idle.append(farm.replace(actor))
                        continue
                    except ray.exceptions.RayTaskError as exc:
                        raise FarmError(f"{_cause(exc)}; the finished ranges stay in {parts.folder}") from None
                    parts.store(r, payload)
                    rendered += r[1] - r[0]
                    bar.update(r[1] - r[0])
                    idle.append(actor)
                    if after_range is not None:
                        after_range(r, farm, actor)
        except KeyboardInterrupt:
            interrupted = "interrupted (Ctrl-C)"
        finally:
            bar.close()
    if pressed.is_set():
        interrupted = "interrupted (Ctrl-C)"
    seconds = time.perf_counter() - started
    log.info("%d Ray workers on %s rendered %d frames in %.1f s (%.2f frames/s)", len(farm.actors), farm.where,
             rendered, seconds, rendered / seconds if seconds else 0.0)
    if interrupted:
        kept = sum(b - a for a, b in ranges if parts.done((a, b)))
        return RenderResult(0, 0.0, f"{interrupted}; {kept} of {job.frames} frames are kept in {parts.folder}: "
                            "add --resume to render the rest", "")
    joined = time.perf_counter()
    frames = job.frames if job.fmt == "png" else join_segments(
        parts.segments(ranges), [b - a for a, b in ranges], out, job.fmt, job.fps, audio, audio_rate)
    if job.fmt != "png":
        log.info("joined %d segments into %s in %.2f s", len(ranges), out, time.perf_counter() - joined)
    parts.remove()
    short = "" if frames == job.frames else f"{out} holds {frames} of the {job.frames} frames"
    return RenderResult(frames, frames / job.fps, "", short)
