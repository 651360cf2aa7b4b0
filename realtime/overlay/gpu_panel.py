"""The GPU panel: the newest telemetry snapshot in the look of nvitop's device view.

`telemetry_lines(snapshot)` turns one frozen `Telemetry` into coloured lines 79 columns wide
(nvitop's table width): a clock line, the device table (index and name, fan, temperature,
performance state, power usage/cap, memory used/total, utilisation) with a memory bar and a
utilisation bar per GPU, the host's CPU and RAM, and the process list with this process marked.
Without NVML the table is replaced by "NVML unavailable" and the reason; CPU and RAM remain.

Bars use left block characters in eighth-cell steps; colours follow nvitop's loading
thresholds: memory (10, 80) %, utilisation (10, 75) %: below the first is green (light),
from the first yellow (moderate), from the second red (heavy); an unknown value is moderate.
The panel reads the latest snapshot from a callable and never waits for the poll thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path


from .. import __version__
from .gpu import GpuSample, HostSample, Telemetry
from .panel import CYAN, DIM, FRAME, GREEN, RED, TEXT, YELLOW, Panel
from .text import EIGHTHS, Color, Line

WIDTH = 79  # nvitop's table width
MEMORY_THRESHOLDS = (10, 80)
UTILIZATION_THRESHOLDS = (10, 75)
MAX_PROCESSES = 8
HALF = (WIDTH - 3) // 2  # 38: a half-width cell between frame lines


# ---- formatting of single values ---------------------------------------------------------------


def load_color(percent: float | None, thresholds: tuple[int, int]) -> Color:
    """nvitop's loading intensity: light (green), moderate (yellow, also unknown), heavy (red)."""
    if percent is None:
        return YELLOW
    if percent >= thresholds[1]:
        return RED
    if percent >= thresholds[0]:
        return YELLOW
    return GREEN


def bar(percent: float | None, cells: int) -> str:
    """`cells` characters: full blocks, then one partial block in eighths, then spaces.
    Unknown: light shade all along."""
    if percent is None:
        return "░" * cells
    eighths = round(8 * cells * min(max(percent, 0.0), 100.0) / 100.0)
    full, part = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[part - 1] if part else "")).ljust(cells)


def percent_text(percent: float | None) -> str:
    if percent is None:
        return "N/A"
    if percent >= 100:
        return "MAX"
    return f"{percent:.1f}%" if isinstance(percent, float) else f"{percent}%"


def human_bytes(n: int | None) -> str:
    """MiB as a whole number below 100000 MiB (as nvidia-smi and nvitop show GPU memory), else GiB."""
    if n is None:
        return "N/A"
    mib = n / 2**20
    return f"{round(mib)}MiB" if mib < 100_000 else f"{n / 2**30:.1f}GiB"


def _na(value: object, fmt: str = "{}") -> str:
    return "N/A" if value is None else fmt.format(value)


def fan_text(fan: int | None) -> str:
    return "MAX" if fan is not None and fan >= 100 else _na(fan, "{}%")


def power_text(gpu: GpuSample) -> str:
    return f"{_na(None if gpu.power_w is None else round(gpu.power_w), '{}W')} / " \
           f"{_na(None if gpu.power_cap_w is None else round(gpu.power_cap_w), '{}W')}"


def memory_text(used: int | None, total: int | None) -> str:
    return f"{human_bytes(used)} / {human_bytes(total)}"


# ---- lines ------------------------------------------------------------------------------------


def _cells(*cells: tuple[str, Color] | list[tuple[str, Color]]) -> Line:
    """Frame lines between cells; each cell is a span or a list of spans."""
    spans: list[tuple[str, Color]] = [("│", FRAME)]
    for cell in cells:
        spans.extend(cell if isinstance(cell, list) else [cell])
        spans.append(("│", FRAME))
    return tuple(spans)


def _rule(text: str) -> Line:
    return ((text, FRAME),)


