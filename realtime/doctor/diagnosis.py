"""`diagnose`: every check of `stylevj doctor`, in the report's order (see the package's doc)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..choices import OSC_PORT, PAGE_PORT
from .media import check_audio, check_ndi, check_pyav
from .network import check_cache, check_osc_port, check_page_port
from .report import Finding, one_line, safely
from .runtime import (check_compile, check_cuda, check_generator, check_gpu, check_nvml, check_precision,
                      check_stylevj, check_torch)
from .screen import SurfaceMaker, check_frame_path, check_monitors, open_gl, show_surfaces

if TYPE_CHECKING:
    from ..overlay import Nvml

log = logging.getLogger(__name__)


def diagnose(
    device: str = "auto",
    *,
    osc_port: int | None = None,
    control_port: int | None = None,
    generator: str = "demo",
    nvml: Nvml | None = None,
    surfaces: Sequence[tuple[str, SurfaceMaker]] | None = None,
    monitors: Callable[[], Sequence[Any]] | None = None,
    audio_inputs: Callable[[], Sequence[Any]] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Every check, in the report's order.

    device: 'auto', 'cpu' or 'cuda[:N]', as `stylevj run --device`. osc_port / control_port:
    the ports a show would take (None: the defaults, OSC_PORT and PAGE_PORT). nvml: an NVML
    session (None: a new one over pynvml, shut down at the end). surfaces: (label, maker) pairs
    tried in order for a GL context (None: `show_surfaces(environ)`). monitors / audio_inputs:
    listers (None: `realtime.display.list_monitors`, `realtime.audio.list_input_devices`).
    environ: where DISPLAY and WAYLAND_DISPLAY are read (None: os.environ).
    """
    environ = os.environ if environ is None else environ
    osc_port = OSC_PORT if osc_port is None else osc_port
    page_port_chosen = control_port is not None  # run serves the page elsewhere only when no port was given
    control_port = PAGE_PORT if control_port is None else control_port
    own_nvml = nvml is None
    if nvml is None:
        try:
            from ..overlay import Nvml

            nvml = Nvml()
        except Exception as exc:  # noqa: BLE001 - the overlay package needs torch; say so on the NVML line
            nvml = NoNvml(f"the overlay did not load: {one_line(exc)}")
    try:
        findings = [safely("stylevj", False, check_stylevj)]
        torch_line = safely("torch", True, check_torch)
        findings.append(torch_line)
        if torch_line.status == "fail":
            findings += [Finding(name, "fail" if required else "missing", "not checked: torch is unusable")
                         for name, required in (("CUDA", False), ("GPU", False), ("precision", False), ("compile", False),
                                                ("generator", True), ("OpenGL", True), ("frame path", True))]
        else:
            findings += torch_checks(device, generator, nvml, show_surfaces(environ) if surfaces is None else surfaces)
        findings.append(safely("NVML", False, check_nvml, nvml))
        findings.append(safely("PyAV", False, check_pyav))
        findings.append(safely("checkpoints", False, check_cache))
        findings.append(safely("OSC port", False, check_osc_port, osc_port))
        findings.append(safely("page port", False, check_page_port, control_port, page_port_chosen))
        findings.append(safely("monitors", False, check_monitors, environ, monitors))
        findings.append(safely("audio in", False, check_audio, audio_inputs))
        findings.append(safely("NDI", False, check_ndi))
    finally:
        if own_nvml:
            nvml.shutdown()
    return findings


class NoNvml:
    """An NVML session that could not even be made (its module failed to import)."""

    available = False

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def query(self, func: Any, *args: Any, default: Any = None) -> Any:
        return default

    def shutdown(self) -> None:
        pass


def torch_checks(device: str, generator: str, nvml: Nvml, surfaces: Sequence[tuple[str, SurfaceMaker]]) -> list[Finding]:
    """CUDA, GPU, precision, generator, OpenGL and the frame path: everything that needs torch."""
    try:
        cuda_line, device = check_cuda(device)
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install is a line of the report
        cuda_line, device = Finding("CUDA", "fail", f"cannot ask torch about CUDA ({one_line(exc)})"), "cpu"
    findings = [cuda_line,
                safely("GPU", False, check_gpu, device, nvml),
                safely("precision", False, check_precision, device),
                safely("compile", False, check_compile, device),
                safely("generator", True, check_generator, generator, device)]
    gl_line, surface = open_gl(surfaces)
    findings.append(gl_line)
    try:
        findings.append(safely("frame path", True, check_frame_path, surface, device))
    finally:
        if surface is not None:
            try:
                surface.close()
            except Exception as exc:  # noqa: BLE001 - the report is already made
                log.debug("closing the doctor's GL surface failed: %s", one_line(exc))
    return findings
