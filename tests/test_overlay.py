"""The overlay's data: PyTorch's own tensor print, NVML telemetry (a stand-in driver), the GPU
panel's text, the poll thread, preset keys and the --overlay switch. No GL here: see
test_overlay_render.py for pixels.

`FakeNvml` (conftest.py) is the only test double: no NVIDIA driver exists on the test machines.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time

import pytest
import torch

from realtime import __version__
from realtime.errors import StylevjError
from realtime.overlay import (Nvml, Telemetry, TelemetryPoller, TelemetrySource, TensorPrint, build_overlays,
                              find_font, parse_panels, telemetry_lines)
from realtime.overlay.gpu import HostSample
from realtime.overlay.gpu_panel import GREEN, RED, YELLOW, bar, host_lines, load_color
from realtime.overlay.text import plain
from realtime.presets import OverlaySettings, PresetError, load_preset, parse_preset, preset_to_toml, save_preset

from .conftest import GIB, FakeNvml, NVMLError_LibraryNotFound, fake_proc, fixed_snapshot



# ---- the terminal print ------------------------------------------------------------------------


def test_tensor_print_is_pytorchs_own_print_of_the_slice():
    w = torch.randn(14, 128)
    text = TensorPrint(rows=(0, 2))
    assert text.update(w, now=0.0)
    assert text.last_text == str(w[0:2])
    assert text.lines == (text.prompt(), *str(w[0:2]).split("\n"))
    assert text.prompt() == "user@stage:~$ python live.py"


def test_large_slices_are_summarised_and_the_device_suffix_is_kept():
    w = torch.randn(18, 512)  # 1024 values: past PyTorch's threshold, so '...'
    text = TensorPrint(rows=(0, 2))
    text.update(w, 0.0)
    assert "..." in text.last_text and text.last_text == str(w[0:2])
    meta = torch.empty(18, 512, device="meta")  # a non-CPU device, as CUDA would be
    text.update(meta, 1.0)
    assert text.last_text == str(meta[0:2]) and "device='meta'" in text.last_text


def test_print_options_and_rows_past_the_end_behave_as_print_does():
    w = torch.randn(4, 6)
    text = TensorPrint(rows=(3, 10))
    torch.set_printoptions(precision=2)
    try:
        text.update(w, 0.0)
        assert text.last_text == str(w[3:10]) and "." in text.last_text
    finally:
        torch.set_printoptions(profile="default")
    assert text.last_text.count("[") == 2  # one row: w[3:4]


def test_prints_at_most_hz_and_once_per_new_tensor():
    w1, w2, w3 = torch.zeros(2, 3), torch.ones(2, 3), torch.full((2, 3), 2.0)
    text = TensorPrint(rows=(0, 1), hz=10)
    assert text.update(w1, 0.00)
    assert not text.update(w1, 0.50)  # same frame: nothing new to print
    assert text.update(w2, 0.55)  # a new frame's tensor, 0.55 s later
    assert text.version == 2
    assert not text.update(w3, 0.60)  # only 50 ms later: over the rate
    assert text.update(w3, 0.70) and text.version == 3


def test_screen_scrolls_and_wraps_like_a_terminal():
    text = TensorPrint(rows=(0, 1), scrollback=50)
    for n in range(10):
        text.update(torch.full((1, 3), float(n)), float(n))
    # each print is 'tensor([[n., n., n.]])', 22 characters: two rows at 12 columns
    assert text.screen(columns=12, rows=4) == [" 8., 8.]])", "tensor([[9.,", " 9., 9.]])", "█"]
    wide = text.screen(columns=80, rows=3)
    assert wide == ["tensor([[8., 8., 8.]])", "tensor([[9., 9., 9.]])", "█"]
    assert len(text.lines) <= 50


def test_bad_tensor_settings_are_refused():
    with pytest.raises(ValueError):
        TensorPrint(rows=(2, 2))
    with pytest.raises(ValueError):
        TensorPrint(hz=0)


# ---- NVML through the one choke point ----------------------------------------------------------


def test_nvml_without_a_driver_is_unavailable_and_never_raises(caplog):
    caplog.set_level(logging.INFO, logger="realtime.overlay.nvml")
    fake = FakeNvml(init_error=NVMLError_LibraryNotFound())
    nvml = Nvml(fake)
    assert not fake.calls  # lazy: nothing happens before the first query
    assert nvml.query("nvmlDeviceGetCount", default=0) == 0
    assert nvml.query("nvmlDeviceGetName", object()) is None
    assert not nvml.available and "NVML Shared Library Not Found" in nvml.reason
    assert fake.calls == ["init"]  # tried once
    assert caplog.text.count("NVML unavailable") == 1


def test_the_real_pynvml_here_is_clean():
    nvml = Nvml()
    count = nvml.query("nvmlDeviceGetCount", default=0)
    if nvml.available:  # a machine with a driver: the real path answers
        assert count >= 1
    else:
        assert count == 0 and nvml.reason
    nvml.shutdown()


def test_a_failing_nvml_call_is_none_and_logged_once(caplog):
    caplog.set_level(logging.DEBUG, logger="realtime.overlay.nvml")
    fake = FakeNvml()
    nvml = Nvml(fake)
    handle = nvml.query("nvmlDeviceGetHandleByIndex", 0)
    assert [nvml.query("nvmlDeviceGetFanSpeed", handle) for _ in range(3)] == [None] * 3
    assert fake.calls.count("fan") == 3 and caplog.text.count("nvmlDeviceGetFanSpeed failed") == 1
    assert nvml.query("nvmlDeviceGetName", handle) == "NVIDIA H100 80GB HBM3"  # bytes decoded
    assert nvml.query("nvmlNoSuchFunction", default="N/A") == "N/A"
    nvml.shutdown()
    assert fake.shut and nvml.query("nvmlDeviceGetCount", default=0) == 0


def test_one_sample_reads_the_board_into_a_frozen_snapshot(tmp_path):
    snap = fixed_snapshot(tmp_path)
    assert snap.nvml_available and snap.driver_version == "550.54.15" and snap.cuda_driver_version == "12.4"
    (gpu,) = snap.gpus
    assert (gpu.index, gpu.name, gpu.fan_percent, gpu.temperature_c, gpu.performance_state) == \
        (0, "NVIDIA H100 80GB HBM3", None, 41, 0)
    assert (gpu.power_w, gpu.power_cap_w, gpu.memory_used, gpu.memory_total, gpu.utilization_percent) == \
        (118.25, 700.0, 20 * GIB, 80 * GIB, 45)
    me, other = gpu.processes
    assert (me.pid, me.own, me.memory, me.kind, me.name) == (os.getpid(), True, 3 * GIB, "C", "python stylevj run")
    assert (other.pid, other.own, other.memory, other.kind, other.name) == (4242, False, GIB, "C+G", "Xorg")
    assert snap.host.memory_total == 16384000 * 1024 and snap.host.memory_used == (16384000 - 4096000) * 1024
    assert snap.host.process_rss == 2560 * os.sysconf("SC_PAGE_SIZE")
    with pytest.raises(dataclasses.FrozenInstanceError):
        gpu.temperature_c = 90


def test_own_memory_comes_from_torch_when_nvml_cannot_see_our_pid(tmp_path):
    """In a container NVML reports host pids; our row then comes from torch's allocator."""
    source = TelemetrySource(Nvml(FakeNvml(list_own=False)), proc=fake_proc(tmp_path, os.getpid()),
                             own_gpu_memory=lambda: {"abcd-0001": 2 * GIB})
    me = source.sample().gpus[0].processes[0]
    assert me.own and me.pid == os.getpid() and me.memory == 2 * GIB


