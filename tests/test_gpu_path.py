"""The GPU path's contracts, shown on CPU: frames published only once they exist, fallbacks that
keep the show going (interop, fp16, CUDA graphs), and textures released before their GL context.

Only what CUDA itself does is faked: a lane whose "events" complete when the test says, a sink
whose upload fails like interop, a capture that raises or replays eagerly. Generators, GL
surfaces, sinks and the show loop are real.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from realtime.display import HeadlessSurface
from realtime.display import sinks as sink_choice
from realtime.display.errors import InteropError
from realtime.display.frames import FrameSink, HostSink
from realtime.images import to_pixels
from realtime.models import load_generator
from realtime.models.bending import Bend
from realtime.presets import default_preset_path, load_preset
from realtime.session import ShowSession, build_show
from realtime.show.graphs import CapturedFrame, sanity
from realtime.show.worker import GeneratorWorker, Lane

from .conftest import FakeClock, SlowGenerator

WAIT_S = 60  # generous: the machine may be busy; nothing here asserts elapsed time


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


def _show(G, surface=None):
    surface = surface or HeadlessSurface((G.resolution, G.resolution))
    return build_show(G, load_preset(default_preset_path()), surface, upload="host", fit="stretch")


def _wait(condition, step=None) -> bool:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            return False
        if step is not None:
            step()
        time.sleep(0.005)
    return True


def _expected(G, w: torch.Tensor) -> np.ndarray:
    out = torch.full((G.resolution, G.resolution, 4), 255, dtype=torch.uint8)
    with torch.no_grad():
        return to_pixels(G.synthesis(w.unsqueeze(0)), out).numpy()


# ---- the frame / event contract -----------------------------------------------------------------


class LateEvent:
    """A CUDA event's interface; it completes only when `complete()` is called."""

    def __init__(self, done: bool = False) -> None:
        self._done = threading.Event()
        if done:
            self._done.set()

    def query(self) -> bool:
        return self._done.is_set()

    def synchronize(self) -> None:
        self._done.wait(WAIT_S)

    def complete(self) -> None:
        self._done.set()


class LateLane(Lane):
    """The CPU lane, except that each frame's event completes late (when the test says).

    `ahead` counts frames queued while an earlier frame was still unfinished: the worker running
    ahead of the device. After `open()`, events complete at once (to let the worker stop)."""

    def __init__(self) -> None:
        self.marks: list[LateEvent] = []
        self.ahead = 0
        self._open = False

    def mark(self) -> LateEvent:
        self.ahead += any(not m.query() for m in self.marks)
        event = LateEvent(done=self._open)
        self.marks.append(event)
        return event

    def open(self) -> None:
        self._open = True
        for event in list(self.marks):
            event.complete()


class RecordingSink(HostSink):
    """The host copy, noting for each upload whether the frame's event had completed."""

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.finished_at_upload: list[bool] = []

    def _write(self, texture, frame, event) -> None:
        self.finished_at_upload.append(event is None or event.query())
        super()._write(texture, frame, event)


def test_a_frame_whose_event_completes_late_is_never_uploaded_and_the_worker_never_runs_ahead(demo):
    generator, lane, clock = SlowGenerator(demo), LateLane(), FakeClock()
    show = _show(demo)
    show.worker = GeneratorWorker(generator, lane=lane)
    show.sink = sink = RecordingSink(show.surface.ctx)
    show.clock = clock
    session = ShowSession(show).__enter__()
    try:
        show.step()
        assert _wait(lambda: len(lane.marks) == 1)  # frame 1 queued; its event has not completed
        for _ in range(30):  # the display keeps refreshing and asking for newer W+
            clock.advance(1 / 60)
            show.step()
        assert show.worker.latest() is None and show.stats.frames_shown == 0 and sink.finished_at_upload == []
        assert generator.calls == 1  # nothing queued behind the unfinished frame

        lane.marks[0].complete()
        assert _wait(lambda: show.stats.frames_shown == 1, show.step)
        assert _wait(lambda: len(lane.marks) == 2)  # frame 2 (the newest request) queued, unfinished
        for _ in range(10):
            show.step()
        assert show.stats.frames_shown == 1 and generator.calls == 2

        lane.marks[1].complete()
        assert _wait(lambda: show.stats.frames_shown == 2, show.step)
        assert sink.finished_at_upload == [True, True]
        assert lane.ahead == 0
        assert show.shown.path_time > 0  # frame 2 is a later request than frame 1 (path time 0)
    finally:
        lane.open()
        session.close()


