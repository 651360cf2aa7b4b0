"""GPU and host telemetry as frozen snapshots, refreshed by a thread the show never waits for.

    poller = TelemetryPoller().start()       # NVML (or /proc when there is no NVIDIA driver)
    snapshot = poller.latest()                # Telemetry | None; never blocks
    poller.stop()

One `TelemetrySource.sample()` reads everything in one pass (NVML through `Nvml.query`, the host
from /proc) into a `Telemetry` value: a tuple of `GpuSample`s, one `HostSample`, whether NVML
works and why not. Every field the driver cannot give is `None`. Nothing here formats or draws;
the GPU panel only formats the newest snapshot.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .nvml import Nvml

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.5
NVML_TEMPERATURE_GPU = 0  # pynvml.NVML_TEMPERATURE_GPU, fixed by the NVML API


def percent(used: int | None, total: int | None) -> float | None:
    """used / total in percent, or None when either is unknown (or the total is 0)."""
    return None if used is None or not total else 100.0 * used / total


@dataclass(frozen=True)
class GpuProcess:
    """A process holding a context on a GPU."""

    pid: int
    name: str | None  # command line, shortened; None when the process cannot be read
    memory: int | None  # bytes of GPU memory, None when the driver does not say
    kind: str = "C"  # C compute, G graphics, C+G both
    own: bool = False  # this stylevj process


@dataclass(frozen=True)
class GpuSample:
    """One GPU at one instant; `None` is what the driver could not say."""

    index: int
    name: str | None
    fan_percent: int | None
    temperature_c: int | None
    performance_state: int | None  # 0 = P0 (fastest) .. 15
    power_w: float | None
    power_cap_w: float | None
    memory_used: int | None  # bytes
    memory_total: int | None  # bytes
    utilization_percent: int | None
    processes: tuple[GpuProcess, ...]
    timestamp: float  # time.time() of the read
    uuid: str | None = None

    @property
    def memory_percent(self) -> float | None:
        return percent(self.memory_used, self.memory_total)


@dataclass(frozen=True)
class HostSample:
    """The machine itself: what the GPU panel shows when NVML is unavailable (and below the GPUs)."""

    cpu_percent: float | None  # all cores, since the previous sample (None on the first)
    cpu_count: int | None
    memory_used: int | None  # bytes in use (total - available)
    memory_total: int | None
    process_rss: int | None  # this process's resident memory, bytes
    load_average: tuple[float, float, float] | None
    timestamp: float

    @property
    def memory_percent(self) -> float | None:
        return percent(self.memory_used, self.memory_total)


@dataclass(frozen=True)
class Telemetry:
    """Everything the GPU panel shows, from one pass; immutable, so it can be handed across threads."""

    timestamp: float
    nvml_available: bool
    nvml_reason: str  # why NVML is unavailable ('' when it works)
    gpus: tuple[GpuSample, ...]
    host: HostSample
    driver_version: str | None = None
    cuda_driver_version: str | None = None


# ---- reading -----------------------------------------------------------------------------------


class TelemetrySource:
    """Reads one `Telemetry` per `sample()` call. Keeps only what deltas need (CPU counters).

    `nvml`: the NVML session (tests pass one around a stand-in library). `proc`: the /proc folder.
    `own_gpu_memory`: this process's GPU memory per GPU UUID, used when NVML cannot see our pid
    (a container's own pid namespace); default: what torch's allocator has reserved.
    """

    def __init__(
        self, nvml: Nvml | None = None, proc: str | os.PathLike = "/proc",
        own_gpu_memory: Callable[[], dict[str, int]] | None = None,
    ) -> None:
        self.nvml = nvml or Nvml()
        self.proc = Path(proc)
        self.pid = os.getpid()
        self._own_gpu_memory = own_gpu_memory or torch_reserved_by_uuid
        self._cpu_prev: tuple[int, int] | None = None  # (busy, total) jiffies
        self._versions: tuple[str | None, str | None] | None = None

    def sample(self) -> Telemetry:
        now = time.time()
        host = self.host(now)
        if not self.nvml.available:
            return Telemetry(now, False, self.nvml.reason or "NVML unavailable", (), host)
        if self._versions is None:
            cuda = self.nvml.query("nvmlSystemGetCudaDriverVersion")
            cuda_text = f"{cuda // 1000}.{cuda % 1000 // 10}" if isinstance(cuda, int) else None
            self._versions = (self.nvml.query("nvmlSystemGetDriverVersion"), cuda_text)
        count = self.nvml.query("nvmlDeviceGetCount", default=0)
        gpus = tuple(self.gpu(i, now) for i in range(count))
        if gpus and not any(p.own for g in gpus for p in g.processes):
            gpus = self._add_own_process(gpus)
        return Telemetry(now, True, "", gpus, host, *self._versions)

    def gpu(self, index: int, now: float) -> GpuSample:
        q = self.nvml.query
        handle = q("nvmlDeviceGetHandleByIndex", index)
        if handle is None:
            return GpuSample(index, None, None, None, None, None, None, None, None, None, (), now)
        memory = q("nvmlDeviceGetMemoryInfo", handle)
        rates = q("nvmlDeviceGetUtilizationRates", handle)
        power = q("nvmlDeviceGetPowerUsage", handle)  # milliwatts
        cap = q("nvmlDeviceGetEnforcedPowerLimit", handle)
        return GpuSample(
            index=index, name=q("nvmlDeviceGetName", handle), fan_percent=q("nvmlDeviceGetFanSpeed", handle),
            temperature_c=q("nvmlDeviceGetTemperature", handle, NVML_TEMPERATURE_GPU),
            performance_state=_pstate(q("nvmlDeviceGetPerformanceState", handle)),
            power_w=None if power is None else power / 1000.0, power_cap_w=None if cap is None else cap / 1000.0,
            memory_used=getattr(memory, "used", None), memory_total=getattr(memory, "total", None),
            utilization_percent=getattr(rates, "gpu", None), processes=self._processes(handle), timestamp=now,
            uuid=q("nvmlDeviceGetUUID", handle),
        )

    def _processes(self, handle: object) -> tuple[GpuProcess, ...]:
        found: dict[int, tuple[str, int | None]] = {}
        for kind, func in (("C", "nvmlDeviceGetComputeRunningProcesses"), ("G", "nvmlDeviceGetGraphicsRunningProcesses")):
            for info in self.nvml.query(func, handle, default=()) or ():
                pid = getattr(info, "pid", None)
                if not isinstance(pid, int):
                    continue
                memory = getattr(info, "usedGpuMemory", None)
                if pid in found:  # the same context in both lists: one row, memory counted once
                    old_kind, old_memory = found[pid]
                    memory = max((m for m in (old_memory, memory) if m is not None), default=None)
                    kind = old_kind if kind in old_kind else f"{old_kind}+{kind}"
                found[pid] = (kind, memory)
        rows = [GpuProcess(pid, self.command(pid), memory, kind, pid == self.pid) for pid, (kind, memory) in found.items()]
        rows.sort(key=lambda p: (not p.own, -(p.memory or 0), p.pid))
        return tuple(rows)

    def _add_own_process(self, gpus: tuple[GpuSample, ...]) -> tuple[GpuSample, ...]:
        """NVML lists host pids; in a container ours differs. Show our own memory from torch."""
        try:
            own = self._own_gpu_memory()
        except Exception as exc:  # a CUDA error in torch must not stop telemetry
            log.debug("own GPU memory unavailable: %s", exc)
            return gpus
        out = []
        for gpu in gpus:
            key = _uuid_key(gpu.uuid)
            if key is not None and own.get(key):
                me = GpuProcess(self.pid, self.command(self.pid), own[key], "C", True)
                gpu = replace(gpu, processes=(me, *gpu.processes))
            out.append(gpu)
        return tuple(out)

    def command(self, pid: int) -> str | None:
        """The process's command line, program names without their folders; None if unreadable."""
        try:
            raw = (self.proc / str(pid) / "cmdline").read_bytes()
        except OSError:
            raw = b""
        args = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
        if args:
            args[:2] = [os.path.basename(a) if "/" in a else a for a in args[:2]]
            return " ".join(args)
        name = self.nvml.query("nvmlSystemGetProcessName", pid)
        return os.path.basename(name) if name else None

    # ---- the host ------------------------------------------------------------------------------

    def host(self, now: float) -> HostSample:
        return HostSample(self._cpu_percent(), os.cpu_count(), *self._memory(), self._rss(), _loadavg(), now)

    def _cpu_percent(self) -> float | None:
        try:
            fields = (self.proc / "stat").read_text().split("\n", 1)[0].split()
            values = [int(v) for v in fields[1:]]
        except (OSError, ValueError, IndexError):
            return None
        total = sum(values[:8])  # user nice system idle iowait irq softirq steal (guest is in user)
        busy = total - values[3] - (values[4] if len(values) > 4 else 0)
        previous, self._cpu_prev = self._cpu_prev, (busy, total)
        if previous is None or total <= previous[1]:
            return None
        return max(0.0, min(100.0, 100.0 * (busy - previous[0]) / (total - previous[1])))

    def _memory(self) -> tuple[int | None, int | None]:
        try:
            info = {}
            for line in (self.proc / "meminfo").read_text().splitlines():
                key, _, rest = line.partition(":")
                info[key] = int(rest.split()[0]) * 1024
            total = info["MemTotal"]
            return total - info.get("MemAvailable", info.get("MemFree", 0)), total
        except (OSError, ValueError, KeyError, IndexError):
            pass
        try:
            return None, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None, None

    def _rss(self) -> int | None:
        try:
            return int((self.proc / "self" / "statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def close(self) -> None:
        self.nvml.shutdown()


def _pstate(value: int | None) -> int | None:
    """NVML's P0..P15; NVML_PSTATE_UNKNOWN (32) is unknown."""
    return value if isinstance(value, int) and 0 <= value <= 15 else None


def _loadavg() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except (OSError, AttributeError):
        return None


def _uuid_key(uuid: str | None) -> str | None:
    """'GPU-1a2b...' (NVML) and '1a2b...' (torch) name the same board."""
    return None if not uuid else uuid.lower().removeprefix("gpu-")


def torch_reserved_by_uuid() -> dict[str, int]:
    """Bytes torch's allocator holds per CUDA device, keyed like `_uuid_key`; {} before CUDA starts."""
    import torch

    if not torch.cuda.is_initialized():
        return {}
    out = {}
    for i in range(torch.cuda.device_count()):
        uuid = str(getattr(torch.cuda.get_device_properties(i), "uuid", "") or "")
        if uuid:
            out[_uuid_key(uuid)] = int(torch.cuda.memory_reserved(i))
    return out


# ---- the poll thread ---------------------------------------------------------------------------


class TelemetryPoller:
    """Samples telemetry every `interval` seconds on its own thread; `latest()` is the newest.

    `sample`: what one poll calls (default: a `TelemetrySource`). An exception in it is logged
    once per distinct message and the poller keeps going; the last good snapshot stays.
    """

    def __init__(self, sample: Callable[[], Telemetry] | None = None, interval: float = POLL_INTERVAL_S) -> None:
        if not interval > 0:
            raise ValueError(f"poll interval must be positive, got {interval}")
        self._source = TelemetrySource() if sample is None else None
        self._sample = sample or self._source.sample
        self.interval = float(interval)
        self._latest: Telemetry | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen_errors: set[str] = set()
        self.errors = 0

    def start(self) -> TelemetryPoller:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="stylevj-telemetry", daemon=True)
            self._thread.start()
        return self

    def latest(self) -> Telemetry | None:
        """The newest snapshot, or None before the first poll finished. Never blocks."""
        return self._latest  # one reference read: atomic, and the value is frozen

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 2.0) -> None:
        """Ask the thread to end and wait up to `timeout` for it (a hung driver call is left behind)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("telemetry thread still inside a driver call after %.1f s; left to finish", timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.interval)
        if self._source is not None:
            self._source.close()  # NVML shut down on the thread that used it

    def poll_once(self) -> None:
        """One sample into `latest()`; failures are counted and logged once per message."""
        try:
            self._latest = self._sample()
        except Exception as exc:  # telemetry is decoration: it never takes the show down
            self.errors += 1
            message = f"{type(exc).__name__}: {exc}"
            if message not in self._seen_errors and len(self._seen_errors) < 32:  # bounded: messages may vary
                self._seen_errors.add(message)
                log.warning("telemetry poll failed (panel keeps the last snapshot): %s", message)
