"""torch.compile of the generator (`stylevj run --compile`), really compiled on this CPU.

The compiled function must draw what eager draws (parity within the fp32 tolerance), and
anything else (a noise mode it cannot match, a picture that differs) is refused with a reason.
Compiling takes seconds here (inductor's on-disk cache makes a second run fast).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realtime.models import compile_synthesis, load_generator
from realtime.models.compiled import compiler_missing, relative_error

from .conftest import stylevj

needs_compiler = pytest.mark.skipif(compiler_missing("cpu") is not None,
                                    reason=f"torch.compile on CPU: {compiler_missing('cpu')}")


@needs_compiler
def test_the_compiled_generator_draws_what_eager_draws(fixtures):
    G = load_generator(fixtures / "nvada_tiny.pkl")
    compiled, why = compile_synthesis(G)
    assert compiled is not None, why
    assert why.startswith("torch.compile: compiled in")
    ref = torch.from_numpy(np.load(fixtures / "nvada_tiny_ref.npz")["ws"])
    with torch.inference_mode():
        for ws in ref:
            assert relative_error(compiled(ws[None]), G.synthesis(ws[None], noise_mode="const")) < 1e-4


@needs_compiler
def test_what_compile_cannot_match_is_refused_with_the_reason(fixtures):
    G = load_generator(fixtures / "nvada_tiny.pkl")
    compiled, why = compile_synthesis(G, noise_mode="random")
    assert compiled is None and "noise mode 'random'" in why
    compiled, why = compile_synthesis(G, tolerance=-1.0)  # nothing can be that close: the parity gate shuts
    assert compiled is None and "differs from eager by" in why and why.endswith("eager synthesis")


def test_relative_error_treats_non_finite_output_as_a_mismatch():
    a = torch.ones(4)
    assert relative_error(a, a) == 0.0
    assert relative_error(torch.tensor([1.0, float("nan")]), torch.ones(2)) == float("inf")
    assert abs(relative_error(torch.tensor([1.0, 1.5]), torch.tensor([1.0, 2.0])) - 0.25) < 1e-7


def test_without_a_compiler_compile_is_refused_at_once(fixtures, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CXX", raising=False)
    assert "no C++ compiler found" in compiler_missing("cpu")
    compiled, why = compile_synthesis(load_generator(fixtures / "nvada_tiny.pkl"))
    assert compiled is None and why.startswith("torch.compile skipped: no C++ compiler found")


@needs_compiler
def test_run_compile_plays_a_show_on_the_compiled_generator(fixtures, tmp_path):
    result = stylevj("run", "--checkpoint", str(fixtures / "nvada_tiny.pkl"), "--compile", "--headless",
                     "--frames", "5", "--snapshot", str(tmp_path / "a.png"), "--no-control", "--no-osc",
                     "--journal", str(tmp_path / "journal.toml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "torch.compile: compiled in" in result.stderr
    assert (tmp_path / "a.png").stat().st_size > 0
