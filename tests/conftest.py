"""Shared test set-up: where the reference fixtures live, and small helpers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

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


WAIT_S = 60.0  # a bounded wait for something to happen: generous for two shared cores, never a measurement


def poll(condition, what: str, step=None, timeout: float = WAIT_S):
    """Call `step` (a show refresh, say) until `condition()` is truthy, and return its value;
    AssertionError naming `what` after `timeout` seconds. The wait for a condition that replaces a
    fixed sleep: as short as the machine allows, and it fails when the condition never comes."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        if step is not None:
            step()
        else:
            time.sleep(0.005)


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


# -- shows and OSC (tests/test_show.py, test_osc.py, test_record.py, test_overlay_render.py) ----


def stylevj(*args: str, cwd=None, env=None, timeout: float = 300):
    """The `stylevj` command in a subprocess, as a user runs it."""
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "realtime.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def osc_message(address: str, *args) -> bytes:
    from pythonosc.osc_message_builder import OscMessageBuilder

    builder = OscMessageBuilder(address=address)
    for a in args:
        builder.add_arg(a)
    return builder.build().dgram


class SlowGenerator:
    """A real generator made deliberately slow, failing, or held (`gate`): the display must not care."""

    def __init__(self, G, delay: float = 0.0, fail_after: int | None = None, gate=None) -> None:
        self.G, self.delay, self.fail_after, self.gate, self.calls = G, delay, fail_after, gate, 0
        self.resolution, self.device, self.num_ws, self.w_dim = G.resolution, G.device, G.num_ws, G.w_dim

    def synthesis(self, ws, noise_mode="const"):
        import time

        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("CUDA out of memory (simulated)")
        if self.gate is not None:
            self.gate.wait()
        time.sleep(self.delay)
        return self.G.synthesis(ws, noise_mode=noise_mode)


class FakeClock:
    """A clock the test moves: the show's motion follows it exactly, however busy the machine."""

    def __init__(self, start: float = 100.0) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


SHOW = """
[generator]
source = "demo"
[play]
speed = 0.0
[[keyframes]]
seed = 1
[[keyframes]]
seed = 2
[[keyframes]]
seed = 3
"""


class Rig:
    """A headless show (64x64) of SHOW in `folder`, its session running, an OSC server on an
    ephemeral port, and a client socket: the way a show runs, with everything real."""

    def __init__(self, G, folder, reply=None, allow=None, mappings=(), queue_size=1024, recorder=None,
                 generator=None, text: str = SHOW, journal=None, clock=None) -> None:
        """`journal`: a path; the session runs a Journal there, as `stylevj run` does, and OSC
        reads the journal's board. `clock`: the show's clock (a FakeClock stands still)."""
        import socket

        from realtime.control import Journal, OscServer
        from realtime.display import HeadlessSurface
        from realtime.overlay import build_overlays
        from realtime.presets import OverlaySettings, load_preset
        from realtime.session import ShowSession, build_show
        from realtime.show import Folders

        (folder / "show.toml").write_text(text)
        preset = load_preset(folder / "show.toml")
        self.overlays = build_overlays(OverlaySettings())
        self.show = build_show(G, preset, HeadlessSurface((64, 64)), upload="host", folders=Folders.beside(folder),
                               recorder=recorder, overlays=self.overlays.panels, queue_size=queue_size)
        if generator is not None:
            self.show.worker.G = generator
        if clock is not None:
            self.show.clock = clock
        self.path, self.journal = journal, None if journal is None else Journal(journal, self.show.board)
        board = self.show.board if self.journal is None else self.journal.board
        self.osc = OscServer(self.show.submit, board, port=0, reply=reply, allow=allow, mappings=mappings)
        self.session = ShowSession(self.show, osc=self.osc, journal=self.journal).__enter__()
        self.client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.client.bind(("127.0.0.1", 0))
        self.client.settimeout(0.01)

    def send(self, data: bytes) -> None:
        self.client.sendto(data, self.osc.address)

    def steps(self, n: int = 3) -> None:
        for _ in range(n):
            self.show.step()

    def replies(self, seconds: float = 0.5, until: str | None = None) -> list[tuple[str, list]]:
        import socket
        import time

        from pythonosc.osc_message import OscMessage

        got, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.show.step()
            try:
                data, _ = self.client.recvfrom(65536)
            except socket.timeout:
                continue
            msg = OscMessage(data)
            got.append((msg.address, list(msg.params)))
            if until is not None and msg.address == until:
                break
        return got

    def state(self) -> dict:
        """The show's state; as the reply comes after everything sent before, also a sync point.
        UDP may drop a datagram under load: the request is repeated until a reply comes, and a
        late reply to an earlier request (older than this call) is skipped."""
        import json

        latest = self.show.board.latest()
        mark = latest.serial if latest is not None else 0  # a reply to an earlier (repeated) request is older
        for _ in range(20):
            self.client.sendto(osc_message("/stylevj/state"), self.osc.address)
            for address, params in self.replies(0.5, until="/stylevj/state"):
                if address == "/stylevj/state":
                    state = json.loads(params[0])
                    if state["serial"] > mark:
                        return state
        raise AssertionError("no state reply")

    def close(self) -> None:
        self.session.close()
        self.overlays.close()
        self.client.close()


