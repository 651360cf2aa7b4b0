"""`torch.compile` for the show's unbent frames, accepted only when it draws what eager draws.

Inductor fuses what eager PyTorch launches op by op: each layer's epilogue (bias, noise, leaky
ReLU times sqrt 2, clamp, cast) and the demodulation arithmetic become a few generated kernels.
Whether that wins depends on the machine (docs/performance.md has the measurements), and
compiling costs tens of seconds at start, so it is opt-in (`stylevj run --compile`,
`stylevj bench --compile`). The compiled function is checked against eager synthesis on two W+
before it is used; a compiler error, a graph break or a picture that differs is one log line
and eager synthesis, never a different show.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import time
from collections.abc import Callable
from functools import partial

import torch

# Relative error (max|a-b| / max|b|) allowed against eager on the same device and precision: fp32
# is the parity tests' tolerance; fp16 layers reorder half-precision sums, as NVIDIA's kernels do.
TOLERANCE_FP32 = 1e-4
TOLERANCE_FP16 = 2e-2
COMPILABLE_NOISE = ("const", "none")  # random noise draws differ between eager and compiled

Synthesis = Callable[[torch.Tensor], torch.Tensor]


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max|a - b| / max|b| in fp32 (inf when either is not finite)."""
    a, b = a.float(), b.float()
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        return float("inf")
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def compiler_missing(device: torch.device | str) -> str | None:
    """Why inductor cannot generate code for `device` here (None: it can try): a CPU needs a C++
    compiler, CUDA needs Triton."""
    if torch.device(device).type == "cuda":
        if importlib.util.find_spec("triton") is None:  # inductor writes its CUDA kernels in Triton
            return "Triton is not installed (pip install triton)"
        return None
    candidates = [os.environ.get("CXX", ""), "g++", "c++", "clang++"]
    if not any(name and shutil.which(name) for name in candidates):
        return "no C++ compiler found for inductor's CPU code (apt install g++)"
    return None


def compile_synthesis(G, noise_mode: str = "const", tolerance: float | None = None) -> tuple[Synthesis | None, str]:
    """(compiled unbent synthesis of `G` for batch-1 W+, why) or (None, why not).

    The weights must not change afterwards (the compiled code holds the load-time constants);
    a show never changes them. Takes tens of seconds: call it before the show starts.
    """
    if noise_mode not in COMPILABLE_NOISE:
        return None, f"torch.compile skipped: noise mode '{noise_mode}' draws new noise each frame"
    missing = compiler_missing(G.device)
    if missing:
        return None, f"torch.compile skipped: {missing}: eager synthesis"
    if tolerance is None:
        tolerance = TOLERANCE_FP16 if getattr(G, "uses_fp16", False) else TOLERANCE_FP32
    started = time.perf_counter()
    eager = partial(G.synthesis, noise_mode=noise_mode)
    rng = torch.Generator().manual_seed(0)
    try:
        with torch.inference_mode():
            ws = [G.mapping(torch.randn(1, G.z_dim, generator=rng).to(G.device), truncation_psi=0.7)
                  for _ in range(2)]
            compiled = torch.compile(eager, dynamic=False, fullgraph=True)
            error = max(relative_error(compiled(w), eager(w)) for w in ws)
    except Exception as exc:  # the compiler is an optimisation: eager draws the same frames
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return None, f"torch.compile failed ({type(exc).__name__}: {first[:160]}): eager synthesis"
    if not error <= tolerance:
        return None, f"torch.compile differs from eager by {error:.1e} (> {tolerance:g}): eager synthesis"
    return compiled, (f"torch.compile: compiled in {time.perf_counter() - started:.0f} s, "
                      f"differs from eager by {error:.1e}")