class EarlyLane(Lane):
    """A lane whose worker-side wait returns at once while the events stay unfinished: frames get
    published before they exist, as the worker did before it waited. The display must hold them."""

    def __init__(self) -> None:
        self.marks: list[LateEvent] = []
        self.finishing = False  # then events complete as they are made

    def mark(self) -> LateEvent:
        event = LateEvent(done=self.finishing)
        event.synchronize = lambda: None  # the worker does not wait
        self.marks.append(event)
        return event

    def finish(self) -> None:
        self.finishing = True
        for event in list(self.marks):
            event.complete()


def test_the_display_uploads_a_published_frame_only_once_its_event_completed(demo):
    lane = EarlyLane()
    show = _show(demo)
    show.worker = GeneratorWorker(demo, lane=lane)
    show.sink = sink = RecordingSink(show.surface.ctx)
    session = ShowSession(show).__enter__()
    try:
        show.step()
        assert _wait(lambda: show.worker.latest() is not None)  # published, unfinished
        for _ in range(10):
            show.step()
        assert show.stats.frames_shown == 0 and sink.finished_at_upload == []
        lane.finish()
        assert _wait(lambda: show.stats.frames_shown >= 1, show.step)
        assert sink.finished_at_upload and all(sink.finished_at_upload)
    finally:
        lane.finish()
        session.close()


# ---- fallbacks ----------------------------------------------------------------------------------


class FailingInteropSink(FrameSink):
    """Fails the way interop does mid-show (a mapping error), on its first upload."""

    kind = "interop"

    def _write(self, texture, frame, event) -> None:
        raise InteropError("CUDA-GL interop: mapping a texture failed (cudaErrorUnknown)")


def test_an_interop_error_mid_show_switches_to_the_host_copy_and_the_show_keeps_drawing(demo, caplog):
    show = _show(demo)
    broken = show.sink = FailingInteropSink(show.surface.ctx)
    session = ShowSession(show).__enter__()
    try:
        with caplog.at_level("WARNING"):
            assert show.wait_for_first_frame()
            assert _wait(lambda: show.stats.frames_shown >= 3, show.step)
        assert isinstance(show.sink, HostSink) and broken.size is None  # its textures freed
        assert caplog.text.count("host copy from now on") == 1
        show.step()  # a refresh through the host copy: the screen holds exactly the frame it put there
        shown = show.shown
        pixels = show.surface.read_pixels()[..., :3].astype(int)
        assert np.abs(pixels - _expected(demo, shown.w)[..., :3]).max() <= 1
        assert pixels.std() > 5  # a picture, not black
    finally:
        session.close()


def test_auto_upload_falls_back_to_the_host_copy_when_the_interop_probe_fails(demo, monkeypatch):
    probed = []

    class ProbeFails:  # what InteropSink does where a texture cannot be registered
        kind = "interop"

        def __init__(self, ctx, device) -> None:
            pass

        def probe(self) -> None:
            probed.append(True)
            raise RuntimeError("cudaGraphicsGLRegisterImage: cudaErrorInvalidGraphicsContext")

    surface = HeadlessSurface((32, 32))
    try:
        monkeypatch.setattr(sink_choice, "interop_unavailable", lambda ctx, device: None)  # as if on an NVIDIA GPU
        monkeypatch.setattr(sink_choice, "InteropSink", ProbeFails)
        sink, why = sink_choice.choose_sink("auto", surface.ctx, "cpu")
        assert isinstance(sink, HostSink) and probed == [True]
        assert why.startswith("host copy:") and "cudaErrorInvalidGraphicsContext" in why
        with pytest.raises(InteropError, match="probe failed"):
            sink_choice.choose_sink("interop", surface.ctx, "cpu")
    finally:
        surface.close()


