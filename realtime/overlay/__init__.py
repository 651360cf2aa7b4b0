"""The overlay: the live W+ as a terminal print and an nvitop-style GPU panel, over the picture.

    overlays = build_overlays(preset.overlay, panels={"tensor", "gpu"}, font=None, base_dir=preset.base_dir)
    show = Show(..., overlays=overlays.panels)           # each is a realtime.display.Overlay
    ShowSession(show, telemetry=overlays.poller)          # starts and stops the telemetry thread

What the panels show is plain data made off the GL path: `TensorPrint` (PyTorch's own print of
a W+ slice) and `Telemetry` snapshots from `TelemetryPoller` (NVML through the single
`Nvml.query`, or the host's CPU and RAM when there is no NVIDIA driver). How they are drawn:
a glyph atlas of a monospace TrueType font and instanced quads (`text.py`, `shaders/text.*`).
"""

from .build import PANELS, Overlays, build_overlays, parse_panels
from .gpu import GpuProcess, GpuSample, HostSample, Telemetry, TelemetryPoller, TelemetrySource
from .gpu_panel import GpuPanel, telemetry_lines
from .nvml import Nvml
from .panel import Panel
from .terminal import TensorPrint, TerminalPanel
from .text import GlyphAtlas, find_font, pixel_size

__all__ = [
    "PANELS", "GlyphAtlas", "GpuPanel", "GpuProcess", "GpuSample", "HostSample", "Nvml", "Overlays", "Panel",
    "Telemetry", "TelemetryPoller", "TelemetrySource", "TensorPrint", "TerminalPanel", "build_overlays",
    "find_font", "parse_panels", "pixel_size", "telemetry_lines",
]
