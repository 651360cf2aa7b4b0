"""`stylevj doctor`: what this machine will do for a show, checked with real things.

Real EGL contexts, real sockets holding real ports, the real command in a subprocess; the one
stand-in is NVML's library (`FakeNvml`), as no NVIDIA driver exists on the test machines.
"""

from __future__ import annotations

import os
import re
import shlex
import socket

import pytest
import torch

from realtime.choices import OSC_PORT, PAGE_PORT
from realtime.cli import build_parser
from realtime.doctor import Finding, diagnose, format_report, show_can_run
from realtime.overlay import Nvml

from .conftest import FakeNvml, NVMLError_LibraryNotFound, stylevj

no_cuda_here = pytest.mark.skipif(torch.cuda.is_available(), reason="describes a machine without CUDA")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def headless():
    from realtime.display import DisplayError, HeadlessSurface

    try:
        return HeadlessSurface((16, 16))
    except DisplayError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def check(findings: list[Finding], name: str) -> Finding:
    found = [f for f in findings if f.name == name]
    assert len(found) == 1, f"{name}: {findings}"
    return found[0]


def run_headless(**kwargs) -> list[Finding]:
    """diagnose() without a display, on the CPU, on free ports (a show running here keeps its own)."""
    kwargs.setdefault("osc_port", free_port(socket.SOCK_DGRAM))
    kwargs.setdefault("control_port", free_port(socket.SOCK_STREAM))
    kwargs.setdefault("environ", {})
    return diagnose(kwargs.pop("device", "cpu"), **kwargs)


def line_of(report: str, name: str) -> str:
    found = [line for line in report.splitlines() if re.match(rf"\S+\s+{re.escape(name)}\s{{2}}", line)]
    assert len(found) == 1, report
    return found[0]


@no_cuda_here
def test_stylevj_doctor_on_this_machine_says_cpu_host_copy_software_gl_no_nvml_and_exits_0(egl_ctx):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = stylevj("doctor", "--osc-port", str(free_port()), "--control-port", str(free_port(socket.SOCK_STREAM)),
                     env=env, timeout=120)
    report = result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert line_of(report, "CUDA").startswith("degraded") and "no CUDA" in line_of(report, "CUDA")
    assert "fp32 on CPU" in line_of(report, "precision")
    assert re.search(r"^ok\s+generator\s+demo 256x256 on cpu: a finite frame in \d+ ms", line_of(report, "generator"))
    renderer = egl_ctx.info["GL_RENDERER"]
    gl = line_of(report, "OpenGL")
    assert renderer in gl and "(headless EGL)" in gl
    if "llvmpipe" in renderer:  # Mesa's CPU rasteriser: what CI and this machine have
        assert gl.startswith("degraded") and "software rendering: llvmpipe" in gl
    assert re.search(r"^degraded\s+frame path\s+host copy: generator on CPU$", line_of(report, "frame path"))
    assert line_of(report, "NVML").startswith("missing") and "GPU panel shows CPU and RAM" in line_of(report, "NVML")
    monitors = line_of(report, "monitors")
    assert monitors.startswith("degraded") and "no display" in monitors
    assert "fix: stylevj run --headless" in report
    assert re.search(r"\n\nA show can run here \(\d+ degraded, \d+ missing\)\.$", report.rstrip())


def test_a_taken_osc_port_fails_naming_its_holder_and_a_free_port_to_use_instead():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))  # the show binds it too: a second listener cannot
        port = taken.getsockname()[1]
        findings = run_headless(osc_port=port, surfaces=[])
        osc = check(findings, "OSC port")
        assert osc.status == "fail" and f"UDP {port} in use" in osc.detail  # `run` would stop there
        assert f"held by PID {os.getpid()} (" in osc.detail  # this test process holds it
        verdict = format_report(findings).splitlines()[-1]
        assert not show_can_run(findings) and verdict.startswith("No show can run here: ") and "OSC port" in verdict
        other = int(re.fullmatch(r"stylevj run --osc-port (\d+)", osc.fix).group(1))
        assert other != port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("0.0.0.0", other))  # the port it offers is really free
    assert check(run_headless(osc_port=port, surfaces=[]), "OSC port") == Finding("OSC port", "ok", f"UDP {port} free")


def test_a_taken_page_port_given_with_control_port_fails_with_the_port_to_give_instead():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        page = check(run_headless(control_port=port, surfaces=[]), "page port")
        assert page.status == "fail" and f"TCP {port} in use" in page.detail
        assert f"held by PID {os.getpid()} (" in page.detail
        other = int(re.fullmatch(r"stylevj run --control-port (\d+)", page.fix).group(1))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", other))
    assert check(run_headless(control_port=port, surfaces=[]), "page port").status == "ok"