def test_the_session_releases_the_sink_before_its_surface_closes(demo):
    order: list[str] = []

    class Surface(HeadlessSurface):
        def close(self) -> None:
            order.append("surface closed")
            super().close()

    class Sink(HostSink):
        def release(self) -> None:
            if self.size is not None:  # textures to free (an upload's first rebuild has none)
                order.append("sink released")
            super().release()

    show = _show(demo, Surface((demo.resolution, demo.resolution)))
    show.sink = Sink(show.surface.ctx)
    with ShowSession(show):
        assert show.wait_for_first_frame()
        show.step()
    assert order == ["sink released", "surface closed"]


class OverflowingFp16:
    """A real generator whose "fp16" output overflows to NaN until it is switched to fp32."""

    def __init__(self, G) -> None:
        self.G, self.uses_fp16, self.precisions = G, True, []
        self.resolution, self.device, self.num_ws, self.w_dim = G.resolution, G.device, G.num_ws, G.w_dim
        owner = self

        class Synthesis:
            channels_last = False

            def __call__(self, ws, noise_mode="const"):
                img = owner.G.synthesis(ws, noise_mode=noise_mode)
                return img * float("nan") if owner.uses_fp16 else img

        self.synthesis = Synthesis()

    def set_precision(self, fp16=None, channels_last=False) -> None:
        self.precisions.append(fp16)
        self.uses_fp16 = bool(fp16)


def test_fp16_that_overflows_falls_back_to_fp32_with_one_log_line_and_no_lost_frame(demo, caplog):
    G = OverflowingFp16(demo)
    worker = GeneratorWorker(G).start()
    w = [demo.mapping(torch.randn(1, demo.z_dim, generator=torch.Generator().manual_seed(s)))[0] for s in (1, 2)]
    try:
        with caplog.at_level("WARNING"):
            worker.request(w[0], 0.0)
            assert _wait(lambda: worker.latest() is not None)
            worker.request(w[1], 1.0)
            assert _wait(lambda: worker.latest().number == 2)
        assert G.precisions == [False] and worker.errors == 0
        assert caplog.text.count("fp32 from now on") == 1
        assert np.array_equal(worker.latest().pixels.numpy(), _expected(demo, w[1]))
    finally:
        worker.stop()


class ReplayingGraph:
    """A CUDA graph's interface: replay() reruns what was captured, reading the same buffers."""

    def __init__(self, run) -> None:
        self.run = run

    def replay(self) -> None:
        self.run()


def eager_capture(G, noise_mode, w_in, synthesis=None) -> CapturedFrame:
    """The shape of capture_frame, without CUDA: a 'graph' whose replay reruns the frame."""
    pixels = torch.zeros(G.resolution, G.resolution, 4, dtype=torch.uint8)
    pixels[..., 3] = 255
    sane = torch.zeros(2, dtype=torch.bool)

    def run() -> None:
        img = G.synthesis(w_in, noise_mode=noise_mode) if synthesis is None else synthesis(w_in)
        to_pixels(img, pixels)
        sane.copy_(sanity(img))

    return CapturedFrame(ReplayingGraph(run), pixels, sane)


def test_graph_replays_read_the_workers_own_w_buffer_and_bent_frames_stay_eager(demo):
    captured: list[torch.Tensor] = []

    def capture(G, noise_mode, w_in):
        captured.append(w_in)
        return eager_capture(G, noise_mode, w_in)

    worker = GeneratorWorker(demo, capture=capture).start()
    ws = [demo.mapping(torch.randn(1, demo.z_dim, generator=torch.Generator().manual_seed(s)))[0] for s in (3, 4, 5)]
    try:
        for n, w in enumerate(ws[:2], start=1):
            worker.request(w.clone(), float(n))
            assert _wait(lambda n=n: worker.frames_done == n)
            assert np.array_equal(worker.latest().pixels.numpy(), _expected(demo, w))  # not the previous W+
        assert len(captured) == 1 and worker.graph_replays == 2
        worker.request(ws[2], 3.0, (Bend(demo.cfg.resolutions[2], rotate=30.0),))
        assert _wait(lambda: worker.frames_done == 3)
        assert worker.graph_replays == 2  # a bend changes per frame: eager
    finally:
        worker.stop()


