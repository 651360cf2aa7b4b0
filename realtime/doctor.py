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
"""

from __future__ import annotations

import logging
import os
import platform
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import __version__
from .choices import OSC_PORT, PAGE_PORT

if TYPE_CHECKING:
    from .display import Surface
    from .overlay import Nvml

log = logging.getLogger(__name__)

STATUSES = ("ok", "degraded", "missing", "fail")
SOFTWARE_RENDERERS = ("llvmpipe", "softpipe", "swrast")  # Mesa's CPU rasterisers
H264_ENCODERS = ("libx264", "h264_nvenc", "h264_qsv", "h264_vaapi", "h264_amf", "h264_videotoolbox", "h264_mf",
                 "h264_v4l2m2m", "libopenh264")
GL_FIX = "apt install libegl1 libegl-mesa0 libgl1-mesa-dri"  # Debian/Ubuntu: EGL and Mesa (CI's packages)
HEADLESS_RUN = "stylevj run --headless --seconds 5 --snapshot out.png"

SurfaceMaker = Callable[[], "Surface"]


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was checked, how it stands, and what to do about it."""

    name: str
    status: str  # one of STATUSES
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")


def has_display(environ: Mapping[str, str]) -> bool:
    """Whether a window could open here: an X11 or Wayland display is named."""
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def show_surfaces(environ: Mapping[str, str]) -> list[tuple[str, SurfaceMaker]]:
    """The ways `stylevj run` gets a GL context here, in the order the doctor tries them."""
    headless = ("headless EGL", _headless_surface)
    return [("window", _hidden_window), headless] if has_display(environ) else [headless]


def _hidden_window() -> Surface:
    from .display import Window

    return Window((64, 64), title="stylevj doctor", visible=False)


def _headless_surface() -> Surface:
    from .display import HeadlessSurface

    return HeadlessSurface((16, 16))


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
    control_port = PAGE_PORT if control_port is None else control_port
    own_nvml = nvml is None
    if nvml is None:
        try:
            from .overlay import Nvml

            nvml = Nvml()
        except Exception as exc:  # noqa: BLE001 - the overlay package needs torch; say so on the NVML line
            nvml = _NoNvml(f"the overlay did not load: {_why(exc)}")
    try:
        findings = [_safely("stylevj", False, _check_stylevj)]
        torch_line = _safely("torch", True, _check_torch)
        findings.append(torch_line)
        if torch_line.status == "fail":
            findings += [Finding(name, "fail" if required else "missing", "not checked: torch is unusable")
                         for name, required in (("CUDA", False), ("GPU", False), ("precision", False), ("compile", False),
                                                ("generator", True), ("OpenGL", True), ("frame path", True))]
        else:
            findings += _torch_checks(device, generator, nvml, show_surfaces(environ) if surfaces is None else surfaces)
        findings.append(_safely("NVML", False, _check_nvml, nvml))
        findings.append(_safely("PyAV", False, _check_pyav))
        findings.append(_safely("checkpoints", False, _check_cache))
        findings.append(_safely("OSC port", False, _check_osc_port, osc_port))
        findings.append(_safely("page port", False, _check_page_port, control_port))
        findings.append(_safely("monitors", False, _check_monitors, environ, monitors))
        findings.append(_safely("audio in", False, _check_audio, audio_inputs))
    finally:
        if own_nvml:
            nvml.shutdown()
    return findings


class _NoNvml:
    """An NVML session that could not even be made (its module failed to import)."""

    available = False

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def query(self, func: Any, *args: Any, default: Any = None) -> Any:
        return default

    def shutdown(self) -> None:
        pass


def _torch_checks(device: str, generator: str, nvml: Nvml, surfaces: Sequence[tuple[str, SurfaceMaker]]) -> list[Finding]:
    """CUDA, GPU, precision, generator, OpenGL and the frame path: everything that needs torch."""
    try:
        cuda_line, device = _check_cuda(device)
    except Exception as exc:  # noqa: BLE001 - a broken CUDA install is a line of the report
        cuda_line, device = Finding("CUDA", "fail", f"cannot ask torch about CUDA ({_why(exc)})"), "cpu"
    findings = [cuda_line,
                _safely("GPU", False, _check_gpu, device, nvml),
                _safely("precision", False, _check_precision, device),
                _safely("compile", False, _check_compile, device),
                _safely("generator", True, _check_generator, generator, device)]
    gl_line, surface = _open_gl(surfaces)
    findings.append(gl_line)
    try:
        findings.append(_safely("frame path", True, _check_frame_path, surface, device))
    finally:
        if surface is not None:
            try:
                surface.close()
            except Exception as exc:  # noqa: BLE001 - the report is already made
                log.debug("closing the doctor's GL surface failed: %s", _why(exc))
    return findings