def test_nvml_through_a_stand_in_reports_the_driver_and_an_unusable_gpu():
    findings = run_headless(nvml=Nvml(FakeNvml()), surfaces=[])
    nvml = check(findings, "NVML")
    assert nvml.status == "ok"
    assert nvml.detail.startswith("driver 550.54.15, CUDA 12.4, 1 GPU(s)")
    if not torch.cuda.is_available():  # a board NVML sees but torch cannot use: said, with the way out
        gpu = check(findings, "GPU")
        assert gpu.status == "degraded"
        assert "NVIDIA H100 80GB HBM3 (driver 550.54.15) is here, but torch cannot use it" in gpu.detail
        assert "CUDA build of torch" in gpu.fix

    absent = run_headless(nvml=Nvml(FakeNvml(init_error=NVMLError_LibraryNotFound())), surfaces=[])
    nvml = check(absent, "NVML")
    assert nvml.status == "missing"
    assert nvml.detail == "no NVML: no NVIDIA driver on this machine (NVML Shared Library Not Found); the GPU panel shows CPU and RAM"


def test_a_gl_maker_that_raises_is_a_fail_line_and_no_show_can_run():
    def broken_window():
        raise RuntimeError("GLXBadFBConfig")

    findings = run_headless(surfaces=[("window", broken_window)])
    gl = check(findings, "OpenGL")
    assert gl.status == "fail" and "window: RuntimeError: GLXBadFBConfig" in gl.detail
    assert gl.fix.startswith("apt install libegl1")
    assert check(findings, "frame path") == Finding("frame path", "fail", "not tried: no OpenGL context")
    assert not show_can_run(findings)
    assert format_report(findings).endswith("No show can run here: OpenGL, frame path failed.")
    assert check(findings, "generator").status == "ok"  # one failure does not hide the rest


def test_when_the_window_fails_headless_egl_is_the_fallback_and_the_show_can_run():
    made = []

    def egl():
        made.append(headless())
        return made[-1]

    def broken_window():
        from realtime.display import DisplayError

        raise DisplayError("cannot open the display (X11: The DISPLAY environment variable is missing)")

    findings = run_headless(surfaces=[("window", broken_window), ("headless EGL", egl)])
    gl = check(findings, "OpenGL")
    assert gl.status == "degraded"
    assert gl.detail.startswith("window: cannot open the display") and "; headless EGL works: " in gl.detail
    assert gl.fix.startswith("stylevj run --headless")
    assert check(findings, "frame path").detail.startswith("host copy")
    assert show_can_run(findings)
    assert made and made[0].should_close  # the doctor closed the context it made (after the sink)


