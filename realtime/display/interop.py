"""CUDA-GL interop sink: CUDA frames copied device-to-device into GL textures, no host trip.

Needs NVIDIA's `cuda-bindings` (`pip install 'stylevj[interop]'`), imported only when this
sink is made, and a GL context on the same NVIDIA GPU as the generator. Each ring texture is
registered with CUDA once (write-discard) and unregistered before it is released or resized.
Per frame, on the sink's own stream: wait for the frame's event, map, copy into the mapped
array, unmap. Unmapping orders the copy before any later GL use of the texture, so the host
never waits and the device is never synchronised as a whole.
"""

from __future__ import annotations

import logging
from types import ModuleType

import moderngl
import torch

from .errors import InteropError
from .frames import FrameSink

log = logging.getLogger(__name__)

GL_TEXTURE_2D = 0x0DE1
BROKEN_VERSIONS = ("12.9.3", "13.0.2")  # cuda-bindings releases whose graphics interop calls are broken


def load_cudart() -> ModuleType:
    """`cuda.bindings.runtime`, or `InteropError` saying in a few words why it cannot be used."""
    try:
        import cuda.bindings as bindings
        from cuda.bindings import runtime
    except ImportError as exc:
        if exc.name in ("cuda", "cuda.bindings", "cuda.bindings.runtime"):
            raise InteropError("cuda-bindings missing (pip install 'stylevj[interop]')") from None
        raise InteropError(f"cuda-bindings unusable ({exc})") from None
    except Exception as exc:  # a broken install fails in many ways; the reason is what matters
        raise InteropError(f"cuda-bindings unusable ({type(exc).__name__}: {exc})") from None
    version = getattr(bindings, "__version__", "")
    if version in BROKEN_VERSIONS:
        raise InteropError(f"cuda-bindings {version} has broken graphics interop (install another version)")
    return runtime


class InteropSink(FrameSink):
    """Frames on `device` (a CUDA device) into GL textures through CUDA-GL interop.

    Must be made and used on the thread where `ctx` is current. After each `upload`,
    `consumed` is recorded on the sink's stream: a generator reusing a frame buffer in place
    should make its stream wait on it first (the caching allocator is told via
    `record_stream`, so freed frames are safe without this).
    """

    kind = "interop"

    def __init__(self, ctx: moderngl.Context, device: str | torch.device = "cuda", slots: int = 2) -> None:
        super().__init__(ctx, slots)
        self._rt = load_cudart()
        device = torch.device(device)
        if device.type != "cuda":
            raise InteropError(f"interop needs a CUDA generator, got device {device}")
        self.device = torch.device("cuda", torch.cuda.current_device() if device.index is None else device.index)
        self._check_gl_device()
        self._stream = torch.cuda.Stream(self.device)
        self._cu_stream = self._rt.cudaStream_t(self._stream.cuda_stream)
        self.consumed = torch.cuda.Event()
        self._resources: dict[int, object] = {}  # GL texture name -> registered CUDA resource

    def _check(self, result: tuple, what: str) -> object:
        """Unpack a cuda-bindings `(err, value...)` tuple; `InteropError` naming `what` on failure."""
        rt = self._rt
        err = result[0]
        if err != rt.cudaError_t.cudaSuccess:
            name = rt.cudaGetErrorName(err)[1]
            name = name.decode() if isinstance(name, bytes) else str(name)
            raise InteropError(f"CUDA-GL interop: {what} failed ({name})")
        return result[1] if len(result) == 2 else result[1:]

    def _check_gl_device(self) -> None:
        """The GL context must live on the generator's GPU, or registration fails obscurely later."""
        rt = self._rt
        count = max(1, torch.cuda.device_count())
        n, devices = self._check(
            rt.cudaGLGetDevices(count, rt.cudaGLDeviceList.cudaGLDeviceListAll), "finding the GL context's CUDA device"
        )
        gl_devices = [int(d) for d in devices[:n]]
        if self.device.index not in gl_devices:
            raise InteropError(f"GL context is on CUDA device(s) {gl_devices}, generator on {self.device}")

    def _create_texture(self, size: tuple[int, int]) -> moderngl.Texture:
        texture = super()._create_texture(size)
        rt = self._rt
        flags = int(rt.cudaGraphicsRegisterFlags.cudaGraphicsRegisterFlagsWriteDiscard)
        try:
            resource = self._check(rt.cudaGraphicsGLRegisterImage(texture.glo, GL_TEXTURE_2D, flags), "registering a GL texture")
        except InteropError:
            texture.release()
            raise
        self._resources[texture.glo] = resource
        return texture

    def _release_texture(self, texture: moderngl.Texture) -> None:
        resource = self._resources.pop(texture.glo, None)
        if resource is not None:
            self._stream.synchronize()  # no copy of ours may still target it (rare: resize or shutdown)
            err = self._rt.cudaGraphicsUnregisterResource(resource)[0]
            if err != self._rt.cudaError_t.cudaSuccess:
                log.warning("CUDA-GL interop: unregistering texture %d failed (%s)", texture.glo, err)
        super()._release_texture(texture)

    def _write(self, texture: moderngl.Texture, frame: torch.Tensor, event: torch.cuda.Event | None) -> None:
        if frame.device != self.device:
            raise ValueError(f"interop sink is for {self.device}, got a frame on {frame.device}")
        rt = self._rt
        stream = self._stream
        resource = self._resources[texture.glo]
        height, width = frame.shape[0], frame.shape[1]
        row_bytes = width * 4
        if event is not None:
            stream.wait_event(event)
        else:
            stream.wait_stream(torch.cuda.current_stream(self.device))
        self._check(rt.cudaGraphicsMapResources(1, resource, self._cu_stream), "mapping a texture")
        try:
            array = self._check(rt.cudaGraphicsSubResourceGetMappedArray(resource, 0, 0), "getting the mapped array")
            self._check(
                rt.cudaMemcpy2DToArrayAsync(
                    array, 0, 0, frame.data_ptr(), row_bytes, row_bytes, height,
                    rt.cudaMemcpyKind.cudaMemcpyDeviceToDevice, self._cu_stream,
                ),
                "copying a frame",
            )
        finally:
            self._check(rt.cudaGraphicsUnmapResources(1, resource, self._cu_stream), "unmapping a texture")
        self.consumed.record(stream)
        frame.record_stream(stream)

    def probe(self) -> None:
        """Register, map, copy into and unregister a real (small) texture, then free it: whatever
        fails here would fail at the first frame. Raises the error (`choose_sink` falls back)."""
        try:
            self.upload(torch.zeros(8, 8, 4, dtype=torch.uint8, device=self.device))
            self._stream.synchronize()  # errors of the queued copy surface here, not mid-show
        finally:
            self.release()

    def release(self) -> None:
        super().release()
        self._resources.clear()