def test_a_graph_that_fails_to_capture_means_eager_frames_and_one_log_line(demo, caplog):
    attempts = []

    def capture(G, noise_mode, w_in):
        attempts.append(1)
        raise RuntimeError("CUDA error: operation not permitted when stream is capturing")

    worker = GeneratorWorker(demo, capture=capture).start()
    w = demo.mapping(torch.randn(1, demo.z_dim, generator=torch.Generator().manual_seed(6)))[0]
    try:
        with caplog.at_level("WARNING"):
            for n in (1, 2, 3):
                worker.request(w, float(n))
                assert _wait(lambda n=n: worker.frames_done == n)
        assert attempts == [1] and worker.errors == 0 and worker.graph_replays == 0
        assert caplog.text.count("eager synthesis from now on") == 1
        assert np.array_equal(worker.latest().pixels.numpy(), _expected(demo, w))
    finally:
        worker.stop()


def test_cpu_workers_never_capture_graphs(demo):
    worker = GeneratorWorker(demo, graphs=True).start()
    try:
        worker.request(demo.w_avg.expand(demo.num_ws, -1).clone(), 0.0)
        assert _wait(lambda: worker.frames_done == 1)
        assert type(worker.lane) is Lane and worker.graph_replays == 0
    finally:
        worker.stop()


# ---- the one device run: its plan, its JSON, its reference weights -------------------------------


def test_gpu_suite_dry_run_lists_every_step_with_its_budget(tmp_path):
    from .conftest import stylevj

    result = stylevj("bench", "--suite", "gpu", "--dry-run", "--reference", str(tmp_path))
    assert result.returncode == 0, result.stderr
    steps = [line.split()[0:2] for line in result.stdout.splitlines()[2:]]
    assert [s[0] for s in steps[:3]] == ["frame", "frame", "frame"]
    for name in ("frame fp32", "frame fp16", "frame fp16+graph", "frame nvidia", "loop", "total"):
        assert name in result.stdout
    total = float(result.stdout.splitlines()[-1].split()[1])
    assert 0 < total <= 480  # fits one device command (8 minutes)

    compiled = stylevj("bench", "--suite", "gpu", "--dry-run", "--reference", str(tmp_path), "--compile")
    lines = compiled.stdout.splitlines()
    assert lines[-2].startswith("frame fp16+compile")  # last: a timeout would lose only these rows
    assert total < float(lines[-1].split()[1]) <= 480


def test_gpu_suite_without_cuda_is_one_line_and_exit_2(tmp_path):
    from .conftest import stylevj

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = stylevj("bench", "--suite", "gpu", "--json", str(tmp_path / "b.json"))
    assert result.returncode == 2 and "needs a CUDA GPU" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "b.json").exists()


def test_each_step_is_written_to_json_as_it_finishes_and_a_failing_step_is_a_row(tmp_path):
    import json

    from realtime.bench import Planned, Row, run_plan

    out = tmp_path / "gpu.json"
    seen_before_step_two = []

    def one() -> list:
        return [Row("frame fp16 latency", "arch:x", "cuda:0", "fp16", 1, 20, 4.0, 3.9, 250.0)]

    def two() -> list:
        seen_before_step_two.extend(r["part"] for r in json.loads(out.read_text())["rows"])
        raise RuntimeError("no EGL display")

    rows = run_plan([Planned("frame", 1, "", one), Planned("loop", 1, "", two)], out)
    assert seen_before_step_two == ["frame fp16 latency"]  # on disk before the next step started
    written = json.loads(out.read_text())["rows"]
    assert [r["part"] for r in written] == [r.part for r in rows] == ["frame fp16 latency", "loop"]
    assert written[1]["note"] == "failed: RuntimeError: no EGL display"


def test_our_weights_take_nvidias_names_exactly_as_the_loader_read_them(fixtures):
    from realtime.bench import nvidia_state
    from realtime.models.loading import read_checkpoint

    converted = read_checkpoint(fixtures / "nvada_tiny.pkl")  # names: our key -> NVIDIA's key in the pickle
    G = load_generator(fixtures / "nvada_tiny.pkl")
    ours, theirs = G.state_dict(), nvidia_state(G)
    assert set(converted.names.values()) <= set(theirs)
    for key, their_key in converted.names.items():
        assert torch.equal(theirs[their_key], ours[key]), key


# ---- constants derived at load time ---------------------------------------------------------------