def test_cpu_percent_is_the_change_between_two_samples(tmp_path):
    source = TelemetrySource(Nvml(FakeNvml()), proc=fake_proc(tmp_path, os.getpid()))
    assert source.host(0.0).cpu_percent is None  # nothing to compare with yet
    (tmp_path / "stat").write_text("cpu  250 0 150 900 100 0 0 0 0 0\n")  # +200 busy of +400
    assert source.host(0.5).cpu_percent == pytest.approx(50.0)


# ---- the GPU panel's text ----------------------------------------------------------------------


def test_gpu_panel_lines_for_a_fixed_snapshot(tmp_path):
    snap = fixed_snapshot(tmp_path)
    lines = plain(telemetry_lines(snap))
    assert lines[0].startswith(time.strftime("%a %b %d %H:%M:%S %Y", time.localtime(snap.timestamp)))
    assert lines[0].endswith("(Press O to hide the overlay)")
    pid = os.getpid()
    header = lines[2]  # nvitop's header: the three versions spread evenly over the table
    assert header.startswith(f"│ stylevj {__version__} ") and header.endswith(" CUDA Driver Version: 12.4 │")
    gaps = header[2:-2].split("Driver Version: 550.54.15")
    left, right = len(gaps[0]) - len(f"stylevj {__version__}"), len(gaps[1]) - len("CUDA Driver Version: 12.4")
    assert abs(left - right) <= 1 and left >= 2
    device = [
        "╒═════════════════════════════════════════════════════════════════════════════╕",
        header,
        "├───────────────────────────────┬──────────────────────┬──────────────────────┤",
        "│ GPU  Name                     │         Memory-Usage │ GPU-Util  Pwr:Usg/Cap│",
        "│ Fan  Temp  Perf               │                      │                      │",
        "╞═══════════════════════════════╪══════════════════════╪══════════════════════╡",
        "│   0  NVIDIA H100 80GB HBM3    │  20480MiB / 81920MiB │      45%  118W / 700W│",
        "│ N/A   41C    P0               │                      │                      │",
        "├───────────────────────────────┴──────┬───────────────┴──────────────────────┤",
        # 24-cell bars: 25 % is 6 whole cells; 45 % is 86 eighths, 10 cells and '▊' (6/8)
        "│ MEM: " + "█" * 6 + " " * 18 + "  25.0% │ UTL: " + "█" * 10 + "▊" + " " * 13 + "    45% │",
        "╘══════════════════════════════════════╧══════════════════════════════════════╛",
    ]
    assert lines[1:12] == device
    assert "Driver Version: 550.54.15" in lines[2] and "CUDA Driver Version: 12.4" in lines[2]
    processes = lines[-7:]
    assert processes == [
        "╒═════════════════════════════════════════════════════════════════════════════╕",
        "│ Processes:                                                                  │",
        "│ GPU     PID TYPE   GPU-MEM  COMMAND                                         │",
        "╞═════════════════════════════════════════════════════════════════════════════╡",
        f"│   0 {pid:>7}    C   3072MiB  python stylevj run".ljust(78) + "│",
        "│   0    4242  C+G   1024MiB  Xorg                                            │",
        "╘═════════════════════════════════════════════════════════════════════════════╛",
    ]
    assert all(len(line) == 79 for line in lines[1:])


