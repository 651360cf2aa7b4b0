"""Live input from a sound device through sounddevice (PortAudio), an optional extra.

Thin on purpose: the device callback copies each block into the listener's queue and returns;
everything else happens on the listener's thread. Without sounddevice or PortAudio, every entry
point raises one AudioDeviceError that says what to install.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from .config import SAMPLE_RATE
from .errors import AudioDeviceError

log = logging.getLogger(__name__)

INSTALL_HINT = ("live audio input needs the sounddevice package and the PortAudio library: "
                "pip install 'stylevj[audio]' and, on Debian/Ubuntu, apt install libportaudio2")
DEVICE_BLOCK = 256
"""Samples per device callback (5.3 ms at 48 kHz): one analysis hop, so onsets are seen at once."""


def load_sounddevice() -> ModuleType:
    """The sounddevice module, or an AudioDeviceError naming what to install.

    sounddevice raises OSError at import when the PortAudio library itself is missing.
    """
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        raise AudioDeviceError(f"{INSTALL_HINT} ({exc})") from None
    return sounddevice


@dataclass(frozen=True, slots=True)
class InputDevice:
    """A sound device that can record."""

    index: int
    name: str
    channels: int
    default_samplerate: float
    hostapi: str
    is_default: bool

    def describe(self) -> str:
        """One line for `stylevj audio devices`."""
        mark = "*" if self.is_default else " "
        return f"{mark} {self.index:3d}  {self.name}  ({self.hostapi}, {self.channels} ch, {self.default_samplerate:g} Hz)"


def list_input_devices() -> list[InputDevice]:
    """Every device with at least one input channel; the system default is marked."""
    sd = load_sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
        default = sd.default.device[0] if sd.default.device is not None else -1
    except Exception as exc:  # PortAudioError and friends: the host audio system itself failed
        raise AudioDeviceError(f"cannot list sound devices: {exc}") from None
    found = []
    for index, info in enumerate(devices):
        if int(info.get("max_input_channels", 0)) < 1:
            continue
        api = hostapis[info["hostapi"]]["name"] if 0 <= info.get("hostapi", -1) < len(hostapis) else "?"
        found.append(InputDevice(index=index, name=str(info["name"]), channels=int(info["max_input_channels"]),
                                 default_samplerate=float(info.get("default_samplerate", 0.0)), hostapi=str(api),
                                 is_default=index == default))
    return found


def find_input_device(spec: str | int | None) -> InputDevice:
    """The input device by index, by (case-insensitive) name or part of one, or the default (None).

    Raises AudioDeviceError naming the spec and the devices there are.
    """
    devices = list_input_devices()
    if not devices:
        raise AudioDeviceError("no sound input device found")
    if spec is None:
        chosen = [d for d in devices if d.is_default] or devices[:1]
        return chosen[0]
    text = str(spec).strip()
    if text.isdigit():
        matches = [d for d in devices if d.index == int(text)]
    else:
        exact = [d for d in devices if d.name.lower() == text.lower()]
        matches = exact or [d for d in devices if text.lower() in d.name.lower()]
    if len(matches) == 1:
        return matches[0]
    names = ", ".join(f"{d.index}: {d.name}" for d in devices)
    if not matches:
        raise AudioDeviceError(f"no sound input device {text!r} (there are {names})")
    raise AudioDeviceError(f"sound input device {text!r} is ambiguous: {', '.join(d.name for d in matches)}")


class DeviceInput:
    """Records from one device and hands every block to `feed` (usually `AudioListener.feed`).

    `start()` opens the stream at 48 kHz (one or two channels; the analyser mixes to mono) and
    `stop()` closes it; nothing opens in the constructor. If the device fails or vanishes (a USB
    interface unplugged), `failure` says so in one line and the show carries on without sound.
    """

    def __init__(self, feed: Callable[[np.ndarray], None], device: str | int | None = None,
                 sample_rate: int = SAMPLE_RATE, block_size: int = DEVICE_BLOCK) -> None:
        if not 0 < block_size <= 512:
            raise AudioDeviceError(f"device block size must be 1..512 samples, got {block_size}")
        self._feed = feed
        self._spec = device
        self._sample_rate = sample_rate
        self._block_size = block_size
        self._stream = None
        self._stopping = False
        self.device: InputDevice | None = None
        self.failure: str | None = None
        self.overflows = 0
        """Callbacks that reported lost input (the system could not keep up)."""

    @property
    def active(self) -> bool:
        return self._stream is not None and self.failure is None

    def start(self) -> InputDevice:
        """Open and start the input stream; returns the device. Raises AudioDeviceError."""
        if self._stream is not None:
            return self.device  # type: ignore[return-value]
        sd = load_sounddevice()
        device = find_input_device(self._spec)
        channels = min(device.channels, 2)
        try:
            sd.check_input_settings(device=device.index, channels=channels, dtype="float32", samplerate=self._sample_rate)
            stream = sd.InputStream(device=device.index, channels=channels, dtype="float32", samplerate=self._sample_rate,
                                    blocksize=self._block_size, latency="low", callback=self._callback,
                                    finished_callback=self._finished)
            stream.start()
        except Exception as exc:  # PortAudioError, ValueError: unsupported rate or channel count
            raise AudioDeviceError(f"cannot record from {device.name!r} at {self._sample_rate} Hz: {exc}") from None
        self._stream, self.device, self.failure, self._stopping = stream, device, None, False
        log.info("listening to %s (%d ch, %d Hz, %d-sample blocks)", device.name, channels, self._sample_rate, self._block_size)
        return device

    def stop(self) -> None:
        """Stop and close the stream (safe to call twice, or after the device vanished)."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        self._stopping = True
        try:
            stream.stop()
            stream.close()
        except Exception as exc:  # a vanished device may fail to close: it is gone either way
            log.debug("closing the audio stream: %s", exc)

    def _callback(self, indata: np.ndarray, frames: int, time_info, status) -> None:
        """PortAudio's thread: count trouble, hand the block on, return. Nothing else."""
        if status:
            self.overflows += 1
        self._feed(indata)

    def _finished(self) -> None:
        if not self._stopping:
            name = self.device.name if self.device else self._spec
            self.failure = f"audio input {name!r} stopped (device disconnected or failed); the show goes on without sound"
            log.warning(self.failure)