def test_constants_derived_at_load_follow_an_edit_of_the_weights(fixtures):
    G, fresh = load_generator(fixtures / "nvada_tiny.pkl"), load_generator(fixtures / "nvada_tiny.pkl")
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)))
    with torch.no_grad():
        before = G.synthesis(ws)
        for g in (G, fresh):  # G has used its derived constants; fresh has only derived them at load
            g.synthesis.blocks[1].conv1.noise_strength += 0.5
            g.synthesis.blocks[2].conv0.weight.mul_(1.5)
            g.synthesis.blocks[2].torgb.affine.bias.add_(0.25)
        after = G.synthesis(ws)
        assert not torch.equal(after, before)
        assert torch.equal(after, fresh.synthesis(ws))
        G.synthesis.blocks[1].conv1.noise_strength -= 0.5  # the way back gives the first picture back
        G.synthesis.blocks[2].conv0.weight.div_(1.5)
        G.synthesis.blocks[2].torgb.affine.bias.sub_(0.25)
        assert torch.allclose(G.synthesis(ws), before, atol=1e-5)


def test_the_goal_rows_are_read_off_measured_rows_only():
    from realtime.bench import Row, goal_rows

    ours = Row("frame throughput", "arch:ffhq-1024", "cuda:0", "fp16+graph", 1, 3, 4.0, 3.9, 250.0)
    theirs = Row("frame nvidia throughput", "arch:ffhq-1024", "cuda:0", "fp16", 1, 3, 8.0, 7.9, 125.0)
    refused = Row("frame nvidia", "arch:ffhq-1024", "cuda:0", "fp16", 1, 0, 0.0, 0.0, 0.0, "refused: ...")
    assert [r.part for r in goal_rows([refused])] == []
    assert [(r.part, r.note.endswith(": met")) for r in goal_rows([ours, refused])] == [("goal frames/s", True)]
    ratio = goal_rows([ours, theirs])[1]
    assert ratio.fps == 2.0 and ratio.note.endswith(": met")
    assert goal_rows([ours, Row(**{**theirs.__dict__, "fps": 200.0})])[1].note.endswith("NOT met")
    compiled = Row(**{**ours.__dict__, "precision": "fp16+compile+graph", "fps": 230.0})
    goals = goal_rows([ours, theirs, compiled])
    assert [g.part for g in goals] == ["goal frames/s", "goal vs nvidia", "goal frames/s (--compile)",
                                       "goal vs nvidia (--compile)"]
    assert goals[2].note.endswith("NOT met") and goals[3].fps == round(230 / 125, 3)


REFERENCE = Path(os.environ.get("STYLEVJ_NVIDIA_REF", Path(__file__).parents[1] / ".ref" / "stylegan2-ada-pytorch"))


@pytest.mark.skipif(not (REFERENCE / "training" / "networks.py").exists(),
                    reason=f"no stylegan2-ada-pytorch checkout at {REFERENCE} (set STYLEVJ_NVIDIA_REF)")
@pytest.mark.parametrize("source", ["nvada_tiny.pkl", "arch:ffhq-256"])
def test_nvidias_own_generator_on_our_weights_draws_our_picture(fixtures, source):
    """What `bench --reference` times is the same network: NVIDIA's code (imported from the
    user's checkout, on CPU with its reference ops, fp32) draws our picture from our weights."""
    from realtime.bench import nvidia_generator

    from .conftest import rel_error

    G = load_generator(fixtures / source if source.endswith(".pkl") else source)
    theirs = nvidia_generator(REFERENCE, G)
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)), truncation_psi=0.7)
    with torch.no_grad():
        assert rel_error(G.synthesis(ws), theirs.synthesis(ws, noise_mode="const", force_fp32=True)) < 1e-4


def test_a_generator_nvidia_cannot_build_is_refused_in_one_line(tmp_path):
    from realtime.bench import nvidia_generator
    from realtime.errors import StylevjError

    with pytest.raises(StylevjError, match="not a stylegan2-ada-pytorch checkout"):
        nvidia_generator(tmp_path, load_generator("demo"))


# ---- on a CUDA GPU only (skipped here): the same contracts with real streams, events and graphs ----

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (none on this machine)")


def _frame_for(worker: GeneratorWorker, w: torch.Tensor, number: int):
    worker.request(w, float(number))
    assert _wait(lambda: worker.frames_done >= number)
    frame = worker.latest()
    assert frame.event is None or frame.event.query()  # published only once finished
    return frame.pixels.cpu().numpy()