def _safely(name: str, required: bool, check: Callable[..., Finding], *args: Any) -> Finding:
    """`check(*args)`, or a line saying it could not be checked: fail when a show needs it."""
    try:
        return check(*args)
    except Exception as exc:  # noqa: BLE001 - one broken check is one line, never a traceback
        log.debug("doctor: the %s check failed", name, exc_info=True)
        return Finding(name, "fail" if required else "missing", f"could not check ({_why(exc)})")


def _why(exc: BaseException) -> str:
    """One line: a user-facing error's own message, else the exception's type and first line."""
    from .errors import StylevjError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if text and isinstance(exc, StylevjError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# -- the checks, in the report's order ----------------------------------------------------------


def _check_stylevj() -> Finding:
    return Finding("stylevj", "ok", f"{__version__}, Python {platform.python_version()} on {platform.system()} "
                                    f"{platform.machine()}")


def _check_torch() -> Finding:
    try:
        import torch

        torch.ones(2).add(1).sum().item()  # a broken build fails here, not mid-show
    except Exception as exc:  # noqa: BLE001 - ImportError, OSError of a missing library, ...
        return Finding("torch", "fail", f"unusable ({_why(exc)})", fix="pip install torch")
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
    return Finding("torch", "ok", f"{torch.__version__} ({build})")


def _check_cuda(device: str) -> tuple[Finding, str]:
    """The CUDA line and the device the rest of the checks use (as `stylevj run` would pick it)."""
    import torch

    available = torch.cuda.is_available()
    build = torch.version.cuda
    if device == "auto":
        chosen = "cuda" if available else "cpu"
    else:
        try:
            chosen = str(torch.device(device))
        except (RuntimeError, ValueError) as exc:
            return Finding("CUDA", "fail", f"--device {device}: {_why(exc)}", fix="stylevj doctor --device auto"), "cpu"
    if available:
        count = torch.cuda.device_count()
        if not chosen.startswith("cuda"):
            return Finding("CUDA", "degraded", f"CUDA {build} works, but --device {device}: the generator runs on the CPU",
                           fix="stylevj run --device auto"), chosen
        index = torch.device(chosen).index or 0
        if index >= count:
            return Finding("CUDA", "fail", f"--device {device}, but torch sees {count} CUDA device(s)",
                           fix="stylevj run --device cuda:0"), "cpu"
        return Finding("CUDA", "ok", f"CUDA {build}, {count} device(s): the generator runs on {chosen}"), chosen
    why = "CPU-only torch build" if build is None else f"torch built for CUDA {build} sees no GPU: driver?"
    if chosen.startswith("cuda"):
        return Finding("CUDA", "fail", f"--device {device} asked for, but no CUDA ({why})",
                       fix="stylevj run --device cpu"), "cpu"
    return Finding("CUDA", "degraded", f"no CUDA ({why}): the generator runs on the CPU"), chosen


def _check_gpu(device: str, nvml: Nvml) -> Finding:
    import torch

    driver = nvml.query("nvmlSystemGetDriverVersion")
    driver_text = f"driver {driver}" if driver else "driver unknown (no NVML)"
    if torch.cuda.is_available():
        index = torch.device(device).index if device.startswith("cuda") else None
        props = torch.cuda.get_device_properties(torch.cuda.current_device() if index is None else index)
        text = (f"{props.name}, compute {props.major}.{props.minor}, {props.total_memory / 2**30:.0f} GiB, "
                f"{driver_text}")
        if device.startswith("cuda"):
            return Finding("GPU", "ok", text)
        return Finding("GPU", "degraded", f"{text}; unused (--device {device})")
    count = nvml.query("nvmlDeviceGetCount", default=0)
    if count:
        handle = nvml.query("nvmlDeviceGetHandleByIndex", 0)
        name = nvml.query("nvmlDeviceGetName", handle, default="an NVIDIA GPU") if handle is not None else "an NVIDIA GPU"
        return Finding("GPU", "degraded", f"{name} ({driver_text}) is here, but torch cannot use it: CPU only",
                       fix=f"install the CUDA build of torch for {driver_text} (pytorch.org)")
    return Finding("GPU", "degraded", "no NVIDIA GPU seen (no CUDA, no NVML): CPU only")


def _check_precision(device: str) -> Finding:
    if not device.startswith("cuda"):
        return Finding("precision", "degraded", "fp32 on CPU")
    import torch

    major, minor = torch.cuda.get_device_capability(device)
    if major >= 7:
        return Finding("precision", "ok", f"fp16 layers on CUDA (tensor cores, compute {major}.{minor})")
    return Finding("precision", "degraded", f"fp16 layers on compute {major}.{minor}: no tensor cores, little gain")


def _check_generator(source: str, device: str) -> Finding:
    """Load `source` and make four frames: the first pays the warm-up, the median of the other
    three is the pace."""
    import torch

    from .errors import StylevjError
    from .models import load_generator
    from .models.seeds import z_from_seed

    started = time.perf_counter()
    try:
        G = load_generator(source, device=device)
    except StylevjError as exc:
        return Finding("generator", "fail", f"{source}: {exc}")
    load_s = time.perf_counter() - started
    note = ""
    times, img = [], None
    for attempt in range(2):
        finite = True
        for _ in range(4):
            tic = time.perf_counter()
            with torch.inference_mode():
                img = G.synthesis(G.mapping(z_from_seed(0, G.z_dim, G.device)), noise_mode="const")
                finite &= bool(torch.isfinite(img).all())  # .all() to a bool also waits for the device
            times.append(time.perf_counter() - tic)
        if finite:
            break
        if attempt == 0 and G.device.type == "cuda" and G.synthesis.fp16:
            G.set_precision(False)  # what the show does with a non-finite fp16 frame
            note, times = "; fp16 gave a non-finite frame, fp32 works", []
            continue
        return Finding("generator", "fail", f"{source} on {device}: the frame is not finite (NaN or inf)")
    ms, first_ms = sorted(times[1:])[1] * 1000, times[0] * 1000
    text = (f"{source} {img.shape[3]}x{img.shape[2]} on {device}: a finite frame in {ms:.0f} ms "
            f"(about {1000 / max(ms, 1e-3):.0f}/s; first {first_ms:.0f} ms, load {load_s:.1f} s){note}")
    return Finding("generator", "degraded" if note else "ok", text)


def _open_gl(surfaces: Sequence[tuple[str, SurfaceMaker]]) -> tuple[Finding, Surface | None]:
    """The OpenGL line and the first surface that could be made (the caller closes it)."""
    failed: list[str] = []
    for label, make in surfaces:
        try:
            surface = make()
            info = surface.ctx.info
        except Exception as exc:  # noqa: BLE001 - DisplayError, or anything a driver raises
            failed.append(f"{label}: {_why(exc)}")
            continue
        renderer, version = info.get("GL_RENDERER", "unknown renderer"), info.get("GL_VERSION", "?")
        text = f"{renderer}, OpenGL {version} ({label})"
        status, fix = "ok", ""
        if any(name in renderer.lower() for name in SOFTWARE_RENDERERS):
            status, text = "degraded", f"software rendering: {text}"
        if failed:
            status, fix = "degraded", HEADLESS_RUN
            text = f"{'; '.join(failed)}; {label} works: {text}"
        return Finding("OpenGL", status, text, fix=fix), surface
    reasons = "; ".join(failed) or "no way to make one was given"
    return Finding("OpenGL", "fail", f"no 3.3 context could be made ({reasons})", fix=GL_FIX), None


def _check_frame_path(surface: Surface | None, device: str) -> Finding:
    """The show's own choice (`choose_sink('auto')`, which probes interop with a real texture),
    then a test frame through it and read back from the texture; the sink is released here,
    before the caller closes the context."""
    if surface is None:
        return Finding("frame path", "fail", "not tried: no OpenGL context")
    import numpy as np
    import torch

    from .display import choose_sink

    sink, why = choose_sink("auto", surface.ctx, device)
    try:
        frame = torch.arange(8 * 8 * 4).remainder(251).to(torch.uint8).reshape(8, 8, 4)
        texture = sink.upload(frame.to(device))
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)
        back = np.frombuffer(texture.read(), dtype=np.uint8).reshape(8, 8, 4)
        if not np.array_equal(back, frame.numpy()):
            return Finding("frame path", "fail", f"{why}; a test frame came back changed",
                           fix="stylevj run --upload host" if sink.kind == "interop" else "")
    finally:
        sink.release()
    return Finding("frame path", "ok" if sink.kind == "interop" else "degraded", why)


