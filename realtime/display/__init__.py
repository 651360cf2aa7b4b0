"""The display layer: frames from the generator onto a window or an offscreen framebuffer.

    surface = Window(fullscreen=True, monitor="HDMI")     # or HeadlessSurface((1280, 720))
    compositor = Compositor(surface.ctx, fit="contain")
    sink, why = choose_sink("auto", surface.ctx, device)  # log `why`
    while not surface.should_close:
        sink.upload(frame, event)                          # newest finished frame, when there is one
        compositor.draw(surface, sink.current, sink.previous, mix, overlays)
        surface.present()

Everything here runs on the thread that owns the GL context (the main thread). Knows nothing
of the generator, the latent path or OSC: it takes RGBA8 tensors and key presses.
"""

from .compositor import Compositor, Fit, Overlay, fit_image
from .errors import DisplayError, InteropError, ShaderError
from .frames import FrameSink, HostSink
from .sinks import SINK_MODES, choose_sink, interop_unavailable
from .headless import HeadlessSurface, create_headless_context
from .keys import Action, KeyEvent, KeyMap
from .shaders import ShaderLibrary
from .surface import Surface
from .window import MonitorInfo, VideoMode, Window, find_monitor, list_monitors

__all__ = [
    "SINK_MODES", "Action", "Compositor", "DisplayError", "Fit", "FrameSink", "HeadlessSurface", "HostSink",
    "InteropError", "KeyEvent", "KeyMap", "MonitorInfo", "Overlay", "ShaderError", "ShaderLibrary", "Surface",
    "VideoMode", "Window", "choose_sink", "create_headless_context", "find_monitor", "fit_image",
    "interop_unavailable", "list_monitors",
]
