"""OSC control over real UDP sockets on loopback: every address, feedback, bad input, safety."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time

import numpy as np
import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage

from realtime.control import ADDRESSES, NOT_OVER_OSC, OscServer
from realtime.errors import StylevjError
from realtime.models import load_generator
from realtime.presets import OscMapping
from realtime.show import StateBoard
from realtime.show.commands import all_commands

from .conftest import SHOW, FakeClock, Rig, poll
from .conftest import osc_message as message


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


@pytest.fixture
def rig(demo, tmp_path):
    r = Rig(demo, tmp_path)
    yield r
    r.close()


CASES = [
    (("/stylevj/speed", 1.5), lambda s: s["speed"] == 1.5),
    (("/stylevj/pause",), lambda s: s["paused"] is True),
    (("/stylevj/truncation", 0.5), lambda s: s["truncation"] == 0.5),
    (("/stylevj/spline", "linear"), lambda s: s["spline"] == "linear"),
    (("/stylevj/alpha", 0.0), lambda s: s["alpha"] == 0.0),
    (("/stylevj/constant_speed", 1), lambda s: s["constant_speed"] is True),
    (("/stylevj/noise", "none"), lambda s: s["noise"] == "none"),
    (("/stylevj/mix", 2, 4, 7), lambda s: s["mix"] == [2, 4, 7]),
    (("/stylevj/goto", 1.5), lambda s: abs(s["position"] - 1.5) < 1e-6),
    (("/stylevj/goto/keyframe", 2), lambda s: abs(s["position"] - 2.0) < 1e-6),
    (("/stylevj/keyframe/add/seed", 42, 0.7), lambda s: s["keyframes"][-1]["source"] == "seed:42@0.7"),
    (("/stylevj/keyframe/add/seed", 43), lambda s: s["keyframes"][-1]["source"] == "seed:43"),
    (("/stylevj/keyframe/add/current",), lambda s: len(s["keyframes"]) == 4 and s["keyframes"][-1]["source"] == "snapshot"),
    (("/stylevj/keyframe/remove", 0), lambda s: [k["source"] for k in s["keyframes"]] == ["seed:2", "seed:3"]),
    (("/stylevj/keyframe/move", 0, 2), lambda s: [k["source"] for k in s["keyframes"]] == ["seed:2", "seed:3", "seed:1"]),
    (("/stylevj/keyframe/replace", 1, 9), lambda s: s["keyframes"][1]["source"] == "seed:9"),
    (("/stylevj/keyframe/replace", 1), lambda s: s["keyframes"][1]["source"] == "snapshot"),
    (("/stylevj/keyframe/clear",), lambda s: s["keyframes"] == []),
    (("/stylevj/speed", 2.0), lambda s: s["speed"] == 2.0),
    (("/stylevj/overlay/opacity", 0.3),
     lambda s: [p["opacity"] for p in s["overlay"]["panels"].values()] == [pytest.approx(0.3)] * 2),
    (("/stylevj/overlay/gpu", 1), lambda s: s["overlay"]["panels"]["gpu"]["visible"] is True),
    (("/stylevj/overlay/toggle",), lambda s: s["overlay"]["visible"] is False),
    (("/stylevj/pause/toggle",), lambda s: s["paused"] is True),
    (("/stylevj/speed/scale", 4.0), lambda s: s["speed"] == 0.05),  # from a stop: the start speed, not 4 x 0
    (("/stylevj/speed/scale", 4.0), lambda s: s["speed"] == 2.0, 0.5),  # the rig plays at 0.5: 4 x 0.5
    (("/stylevj/speed/scale", 0.25), lambda s: s["speed"] == -0.125, -0.5),  # backwards stays backwards
    (("/stylevj/nudge", 0.5), lambda s: abs(s["position"] - 0.5) < 1e-6),
]


def case_id(case: tuple) -> str:
    msg = case[0]
    return msg[0][9:] + str(msg[1:]) + (f"-from-{case[2]}" if len(case) > 2 else "")


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_every_address_changes_the_state_as_documented(demo, tmp_path, case):
    """Each address from a show of conftest's SHOW (speed 0, or the case's start speed)."""
    msg, check, *start = case
    rig = Rig(demo, tmp_path, text=SHOW.replace("speed = 0.0", f"speed = {start[0]}") if start else SHOW)
    try:
        assert rig.state()["speed"] == (start[0] if start else 0.0)  # the case starts where it says
        rig.send(message(*msg))
        assert check(rig.state())
    finally:
        rig.close()


def test_play_after_pause_and_mix_off(rig):
    for m in (("/stylevj/pause",), ("/stylevj/mix", 1, 0, 3)):
        rig.send(message(*m))
    assert rig.state()["paused"] is True
    for m in (("/stylevj/play",), ("/stylevj/mix/off",)):
        rig.send(message(*m))
    state = rig.state()
    assert state["paused"] is False and state["mix"] is None


def test_files_resolve_only_inside_the_configured_folders(rig, demo, tmp_path):
    (tmp_path / "keyframes").mkdir()
    np.save(tmp_path / "keyframes" / "face.npy", np.zeros((demo.num_ws, demo.w_dim), np.float32))
    np.save(tmp_path / "outside.npy", np.zeros((demo.num_ws, demo.w_dim), np.float32))
    for name in ("../outside.npy", str(tmp_path / "outside.npy"), "/etc/passwd"):
        rig.send(message("/stylevj/keyframe/add/file", name))
    rig.send(message("/stylevj/keyframe/add/file", "face.npy"))
    errors = [p[0] for a, p in rig.replies(1.0) if a == "/stylevj/error"]
    assert len(errors) == 3 and all("folder" in e for e in errors)
    state = rig.state()
    assert len(state["keyframes"]) == 4 and state["keyframes"][-1]["source"].endswith("keyframes/face.npy")


def test_preset_save_and_load_over_osc(rig, tmp_path):
    rig.send(message("/stylevj/keyframe/add/current"))
    rig.send(message("/stylevj/speed", 0.6))
    rig.send(message("/stylevj/preset/save", "live-set"))
    rig.state()
    assert (tmp_path / "live-set.toml").exists()
    rig.send(message("/stylevj/keyframe/clear"))
    rig.send(message("/stylevj/speed", 0.1))
    assert rig.state()["keyframes"] == []
    rig.send(message("/stylevj/preset/load", "live-set"))
    state = rig.state()
    assert len(state["keyframes"]) == 4 and state["speed"] == pytest.approx(0.6)  # OSC floats are 32-bit
    rig.send(message("/stylevj/preset/load", "../../etc/passwd"))
    assert any(a == "/stylevj/error" and "folder" in p[0] for a, p in rig.replies(0.5))


def test_parameters_coalesce_commands_do_not(rig):
    for speed in (0.1, 0.2, 0.3, 0.4):
        rig.send(message("/stylevj/speed", speed))
    for seed in (11, 12, 13):
        rig.send(message("/stylevj/keyframe/add/seed", seed))
    deadline = time.monotonic() + 5
    while rig.osc.counters.received < 7 and time.monotonic() < deadline:
        time.sleep(0.005)
    while len(rig.show.commands):  # all seven arrive before a frame; the budget may spread them over a few
        rig.show.step()
    counts = rig.show.board.latest().commands
    assert counts.applied == 4 and counts.coalesced == 3  # one speed (the latest) + three keyframes
    state = rig.state()
    assert state["speed"] == pytest.approx(0.4) and [k["source"] for k in state["keyframes"][-3:]] == ["seed:11", "seed:12", "seed:13"]


def test_bundles_are_applied_without_waiting_for_timetags(rig):
    bundle = OscBundleBuilder(IMMEDIATELY)
    from pythonosc.osc_message_builder import OscMessageBuilder as B

    for addr, value in (("/stylevj/truncation", 0.3), ("/stylevj/alpha", 1.0)):
        b = B(address=addr)
        b.add_arg(value)
        bundle.add_content(b.build())
    rig.send(bundle.build().dgram)
    state = rig.state()
    assert state["truncation"] == pytest.approx(0.3) and state["alpha"] == 1.0


@pytest.mark.parametrize(
    "data, reason",
    [
        (message("/stylevj/speed"), "takes 1 arguments, got 0"),
        (message("/stylevj/speed", "fast"), "must be a number"),
        (message("/stylevj/speed", float("nan")), "finite"),
        (message("/stylevj/speed", float("inf")), "finite"),
        (message("/stylevj/truncation", 5.0), "within [-2, 2]"),
        (message("/stylevj/keyframe/remove", 1.5), "whole number"),
        (message("/stylevj/keyframe/remove", 99), "does not exist"),
        (message("/stylevj/spline", "bezier"), "must be one of"),
        (message("/stylevj/nope"), "unknown address"),
        (b"\x00garbage\xff" * 3, "malformed packet"),
        (message("/stylevj/speed", 1.0)[:-3], "malformed packet"),
        (message("/stylevj/speed", 1.0)[:-4], "cut short"),
        (b"/x\x00\x00" + b"\x00" * 9000, "oversized packet"),
    ],
    ids=["count", "type", "nan", "inf", "range", "int", "index", "choice", "unknown", "garbage", "truncated", "cut-at-word", "oversized"],
)
def test_bad_messages_are_rejected_with_a_reason_and_change_nothing(rig, data, reason):
    before = rig.state()
    rig.send(data)
    errors = [p[0] for a, p in rig.replies(0.5) if a == "/stylevj/error"]
    assert len(errors) == 1 and reason in errors[0]
    after = rig.state()
    before.pop("position"), after.pop("position")
    counters = ("osc", "frames", "commands", "serial")
    assert {k: v for k, v in after.items() if k not in counters} == {k: v for k, v in before.items() if k not in counters}
    assert rig.show.running


def random_garbage(rng: random.Random) -> bytes:
    kind = rng.randrange(8)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if kind == 1:  # a valid-looking address with random type tags and payload
        return b"/stylevj/speed\x00\x00,fff\x00\x00\x00\x00" + bytes(rng.randrange(256) for _ in range(rng.randrange(0, 8)))
    if kind == 2:
        return message("/stylevj/speed", rng.choice(["x", float("nan"), 1e9, -1e9]))
    if kind == 3:
        return message(rng.choice(["/stylevj/keyframe/remove", "/stylevj/goto/keyframe"]), rng.randrange(50, 10**6))
    if kind == 4:
        return message("/stylevj/" + "".join(rng.choice("abcxyz/") for _ in range(rng.randrange(1, 12))), 1)
    if kind == 5:  # a bundle header with a lying length
        return b"#bundle\x00" + struct.pack(">Q", 1) + struct.pack(">i", rng.randrange(-5, 10**6)) + b"/a\x00\x00"
    if kind == 6:
        return message("/stylevj/mix", 0, rng.randrange(5, 100), rng.randrange(0, 4))
    return message("/stylevj/alpha", rng.choice([-1.0, 2.0, "linear", float("-inf")]))


def test_fuzz_leaves_the_show_alive_and_state_as_valid_messages_made_it(demo, tmp_path, caplog):
    r = Rig(demo, tmp_path)
    try:
        rng = random.Random(1234)
        valid = [("/stylevj/speed", 0.7), ("/stylevj/keyframe/add/seed", 5), ("/stylevj/truncation", 0.6),
                 ("/stylevj/spline", "linear"), ("/stylevj/keyframe/remove", 0)]
        sent = 0
        with caplog.at_level("ERROR"):
            for i in range(10_000):
                r.send(random_garbage(rng))
                sent += 1
                if i % 100 == 99:
                    r.state()  # let the listener drain, so the kernel drops nothing we count on
                if i % 2000 == 1999:
                    r.send(message(*valid[i // 2000]))
                    r.state()  # round trip: the valid message was applied
        state = r.state()
        assert state["speed"] == pytest.approx(0.7) and state["truncation"] == pytest.approx(0.6) and state["spline"] == "linear"
        assert [k["source"] for k in state["keyframes"]] == ["seed:2", "seed:3", "seed:5"]
        assert r.osc.counters.rejected > 5_000  # most garbage got through the kernel and was refused
        assert r.osc.listening and r.show.running
        assert "unexpected failure" not in caplog.text
    finally:
        r.close()


def test_feedback_reaches_a_listening_socket(demo, tmp_path):
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(0.01)
    started = time.monotonic()
    r = Rig(demo, tmp_path, reply=listener.getsockname())
    r.show.clock = clock = FakeClock()  # the show's motion: exactly what the test moves, however busy the machine
    try:
        r.send(message("/stylevj/speed", 3.0))
        r.send(message("/stylevj/keyframe/add/seed", 8))
        got: dict[str, list] = {}

        def refresh() -> None:
            """A refresh 1/30 s later on the show's clock, then what came back (the socket's timeout paces it)."""
            clock.advance(1 / 30)
            r.show.step()
            try:
                msg = OscMessage(listener.recvfrom(65536)[0])
                got.setdefault(msg.address, []).append(list(msg.params))
            except socket.timeout:
                pass

        # 4 keyframes closed at 3 keyframes/s: a loop every 40 refreshes of the show's clock
        poll(lambda: "/stylevj/loop" in got and got.get("/stylevj/keyframes", [[]])[-1] == [4],
             "a loop and the new keyframe count", step=refresh)
        elapsed = time.monotonic() - started
        assert {"/stylevj/position", "/stylevj/speed", "/stylevj/keyframes", "/stylevj/fps"} <= set(got)
        assert got["/stylevj/keyframe/added"] == [[3]]
        assert len(got["/stylevj/position"]) <= elapsed * 30 + 1  # at most 30 Hz of wall time, however long it took
    finally:
        r.close()
        listener.close()


def test_user_mappings_and_touchdesigner_metadata(demo, tmp_path):
    r = Rig(demo, tmp_path, mappings=(OscMapping("/speed", "speed", (0.0, 1.0), (0.0, 4.0)),))
    try:
        r.send(message("/speed", 0.5))
        r.send(message("/_samplerate", 60.0))
        replies = r.replies(0.5)
        assert not [a for a, _ in replies if a == "/stylevj/error"]
        state = r.state()
        assert state["speed"] == 2.0 and state["osc"]["ignored"] == 1
    finally:
        r.close()


def test_allow_list_drops_other_senders(demo, tmp_path):
    r = Rig(demo, tmp_path, allow=["127.0.0.1/32"])
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        stranger.bind(("127.0.0.2", 0))
        stranger.sendto(message("/stylevj/speed", 9.0), r.osc.address)
        poll(lambda: r.osc.counters.blocked_senders, "the stranger's packet to be dropped")
        state = r.state()
        assert state["speed"] == 0.0 and state["osc"]["blocked_senders"] == 1
    finally:
        stranger.close()
        r.close()


def test_lan_listener_needs_an_allow_list():
    with pytest.raises(StylevjError, match="--osc-allow"):
        OscServer(lambda c, o: True, StateBoard(), host="0.0.0.0", port=0)


def test_a_mapping_to_something_that_is_not_a_number_parameter_is_refused():
    with pytest.raises(StylevjError, match="param 'keyframe/clear' is not a one-number parameter"):
        OscServer(lambda c, o: True, StateBoard(), port=0, mappings=(OscMapping("/x", "keyframe/clear"),))


def test_every_command_is_reachable_from_osc_and_documented():
    """Each show command has an OSC address (the README lists them all: test_osc_docs_and_bridge)
    or a stated reason why not, and a description for the table."""
    reachable = {a.command for a in ADDRESSES}
    assert len(all_commands()) >= 30
    for command in all_commands():
        assert command in reachable or command in NOT_OVER_OSC, f"{command.__name__} has no OSC address"
        assert command.__doc__ and command.__doc__.strip(), f"{command.__name__} has no description"


def test_a_flood_overflows_visibly_not_silently(demo, tmp_path):
    r = Rig(demo, tmp_path, queue_size=4)
    try:
        for seed in range(10):
            r.send(message("/stylevj/keyframe/add/seed", seed))
        deadline = time.monotonic() + 5
        while r.osc.counters.received < 10 and time.monotonic() < deadline:
            time.sleep(0.005)
        r.show.step()  # drains the full queue (a state request sent now would itself overflow)
        state = r.state()
        assert state["osc"]["overflow"] == 6 and len(state["keyframes"]) == 3 + 4
    finally:
        r.close()


def test_kill_mid_show_and_resume_restores_every_edit(tmp_path):
    journal = tmp_path / "journal.toml"
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "realtime.cli", "run", "--headless", "--journal", str(journal)]
    first = subprocess.Popen(cmd + ["--seconds", "120", "--osc-port", str(port)], stderr=subprocess.PIPE, text=True, env=env)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(0.2)
    try:
        state = _await_state(client, port)
        for m in (("/stylevj/keyframe/add/seed", 99, 0.5), ("/stylevj/keyframe/add/current",), ("/stylevj/keyframe/move", 0, 3),
                  ("/stylevj/keyframe/remove", 1), ("/stylevj/speed", 0.9), ("/stylevj/alpha", 0.2), ("/stylevj/truncation", 0.65)):
            client.sendto(message(*m), ("127.0.0.1", port))
        edited = _await_state(client, port, lambda s: abs(s["truncation"] - 0.65) < 1e-6)
        deadline = time.monotonic() + 10  # the journal writer runs on its own thread
        while "truncation = 0.65" not in (journal.read_text() if journal.exists() else ""):
            assert time.monotonic() < deadline, "journal never caught up"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        port2 = _free_port()
        second = subprocess.Popen(cmd + ["--resume", "--seconds", "60", "--osc-port", str(port2)], stderr=subprocess.PIPE, text=True, env=env)
        try:
            restored = _await_state(client, port2)
        finally:
            second.terminate()
            second.wait(10)
        for key in ("speed", "alpha", "truncation", "spline", "closed"):
            assert restored[key] == edited[key], key
        assert [k["name"] for k in restored["keyframes"]] == [k["name"] for k in edited["keyframes"]]
        assert len(restored["keyframes"]) == len(state["keyframes"]) + 1
    finally:
        if first.poll() is None:
            first.kill()
        client.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _await_state(client, port, condition=lambda s: True, timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        client.sendto(message("/stylevj/state"), ("127.0.0.1", port))
        try:
            while True:
                msg = OscMessage(client.recvfrom(65536)[0])
                if msg.address == "/stylevj/state":
                    state = json.loads(msg.params[0])
                    if condition(state):
                        return state
        except socket.timeout:
            pass
    raise AssertionError("no state reply")
