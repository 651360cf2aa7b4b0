"""The doctor's checks of sound and video: PyAV and its H.264 encoder (renders, recordings) and
the sound inputs (`run --audio-in`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .report import Finding, one_line

H264_ENCODERS = ("libx264", "h264_nvenc", "h264_qsv", "h264_vaapi", "h264_amf", "h264_videotoolbox", "h264_mf",
                 "h264_v4l2m2m", "libopenh264")


def check_pyav() -> Finding:
    """PyAV, and whether it encodes H.264 with libx264."""
    try:
        import av
    except ImportError as exc:
        return Finding("PyAV", "missing", f"not installed ({one_line(exc)}): no video renders or recordings",
                       fix="pip install av")
    encoders = [name for name in H264_ENCODERS if _is_encoder(av, name)]
    if "libx264" in encoders:
        return Finding("PyAV", "ok", f"{av.__version__}, H.264 via libx264")
    others = f" ({', '.join(encoders)} here, unused)" if encoders else ""
    return Finding("PyAV", "degraded", f"{av.__version__} without libx264: h264 renders are MPEG-4 Part 2{others}",
                   fix="pip install --force-reinstall av")


def _is_encoder(av: Any, name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:  # noqa: BLE001 - UnknownCodecError, or not an encoder
        return False
    return True


def check_audio(lister: Callable[[], Sequence[Any]] | None) -> Finding:
    """Sound inputs for `run --audio-in` (sounddevice and PortAudio)."""
    from ..audio.errors import AudioDeviceError

    if lister is None:
        from ..audio import list_input_devices as lister
    try:
        devices = list(lister())
    except AudioDeviceError as exc:
        import importlib.util

        if importlib.util.find_spec("sounddevice") is None:
            return Finding("audio in", "missing", "sounddevice not installed: --audio FILE still works",
                           fix="pip install 'stylevj[audio]'")
        if "PortAudio" in str(exc) or "portaudio" in str(exc):
            return Finding("audio in", "missing", "the PortAudio library is missing: --audio FILE still works",
                           fix="apt install libportaudio2")
        return Finding("audio in", "degraded", f"{exc}: --audio FILE still works")
    if not devices:
        return Finding("audio in", "degraded", "no sound input device: --audio FILE still works")
    default = next((d for d in devices if d.is_default), devices[0])
    return Finding("audio in", "ok", f"{len(devices)} input(s), default {default.name}")


AVAHI_SOCKET = "/run/avahi-daemon/socket"


def check_ndi(avahi_socket: str = AVAHI_SOCKET) -> Finding:
    """Whether `run --ndi` can publish here: the binding, its runtime, and mDNS for discovery."""
    import os

    from ..outputs.ndi import load_ndi

    try:
        import NDIlib  # noqa: F401 - installed at all?
    except ImportError:
        return Finding("NDI", "missing", "not installed: no --ndi output", fix="pip install 'stylevj[ndi]'")
    except OSError as exc:
        return Finding("NDI", "fail", f"the NDI runtime failed to load ({one_line(exc)})",
                       fix="pip install --force-reinstall ndi-python")
    try:
        ndi = load_ndi()
    except Exception as exc:  # noqa: BLE001 - whatever the runtime says, in one line
        return Finding("NDI", "fail", one_line(exc), fix="pip install --force-reinstall ndi-python")
    version = ndi.version() if hasattr(ndi, "version") else "runtime"
    if not os.path.exists(avahi_socket):
        return Finding("NDI", "degraded", f"{version}; no mDNS daemon here: receivers find this source only by its "
                       "IP (their extra IPs, or run --ndi-discovery IP,...)", fix="apt install avahi-daemon")
    return Finding("NDI", "ok", f"{version}, mDNS via avahi")
