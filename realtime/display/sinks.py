"""Choosing how frames reach GL: CUDA-GL interop when it works here, else the host copy.

`choose_sink` picks the fastest sink that works and says why in one line for the log.
"""

from __future__ import annotations

from typing import Literal

import moderngl
import torch

from ..errors import StylevjError
from .errors import InteropError
from .frames import FrameSink, HostSink
from .interop import InteropSink, load_cudart
from ..choices import SINK_MODES

SinkMode = Literal["auto", "interop", "host"]


def interop_unavailable(ctx: moderngl.Context, device: torch.device) -> str | None:
    """Why CUDA-GL interop cannot work for a generator on `device` drawing into `ctx`; None if it may."""
    if device.type != "cuda":
        return "generator on CPU" if device.type == "cpu" else f"generator on {device.type}"
    if not torch.cuda.is_available():
        return "torch has no CUDA here"
    try:
        load_cudart()
    except InteropError as exc:
        return str(exc)
    vendor = ctx.info.get("GL_VENDOR", "")
    renderer = ctx.info.get("GL_RENDERER", "")
    if "nvidia" not in f"{vendor} {renderer}".lower():
        return f"GL renderer is {renderer or 'unknown'} ({vendor or 'unknown vendor'}), not NVIDIA"
    return None


def choose_sink(mode: SinkMode | str, ctx: moderngl.Context, device: str | torch.device) -> tuple[FrameSink, str]:
    """The sink for `mode` plus a one-line reason for the log.

    'host' always gives the host copy; 'auto' gives interop when it works here (a texture was
    registered, mapped and written as a probe), else the host copy with the reason; 'interop' gives interop or raises `InteropError` (a `StylevjError`).
    """
    if mode not in SINK_MODES:
        raise StylevjError(f"frame sink must be one of {', '.join(SINK_MODES)}, got {mode!r}")
    device = torch.device(device)
    if mode == "host":
        return HostSink(ctx), "host copy: asked for"
    reason = interop_unavailable(ctx, device)
    if reason is None:
        try:
            sink = InteropSink(ctx, device)
            sink.probe()  # a real texture registered and mapped: the first frame will not be the test
        except InteropError as exc:
            reason = str(exc)
        except Exception as exc:  # any failure of a driver, binding or GL: the host copy still works
            reason = f"CUDA-GL interop probe failed ({type(exc).__name__}: {exc})"
        else:
            return sink, f"interop: CUDA-GL on {ctx.info.get('GL_RENDERER', 'the GL device')}"
    if mode == "interop":
        raise InteropError(f"interop impossible: {reason}")
    return HostSink(ctx), f"host copy: {reason}"