def test_gpu_panel_colours_follow_nvitops_thresholds(tmp_path):
    assert [load_color(p, (10, 80)) for p in (0, 9.9, 10, 79.9, 80, None)] == [GREEN, GREEN, YELLOW, YELLOW, RED, YELLOW]
    assert [load_color(p, (10, 75)) for p in (74, 75)] == [YELLOW, RED]
    lines = telemetry_lines(fixed_snapshot(tmp_path))
    colours = {text.strip(): color for text, color in lines[10] if text.strip()}
    assert colours["MEM:"] == YELLOW and colours["UTL:"] == YELLOW  # 25 % of memory, 45 % busy
    assert lines[7][1][1] == YELLOW  # the device row: the heavier of the two
    assert lines[-3][1][1] != lines[-2][1][1]  # this process stands out


def test_bars_fill_in_eighths():
    assert bar(0, 4) == "    " and bar(100, 4) == "████" and bar(None, 3) == "░░░"
    assert bar(50, 3) == "█▌ "  # 12 of 24 eighths
    assert bar(45, 24) == "█" * 10 + "▊" + " " * 13  # 86.4 -> 86 eighths: 10 cells and 6/8
    assert all(len(bar(p, 24)) == 24 for p in range(0, 101, 7))


def test_without_nvml_the_panel_shows_cpu_and_ram(tmp_path):
    source = TelemetrySource(Nvml(FakeNvml(init_error=NVMLError_LibraryNotFound())),
                             proc=fake_proc(tmp_path, os.getpid()))
    source.sample()
    (tmp_path / "stat").write_text("cpu  250 0 150 900 100 0 0 0 0 0\n")
    snap = source.sample()
    assert not snap.nvml_available and snap.gpus == ()
    lines = plain(telemetry_lines(snap))
    assert "NVML unavailable" in lines[2] and "NVML Shared Library Not Found" in lines[3]
    assert lines[5].startswith("│ CPU: " + "█" * 12 + " ") and "50.0%" in lines[5]
    assert "RAM: " in lines[5] and "75.0%" in lines[5]
    assert "12000MiB / 16000MiB" in lines[6] and "RSS 10MiB" in lines[6]


def test_host_lines_say_na_for_what_is_unknown():
    host = HostSample(None, None, None, None, None, None, 0.0)
    lines = plain(host_lines(host, "no driver"))
    assert "CPU: " + "░" * 24 in lines[4] and "N/A" in lines[4] and "N/A cores" in lines[5]


# ---- the poll thread ---------------------------------------------------------------------------


def test_poller_publishes_a_host_sample_quickly_and_stops():
    poller = TelemetryPoller(interval=0.05).start()
    try:
        deadline = time.monotonic() + 3.0
        while poller.latest() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        snap = poller.latest()
        assert isinstance(snap, Telemetry) and snap.host.memory_total > 0
        if not snap.nvml_available:  # this machine: no NVIDIA driver
            assert snap.gpus == () and snap.nvml_reason
    finally:
        poller.stop()
    assert not poller.running


