"""The doctor's checks of what runs the generator: stylevj, torch, CUDA, the GPU, precision,
torch.compile, one frame of the generator, and NVML (the GPU panel's numbers)."""

from __future__ import annotations

import platform
import time
from typing import TYPE_CHECKING

from .. import __version__
from .report import Finding, one_line

if TYPE_CHECKING:
    from ..overlay import Nvml


def check_stylevj() -> Finding:
    """stylevj's version and the Python and platform under it."""
    return Finding("stylevj", "ok", f"{__version__}, Python {platform.python_version()} on {platform.system()} "
                                    f"{platform.machine()}")


def check_torch() -> Finding:
    """Torch imports and computes."""
    try:
        import torch

        torch.ones(2).add(1).sum().item()  # a broken build fails here, not mid-show
    except Exception as exc:  # noqa: BLE001 - ImportError, OSError of a missing library, ...
        return Finding("torch", "fail", f"unusable ({one_line(exc)})", fix="pip install torch")
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
    return Finding("torch", "ok", f"{torch.__version__} ({build})")


def check_cuda(device: str) -> tuple[Finding, str]:
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
            return Finding("CUDA", "fail", f"--device {device}: {one_line(exc)}", fix="stylevj doctor --device auto"), "cpu"
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


def check_gpu(device: str, nvml: Nvml) -> Finding:
    """The GPU torch uses, or the one NVML sees that torch cannot use."""
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


def check_precision(device: str) -> Finding:
    """Whether fp16 layers pay here (tensor cores)."""
    if not device.startswith("cuda"):
        return Finding("precision", "degraded", "fp32 on CPU")
    import torch

    major, minor = torch.cuda.get_device_capability(device)
    if major >= 7:
        return Finding("precision", "ok", f"fp16 layers on CUDA (tensor cores, compute {major}.{minor})")
    return Finding("precision", "degraded", f"fp16 layers on compute {major}.{minor}: no tensor cores, little gain")


def check_compile(device: str) -> Finding:
    """Whether torch.compile can build code here (a compiler, triton on CUDA)."""
    from ..models.compiled import compiler_missing

    missing = compiler_missing(device)
    if missing:
        fix = "pip install triton" if device.startswith("cuda") else "apt install g++"
        reason = missing.partition(" (")[0]  # the message's own hint in brackets is the fix line here
        return Finding("compile", "missing", f"{reason}: stylevj run --compile would run eagerly", fix=fix)
    return Finding("compile", "ok", "torch.compile can build code here (stylevj run --compile; docs/performance.md)")


def check_generator(source: str, device: str) -> Finding:
    """Load `source` and make four frames: the first pays the warm-up, the median of the other
    three is the pace."""
    import torch

    from ..errors import StylevjError
    from ..models import load_generator
    from ..models.seeds import z_from_seed

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


def check_nvml(nvml: Nvml) -> Finding:
    """NVML, which gives the GPU panel its numbers."""
    if not nvml.available:
        reason = nvml.reason  # in words: 'no NVIDIA driver on this machine (NVML Shared Library Not Found)'
        fix = "pip install nvidia-ml-py" if "pynvml" in reason else ""
        return Finding("NVML", "missing", f"no NVML: {reason}; the GPU panel shows CPU and RAM", fix=fix)
    driver = nvml.query("nvmlSystemGetDriverVersion", default="?")
    cuda = nvml.query("nvmlSystemGetCudaDriverVersion")
    count = nvml.query("nvmlDeviceGetCount", default=0)
    cuda_text = f", CUDA {cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else ""
    return Finding("NVML", "ok", f"driver {driver}{cuda_text}, {count} GPU(s): the GPU panel shows them")
