"""`stylevj doctor`: one screen that says what this machine will do for a show, and why.

Every check makes one `Finding`:

- ok: works as it should;
- degraded: works, by a fallback the detail names (host copy, CPU, software GL, a free port);
- missing: an optional part is absent; `fix` is the one command that adds it, where there is one;
- fail: something every show needs does not work (torch, an OpenGL 3.3 context, one frame of
  the generator, a way for frames to reach GL). `show_can_run` is False only then.

The checks do the real thing where it is cheap: the demo generator makes a frame, a GL context is
made the way `stylevj run` makes one (a hidden glfw window when there is a display, else headless
EGL), the frame path is chosen by the show's own probe (`choose_sink`) and a test frame goes
through it and back, and the show's ports are bound with real sockets. A check that raises
becomes its own line; `diagnose` never raises. Torch, GL and the rest are imported inside the
checks, so a broken install is a line of the report rather than a traceback.

What a check depends on can be handed in (an `Nvml` over a stand-in library, the ways to make a
GL surface, the monitor and sound-device listers, the environment), so tests reach the degraded
and failing paths without patching globals.

The checks live by what they check: `runtime.py` (torch, CUDA, the GPU, precision, compile, the
generator, NVML), `screen.py` (OpenGL, the frame path, monitors), `network.py` (ports, the
checkpoint cache), `media.py` (PyAV, sound inputs); `report.py` holds `Finding` and the screen,
`diagnosis.py` runs them all in order.
"""

from .diagnosis import diagnose
from .network import bind_problem, free_port_near
from .report import STATUSES, Finding, format_report, show_can_run

__all__ = ["STATUSES", "Finding", "bind_problem", "diagnose", "format_report", "free_port_near", "show_can_run"]