def until(condition, rig: Rig, seconds: float = 10.0) -> bool:
    """Step the show until `condition()` holds or `seconds` pass (a bounded wait, no fixed sleep)."""
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        rig.show.step()
        time.sleep(0.003)
    return condition()


# -- a stand-in NVML (tests/test_overlay*.py): the only test double, as no NVIDIA driver exists here --

GIB = 2**30


class NVMLError_NotSupported(Exception):  # noqa: N801 - pynvml's class name
    def __str__(self) -> str:
        return "Not Supported"


class NVMLError_LibraryNotFound(Exception):  # noqa: N801
    def __str__(self) -> str:
        return "NVML Shared Library Not Found"


class FakeNvml:
    """pynvml's functions for one H100-like board (same names, argument order, units: mW,
    bytes): no fan sensor; this process computing; pid 4242 both computing and drawing."""

    def __init__(self, own_pid: int | None = None, init_error: Exception | None = None, list_own: bool = True) -> None:
        self.own_pid = os.getpid() if own_pid is None else own_pid
        self.init_error = init_error
        self.list_own = list_own
        self.calls: list[str] = []
        self.shut = False

    def nvmlInit(self):
        self.calls.append("init")
        if self.init_error is not None:
            raise self.init_error

    def nvmlShutdown(self):
        self.shut = True

    def nvmlSystemGetDriverVersion(self):
        return "550.54.15"

    def nvmlSystemGetCudaDriverVersion(self):
        return 12040

    def nvmlDeviceGetCount(self):
        return 1

    def nvmlDeviceGetHandleByIndex(self, index):
        return SimpleNamespace(index=index)

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA H100 80GB HBM3"  # older bindings return bytes

    def nvmlDeviceGetUUID(self, handle):
        return "GPU-abcd-0001"

    def nvmlDeviceGetFanSpeed(self, handle):
        self.calls.append("fan")
        raise NVMLError_NotSupported()

    def nvmlDeviceGetTemperature(self, handle, sensor):
        assert sensor == 0  # NVML_TEMPERATURE_GPU
        return 41

    def nvmlDeviceGetPerformanceState(self, handle):
        return 0

    def nvmlDeviceGetPowerUsage(self, handle):
        return 118_250

    def nvmlDeviceGetEnforcedPowerLimit(self, handle):
        return 700_000

    def nvmlDeviceGetMemoryInfo(self, handle):
        return SimpleNamespace(total=80 * GIB, used=20 * GIB, free=60 * GIB)

    def nvmlDeviceGetUtilizationRates(self, handle):
        return SimpleNamespace(gpu=45, memory=12)

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        own = [SimpleNamespace(pid=self.own_pid, usedGpuMemory=3 * GIB)] if self.list_own else []
        return own + [SimpleNamespace(pid=4242, usedGpuMemory=None)]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle):
        return [SimpleNamespace(pid=4242, usedGpuMemory=1 * GIB)]

    def nvmlSystemGetProcessName(self, pid):
        return b"/usr/lib/xorg/Xorg"


def fake_proc(folder, pid: int, cmdline: bytes = b"python\0/usr/local/bin/stylevj\0run\0") -> str:
    """A /proc with one CPU counter line, meminfo, our statm and our command line."""
    (folder / "stat").write_text("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n")
    (folder / "meminfo").write_text("MemTotal:       16384000 kB\nMemFree:  1000 kB\nMemAvailable:    4096000 kB\n")
    (folder / "self").mkdir(exist_ok=True)
    (folder / "self" / "statm").write_text("1000 2560 0 0 0 0 0\n")
    (folder / str(pid)).mkdir(exist_ok=True)
    (folder / str(pid) / "cmdline").write_bytes(cmdline)
    return str(folder)


def fixed_snapshot(tmp_path):
    """One sample of the stand-in board, through the real Nvml session and TelemetrySource."""
    from realtime.overlay import Nvml, TelemetrySource

    source = TelemetrySource(Nvml(FakeNvml()), proc=fake_proc(tmp_path, os.getpid()))
    return source.sample()


@pytest.fixture
def full_disk(tmp_path):
    """A 160 KB tmpfs: writes past that fail with ENOSPC, as on a full disk at a show."""
    mount = tmp_path / "full"
    mount.mkdir()
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(mount)], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({result.stderr.strip() or 'not root'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
