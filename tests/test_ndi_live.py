"""NDI outputs added and removed while the show runs (issue 24): OSC, presets, the state.

A real show (headless, the demo generator, its session and OSC server) and NDI's own runtime as
the receiver run inside a private network namespace (`unshare -n`, loopback up, NDI told to look
at 127.0.0.1), like tests/test_ndi.py: this file re-executes itself there once (`python
tests/test_ndi_live.py`: the scenario, results as JSON) and each test asserts its part. What
needs no network (refusals, a runtime that will not start, presets) runs here directly.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

PRESET = """
[generator]
source = "demo"
[play]
speed = 0.0
[[keyframes]]
seed = 1
"""


# ---- the scenario (run inside the namespace) -----------------------------------------------------


def _receiver(ndi, name: str, timeout: float = 15.0):
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
    recv = ndi.recv_create_v3(create)
    ndi.recv_connect(recv, found[0])
    return recv, find


def _picture(ndi, rig, recv, timeout: float = 15.0) -> list[int]:
    """Refresh the show until a picture arrives; its shape."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rig.show.step()
        kind, video, _, _ = ndi.recv_capture_v2(recv, 20)
        if kind == ndi.FRAME_TYPE_VIDEO:
            shape = list(video.data.shape)
            ndi.recv_free_video_v2(recv, video)
            return shape
    raise AssertionError("no picture arrived")


def _close(ndi, recv, find) -> None:
    ndi.recv_destroy(recv)
    ndi.find_destroy(find)


def _listed(ndi, find, name: str) -> bool:
    ndi.find_wait_for_sources(find, 50)
    return any(s.ndi_name.endswith(f"({name})") for s in ndi.find_get_current_sources(find))


def scenario() -> dict:
    import NDIlib as ndi

    from realtime.models import load_generator
    from realtime.presets import load_preset
    from tests.conftest import Rig, osc_message, poll

    assert ndi.initialize()
    out: dict = {}
    folder = Path(tempfile.mkdtemp(prefix="stylevj-ndi-live-"))
    rig = Rig(load_generator("demo"), folder, text=PRESET)
    try:
        # added over OSC: the sender hears the name that went out, a receiver gets the picture
        rig.send(osc_message("/stylevj/output/add", "live", "96x64", 1))
        poll(lambda: rig.show.outputs.find("live"), "the output opened by the loader", rig.show.step)
        recv, find = _receiver(ndi, "live")
        shape = _picture(ndi, rig, recv)
        poll(lambda: rig.show.outputs.reports()[0].receivers, "the receiver counted", rig.show.step)
        state = rig.state()
        out["added"] = {"shape": shape, "outputs": state["outputs"]}
        # a second one of the same name is refused; the first runs on
        rig.send(osc_message("/stylevj/output/add", "live"))
        out["duplicate"] = [p for a, p in rig.replies(10, until="/stylevj/error") if a == "/stylevj/error"]
        # saved in a preset
        rig.send(osc_message("/stylevj/preset/save", "sends"))
        poll(lambda: (folder / "sends.toml").exists(), "the preset written by the loader", rig.show.step)
        out["saved"] = [[o.kind, o.name, list(o.size or ()), o.clean] for o in load_preset(folder / "sends.toml").outputs]
        # removed: the sender hears it, the state drops it, the source leaves the network
        retired = rig.show.outputs.find("live")
        rig.send(osc_message("/stylevj/output/remove", "live"))
        poll(lambda: not rig.show.outputs.find("live"), "the output removed", rig.show.step)
        poll(lambda: not retired.closing, "the removed sender's thread to close its source", rig.show.step)
        gone = poll(lambda: not _listed(ndi, find, "live"), "the source to leave the finder", rig.show.step, timeout=30)
        out["removed"] = {"outputs": rig.state()["outputs"], "gone": gone, "sent": retired.sent}
        rig.send(osc_message("/stylevj/output/remove", "live"))
        out["remove_unknown"] = [p for a, p in rig.replies(10, until="/stylevj/error") if a == "/stylevj/error"]
        _close(ndi, recv, find)
        # the preset brings it back (opened by the loader), at its own size and without the overlay
        rig.send(osc_message("/stylevj/preset/load", "sends"))
        poll(lambda: rig.show.outputs.find("live"), "the preset's output opened by the loader", rig.show.step)
        recv, find = _receiver(ndi, "live")
        out["loaded"] = {"shape": _picture(ndi, rig, recv), "outputs": rig.state()["outputs"]}
        _close(ndi, recv, find)
    finally:
        rig.close()
    return out


