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


# -- display layer (tests/test_display_*.py) ---------------------------------------------------


@pytest.fixture(scope="module")
def egl_module_ctx():
    """A headless EGL OpenGL 3.3 context (Mesa llvmpipe in CI), made once per test module."""
    from realtime.display import DisplayError, create_headless_context
    from realtime.display.headless import detach_egl_context

    try:
        ctx = create_headless_context()
    except DisplayError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
    yield ctx
    detach_egl_context()
    ctx.release()


@pytest.fixture
def egl_ctx(egl_module_ctx):
    """The module's EGL context, made current for this test and left detached after it.

    moderngl draws with whichever context is current on the thread; a test that makes its own
    (a HeadlessSurface without ctx=, a glfw window) must not leave the next test drawing nowhere.
    """
    with egl_module_ctx as ctx:
        yield ctx


@pytest.fixture(scope="session")
def xvfb_display():
    """A private X server (Xvfb, one 1280x720x24 screen) on a free display; DISPLAY points at it.

    Skips only when the Xvfb binary is absent (CI installs it). glfw is shut down before the
    server stops, so nothing talks to a dead display at exit.
    """
    import select
    import shutil
    import subprocess

    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.skip("Xvfb not installed (apt-get install xvfb xdotool); needed for real window tests")
    def die_with_pytest() -> None:
        """Linux: stop the server even if pytest itself is killed (an X error exits the process)."""
        import ctypes
        import signal

        try:
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        [binary, "-displayfd", str(write_fd), "-screen", "0", "1280x720x24", "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=die_with_pytest,
    )
    os.close(write_fd)
    number = b""
    try:
        while not number.endswith(b"\n"):
            ready, _, _ = select.select([read_fd], [], [], 10.0)
            chunk = os.read(read_fd, 16) if ready else b""
            if not chunk:
                proc.kill()
                pytest.fail(f"Xvfb did not start (exit status {proc.poll()})")
            number += chunk
    finally:
        os.close(read_fd)
    display = f":{int(number)}"
    saved = {k: os.environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY")}
    os.environ["DISPLAY"] = display
    os.environ.pop("WAYLAND_DISPLAY", None)
    try:
        yield display
    finally:
        import glfw

        glfw.terminate()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def make_frame(width: int, height: int, seed: int = 0) -> torch.Tensor:
    """A test frame, uint8 [H, W, 4] RGBA: red grows left to right, green top to bottom, blue
    varies with `seed`, alpha 255, and a 4x4 magenta marker in the top-left corner."""
    x = torch.arange(width).mul(255).div(max(width - 1, 1)).round().to(torch.uint8)
    y = torch.arange(height).mul(255).div(max(height - 1, 1)).round().to(torch.uint8)
    frame = torch.empty(height, width, 4, dtype=torch.uint8)
    frame[..., 0] = x[None, :]
    frame[..., 1] = y[:, None]
    frame[..., 2] = (40 + 90 * seed) % 256
    frame[..., 3] = 255
    frame[:4, :4] = torch.tensor([255, 0, 255, 255], dtype=torch.uint8)
    return frame


@pytest.fixture(scope="session")
def frame_pattern():
    """`make_frame(width, height, seed=0)`: a frame whose orientation and crop can be checked."""
    return make_frame
