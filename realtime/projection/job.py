"""A projection job, as `stylevj project` runs it: many images, one generator, files per image.

For each image that can be read, DIR receives (each written atomically):
    NAME.safetensors  the W+ keyframe (name NAME, source "projected:<image file name>"), loadable
                      by `load_keyframe` and by a preset's `[[keyframes]] file = ...`
    NAME.png          target | reconstruction, side by side, at the generator's resolution
    NAME.mp4          with --video: the optimisation converging
    NAME.json         the record: hashes of image and checkpoint, settings, final losses, time
written last, so a record's presence means its files are complete. An image that cannot be read
or projected becomes an outcome with its error; the others are still projected and written.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from .. import __version__
from ..checkpoints.catalog import resolve_checkpoint
from ..checkpoints.download import sha256_file
from ..errors import StylevjError
from ..files import atomic_write
from ..images import save_png, to_rgb8
from ..progress import progress_bar
from ..latent.keyframes import Keyframe, save_keyframe
from ..models import load_generator
from .inputs import ImageInputError, Target, load_target
from .perceptual import PerceptualDistance
from .projector import LOSSES, ProjectionSettings, StepInfo, project, w_spread
from .vgg import VggWeightsError, find_weights, how_to_get_weights, load_vgg16

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProjectOptions:
    """What `stylevj project` was asked for. loss None: "both" when VGG16 weights are found, else "mse"."""

    out_dir: Path
    steps: int = 1000
    loss: str | None = None
    mse_weight: float = 1.0
    video: bool = False
    vgg_weights: str | None = None
    batch: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= 1_000_000:
            raise StylevjError(f"--steps must be within [1, 1000000], got {self.steps}")
        if self.loss is not None and self.loss not in LOSSES:
            raise StylevjError(f"--loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if not (0 <= self.mse_weight < float("inf")):
            raise StylevjError(f"--mse-weight must be a number >= 0, got {self.mse_weight}")
        if not 1 <= self.batch <= 1024:
            raise StylevjError(f"--batch must be within [1, 1024], got {self.batch}")


@dataclass
class Outcome:
    """What became of one input image: its files and record, or the reason it failed."""

    image: Path
    error: str | None = None
    files: tuple[Path, ...] = ()
    record: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


def choose_loss(requested: str | None, vgg_weights: str | None) -> tuple[str, Path | None]:
    """The loss to run and the VGG16 weights file it needs (None for "mse"), or a VggWeightsError."""
    weights = find_weights(vgg_weights)
    if requested is None:
        if weights is None:
            log.info("no VGG16 weights found: projecting with pixel MSE only (--loss mse); for the perceptual"
                     " loss, %s", how_to_get_weights())
            return "mse", None
        requested = "both"
    if requested == "mse":
        return "mse", None
    if weights is None:
        raise VggWeightsError(f"--loss {requested} needs VGG16 ImageNet weights, none found: {how_to_get_weights()}")
    return requested, weights


def checkpoint_fingerprint(source: str) -> str:
    """sha256 of a checkpoint file (for a URL or published name, of its cached copy); 'demo' and
    'arch:NAME' stand for themselves."""
    if source == "demo" or source.startswith("arch:"):
        return source
    return sha256_file(resolve_checkpoint(source))


def output_stems(paths: list[Path]) -> list[str]:
    """A distinct file stem per image: 'face', and 'face-2' for a second face.jpg from elsewhere."""
    used: set[str] = set()
    stems = []
    for path in paths:
        base = path.stem or "image"
        stem, n = base, 2
        while stem.lower() in used:
            stem, n = f"{base}-{n}", n + 1
        used.add(stem.lower())
        stems.append(stem)
    return stems


def failure_summary(outcomes: list[Outcome], shown: int = 3) -> str | None:
    """One line naming every failed image and why (the first few in full), or None when all worked."""
    failed = [o for o in outcomes if not o.ok]
    if not failed:
        return None
    if len(outcomes) == 1:
        return failed[0].error
    reasons = "; ".join(o.error for o in failed[:shown])
    more = f"; and {len(failed) - shown} more" if len(failed) > shown else ""
    written = len(outcomes) - len(failed)
    return f"{len(failed)} of {len(outcomes)} images failed ({written} written): {reasons}{more}"


def run_projection(images: list[str | os.PathLike], checkpoint: str, options: ProjectOptions,
                   device: str = "cpu") -> list[Outcome]:
    """Project every image; return one Outcome per image, in order. User errors that stop the whole
    job (output folder, checkpoint, VGG16 weights, PyAV for --video) raise before any projection."""
    started = time.perf_counter()
    loss, weights = choose_loss(options.loss, options.vgg_weights)
    if options.video:
        from .video import require_av

        require_av()
    out_dir = _output_folder(options.out_dir)
    G = load_generator(checkpoint, device=device, fp16=False)  # fp32 gradients; the show may still use fp16
    perceptual = PerceptualDistance(load_vgg16(weights, G.device)).to(G.device) if weights is not None else None
    settings = ProjectionSettings(steps=options.steps, loss=loss, mse_weight=options.mse_weight, seed=options.seed)
    context = {
        "checkpoint": str(checkpoint), "checkpoint_sha256": checkpoint_fingerprint(str(checkpoint)),
        "generator": {"resolution": G.resolution, "num_ws": G.num_ws, "w_dim": G.w_dim, "describe": G.cfg.describe()},
        "vgg16_weights": str(weights) if weights is not None else None, "device": str(G.device),
    }

    outcomes = [Outcome(Path(p)) for p in images]
    ready: list[tuple[int, Target]] = []
    for i, outcome in enumerate(outcomes):
        try:
            ready.append((i, load_target(outcome.image, G.resolution)))
        except ImageInputError as exc:
            outcome.error = str(exc)
            log.warning("skipped: %s", exc)
    stems = dict(zip((i for i, _ in ready), output_stems([t.path for _, t in ready])))
    spread = w_spread(G)
    for first in range(0, len(ready), options.batch):
        chunk = ready[first:first + options.batch]
        _project_chunk(G, chunk, stems, settings, perceptual, spread, options, out_dir, context, outcomes)
    done = sum(o.ok for o in outcomes)
    log.info("projected %d of %d images into %s in %.1f s", done, len(outcomes), out_dir, time.perf_counter() - started)
    return outcomes


def _output_folder(path: Path) -> Path:
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise StylevjError(f"{path}: exists and is not a folder (--out needs a folder)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StylevjError(f"{path}: cannot create the output folder ({exc.strerror or exc})") from None
    return path


def _project_chunk(G, chunk, stems, settings, perceptual, spread, options, out_dir, context, outcomes) -> None:
    """Project one batch of targets together, then write each image's files (a write error fails that image only)."""
    targets = torch.stack([t.tensor() for _, t in chunk])
    names = [t.path.name for _, t in chunk]
    label = names[0] + (f" +{len(names) - 1} more" if len(names) > 1 else "")
    bar = progress_bar(settings.steps, label, "step")
    videos = _open_videos(len(chunk), G.resolution) if options.video else []
    every = 1
    if videos:
        from .video import frame_every

        every = frame_every(settings.steps)

    def on_step(info: StepInfo) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{float(info.losses['total'].mean()):.5f}", refresh=False)
        if videos and (info.step % every == 0 or info.step == info.steps - 1):
            for video, (_, target), image in zip(videos, chunk, info.images):
                video.add(np.concatenate([target.pixels, to_rgb8(image)], axis=1))

    try:
        result = project(G, targets, settings, perceptual, on_step=on_step, spread=spread)
    except torch.cuda.OutOfMemoryError:
        bar.close()
        for video in videos:
            video.close()
        for i, target in chunk:
            outcomes[i].error = f"{target.path}: out of GPU memory projecting {len(chunk)} images at once (try --batch 1)"
            log.warning("%s", outcomes[i].error)
        return
    bar.close()
    for n, (i, target) in enumerate(chunk):
        try:
            outcomes[i].files, outcomes[i].record = _write_outputs(
                out_dir / stems[i], target, result, n, len(chunk), settings, context, videos[n] if videos else None)
        except (OSError, StylevjError) as exc:
            outcomes[i].error = f"{target.path}: cannot write its results to {out_dir} ({getattr(exc, 'strerror', None) or exc})"
            log.warning("%s", outcomes[i].error)