def test_poller_survives_a_source_that_raises(caplog, tmp_path):
    good = fixed_snapshot(tmp_path)
    calls = []

    def flaky() -> Telemetry:
        calls.append(1)
        if len(calls) in (2, 3, 4):
            raise RuntimeError("driver went away")
        return good

    poller = TelemetryPoller(flaky, interval=0.01).start()
    try:
        deadline = time.monotonic() + 3.0
        while len(calls) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert poller.latest() is good and poller.errors == 3 and poller.running
    finally:
        poller.stop()
    assert caplog.text.count("driver went away") == 1


def test_a_driver_call_that_hangs_never_holds_the_reader():
    inside, release = threading.Event(), threading.Event()

    def stuck() -> Telemetry:
        inside.set()
        release.wait()
        raise RuntimeError("slow driver")

    poller = TelemetryPoller(stuck, interval=0.01).start()
    try:
        assert inside.wait(5.0)  # the poll thread is now inside the driver call, and stays there
        answers = []
        reader = threading.Thread(target=lambda: answers.append(poller.latest()))
        reader.start()
        reader.join(5.0)  # only a deadlock could keep it: latest() takes no lock the poller holds
        assert not reader.is_alive() and answers == [None]
    finally:
        release.set()
        poller.stop()


# ---- preset keys, --overlay, the font ----------------------------------------------------------


def test_overlay_preset_keys_load_validate_and_save(tmp_path):
    data = {"overlay": {"tensor": True, "gpu": False, "opacity": 0.5, "font": "fonts/mono.ttf", "font_size": 18,
                        "tensor_rows": [1, 4], "tensor_hz": 5, "tensor_rect": [0, 0, 0.5, 0.5],
                        "gpu_rect": [0.5, 0.5, 0.5, 0.5]}}
    preset = parse_preset(data, "show.toml", tmp_path)
    o = preset.overlay
    assert (o.tensor_rows, o.tensor_rect, o.font, o.font_size, o.tensor_hz) == ((1, 4), (0, 0, 0.5, 0.5), "fonts/mono.ttf", 18, 5)
    assert load_preset(save_preset(preset, tmp_path / "again.toml")).overlay == o
    assert "tensor_rows = [" in preset_to_toml(preset)
    for key, value, reason in (("tensor_rows", [2, 2], "0 <= first < stop"), ("gpu_rect", [0.8, 0, 0.5, 0.5], "inside"),
                               ("tensor_hz", 0, "within"), ("fontsize", 12, "unknown key 'fontsize'")):
        with pytest.raises(PresetError, match=reason):
            parse_preset({"overlay": {key: value}}, "show.toml", tmp_path)
    assert OverlaySettings() == parse_preset({"overlay": {"tensor": False}}, "x", tmp_path).overlay


def test_overlay_switch_parses_panel_names():
    assert parse_panels("tensor,gpu") == {"tensor", "gpu"} and parse_panels(" GPU ") == {"gpu"}
    assert parse_panels("none") == frozenset()
    with pytest.raises(StylevjError, match="tensor, gpu"):
        parse_panels("tensor,cpu")


def test_panels_follow_the_preset_unless_the_switch_says_otherwise(tmp_path):
    settings = OverlaySettings(tensor=True, gpu=False)
    overlays = build_overlays(settings)
    assert [(p.name, p.visible) for p in overlays.panels] == [("tensor", True), ("gpu", False)]
    overlays = build_overlays(settings, panels={"gpu"})
    assert [(p.name, p.visible) for p in overlays.panels] == [("tensor", False), ("gpu", True)]
    assert overlays.poller is not None and not overlays.poller.running  # the show's session starts it
    overlays.close()


def test_fonts_come_from_the_switch_the_preset_or_matplotlib(tmp_path):
    default = find_font()
    assert default.name == "DejaVuSansMono.ttf" and "matplotlib" in str(default)
    with pytest.raises(StylevjError, match="no such file"):
        build_overlays(OverlaySettings(), panels={"tensor"}, font=tmp_path / "missing.ttf")
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font")
    with pytest.raises(StylevjError, match="cannot be read as a TrueType font"):
        build_overlays(OverlaySettings(font="broken.ttf"), base_dir=tmp_path, panels={"gpu"})
    assert build_overlays(OverlaySettings(), font=None).panels  # matplotlib is installed here


def test_without_any_font_a_show_that_wants_no_panel_runs_without_panels(monkeypatch):
    import realtime.overlay.build as build

    def no_font(named=None):
        raise StylevjError("no monospace font found (pip install 'stylevj[overlay]')")

    monkeypatch.setattr(build, "find_font", no_font)  # as on a machine without matplotlib
    overlays = build_overlays(OverlaySettings())
    assert overlays.panels == [] and overlays.poller is None
    with pytest.raises(StylevjError, match="no monospace font"):
        build_overlays(OverlaySettings(tensor=True))