def test_the_cli_exits_1_without_a_traceback_when_no_gl_context_can_be_made():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["__EGL_VENDOR_LIBRARY_FILENAMES"] = os.devnull  # libglvnd finds no EGL driver: no context at all
    result = stylevj("doctor", "--device", "cpu", "--osc-port", "0", "--control-port", "0", env=env, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert re.search(r"^fail\s+OpenGL\s+no 3.3 context could be made \(headless EGL: ", line_of(result.stdout, "OpenGL"))
    assert result.stdout.rstrip().endswith("No show can run here: OpenGL, frame path failed.")


def test_a_broken_torch_is_a_fail_line_and_exit_1_without_a_traceback(tmp_path):
    (tmp_path / "torch.py").write_text('raise ImportError("libtorch_cpu.so: cannot open shared object file")\n')
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["PYTHONPATH"] = str(tmp_path)  # found before the real torch: an install that fails to load
    result = stylevj("doctor", "--osc-port", "0", "--control-port", "0", env=env, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert re.fullmatch(r"fail\s+torch\s+unusable \(ImportError: libtorch_cpu.so: cannot open shared object file\)",
                        line_of(result.stdout, "torch"))
    assert re.search(r"^fail\s+generator\s+not checked: torch is unusable$", line_of(result.stdout, "generator"))
    assert "PyAV" in result.stdout and "OSC port" in result.stdout  # what does not need torch is still checked
    assert result.stdout.rstrip().endswith("No show can run here: torch, generator, OpenGL, frame path failed.")


def test_a_check_that_raises_is_one_line_and_a_missing_generator_fails():
    def monitors():
        raise RuntimeError("the X server went away")

    findings = run_headless(generator="no-such-file.safetensors", surfaces=[("headless EGL", lambda: headless())],
                            monitors=monitors, environ={"DISPLAY": ":99"})
    assert check(findings, "monitors") == Finding("monitors", "missing",
                                                  "could not check (RuntimeError: the X server went away)")
    generator = check(findings, "generator")
    assert generator.status == "fail" and "no-such-file.safetensors" in generator.detail
    assert [f.name for f in findings] == ["stylevj", "torch", "CUDA", "GPU", "precision", "compile", "generator",
                                          "OpenGL", "frame path", "NVML", "PyAV", "checkpoints", "OSC port",
                                          "page port", "monitors", "audio in", "NDI"]
    assert not show_can_run(findings)


@no_cuda_here
def test_asking_for_cuda_without_it_is_a_fail_and_the_rest_runs_on_the_cpu():
    findings = run_headless(device="cuda", surfaces=[])
    cuda = check(findings, "CUDA")
    assert cuda.status == "fail" and cuda.fix == "stylevj run --device cpu"
    assert "on cpu" in check(findings, "generator").detail
    assert not show_can_run(findings)


def test_every_fix_that_is_a_stylevj_command_parses(tmp_path):
    """The flags the doctor tells a user to type exist (a renamed flag breaks this, not a show)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp, socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        udp.bind(("127.0.0.1", 0))
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        findings = run_headless(device="cuda" if not torch.cuda.is_available() else "cpu", surfaces=[],
                                osc_port=udp.getsockname()[1], control_port=tcp.getsockname()[1])
    commands = [f.fix for f in findings if f.fix.startswith("stylevj ")]
    assert len(commands) >= 3, findings  # the two ports and the missing display at least
    for command in commands:
        build_parser().parse_args(shlex.split(command)[1:])


def test_a_finding_has_one_of_four_statuses_and_the_report_puts_fixes_under_their_line():
    with pytest.raises(ValueError, match="status must be one of"):
        Finding("x", "warning", "no such status")
    report = format_report([Finding("OSC port", "degraded", "UDP 9000 in use", fix="stylevj run --osc-port 9001"),
                            Finding("PyAV", "ok", "18.1.0")])
    assert report.splitlines() == ["degraded  OSC port  UDP 9000 in use",
                                   "                    fix: stylevj run --osc-port 9001",
                                   "ok        PyAV      18.1.0",
                                   "",
                                   "A show can run here (1 degraded)."]


def test_the_osc_port_checked_by_default_is_the_one_stylevj_run_listens_on():
    from realtime.presets import OscSettings, default_preset_path, load_preset

    assert OSC_PORT == OscSettings().port == load_preset(default_preset_path()).osc.port


def test_the_default_page_port_in_use_says_the_page_moves_to_a_free_one():
    try:
        taken = socket.create_server(("127.0.0.1", PAGE_PORT))
    except OSError:
        taken = None  # already held (a show runs here): the line must say so all the same
    try:
        page = check(run_headless(control_port=None, surfaces=[]), "page port")
    finally:
        if taken is not None:
            taken.close()
    assert page.status == "degraded"
    assert page.detail.startswith(f"TCP {PAGE_PORT} in use (Address already in use")
    assert page.detail.endswith("): the page takes a free one (logged)")


def test_with_a_display_the_context_comes_from_a_hidden_window_and_the_monitors_are_listed(xvfb_display):
    findings = run_headless(environ=dict(os.environ))
    gl = check(findings, "OpenGL")
    assert gl.detail.endswith("(window)") and gl.status in ("ok", "degraded")
    monitors = check(findings, "monitors")
    assert monitors.status == "ok" and re.fullmatch(r"0: \S+ 1280x720(@\d+Hz)? \(primary\)", monitors.detail)
    assert check(findings, "frame path").status in ("ok", "degraded")
    assert show_can_run(findings)


def test_without_a_compiler_the_compile_line_names_the_package(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CXX", raising=False)
    findings = run_headless(surfaces=[("headless EGL", lambda: headless())])
    line = check(findings, "compile")
    assert line.status == "missing" and line.fix == "apt install g++"
    assert "stylevj run --compile would run eagerly" in line.detail
    assert show_can_run(findings)


def test_the_checkpoints_line_names_what_is_cached(tmp_path, monkeypatch):
    from realtime.checkpoints.catalog import CATALOG
    from realtime.checkpoints.download import cache_name

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    before = check(run_headless(surfaces=[]), "checkpoints")
    assert "no published network cached" in before.detail and "stylevj models --fetch" in before.detail
    folder = tmp_path / "stylevj" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / cache_name(CATALOG[2].url)).write_bytes(b"net")
    after = check(run_headless(surfaces=[]), "checkpoints")
    assert after.status == "ok" and after.detail.endswith(f": {CATALOG[2].name} (no network needed)")