@needs_cuda
def test_cuda_graph_frames_equal_eager_frames(fixtures):
    G = load_generator(fixtures / "nvada_tiny.pkl", device="cuda")  # its fp16 layers on
    ws = [G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(s)).cuda())[0] for s in (1, 2)]
    eager, graphed = GeneratorWorker(G, graphs=False).start(), GeneratorWorker(G).start()
    try:
        for n, w in enumerate(ws, start=1):
            a, b = _frame_for(eager, w, n), _frame_for(graphed, w, n)
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
        assert graphed.graph_replays == 2 and eager.graph_replays == 0 and graphed.errors == 0
    finally:
        eager.stop()
        graphed.stop()


@needs_cuda
def test_cuda_compiled_frames_in_a_graph_equal_eager_frames(fixtures):
    """`stylevj run --compile` on a GPU: Triton kernels, captured in the worker's CUDA graph."""
    from realtime.models import compile_synthesis

    G = load_generator(fixtures / "nvada_tiny.pkl", device="cuda")  # its fp16 layers on
    compiled, why = compile_synthesis(G)
    if compiled is None and "Triton is not installed" in why:
        pytest.skip(why)
    assert compiled is not None, why
    ws = [G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(s)).cuda())[0] for s in (4, 5)]
    eager, fast = GeneratorWorker(G, graphs=False).start(), GeneratorWorker(G, compiled=compiled).start()
    try:
        for n, w in enumerate(ws, start=1):
            a, b = _frame_for(eager, w, n), _frame_for(fast, w, n)
            assert np.abs(a.astype(int) - b.astype(int)).max() <= 2  # fp16 layers: sums in another order
        assert fast.graph_replays == 2 and fast.compiled is compiled and fast.errors == 0
    finally:
        eager.stop()
        fast.stop()


@needs_cuda
def test_cuda_wplus_freed_by_the_display_at_once_still_draws_its_own_frame(fixtures):
    G = load_generator(fixtures / "nvada_tiny.pkl", device="cuda")
    w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(3)).cuda())[0]
    eager = GeneratorWorker(G, graphs=False).start()
    try:
        expected = _frame_for(eager, w.clone(), 1)
    finally:
        eager.stop()
    worker = GeneratorWorker(G).start()
    try:
        for n in range(1, 6):
            doomed = w.clone()  # made on the display's stream, dropped right after the request
            worker.request(doomed, float(n))
            del doomed
            torch.full((8 * w.numel(),), float("nan"), device="cuda")  # reuses freed memory if it can
            assert _wait(lambda n=n: worker.frames_done >= n)
            assert np.abs(worker.latest().pixels.cpu().numpy().astype(int) - expected.astype(int)).max() <= 1
    finally:
        worker.stop()


@needs_cuda
def test_cuda_auto_upload_probes_interop_and_never_raises(frame_pattern):
    """'auto' never raises and picks what this machine allows: interop exactly when 'interop'
    itself works here, else the host copy with the reason 'interop' gives; either way the
    frame arrives in the texture byte for byte."""
    surface = HeadlessSurface((64, 64))
    try:
        sink, why = sink_choice.choose_sink("auto", surface.ctx, "cuda")
        try:
            strict, _ = sink_choice.choose_sink("interop", surface.ctx, "cuda")
        except InteropError as exc:
            reason = str(exc).removeprefix("interop impossible: ")
            assert isinstance(sink, HostSink) and why == f"host copy: {reason}"
        else:
            strict.release()
            assert sink.kind == "interop" and why.startswith("interop: CUDA-GL on ")
        frame = frame_pattern(16, 8).cuda()
        texture = sink.upload(frame)
        torch.cuda.synchronize()
        assert texture.read() == frame.cpu().numpy().tobytes()
        sink.release()
    finally:
        surface.close()


# ---- compiled synthesis (stylevj run --compile) -------------------------------------------------