def _open_videos(count: int, resolution: int) -> list:
    from .video import ConvergenceVideo

    return [ConvergenceVideo(2 * resolution, resolution) for _ in range(count)]


def _write_outputs(base: Path, target: Target, result, n: int, batch: int, settings: ProjectionSettings,
                   context: dict, video) -> tuple[tuple[Path, ...], dict]:
    """Keyframe, side-by-side PNG, optional video, then the JSON record; returns (files, record)."""
    def named(ext: str) -> Path:
        return base.parent / f"{base.name}{ext}"  # not with_suffix: 'my.face' must stay whole

    files = [save_keyframe(Keyframe(result.ws[n].cpu(), base.name, f"projected:{target.path.name}"), named(".safetensors"))]
    files.append(save_png(np.concatenate([target.pixels, to_rgb8(result.images[n])], axis=1), named(".png")))
    if video is not None:
        files.append(video.finish(named(".mp4")))
    losses = {k: round(float(v[n]), 6) for k, v in result.losses.items()}
    record = {
        "image": str(target.path), "image_sha256": target.sha256, "image_size": list(target.size),
        "input_notes": list(target.notes),
        **context,
        "keyframe": files[0].name, "comparison": files[1].name, "video": files[2].name if video is not None else None,
        "keyframe_name": base.name, "keyframe_source": f"projected:{target.path.name}",
        "steps": settings.steps, "loss": settings.loss, "mse_weight": settings.mse_weight if settings.loss == "both" else None,
        "seed": settings.seed, "final": losses,
        "seconds": round(result.seconds, 3), "batch_images": batch,
        "stylevj": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    payload = (json.dumps(record, indent=2) + "\n").encode()
    files.append(atomic_write(named(".json"), payload))
    log.info("%s -> %s (PSNR %.1f dB, loss %.5f)", target.path.name, files[0],
             losses["psnr_db"], losses["total"])
    return tuple(files), record
