"""What NDI output costs: the render thread's share per refresh (target <= 0.5 ms), the pictures
sent per second and the send thread's CPU, at 1280x720 and 1920x1080.

A headless stage of each size shows a 1024 px picture (the show's fit) and refreshes at up to
60 Hz, every refresh a new picture (the worst case: a generator as fast as the display). One
real NDI source follows the stage (`run --ndi NAME`); an NDI receiver in this process, found
through 127.0.0.1 (NDI's extra IPs), takes every picture, so NDI really compresses and sends.
The render thread's cost is `Outputs.capture` alone, timed after the stage's own drawing has
finished (so a software renderer's drawing is not counted as NDI's).
"""

from __future__ import annotations

import logging
import statistics
import time

import numpy as np

from .results import Row

log = logging.getLogger(__name__)

SIZES = ((1280, 720), (1920, 1080))
PACE_HZ = 60.0


def bench_ndi(seconds: float = 3.0, sizes: tuple[tuple[int, int], ...] = SIZES) -> list[Row]:
    """A row per size (see module doc); one row saying why when NDI or OpenGL is missing here."""
    from ..errors import StylevjError
    from ..outputs.base import software_gl
    from ..outputs.ndi import load_ndi, use_discovery

    try:
        use_discovery(("127.0.0.1",))  # before the runtime starts: the receiver below finds the source without mDNS
        ndi = load_ndi()
        from ..display import create_headless_context

        ctx = create_headless_context()
    except StylevjError as exc:
        return [Row("ndi", "-", "gl", "rgbx", 1, 0, 0.0, 0.0, 0.0, f"skipped: {exc}"[:200])]
    try:
        rows = []
        for size in sizes:
            rows.append(_one_size(ndi, ctx, size, seconds))
            if software_gl(ctx):  # the pixel buffers a GPU uses, for comparison: here a second copy
                rows.append(_one_size(ndi, ctx, size, seconds, "pixel buffers"))
        return rows
    finally:
        ctx.release()


def _one_size(ndi, ctx, size: tuple[int, int], seconds: float, readback: str = "auto") -> Row:
    from ..checks import OutputSpec
    from ..display import Compositor, HeadlessSurface, HostSink
    from ..outputs import FrameOutput, Outputs
    from ..outputs.base import software_gl
    from ..outputs.ndi import NdiTransport

    stage = HeadlessSurface(size, ctx=ctx)
    compositor = Compositor(ctx, fit="contain")
    sink = HostSink(ctx)
    rng = np.random.default_rng(0)
    picture = sink.upload(_picture(rng))
    name = f"stylevj-bench-{size[1]}p-{readback.split()[0]}"
    output = FrameOutput(OutputSpec("ndi", name), NdiTransport(), readback=readback)
    outputs = Outputs([output])
    outputs.start()
    receiver = None
    try:
        if not output.wait_open():
            return Row(f"ndi {size[1]}p", "-", "gl", "rgbx", 1, 0, 0.0, 0.0, 0.0, f"skipped: {output.error}"[:200])
        receiver = _Receiver(ndi, name)

        def draw(target, clean):
            compositor.draw(target, picture)

        def refresh(now: float) -> float:
            compositor.draw(stage, picture)
            ctx.finish()
            started = time.perf_counter()
            outputs.capture(stage.framebuffer, size, draw, now, fresh=True, level=1.0)
            return (time.perf_counter() - started) * 1000

        for n in range(max(5, round(10 * seconds))):  # warm-up: the receiver connects, the pools fill
            refresh(n / PACE_HZ)
            receiver.drain()
        sent, cpu, dropped, times = output.sent, output.send_cpu_s, output.dropped, []
        began = time.perf_counter()
        while time.perf_counter() - began < seconds or len(times) < 10:
            tick = time.perf_counter()
            times.append(refresh(tick))
            receiver.drain()
            time.sleep(max(0.0, 1 / PACE_HZ - (time.perf_counter() - tick)))
        elapsed = time.perf_counter() - began
        frames = output.sent - sent
        cpu_ms = 1000 * (output.send_cpu_s - cpu) / max(frames, 1)
        median, p95 = statistics.median(times), float(np.percentile(times, 95))
        if readback == "auto":
            readback = "direct read (software GL)" if software_gl(ctx) else "pixel buffers"
        note = (f"render thread {median:.2f} ms median, {p95:.2f} p95 (target 0.5); {frames / elapsed:.1f} pictures/s sent "
                f"of {len(times) / elapsed:.1f} refreshes/s, {output.dropped - dropped} dropped; send thread {cpu_ms:.2f} ms CPU a "
                f"picture ({100 * (output.send_cpu_s - cpu) / elapsed:.0f}% of a core); {output.receivers} receiver(s); "
                f"{readback}")
        return Row(f"ndi {size[1]}p", "stage" if readback.startswith("direct") else "stage, PBO", "gl", f"{size[0]}x{size[1]}", 1, len(times), round(median, 3),
                   round(min(times), 3), round(frames / elapsed, 2), note)
    finally:
        if receiver is not None:
            receiver.close()
        outputs.stop()
        sink.release()
        stage.close()


def _picture(rng: np.random.Generator):
    """A 1024 px picture with detail (NDI's codec works harder on noise than on flat colour)."""
    import torch

    pixels = rng.integers(0, 256, (1024, 1024, 4), dtype=np.uint8)
    pixels[..., 3] = 255
    return torch.from_numpy(pixels)


class _Receiver:
    """An NDI receiver of the source NAME in this process, so the sender really encodes and sends."""

    def __init__(self, ndi, name: str, timeout: float = 5.0) -> None:
        self.ndi = ndi
        self.find = ndi.find_create_v2(ndi.FindCreate())
        self.recv = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ndi.find_wait_for_sources(self.find, 100)
            found = [s for s in ndi.find_get_current_sources(self.find) if s.ndi_name.endswith(f"({name})")]
            if found:
                create = ndi.RecvCreateV3()
                create.color_format = ndi.RECV_COLOR_FORMAT_RGBX_RGBA
                self.recv = ndi.recv_create_v3(create)
                ndi.recv_connect(self.recv, found[0])
                return
        log.warning("bench: NDI source %s not found in %.0f s: measured without a receiver", name, timeout)

    def drain(self) -> None:
        """Take what arrived (never waits)."""
        ndi = self.ndi
        while self.recv is not None:
            kind, video, _, _ = ndi.recv_capture_v2(self.recv, 0)
            if kind != ndi.FRAME_TYPE_VIDEO:
                return
            ndi.recv_free_video_v2(self.recv, video)

    def close(self) -> None:
        if self.recv is not None:
            self.ndi.recv_destroy(self.recv)
        self.ndi.find_destroy(self.find)