# ---- the tests (outside) -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results():
    from tests.test_ndi import in_namespace

    return in_namespace(__file__)


def test_an_output_added_over_osc_sends_and_is_in_the_state(results):
    r = results["added"]
    assert r["shape"] == [64, 96, 4]  # its own canvas, WxH
    [entry] = r["outputs"]
    assert entry["name"] == "live" and entry["sent_as"].endswith("(live)") and entry["kind"] == "ndi"
    assert entry["size"] == [96, 64] and entry["clean"] is True and entry["error"] == ""
    assert entry["receivers"] >= 1 and entry["sent"] >= 1 and entry["dropped"] >= 0 and entry["fps"] >= 0


def test_a_name_already_running_is_refused_in_one_line(results):
    assert len(results["duplicate"]) == 1
    assert "'live' is already running" in results["duplicate"][0][0]


def test_a_preset_save_writes_the_outputs(results):
    assert results["saved"] == [["ndi", "live", [96, 64], True]]


def test_a_removed_output_leaves_the_state_and_the_network(results):
    r = results["removed"]
    assert r["outputs"] == []
    assert r["gone"] and r["sent"] >= 1


def test_removing_an_unknown_output_names_the_running_ones(results):
    [[line]] = results["remove_unknown"]
    assert "no output named 'live'" in line and "running: none" in line


def test_a_preset_load_opens_its_outputs(results):
    r = results["loaded"]
    assert r["shape"] == [64, 96, 4]
    [entry] = r["outputs"]
    assert entry["size"] == [96, 64] and entry["clean"] is True


# ---- no network needed ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def G():
    from realtime.models import load_generator

    return load_generator("demo")


@pytest.fixture
def rig(G, tmp_path):
    from tests.conftest import Rig

    rig = Rig(G, tmp_path, text=PRESET)
    yield rig
    rig.close()


def test_a_runtime_that_will_not_start_is_one_line_and_the_show_runs_on(rig, monkeypatch):
    from tests.conftest import osc_message

    monkeypatch.setitem(sys.modules, "NDIlib", types.SimpleNamespace(initialize=lambda: False))
    before = rig.show.stats.refreshes
    rig.send(osc_message("/stylevj/output/add", "x"))
    errors = [p for a, p in rig.replies(20, until="/stylevj/error") if a == "/stylevj/error"]
    assert len(errors) == 1 and "NDI runtime failed to start" in errors[0][0] and "\n" not in errors[0][0]
    assert rig.state()["outputs"] == [] and rig.show.stats.refreshes > before + 1


@pytest.mark.parametrize("args, reason", [(("x", "0x0"), "size 0x0 must have even sides"),
                                          (("x", "100000x100000"), "must have even sides from 16 to 8192"),
                                          (("x", "wide"), "must be WIDTHxHEIGHT"),
                                          ((" x",), "must be 1 to 100 printable characters")])
def test_bad_arguments_are_refused_before_the_show(args, reason):
    from realtime.control.addresses import OscError, to_command

    with pytest.raises(OscError, match=reason):
        to_command("/stylevj/output/add", list(args))


@pytest.mark.parametrize("entry, reason", [
    ('kind = "ndi"\nname = "a"\nsize = [0, 0]', "size 0x0 must have even sides"),
    ('kind = "spout"\nname = "a"', "kind must be one of ndi"),
    ('name = "a"', "needs both 'kind' and 'name'"),
    ('kind = "ndi"\nname = "a"\n[[outputs]]\nkind = "ndi"\nname = "a"', "#2 name 'a' is used by an earlier output"),
])
def test_a_bad_outputs_entry_is_one_line_naming_it(tmp_path, entry, reason):
    from realtime.presets import PresetError, load_preset

    (tmp_path / "p.toml").write_text(PRESET + "[[outputs]]\n" + entry + "\n")
    with pytest.raises(PresetError, match=reason) as caught:
        load_preset(tmp_path / "p.toml")
    assert "p.toml" in str(caught.value) and "\n" not in str(caught.value)