def _check_nvml(nvml: Nvml) -> Finding:
    if not nvml.available:
        reason = nvml.reason
        if reason.startswith("NVMLError"):  # 'NVMLError_LibraryNotFound: NVML Shared Library Not Found'
            reason = reason.partition(": ")[2] or reason
        fix = "pip install nvidia-ml-py" if "pynvml" in reason else ""
        return Finding("NVML", "missing", f"no NVML ({reason}): the GPU panel shows CPU and RAM", fix=fix)
    driver = nvml.query("nvmlSystemGetDriverVersion", default="?")
    cuda = nvml.query("nvmlSystemGetCudaDriverVersion")
    count = nvml.query("nvmlDeviceGetCount", default=0)
    cuda_text = f", CUDA {cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else ""
    return Finding("NVML", "ok", f"driver {driver}{cuda_text}, {count} GPU(s): the GPU panel shows them")


def _check_compile(device: str) -> Finding:
    from .models.compiled import compiler_missing

    missing = compiler_missing(device)
    if missing:
        fix = "pip install triton" if device.startswith("cuda") else "apt install g++"
        reason = missing.partition(" (")[0]  # the message's own hint in brackets is the fix line here
        return Finding("compile", "missing", f"{reason}: stylevj run --compile would run eagerly", fix=fix)
    return Finding("compile", "ok", "torch.compile can build code here (stylevj run --compile; docs/performance.md)")