def bar_cell(label: str, percent: float | None, thresholds: tuple[int, int], width: int = HALF) -> list[tuple[str, Color]]:
    """' MEM: █████▍          45.3% ' in one colour: label, bar and value fill `width` columns."""
    text = percent_text(percent)
    cells = width - len(label) - 11  # ' ' + 'MEM: ' + bar + ' ' + 6-wide value + ' '
    color = load_color(None if percent is None else float(percent), thresholds)
    return [(" ", FRAME), (f"{label}: ", color), (bar(percent, cells), color), (f" {text:>6} ", color)]


def clock_line(snapshot: Telemetry) -> Line:
    clock = time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(snapshot.timestamp))
    hint = "(Press O to hide the overlay)"
    return ((clock, TEXT), (hint.rjust(WIDTH - len(clock)), DIM))


def device_lines(snapshot: Telemetry) -> list[Line]:
    top = "╒" + "═" * (WIDTH - 2) + "╕"
    parts = [f"stylevj {__version__}", f"Driver Version: {_na(snapshot.driver_version)}",
             f"CUDA Driver Version: {_na(snapshot.cuda_driver_version)}"]
    spare = WIDTH - 4 - sum(len(p) for p in parts)
    versions = parts[0] + " " * (spare // 2) + parts[1] + " " * (spare - spare // 2) + parts[2]
    lines: list[Line] = [_rule(top), _cells((f" {versions} ", TEXT))]
    if not snapshot.gpus:
        lines += [_rule("╞" + "═" * (WIDTH - 2) + "╡"), _cells((" No visible devices found".ljust(WIDTH - 2), TEXT)),
                  _rule("╘" + "═" * (WIDTH - 2) + "╛")]
        return lines
    lines += [
        _rule("├" + "─" * 31 + "┬" + "─" * 22 + "┬" + "─" * 22 + "┤"),
        _cells((" GPU  Name".ljust(31), TEXT), ("Memory-Usage ".rjust(22), TEXT), (" GPU-Util  Pwr:Usg/Cap", TEXT)),
        _cells((" Fan  Temp  Perf".ljust(31), TEXT), (" " * 22, TEXT), (" " * 22, TEXT)),
        _rule("╞" + "═" * 31 + "╪" + "═" * 22 + "╪" + "═" * 22 + "╡"),
    ]
    for n, gpu in enumerate(snapshot.gpus):
        memory, util = gpu.memory_percent, gpu.utilization_percent
        heavier = max((load_color(memory, MEMORY_THRESHOLDS), load_color(util, UTILIZATION_THRESHOLDS)),
                      key=(GREEN, YELLOW, RED).index)
        name = (gpu.name or "N/A")[:25]
        pstate = None if gpu.performance_state is None else f"P{gpu.performance_state}"
        lines += [
            _cells((f" {gpu.index:>3}  {name}".ljust(31), heavier),
                   (f" {memory_text(gpu.memory_used, gpu.memory_total):>20} ", heavier),
                   (f" {percent_text(util):>8}  {power_text(gpu):>11}", heavier)),
            _cells((f" {fan_text(gpu.fan_percent):>3}  {_na(gpu.temperature_c, '{}C'):>4}  {_na(pstate):>4}".ljust(31), heavier),
                   (" " * 22, heavier), (" " * 22, heavier)),
            _rule("├" + "─" * 31 + "┴" + "─" * 6 + "┬" + "─" * 15 + "┴" + "─" * 22 + "┤"),
            _cells(bar_cell("MEM", None if memory is None else round(memory, 1), MEMORY_THRESHOLDS),
                   bar_cell("UTL", util, UTILIZATION_THRESHOLDS)),
        ]
        last = n == len(snapshot.gpus) - 1
        lines.append(_rule("╘" + "═" * HALF + "╧" + "═" * HALF + "╛") if last else
                     _rule("├" + "─" * 31 + "┬" + "─" * 6 + "┴" + "─" * 15 + "┬" + "─" * 22 + "┤"))
    return lines


def host_lines(host: HostSample, nvml_reason: str | None = None) -> list[Line]:
    """CPU and RAM with bars; with `nvml_reason` headed by 'NVML unavailable' and the reason."""
    if nvml_reason is None:
        lines: list[Line] = [_rule("╒" + "═" * HALF + "╤" + "═" * HALF + "╕")]
    else:
        lines = [
            _rule("╒" + "═" * (WIDTH - 2) + "╕"),
            _cells([(" NVML unavailable", YELLOW), (": showing this machine's CPU and RAM".ljust(WIDTH - 19), TEXT)]),
            _cells((f" {nvml_reason}"[: WIDTH - 2].ljust(WIDTH - 2), DIM)),
            _rule("╞" + "═" * HALF + "╤" + "═" * HALF + "╡"),
        ]
    cpu = None if host.cpu_percent is None else round(host.cpu_percent, 1)
    ram = None if host.memory_percent is None else round(host.memory_percent, 1)
    load = "load N/A" if host.load_average is None else "load " + " ".join(f"{v:.2f}" for v in host.load_average)
    cores = f" {_na(host.cpu_count)} cores  {load}"
    memory = f" {memory_text(host.memory_used, host.memory_total)}  RSS {human_bytes(host.process_rss)}"
    lines += [
        _cells(bar_cell("CPU", cpu, UTILIZATION_THRESHOLDS), bar_cell("RAM", ram, MEMORY_THRESHOLDS)),
        _cells((cores[:HALF].ljust(HALF), TEXT), (memory[:HALF].ljust(HALF), TEXT)),
        _rule("╘" + "═" * HALF + "╧" + "═" * HALF + "╛"),
    ]
    return lines


def process_lines(snapshot: Telemetry) -> list[Line]:
    inner = WIDTH - 2
    lines: list[Line] = [
        _rule("╒" + "═" * inner + "╕"),
        _cells((" Processes:".ljust(inner), TEXT)),
        _cells((f" {'GPU':>3} {'PID':>7} {'TYPE':>4} {'GPU-MEM':>9}  COMMAND".ljust(inner), TEXT)),
        _rule("╞" + "═" * inner + "╡"),
    ]
    rows = [(gpu.index, p) for gpu in snapshot.gpus for p in gpu.processes]
    if not rows:
        lines.append(_cells((" No running processes found".ljust(inner), TEXT)))
    for index, p in rows[:MAX_PROCESSES]:
        text = f" {index:>3} {p.pid:>7} {p.kind:>4} {human_bytes(p.memory):>9}  {p.name or 'N/A'}"
        if len(text) > inner:
            text = text[: inner - 1] + "…"
        lines.append(_cells((text.ljust(inner), CYAN if p.own else TEXT)))
    if len(rows) > MAX_PROCESSES:
        lines.append(_cells((f" … and {len(rows) - MAX_PROCESSES} more".ljust(inner), DIM)))
    lines.append(_rule("╘" + "═" * inner + "╛"))
    return lines


def telemetry_lines(snapshot: Telemetry | None) -> list[Line]:
    """Everything the GPU panel shows for one snapshot, 79 columns a line."""
    if snapshot is None:
        return [(("waiting for the first telemetry sample…", DIM),)]
    if not snapshot.nvml_available:
        return [clock_line(snapshot), *host_lines(snapshot.host, snapshot.nvml_reason or "NVML unavailable")]
    return [clock_line(snapshot), *device_lines(snapshot), *host_lines(snapshot.host), *process_lines(snapshot)]


class GpuPanel(Panel):
    """nvitop's device view over the picture; `latest` returns the newest snapshot, never blocking
    (normally `TelemetryPoller.latest`)."""

    name = "gpu"
    fit_content = True  # nvitop's view is as tall as its devices; the picture shows below it
    title = "user@stage: ~ — nvitop"

    def __init__(self, font: str | Path, latest: Callable[[], Telemetry | None],
                 rect: tuple[float, float, float, float] = (0.585, 0.03, 0.4, 0.62),
                 font_size: float = 15.0, opacity: float = 0.85) -> None:
        super().__init__(font, rect, font_size, opacity)
        self.latest = latest
        self._snapshot: Telemetry | None = None

    def content_key(self) -> object:
        self._snapshot = self.latest()
        return None if self._snapshot is None else (id(self._snapshot), self._snapshot.timestamp)

    def lines(self, columns: int, rows: int) -> list[Line]:
        return telemetry_lines(self._snapshot)
