"""The one door to NVML: every driver call goes through `Nvml.query`, and none of them raises.

NVML (the `pynvml` module from nvidia-ml-py) is initialised on the first query, not on import,
so a machine without an NVIDIA driver pays nothing until the GPU panel asks. From then on:

- if `nvmlInit()` fails (no driver, no library), the session is *unavailable*: it says why once
  in the log and every query returns its default;
- a call that fails (not supported on this board, a device lost) returns its default, and the
  failure is logged once per function name, so a 2 Hz poll never floods the log;
- a value the driver marks as missing comes back as `None` (the panel prints it as N/A).

The library is injectable: tests pass a stand-in module for `pynvml` (the only test double the
overlay uses, because no driver exists on the test machines). A session object rather than module
globals keeps two users (a test and the show) from sharing init state behind each other's backs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)


def _import_pynvml() -> ModuleType:
    import pynvml  # nvidia-ml-py; a hard dependency, but only touched here

    return pynvml


class Nvml:
    """A lazily initialised NVML session; `query(func, *args, default=None)` is the choke point.

    `library`: the `pynvml` module (default) or anything with the same functions. Safe to use
    from one thread at a time per call (the telemetry poller is the only caller in the show);
    init and shutdown are guarded by a lock.
    """

    def __init__(self, library: ModuleType | Any | None = None) -> None:
        self._library = library
        self._lock = threading.Lock()
        self._state = "new"  # new -> ready | unavailable; ready -> closed
        self._reason = ""
        self._logged: set[str] = set()

    # ---- session ---------------------------------------------------------------------------

    def _init(self) -> bool:
        with self._lock:
            if self._state == "new":
                try:
                    if self._library is None:
                        self._library = _import_pynvml()
                    self._library.nvmlInit()
                except Exception as exc:  # NVMLError_LibraryNotFound, DriverNotLoaded, ImportError, ...
                    self._state = "unavailable"
                    self._reason = why_unavailable(exc)
                    log.info("NVML unavailable: %s; the GPU panel shows CPU and RAM instead", self._reason)
                else:
                    self._state = "ready"
            return self._state == "ready"

    @property
    def available(self) -> bool:
        """True when NVML initialised (initialising it now if nobody has asked yet)."""
        return self._init()

    @property
    def reason(self) -> str:
        """Why NVML is unavailable ('' while it works or has not been tried)."""
        self._init()
        return self._reason

    def shutdown(self) -> None:
        """Release NVML (if it was initialised); later queries return their defaults."""
        with self._lock:
            if self._state == "ready":
                try:
                    self._library.nvmlShutdown()
                except Exception as exc:
                    log.debug("nvmlShutdown failed: %s", _describe(exc))
            if self._state in ("new", "ready"):
                self._state = "closed"
                self._reason = "NVML was shut down"

    # ---- the choke point -------------------------------------------------------------------

    def query(self, func: str | Callable[..., Any], *args: Any, default: Any = None) -> Any:
        """`func(*args)` through NVML, or `default` when NVML or the value is unavailable.

        `func` is a pynvml function or its name ('nvmlDeviceGetTemperature'); a name is looked up
        in the session's library, which is how a test's stand-in gets called. Bytes come back
        decoded; NVML's "not available" markers come back as `default`.
        """
        if not self._init():
            return default
        name = func if isinstance(func, str) else getattr(func, "__name__", repr(func))
        try:
            call = getattr(self._library, func) if isinstance(func, str) else func
            value = call(*args)
        except Exception as exc:  # any NVMLError subclass, or an AttributeError of an old binding
            if name not in self._logged:
                self._logged.add(name)
                level = logging.DEBUG if _not_supported(exc) else logging.WARNING
                log.log(level, "NVML %s failed (%s); shown as N/A from now on", name, _describe(exc))
            return default
        if value is None:
            return default
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        return value


# Why NVML did not start, in words a user reads on the GPU panel, the page and `doctor` (the
# driver's own message follows in brackets).
_UNAVAILABLE = {
    "NVMLError_LibraryNotFound": "no NVIDIA driver on this machine",
    "NVMLError_DriverNotLoaded": "the NVIDIA driver is installed but not loaded",
    "NVMLError_NoPermission": "no permission to ask the NVIDIA driver",
    "NVMLError_LibRmVersionMismatch": "the NVIDIA driver and its library differ in version (reboot after an update)",
    "ModuleNotFoundError": "pynvml (nvidia-ml-py) is not installed",
    "ImportError": "pynvml (nvidia-ml-py) did not load",
}


def why_unavailable(exc: BaseException) -> str:
    """NVML's start-up failure as a sentence: 'no NVIDIA driver on this machine (NVML Shared
    Library Not Found)', never a bare 'NVMLError_LibraryNotFound'."""
    words = _UNAVAILABLE.get(type(exc).__name__)
    if words is None:
        return f"NVML did not start ({_describe(exc)})"
    text = str(exc).strip()
    return f"{words} ({text})" if text and type(exc).__name__ not in text and text not in words else words


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text and text not in type(exc).__name__ else type(exc).__name__


def _not_supported(exc: BaseException) -> bool:
    """A board that lacks a sensor (a fan on a passive card) is normal, not a warning."""
    return type(exc).__name__ in ("NVMLError_NotSupported", "NVMLError_NotFound")