def test_the_run_opens_ndi_and_the_presets_outputs(tmp_path):
    """--ndi and the preset's [[outputs]] at start (--ndi wins over an entry of its name)."""
    from realtime.presets import load_preset
    from realtime.session import RunOptions, run_outputs

    (tmp_path / "p.toml").write_text(PRESET + '[[outputs]]\nkind = "ndi"\nname = "a"\nsize = [640, 360]\n'
                                     '[[outputs]]\nkind = "ndi"\nname = "b"\nclean = true\n')
    preset = load_preset(tmp_path / "p.toml")
    specs = [o.spec for o in run_outputs(RunOptions(ndi="a", ndi_clean=True), preset).outputs]
    assert [(s.name, s.size, s.clean) for s in specs] == [("a", None, True), ("b", None, True)]
    specs = [o.spec for o in run_outputs(RunOptions(), preset).outputs]
    assert [(s.name, s.size, s.clean) for s in specs] == [("a", (640, 360), False), ("b", None, True)]


class Kept:
    """A transport that keeps the last picture: here the readback paths are compared, not the network."""

    def __init__(self) -> None:
        self.pictures = 0
        self.last = None

    def open(self, name):
        return name

    def send(self, rgba, fps):
        self.last, self.pictures = rgba.copy(), self.pictures + 1

    def receivers(self):
        return 0

    def close(self):
        pass


@pytest.mark.parametrize("readback", ["pixel buffers", "direct"])
def test_each_readback_sends_the_stage_upright_and_whole(egl_ctx, readback):
    """Pixel buffers (a GPU's asynchronous path) and the direct read (software OpenGL's one copy)
    send the same picture: the stage's pixels, top row first, from reused host arrays."""
    from realtime.checks import OutputSpec
    from realtime.display import Compositor, HeadlessSurface, HostSink
    from realtime.outputs import FrameOutput, Outputs
    from tests.conftest import make_frame, poll

    stage = HeadlessSurface((96, 64), ctx=egl_ctx)
    compositor, sink = Compositor(egl_ctx, fit="contain"), HostSink(egl_ctx)
    kept = Kept()
    output = FrameOutput(OutputSpec("ndi", "x"), kept, readback=readback)
    outputs = Outputs([output])
    outputs.start()
    try:
        for n in range(8):  # pictures 0..7, each one different; the last ones wait in the ring
            picture = sink.upload(make_frame(96, 64, seed=n))
            compositor.draw(stage, picture)
            outputs.capture(stage.framebuffer, stage.size, lambda *a: None, n / 60, fresh=True, level=1.0)
        expected = stage.read_pixels()

        def sent_the_last() -> bool:  # the same picture again until it is through the ring and the queue:
            outputs.capture(stage.framebuffer, stage.size, lambda *a: None, 1.0, fresh=True, level=1.0)
            return kept.last is not None and (kept.last == expected).all()  # (a busy sender drops some)

        poll(sent_the_last, "the last picture sent")
    finally:
        outputs.stop()
        sink.release()
        stage.close()
    assert kept.last.shape == (64, 96, 4) and (kept.last == expected).all()
    assert tuple(kept.last[0, 0]) == (255, 0, 255, 255)  # the magenta marker is the top-left corner: upright


def test_the_bench_row_says_why_without_ndi(monkeypatch, tmp_path):
    from realtime.bench import bench_ndi

    monkeypatch.setenv("NDI_CONFIG_DIR", str(tmp_path))  # the bench points NDI at 127.0.0.1: undone after
    monkeypatch.setitem(sys.modules, "NDIlib", None)
    [row] = bench_ndi(0.1)
    assert row.fps == 0 and row.note.startswith("skipped: NDI is not installed")


if __name__ == "__main__":  # inside the namespace: the scenario, one JSON line
    sys.path.insert(0, str(REPO))
    print(json.dumps(scenario()), flush=True)