class CountingSynthesis:
    """Stands in for `compile_synthesis`'s function: the same picture, counted; can start failing."""

    def __init__(self, G, fail: bool = False) -> None:
        self.G, self.fail, self.calls = G, fail, 0

    def __call__(self, ws: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.fail:
            raise RuntimeError("inductor: CUDA error: an illegal memory access was encountered")
        return self.G.synthesis(ws, noise_mode="const")


def test_the_compiled_synthesis_draws_unbent_frames_of_its_noise_mode_only(demo):
    compiled = CountingSynthesis(demo)
    worker = GeneratorWorker(demo, compiled=compiled).start()
    ws = [demo.mapping(torch.randn(1, demo.z_dim, generator=torch.Generator().manual_seed(s)))[0] for s in (7, 8, 9)]
    try:
        worker.request(ws[0], 1.0)
        assert _wait(lambda: worker.frames_done == 1)
        assert compiled.calls == 1
        assert np.array_equal(worker.latest().pixels.numpy(), _expected(demo, ws[0]))
        worker.request(ws[1], 2.0, (Bend(demo.cfg.resolutions[2], rotate=30.0),))
        assert _wait(lambda: worker.frames_done == 2)
        assert compiled.calls == 1  # a bent frame is eager synthesis
        worker.noise_mode = "none"  # /stylevj/noise: the compiled function draws const noise only
        worker.request(ws[2], 3.0)
        assert _wait(lambda: worker.frames_done == 3)
        assert compiled.calls == 1
    finally:
        worker.stop()


def test_compiled_synthesis_that_fails_mid_show_means_eager_frames_and_one_log_line(demo, caplog):
    compiled = CountingSynthesis(demo, fail=True)
    worker = GeneratorWorker(demo, compiled=compiled).start()
    w = demo.mapping(torch.randn(1, demo.z_dim, generator=torch.Generator().manual_seed(10)))[0]
    try:
        with caplog.at_level("WARNING"):
            for n in (1, 2, 3):
                worker.request(w, float(n))
                assert _wait(lambda n=n: worker.frames_done == n)
        assert compiled.calls == 1 and worker.errors == 0 and worker.compiled is None
        assert caplog.text.count("compiled synthesis failed") == 1
        assert np.array_equal(worker.latest().pixels.numpy(), _expected(demo, w))
    finally:
        worker.stop()


def test_a_graph_is_captured_around_the_compiled_synthesis(demo):
    compiled = CountingSynthesis(demo)
    given: list = []

    def capture(G, noise_mode, w_in, synthesis=None):
        given.append(synthesis)
        return eager_capture(G, noise_mode, w_in, synthesis)

    worker = GeneratorWorker(demo, capture=capture, compiled=compiled).start()
    w = demo.mapping(torch.randn(1, demo.z_dim, generator=torch.Generator().manual_seed(11)))[0]
    try:
        worker.request(w, 1.0)
        assert _wait(lambda: worker.frames_done == 1)
        assert given == [compiled] and compiled.calls == 1 and worker.graph_replays == 1
        assert np.array_equal(worker.latest().pixels.numpy(), _expected(demo, w))
    finally:
        worker.stop()


def test_closing_runs_every_step_when_one_fails(demo, tmp_path):
    """A part that raises while stopping (a MIDI port, a page) still lets the journal end cleanly,
    the threads stop and the surface close; the failure is raised once everything is stopped."""
    from realtime.control import Journal, ended_cleanly
    from realtime.errors import StylevjError

    closed: list[str] = []

    class Surface(HeadlessSurface):
        def close(self) -> None:
            closed.append("surface")
            super().close()

    class Page:  # stands in for the operator page, whose stop fails
        def start(self) -> None:
            pass

        def stop(self) -> None:
            raise OSError("the page's socket is gone")

    show = _show(demo, Surface((demo.resolution, demo.resolution)))
    path = tmp_path / "journal.toml"
    session = ShowSession(show, journal=Journal(path, show.board))
    session.page = Page()  # started last, stopped first
    with pytest.raises(StylevjError, match="stopping page failed: the page's socket is gone"):
        with session:
            assert show.wait_for_first_frame()
            show.step()
    assert closed == ["surface"] and ended_cleanly(path) and session.journal is None
    assert not show.worker._thread.is_alive()


def test_a_failure_while_closing_never_hides_the_exception_that_ended_the_show(demo):
    class Page:
        def start(self) -> None:
            pass

        def stop(self) -> None:
            raise OSError("the page's socket is gone")

    show = _show(demo)
    session = ShowSession(show)
    session.page = Page()
    with pytest.raises(KeyboardInterrupt):
        with session:
            raise KeyboardInterrupt
    assert not show.worker._thread.is_alive()
