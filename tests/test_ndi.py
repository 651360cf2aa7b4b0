"""NDI output (issue 24), end to end through NDI's own runtime.

The sender (the show's outputs on a headless EGL stage) and the receiver (NDI's runtime, in the
same process) run inside a private network namespace (`unshare -n`, loopback up), with NDI told to
look at 127.0.0.1 (`NDI_CONFIG_DIR`). This file re-executes itself there once (`python
tests/test_ndi.py`: every scenario, results as JSON); each test asserts its scenario's part.
Where `unshare`, the NDI binding or EGL is missing, those tests skip and say why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
STAGE = (320, 240)  # the stage: a 4:3 picture fills it
WIDE = (640, 360)  # an --ndi-size of another aspect: contain leaves bars left and right


# ---- the scenarios (run inside the namespace) ---------------------------------------------------


class Rig:
    """A stage (EGL), a known picture, outputs fed one refresh at a time, and NDI receivers."""

    def __init__(self) -> None:
        import NDIlib as ndi

        from realtime.display import Compositor, HeadlessSurface, HostSink, create_headless_context
        from tests.conftest import make_frame

        self.ndi = ndi
        assert ndi.initialize()
        self.ctx = create_headless_context()
        self.stage = HeadlessSurface(STAGE, ctx=self.ctx)
        self.compositor = Compositor(self.ctx, fit="contain")
        self.sink = HostSink(self.ctx)
        self.picture = self.sink.upload(make_frame(*STAGE))
        self.overlays: list = []
        self.level = 1.0
        self.clock = 0.0

    def refresh(self, outputs, fresh: bool = True) -> None:
        """One display refresh: draw the stage, then feed the outputs (as Show.step does)."""
        overlays, level = tuple(self.overlays), self.level
        self.compositor.draw(self.stage, self.picture, overlays=overlays, level=level)

        def draw(target, clean):
            self.compositor.draw(target, self.picture, overlays=() if clean else overlays, level=level)

        self.clock += 1 / 60
        outputs.capture(self.stage.framebuffer, self.stage.size, draw, self.clock, fresh=fresh, level=level)

    def drawn(self, size, clean=False) -> np.ndarray:
        """What the compositor draws for an output of `size` (the expected picture)."""
        from realtime.display import HeadlessSurface

        with HeadlessSurface(size, ctx=self.ctx) as canvas:
            self.compositor.draw(canvas, self.picture, overlays=() if clean else tuple(self.overlays), level=self.level)
            return canvas.read_pixels()

    def receiver(self, name: str, timeout: float = 10.0):
        """An NDI receiver connected to the source whose name ends in '(name)'."""
        ndi = self.ndi
        find = ndi.find_create_v2(ndi.FindCreate())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ndi.find_wait_for_sources(find, 100)
            found = [s for s in ndi.find_get_current_sources(find) if s.ndi_name.endswith(f"({name})")]
            if found:
                break
        else:
            raise AssertionError(f"NDI source {name!r} not found in {timeout} s")
        create = ndi.RecvCreateV3()
        create.color_format = ndi.RECV_COLOR_FORMAT_RGBX_RGBA
        create.bandwidth = ndi.RECV_BANDWIDTH_HIGHEST
        recv = ndi.recv_create_v3(create)
        ndi.recv_connect(recv, found[0])
        return recv, find

    def receive(self, outputs, recv, frames: int = 3, timeout: float = 15.0) -> tuple[np.ndarray, float]:
        """Refresh until `frames` pictures arrived; the last one (RGBA) and its announced frame rate."""
        ndi, got, last, rate = self.ndi, 0, None, 0.0
        deadline = time.monotonic() + timeout
        while got < frames and time.monotonic() < deadline:
            self.refresh(outputs)
            kind, video, _, _ = ndi.recv_capture_v2(recv, 20)
            if kind == ndi.FRAME_TYPE_VIDEO:
                last, rate = np.copy(video.data), video.frame_rate_N / max(video.frame_rate_D, 1)
                ndi.recv_free_video_v2(recv, video)
                got += 1
        assert last is not None, "no picture arrived"
        return last, rate

    def close(self, recv, find) -> None:
        self.ndi.recv_destroy(recv)
        self.ndi.find_destroy(find)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    err = np.mean((a[..., :3].astype(np.float64) - b[..., :3].astype(np.float64)) ** 2)
    return 99.0 if err == 0 else float(10 * np.log10(255.0**2 / err))


class Stalled:
    """A transport in front of NDI whose send blocks until released: a dead network."""

    def __init__(self, inner) -> None:
        self.inner, self.gate, self.entered = inner, threading.Event(), threading.Event()

    def open(self, name):
        return self.inner.open(name)

    def send(self, rgba, fps):
        self.entered.set()
        self.gate.wait()
        self.inner.send(rgba, fps)

    def receivers(self):
        return self.inner.receivers()

    def close(self):
        self.inner.close()


def scenarios() -> dict:
    from realtime.outputs import FrameOutput, Outputs, OutputSpec
    from realtime.outputs.ndi import NdiTransport, ndi_output
    from tests.test_fader import WhiteBox

    rig, out = Rig(), {}

    def started(*outs):
        outputs = Outputs(list(outs))
        outputs.start()
        assert all(o.wait_open() for o in outs), [o.error for o in outs]
        return outputs

    # the picture at the stage's size, through the codec; the name that went out; the frame rate
    outputs = started(ndi_output(OutputSpec("ndi", "stage")))
    recv, find = rig.receiver("stage")
    got, rate = rig.receive(outputs, recv)
    report = outputs.reports()[0]
    out["picture"] = {"shape": list(got.shape), "psnr": psnr(got, rig.stage.read_pixels()), "rate": rate,
                      "sent_as": report.sent_as, "receivers": report.receivers, "sent": report.sent}
    # disconnect, then a receiver comes back
    rig.close(recv, find)
    deadline = time.monotonic() + 10
    while outputs.outputs[0].receivers and time.monotonic() < deadline:
        rig.refresh(outputs)
        time.sleep(0.02)
    gone = outputs.outputs[0].receivers
    recv, find = rig.receiver("stage")
    got, _ = rig.receive(outputs, recv)
    out["reconnect"] = {"receivers_after_disconnect": gone, "receivers_again": outputs.outputs[0].receivers,
                        "psnr": psnr(got, rig.stage.read_pixels())}
    # the fader: half, then blackout, reach the output
    rig.level = 0.5
    half, _ = rig.receive(outputs, recv, frames=12)  # the ring and the queue still hold older pictures
    rig.level = 0.0
    black, _ = rig.receive(outputs, recv, frames=12)
    rig.level = 1.0
    out["fader"] = {"psnr_half": psnr(half, _at(rig, 0.5)),
                    "max_black": int(black[..., :3].max())}
    rig.close(recv, find)
    outputs.stop()

    # --ndi-size with the show's fit, and --ndi-clean, two outputs at once
    rig.overlays = [WhiteBox()]
    wide = ndi_output(OutputSpec("ndi", "wide", WIDE))
    clean = ndi_output(OutputSpec("ndi", "clean", None, clean=True))
    outputs = started(wide, clean)
    recv_w, find_w = rig.receiver("wide")
    recv_c, find_c = rig.receiver("clean")
    got_w, _ = rig.receive(outputs, recv_w)
    got_c, _ = rig.receive(outputs, recv_c)
    out["size"] = {"shape": list(got_w.shape), "psnr": psnr(got_w, rig.drawn(WIDE)),
                   "bar_max": int(got_w[60:, :40, :3].max())}  # below the overlay's box
    box = (slice(0, 40), slice(0, 60))
    out["clean"] = {"psnr": psnr(got_c, rig.drawn(STAGE, clean=True)),
                    "box_stage_min": int(rig.stage.read_pixels()[box][..., :3].min()),
                    "box_clean_mean": float(got_c[box][..., :3].mean()),
                    "box_wide_min": int(got_w[5:35, 5:55, :3].min())}
    rig.level = 0.0  # blackout reaches an output drawn on its own canvas too
    black_clean, _ = rig.receive(outputs, recv_c, frames=12)
    rig.level = 1.0
    out["fader"]["max_black_own_canvas"] = int(black_clean[..., :3].max())
    out["two"] = {"names": sorted(r.sent_as for r in outputs.reports()), "sent": [r.sent for r in outputs.reports()]}
    rig.close(recv_w, find_w)
    rig.close(recv_c, find_c)
    outputs.stop()
    rig.overlays = []

    # a stalled receiver / dead network: the refreshes go on, drops are counted, sending resumes
    stalled = Stalled(NdiTransport())
    output = FrameOutput(OutputSpec("ndi", "stall"), stalled)
    outputs = started(output)
    refreshes = []
    rig.refresh(outputs)
    deadline = time.monotonic() + 10
    while not stalled.entered.is_set() and time.monotonic() < deadline:
        rig.refresh(outputs)
    for _ in range(60):
        rig.refresh(outputs)
        refreshes.append(1)
    dropped = output.dropped
    stalled.gate.set()
    recv, find = rig.receiver("stall")
    got, _ = rig.receive(outputs, recv)
    out["stall"] = {"refreshes": len(refreshes), "dropped": dropped, "psnr_after": psnr(got, rig.stage.read_pixels()),
                    "reported_dropped": outputs.reports()[0].dropped}
    rig.close(recv, find)
    outputs.stop()
    out["late"] = late_sender(rig)
    return out


class SlowOpen(Stalled):
    """A transport in front of NDI whose open blocks until released: a runtime slow to start."""

    def open(self, name):
        self.entered.set()
        self.gate.wait()
        return self.inner.open(name)

    def send(self, rgba, fps):
        self.inner.send(rgba, fps)


def late_sender(rig) -> dict:
    """A sender the loader opens after its job was abandoned is closed, not left on the network
    beside one opened in time."""
    from realtime.outputs import FrameOutput, OutputSpec, Outputs
    from realtime.outputs.ndi import NdiTransport, ndi_output
    from realtime.show.commands.sends import OutputOpened
    from realtime.show.loader import Loader

    loader = Loader(failed=lambda reason: reason, deadline=0.3).start()
    slow = SlowOpen(NdiTransport())
    late = FrameOutput(OutputSpec("ndi", "late"), slow)

    def job():
        late.open()
        return OutputOpened(late)

    loader.load(job, "test", what="opening ndi output late")
    assert slow.entered.wait(10)
    loader.wait_idle(5)  # abandoned at its deadline
    abandoned = [c for c, _ in loader.finished()]
    slow.gate.set()
    loader.stop()  # the late thread returns, opens, and its result is discarded
    deadline = time.monotonic() + 10
    while slow.inner._sender is not None and time.monotonic() < deadline:
        time.sleep(0.02)
    kept = Outputs([ndi_output(OutputSpec("ndi", "kept"))])
    kept.start()
    kept.outputs[0].wait_open()
    ndi, seen = rig.ndi, set()
    find = ndi.find_create_v2(ndi.FindCreate())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(n.endswith("(kept)") for n in seen):
        ndi.find_wait_for_sources(find, 200)
        seen = {s.ndi_name for s in ndi.find_get_current_sources(find)}
    ndi.find_wait_for_sources(find, 500)
    seen |= {s.ndi_name for s in ndi.find_get_current_sources(find)}
    ndi.find_destroy(find)
    kept.stop()
    return {"abandoned": [str(c) for c in abandoned], "late_closed": slow.inner._sender is None,
            "kept_seen": any(n.endswith("(kept)") for n in seen), "late_seen": any(n.endswith("(late)") for n in seen)}


def _at(rig, level):
    saved, rig.level = rig.level, level
    try:
        return rig.drawn(STAGE)
    finally:
        rig.level = saved


# ---- the tests (outside) ---------------------------------------------------------------------------


def _why_not() -> str | None:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip missing: no private network namespace for NDI"
    try:
        import NDIlib  # noqa: F401
    except (ImportError, OSError) as exc:
        return f"the NDI binding is not usable here ({exc}): pip install 'stylevj[ndi]'"
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, text=True)
    if probe.returncode:
        return f"unshare -n is not allowed here ({probe.stderr.strip()})"
    return None


def in_namespace(script: str) -> dict:
    """Run `script` (a test file's scenarios) in a private network namespace, loopback up, with
    NDI told to look at 127.0.0.1; its last JSON line. Skips with the reason where it cannot run."""
    why = _why_not()
    if why:
        pytest.skip(why)
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "ndi-config.v1.json").write_text(json.dumps({"ndi": {"networks": {"ips": "127.0.0.1"}}}))
        env = {**os.environ, "NDI_CONFIG_DIR": folder}
        done = subprocess.run(["unshare", "-n", "sh", "-c", f"ip link set lo up && exec {sys.executable} {script}"],
                              capture_output=True, text=True, timeout=240, cwd=REPO, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0 and lines, f"the NDI scenarios failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def results():
    return in_namespace(__file__)


def test_the_picture_goes_out_through_the_codec(results):
    r = results["picture"]
    assert r["shape"] == [STAGE[1], STAGE[0], 4]
    assert r["psnr"] > 35, r  # NDI's codec is lossy; the picture, upright and in place, survives it
    assert r["sent_as"].endswith("(stage)") and r["receivers"] >= 1 and r["sent"] >= 2
    assert 1 <= r["rate"] <= 240  # the announced frame rate is the measured one, not a default 0


def test_size_and_fit(results):
    r = results["size"]
    assert r["shape"] == [WIDE[1], WIDE[0], 4]
    assert r["psnr"] > 35, r
    assert r["bar_max"] <= 8  # contain: a black bar on the left of a 4:3 picture in 16:9


def test_clean_output_has_no_overlay(results):
    r = results["clean"]
    assert r["box_stage_min"] == 255  # the stage shows the white box
    assert r["box_wide_min"] >= 200  # so does an output that is not clean (drawn on its own canvas)
    assert r["box_clean_mean"] < 100 and r["psnr"] > 35, r  # the clean one is the picture alone


def test_the_fader_reaches_the_output(results):
    r = results["fader"]
    assert r["psnr_half"] > 35, r
    assert r["max_black"] <= 8  # blackout: black through the codec
    assert r["max_black_own_canvas"] <= 8  # and on an output with its own canvas (--ndi-clean, --ndi-size)


def test_a_stalled_receiver_drops_frames_and_never_holds_the_display(results):
    r = results["stall"]
    assert r["refreshes"] == 60  # all ran while the send was blocked
    assert r["dropped"] >= 60 - 2 - 3, r  # at most the queue and the ring wait; the rest are dropped and counted
    assert r["reported_dropped"] >= r["dropped"]
    assert r["psnr_after"] > 35  # and sending resumes when the network does


def test_a_receiver_that_disconnects_and_reconnects(results):
    r = results["reconnect"]
    assert r["receivers_after_disconnect"] == 0
    assert r["receivers_again"] >= 1 and r["psnr"] > 35


def test_a_sender_opened_after_its_deadline_is_closed(results):
    late = results["late"]
    assert any("took longer than" in reason for reason in late["abandoned"]), late
    assert late["late_closed"] and late["kept_seen"] and not late["late_seen"], late


def test_two_outputs_at_once(results):
    r = results["two"]
    assert [n.rsplit("(", 1)[1] for n in r["names"]] == ["clean)", "wide)"]
    assert all(n >= 2 for n in r["sent"])


# ---- bad input (no network needed) -------------------------------------------------------------


@pytest.mark.parametrize("size", ["0x0", "100000x100000", "641x360", "wide"])
def test_a_bad_size_is_one_line_at_parse_time(size):
    from tests.conftest import stylevj

    done = stylevj("run", "--ndi", "x", "--ndi-size", size, timeout=60)
    assert done.returncode == 2
    assert "--ndi-size" in done.stderr and "size" in done.stderr and "Traceback" not in done.stderr


def test_ndi_options_without_ndi_are_one_line():
    from tests.conftest import stylevj

    done = stylevj("run", "--ndi-clean", "--headless", "--frames", "1", timeout=120)
    assert done.returncode != 0 and "need --ndi NAME" in done.stderr and "Traceback" not in done.stderr


def test_ndi_without_the_extra_is_one_line_at_start():
    code = ("import sys; sys.modules['NDIlib'] = None; from realtime.cli import main; "
            "sys.exit(main(['run', '--ndi', 'x', '--headless', '--frames', '1']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode != 0
    assert "NDI is not installed (pip install 'stylevj[ndi]')" in done.stderr and "Traceback" not in done.stderr


def test_a_runtime_that_fails_to_load_leaves_the_show_running(monkeypatch):
    """The binding imports but its runtime will not start: one line, the output is off, capture is a no-op."""
    import types

    from realtime.outputs import OutputSpec, Outputs
    from realtime.outputs.ndi import ndi_output

    monkeypatch.setitem(sys.modules, "NDIlib", types.SimpleNamespace(initialize=lambda: False))
    output = ndi_output(OutputSpec("ndi", "x"))
    outputs = Outputs([output])
    outputs.start()
    assert not output.wait_open()
    assert "failed to start" in output.error and not output.live
    outputs.capture(None, (16, 16), lambda *a: None, 0.0, fresh=True, level=1.0)  # never touches GL, never raises
    outputs.stop()
    assert outputs.reports()[0].error == output.error


if __name__ == "__main__":  # inside the namespace: every scenario, one JSON line
    sys.path.insert(0, str(REPO))
    print(json.dumps(scenarios()), flush=True)
