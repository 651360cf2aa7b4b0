"""Shared test set-up: where the reference fixtures live, and small helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("STYLEVJ_FIXTURES", REPO.parent / "shared" / "fixtures"))

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")


@pytest.fixture(scope="session")
def fixtures() -> Path:
    """../shared/fixtures beside the checkout; CI must have it, a lone clone skips with a reason."""
    if not (FIXTURES / "README.md").exists():
        if os.environ.get("CI"):
            pytest.fail(f"reference fixtures missing at {FIXTURES}")
        pytest.skip(f"reference fixtures not found at {FIXTURES} (set STYLEVJ_FIXTURES)")
    return FIXTURES


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """max|a-b| / max|b|: the fixtures' comparison."""
    return float((a - b).abs().max() / b.abs().max())
