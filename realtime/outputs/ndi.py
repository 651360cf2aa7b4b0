"""NDI: the stage picture as a network source for TouchDesigner, Resolume, OBS (`run --ndi NAME`).

Binding: `ndi-python` (the `ndi` extra), which ships NDI's runtime (libndi 6) and its licence
file (`NDIlib/libndi_licenses.txt`) in its Linux wheel. It was chosen over `cyndilib` (same
runtime) because it is the SDK's own calls one for one: `send_get_source_name` gives the name
that really went out, `send_get_no_connections` the receivers, and its receiver reads every frame
(cyndilib's `Receiver.receive()` goes through a FrameSync that drops about two in three).

Pixels go out as RGBX, as GL reads them: measured on two cores, the runtime's own conversion to
its 4:2:2 codec costs 2.5 ms a 1280x720 frame, where converting to UYVY in numpy first costs
13.8 ms (a GL pass writing UYVY would halve the readback; not done yet).

Discovery: the runtime finds sources by mDNS. Where none runs, `--ndi-discovery IP,...` writes
NDI's "extra IPs" (`ndi.networks.ips`) into a private copy of the NDI configuration
(`ndi-config.v1.json`, the user's own settings kept) and points `NDI_CONFIG_DIR` at it before the
runtime starts; a discovery server is `ndi.networks.discovery` in the same file.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np

from .base import FrameOutput, OutputError, OutputSpec

log = logging.getLogger(__name__)

CONFIG_FILE = "ndi-config.v1.json"


def load_ndi() -> ModuleType:
    """The NDI binding with its runtime started, or `OutputError` in one line saying why not."""
    try:
        import NDIlib as ndi  # noqa: N813 - the binding's own name
    except ImportError as exc:
        raise OutputError(f"NDI is not installed ({exc}): pip install 'stylevj[ndi]'") from None
    except OSError as exc:  # the runtime library inside the wheel failed to load
        raise OutputError(f"the NDI runtime failed to load ({exc})") from None
    if not ndi.initialize():  # the runtime counts its starts: every caller may ask
        raise OutputError("the NDI runtime failed to start (this CPU lacks SSE4.2, or the library is damaged)")
    return ndi


def ndi_unavailable() -> str | None:
    """Why `--ndi` cannot work here (checked at start, and by `doctor`); None when it can."""
    try:
        load_ndi()
    except OutputError as exc:
        return str(exc)
    return None


def parse_discovery(text: str) -> tuple[str, ...]:
    """'192.168.1.20,10.0.0.5' -> the addresses, each checked; one line naming a bad one."""
    addresses = tuple(part.strip() for part in text.split(",") if part.strip())
    if not addresses:
        raise OutputError("--ndi-discovery needs at least one IP address, e.g. 192.168.1.20")
    for address in addresses:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise OutputError(f"--ndi-discovery: {address!r} is not an IP address") from None
    return addresses


def use_discovery(addresses: tuple[str, ...], folder: Path | None = None) -> Path:
    """Point the NDI runtime at `addresses` (its extra IPs) before it starts: writes a private
    configuration (the user's own settings, from `NDI_CONFIG_DIR` or ~/.ndi, kept) and sets
    `NDI_CONFIG_DIR` to it. The runtime reads the variable only, hence the process environment."""
    current = Path(os.environ.get("NDI_CONFIG_DIR") or Path.home() / ".ndi") / CONFIG_FILE
    try:
        config = json.loads(current.read_text()) if current.is_file() else {}
    except (OSError, ValueError) as exc:
        log.warning("NDI configuration %s unreadable (%s): starting from an empty one", current, exc)
        config = {}
    networks = config.setdefault("ndi", {}).setdefault("networks", {})
    networks["ips"] = ",".join(addresses)
    folder = folder or Path(tempfile.mkdtemp(prefix="stylevj-ndi-"))
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    os.environ["NDI_CONFIG_DIR"] = str(folder)
    log.info("NDI discovery: extra IPs %s (configuration in %s)", networks["ips"], folder)
    return folder


class NdiTransport:
    """One NDI source (see module doc). Created anywhere; opened and used on its sender thread."""

    def __init__(self) -> None:
        self._ndi: ModuleType | None = None
        self._sender = None
        self._frame = None

    def open(self, name: str) -> str:
        ndi = load_ndi()
        create = ndi.SendCreate()
        create.ndi_name = name
        create.clock_video = False  # the show sets the pace; a clocked send would block this thread
        sender = ndi.send_create(create)
        if sender is None:
            raise OutputError(f"NDI refused to create the source {name!r} (the name is already used in this process?)")
        self._ndi, self._sender = ndi, sender
        self._frame = ndi.VideoFrameV2()
        self._frame.FourCC = ndi.FOURCC_VIDEO_TYPE_RGBX
        source = ndi.send_get_source_name(sender)
        return getattr(source, "ndi_name", None) or name

    def send(self, rgba: np.ndarray, fps: float) -> None:
        frame = self._frame
        rate = max(1, round(fps * 1000))
        frame.frame_rate_N, frame.frame_rate_D = rate, 1000
        frame.data = rgba  # sets size and line stride from the array
        self._ndi.send_send_video_v2(self._sender, frame)

    def receivers(self) -> int:
        return int(self._ndi.send_get_no_connections(self._sender, 0))

    def close(self) -> None:
        if self._sender is not None:
            self._ndi.send_destroy(self._sender)
            self._sender = None


def ndi_output(spec: OutputSpec) -> FrameOutput:
    """A frame output that publishes `spec` over NDI."""
    return FrameOutput(spec, NdiTransport())
