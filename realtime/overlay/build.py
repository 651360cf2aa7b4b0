"""The overlay a show gets: both panels built from the preset, each on or off, and the poller.

Both panels are always built when a font is at hand (so a key or an OSC message can show a
panel the preset left off); `panels` (from `--overlay tensor,gpu` or the preset's flags) says
which start visible. The telemetry poller is built here but started by the show's session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StylevjError
from .gpu import TelemetryPoller
from .gpu_panel import GpuPanel
from .panel import Panel
from .terminal import TerminalPanel
from .text import check_font, find_font

log = logging.getLogger(__name__)

PANELS = ("tensor", "gpu")


def parse_panels(text: str) -> frozenset[str]:
    """'tensor,gpu', 'gpu' or 'none' -> the panel names; anything else is a `StylevjError`."""
    names = {n.strip().lower() for n in text.split(",") if n.strip()}
    if names == {"none"}:
        return frozenset()
    unknown = sorted(names - set(PANELS))
    if unknown or not names:
        raise StylevjError(f"--overlay takes a comma list of {', '.join(PANELS)} (or none), got {text!r}")
    return frozenset(names)


@dataclass
class Overlays:
    """The panels for `Show.overlays` and the telemetry poller behind the GPU panel."""

    panels: list[Panel] = field(default_factory=list)
    poller: TelemetryPoller | None = None

    def panel(self, name: str) -> Panel | None:
        return next((p for p in self.panels if p.name == name), None)

    def start_telemetry(self) -> Overlays:
        """For a show without a session (`stylevj render`): poll once now, so the first frame
        already shows a sample (or, without NVML, says why in words), then keep polling on the
        poller's thread as the stage does. Nothing to do without a GPU panel."""
        if self.poller is not None and self.panel("gpu") is not None and not self.poller.running:
            self.poller.poll_once()
            self.poller.start()
            first = self.poller.latest()
            if first is not None:
                log.info("GPU panel: %s", ", ".join(g.name or f"GPU {g.index}" for g in first.gpus) or "no GPU listed"
                         if first.nvml_available else f"CPU and RAM ({first.nvml_reason})")
        return self

    def close(self) -> None:
        """Stop the poll thread (GL objects go with the context)."""
        if self.poller is not None:
            self.poller.stop()


def build_overlays(settings, panels: Iterable[str] | None = None, font: str | Path | None = None,
                   base_dir: Path = Path("."), poller: TelemetryPoller | None = None) -> Overlays:
    """Panels from `settings` (a preset's `OverlaySettings`).

    panels: names visible at start (None: the preset's `tensor` / `gpu` flags). font: a path
    from the command line (relative to the working folder); otherwise the preset's `font`
    (relative to `base_dir`), otherwise DejaVu Sans Mono from matplotlib. A missing or broken
    font is a `StylevjError` when a panel is wanted or a font was named; otherwise the show runs
    without panels and says so in the log.
    """
    visible = set(panels) if panels is not None else {name for name in PANELS if getattr(settings, name)}
    named = font if font is not None else (base_dir / Path(settings.font).expanduser() if settings.font else None)
    try:
        path = find_font(named)
        check_font(path)
    except StylevjError as exc:
        if visible or named is not None:
            raise
        log.info("overlay panels not available: %s", exc)
        return Overlays()
    poller = poller or TelemetryPoller()
    tensor = TerminalPanel(path, settings.tensor_rect, settings.font_size, settings.opacity,
                           settings.tensor_rows, settings.tensor_hz)
    gpu = GpuPanel(path, poller.latest, settings.gpu_rect, settings.font_size, settings.opacity)
    for panel in (tensor, gpu):
        panel.visible = panel.name in visible
    log.info("overlay: %s (font %s)", ", ".join(sorted(visible)) or "built, hidden", path)
    return Overlays([tensor, gpu], poller)
