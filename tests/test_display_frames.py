"""Choosing a frame sink, and the CUDA paths (host copy from CUDA, CUDA-GL interop) where a GPU exists."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from realtime.display import Compositor, HeadlessSurface, HostSink, InteropError, choose_sink, interop_unavailable
from realtime.errors import StylevjError

from .conftest import needs_cuda


def test_auto_on_a_cpu_generator_is_the_host_copy_with_a_reason(egl_ctx):
    sink, reason = choose_sink("auto", egl_ctx, "cpu")
    assert isinstance(sink, HostSink) and sink.kind == "host"
    assert reason == "host copy: generator on CPU"


def test_host_on_request(egl_ctx):
    sink, reason = choose_sink("host", egl_ctx, "cuda")
    assert isinstance(sink, HostSink) and reason.startswith("host copy")


def test_interop_when_impossible_is_a_one_line_user_error(egl_ctx):
    with pytest.raises(InteropError) as info:
        choose_sink("interop", egl_ctx, "cpu")
    assert str(info.value) == "interop impossible: generator on CPU"
    assert isinstance(info.value, StylevjError)


def test_interop_on_this_machine_gives_the_reason(egl_ctx):
    """A CUDA generator here: whichever check fails first (no CUDA, no cuda-bindings, not an NVIDIA GL) is named."""
    reason = interop_unavailable(egl_ctx, torch.device("cuda"))
    if reason is None:
        pytest.skip("interop is possible here (CUDA, cuda-bindings and an NVIDIA GL context)")
    with pytest.raises(InteropError, match="interop impossible: ") as info:
        choose_sink("interop", egl_ctx, "cuda")
    assert reason in str(info.value) and "\n" not in str(info.value)
    sink, why = choose_sink("auto", egl_ctx, "cuda")
    assert isinstance(sink, HostSink) and why == f"host copy: {reason}"


def test_unknown_mode_is_a_user_error(egl_ctx):
    with pytest.raises(StylevjError, match="auto, interop, host"):
        choose_sink("fast", egl_ctx, "cpu")


def round_trip(ctx, sink, frame, event=None) -> np.ndarray:
    height, width = frame.shape[:2]
    compositor = Compositor(ctx, fit="stretch")
    try:
        with HeadlessSurface((width, height), ctx=ctx) as surface:
            compositor.draw(surface, sink.upload(frame, event))
            return surface.read_pixels()
    finally:
        compositor.release()


@needs_cuda
def test_host_sink_copies_a_cuda_frame_after_its_event(egl_ctx, frame_pattern):
    frame = frame_pattern(48, 32)
    producer = torch.cuda.Stream()
    with torch.cuda.stream(producer):
        on_gpu = frame.to("cuda", non_blocking=True)
        ready = torch.cuda.Event()
        ready.record(producer)
    sink = HostSink(egl_ctx)
    try:
        assert (round_trip(egl_ctx, sink, on_gpu, ready) == frame.numpy()).all()
    finally:
        sink.release()


@needs_cuda
def test_interop_sink_round_trip_and_resize(egl_ctx, frame_pattern):
    reason = interop_unavailable(egl_ctx, torch.device("cuda"))
    if reason is not None:
        pytest.skip(f"interop impossible here: {reason}")
    sink, why = choose_sink("interop", egl_ctx, "cuda")
    assert sink.kind == "interop" and why.startswith("interop:")
    try:
        for width, height in ((64, 48), (64, 48), (80, 40)):  # same size twice, then a resize re-registers
            frame = frame_pattern(width, height, seed=width)
            on_gpu = frame.cuda()
            ready = torch.cuda.Event()
            ready.record()
            assert (round_trip(egl_ctx, sink, on_gpu, ready) == frame.numpy()).all()
        assert sink.previous is None and sink.size == (80, 40)
    finally:
        sink.release()