def _check_cache() -> Finding:
    from .catalog import CATALOG, cached_path
    from .download import default_cache_dir

    cached = [p.name for p in CATALOG if cached_path(p) is not None]
    if cached:
        return Finding("checkpoints", "ok", f"cached in {default_cache_dir()}: {', '.join(cached)} (no network needed)")
    return Finding("checkpoints", "ok", f"no published network cached in {default_cache_dir()} "
                                        "(stylevj models --fetch ffhq-1024 gets one ahead of a show)")


def _check_pyav() -> Finding:
    try:
        import av
    except ImportError as exc:
        return Finding("PyAV", "missing", f"not installed ({_why(exc)}): no video renders or recordings",
                       fix="pip install av")
    encoders = [name for name in H264_ENCODERS if _is_encoder(av, name)]
    if "libx264" in encoders:
        return Finding("PyAV", "ok", f"{av.__version__}, H.264 via libx264")
    others = f" ({', '.join(encoders)} here, unused)" if encoders else ""
    return Finding("PyAV", "degraded", f"{av.__version__} without libx264: h264 renders are MPEG-4 Part 2{others}",
                   fix="pip install --force-reinstall av")


def _is_encoder(av: Any, name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:  # noqa: BLE001 - UnknownCodecError, or not an encoder
        return False
    return True


def _check_osc_port(port: int) -> Finding:
    if port == 0:
        return Finding("OSC port", "ok", "UDP: any free port (0)")
    problem = bind_problem(socket.SOCK_DGRAM, "0.0.0.0", port)
    if problem is None:
        return Finding("OSC port", "ok", f"UDP {port} free")
    other = free_port_near(socket.SOCK_DGRAM, "0.0.0.0", port)
    return Finding("OSC port", "degraded", f"UDP {port} in use ({problem}): the show needs another",
                   fix=f"stylevj run --osc-port {other}" if other else "stylevj run --no-osc")


def _check_page_port(port: int) -> Finding:
    if port == 0:
        return Finding("page port", "ok", "TCP: any free port (0)")
    problem = bind_problem(socket.SOCK_STREAM, "127.0.0.1", port)
    if problem is None:
        return Finding("page port", "ok", f"TCP 127.0.0.1:{port} free")
    other = free_port_near(socket.SOCK_STREAM, "127.0.0.1", port)
    fix = f"stylevj run --control-port {other}" if other else "stylevj run --no-control"
    if port == PAGE_PORT:
        return Finding("page port", "degraded", f"TCP {port} in use ({problem}): the page takes a free one (logged)", fix=fix)
    return Finding("page port", "degraded", f"TCP {port} in use ({problem}): the show needs another", fix=fix)


def bind_problem(kind: int, host: str, port: int) -> str | None:
    """Why a socket of `kind` cannot bind host:port now (None: it can), bound as the show binds:
    UDP plainly (the OSC server), TCP with SO_REUSEADDR (asyncio's servers, the operator page)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def free_port_near(kind: int, host: str, port: int, tries: int = 50) -> int | None:
    """The first port after `port` that binds now, or None within `tries`."""
    for candidate in range(port + 1, min(port + 1 + tries, 65536)):
        if bind_problem(kind, host, candidate) is None:
            return candidate
    return None


def _check_monitors(environ: Mapping[str, str], lister: Callable[[], Sequence[Any]] | None) -> Finding:
    if not has_display(environ):
        return Finding("monitors", "degraded", "no display (DISPLAY, WAYLAND_DISPLAY unset): shows run offscreen",
                       fix=HEADLESS_RUN)
    if lister is None:
        from .display import list_monitors as lister
    from .display import DisplayError

    try:
        found = list(lister())
    except DisplayError as exc:
        return Finding("monitors", "degraded", f"{exc}: shows run offscreen", fix=HEADLESS_RUN)
    if not found:
        return Finding("monitors", "degraded", "no monitor connected: shows run offscreen", fix=HEADLESS_RUN)
    names = "; ".join(f"{m.index}: {m.name} {m.current}{' (primary)' if m.primary else ''}" for m in found)
    return Finding("monitors", "ok", names)


def _check_audio(lister: Callable[[], Sequence[Any]] | None) -> Finding:
    from .audio.errors import AudioDeviceError

    if lister is None:
        from .audio import list_input_devices as lister
    try:
        devices = list(lister())
    except AudioDeviceError as exc:
        import importlib.util

        if importlib.util.find_spec("sounddevice") is None:
            return Finding("audio in", "missing", "sounddevice not installed: --audio FILE still works",
                           fix="pip install 'stylevj[audio]'")
        if "PortAudio" in str(exc) or "portaudio" in str(exc):
            return Finding("audio in", "missing", "the PortAudio library is missing: --audio FILE still works",
                           fix="apt install libportaudio2")
        return Finding("audio in", "degraded", f"{exc}: --audio FILE still works")
    if not devices:
        return Finding("audio in", "degraded", "no sound input device: --audio FILE still works")
    default = next((d for d in devices if d.is_default), devices[0])
    return Finding("audio in", "ok", f"{len(devices)} input(s), default {default.name}")


# -- the report ---------------------------------------------------------------------------------


def show_can_run(findings: Sequence[Finding]) -> bool:
    """True unless something every show needs failed (a 'fail' line)."""
    return not any(f.status == "fail" for f in findings)


def format_report(findings: Sequence[Finding]) -> str:
    """The screen `stylevj doctor` prints: a line per finding, its fix under it, then the verdict."""
    width = max((len(f.name) for f in findings), default=0)
    lines = []
    for f in findings:
        lines.append(f"{f.status:<8}  {f.name:<{width}}  {f.detail}")
        if f.fix:
            lines.append(f"{'':<8}  {'':<{width}}  fix: {f.fix}")
    counts = {s: sum(f.status == s for f in findings) for s in STATUSES}
    if show_can_run(findings):
        rest = ", ".join(f"{counts[s]} {s}" for s in ("degraded", "missing") if counts[s])
        lines.append(f"\nA show can run here{f' ({rest})' if rest else ''}.")
    else:
        failed = ", ".join(f.name for f in findings if f.status == "fail")
        lines.append(f"\nNo show can run here: {failed} failed.")
    return "\n".join(lines)

