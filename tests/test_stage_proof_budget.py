"""Stage-proof II: the command budget holds for commands that make work (mapping a seed,
rebuilding the path), and nothing sent is lost silently: every keyframe edit is applied or
refused with a count and an answer to its sender. A real show, real UDP sockets on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from pythonosc.osc_message import OscMessage

import realtime.latent.player as player_module
from realtime.models import load_generator
from realtime.show.commands import AddSeedKeyframe, RemoveKeyframe
from realtime.show.commands import base as command_base
from realtime.show.commands import keyframes as keyframe_commands
from realtime.show.commands.keyframes import SEEDS_PER_FRAME
from realtime.show.commands.queue import MAX_WAITING_WORK

from .conftest import Rig
from .conftest import osc_message as message


@pytest.fixture(scope="module")
def demo():
    return load_generator("demo")


def burst(address, count: int) -> threading.Thread:
    """`count` keyframe/add/seed datagrams as fast as one socket sends them, from a thread."""
    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for seed in range(count):
                s.sendto(message("/stylevj/keyframe/add/seed", seed), address)
    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def state_of(r: Rig) -> dict:
    """`/stylevj/state`, joined from its parts when large (a show of hundreds of keyframes)."""
    for _ in range(20):
        r.send(message("/stylevj/state"))
        parts: dict[int, str] = {}
        for address, params in r.replies(1.0, until="/stylevj/state"):
            if address == "/stylevj/state":
                return json.loads(params[0])
            if address == "/stylevj/state/part":
                parts[params[0]] = params[2]
                if len(parts) == params[1]:
                    return json.loads("".join(parts[i] for i in range(params[1])))
    raise AssertionError("no state reply")


def test_a_burst_of_3000_seed_keyframes_is_applied_or_refused_and_state_is_answered_throughout(demo, tmp_path):
    r = Rig(demo, tmp_path)
    try:
        sender = burst(r.osc.address, 3000)
        answered_mid_burst = 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = state_of(r)  # answered while the burst is being worked through
            if state["commands"]["work"] > 0:
                answered_mid_burst += 1
            done = state["osc"]["received"] + state["osc"]["lost"]
            if not sender.is_alive() and state["commands"]["work"] == 0 and done >= 3000 + 1:
                break
        state = state_of(r)
        added = len(state["keyframes"]) - 3
        counts, osc = state["commands"], state["osc"]
        # no silent loss: each of the 3000 was added, refused (the sender told: busy, or the show's
        # cap of 1000 keyframes, reached now that an edit costs the same at any size), dropped or lost
        assert added + counts["refused"] + counts["failed"] + counts["dropped"] + osc["overflow"] + osc["lost"] == 3000, \
            (added, counts, osc)
        assert counts["refused"] > 0 and added > 0
        assert answered_mid_burst >= 1  # state requests never wait for the whole burst
        assert [k["source"] for k in state["keyframes"][3:5]] == ["seed:0", "seed:1"]  # order kept
        busy = [p[0] for a, p in r.replies(1.0) if a == "/stylevj/error" and "busy" in p[0]]
        assert r.osc.counters.rejected >= 1 or busy  # the sender heard "busy" (replies are rate-limited)
    finally:
        r.close()


def test_waiting_work_is_bounded_and_each_sender_hears_busy_with_a_count(demo, tmp_path):
    r = Rig(demo, tmp_path)
    try:
        for seed in range(200):
            assert r.show.submit(AddSeedKeyframe(seed), "page")  # answered, never silently lost
        assert r.show.commands.work == MAX_WAITING_WORK and len(r.show.commands) == MAX_WAITING_WORK
        r.show.step()
        state = r.show.board.latest()
        assert state.commands.refused == 200 - MAX_WAITING_WORK
        (busy,) = [e for e in state.events if e.name == "error" and e.origin == "page"]
        assert busy.args[0].startswith(f"busy: {MAX_WAITING_WORK} keyframe edits waiting")
        assert f"({200 - MAX_WAITING_WORK} refused)" in busy.args[0]
        while len(r.show.commands):
            r.show.step()
        assert len(r.show.board.latest().keyframes) == 3 + MAX_WAITING_WORK
        assert r.show.submit(RemoveKeyframe(0), "page") and r.show.commands.work == 1  # room again once done
    finally:
        r.close()


def test_a_run_of_seed_keyframes_is_mapped_and_added_with_one_path_rebuild_per_frame(demo, tmp_path, monkeypatch):
    builds = []
    real = player_module.build_path
    monkeypatch.setattr(player_module, "build_path", lambda *a, **k: builds.append(1) or real(*a, **k))
    r = Rig(demo, tmp_path)
    try:
        for seed in range(2 * SEEDS_PER_FRAME):
            r.show.submit(AddSeedKeyframe(seed, 0.7), "test")
        steps = 0
        builds.clear()
        while len(r.show.commands):
            r.show.step()
            steps += 1
        keyframes = r.show.board.latest().keyframes
        assert len(keyframes) == 3 + 2 * SEEDS_PER_FRAME
        assert len(builds) <= steps  # at most one rebuild a frame, however many were added
        assert [k.source for k in keyframes[3:5]] == ["seed:0@0.7", "seed:1@0.7"] and keyframes[4].name == "seed 1"
        added = [e.args[0] for e in r.show.board.latest().events if e.name == "keyframe/added"]
        assert added == list(range(3, 3 + 2 * SEEDS_PER_FRAME))[-len(added):]
    finally:
        r.close()


def test_a_show_holds_at_most_max_keyframes_and_refuses_more_in_one_line(demo, tmp_path, monkeypatch):
    monkeypatch.setattr(command_base, "MAX_KEYFRAMES", 5)
    monkeypatch.setattr(keyframe_commands, "MAX_KEYFRAMES", 5)
    r = Rig(demo, tmp_path)
    try:
        r.send(message("/stylevj/keyframe/add/seed", 10))
        r.send(message("/stylevj/keyframe/add/seed", 11))
        r.send(message("/stylevj/keyframe/add/seed", 12))  # the sixth: refused
        r.send(message("/stylevj/keyframe/add/current"))  # and so is any other addition
        state = r.state()
        assert len(state["keyframes"]) == 5 and state["commands"]["failed"] == 2
        errors = [p[0] for a, p in r.replies(1.0) if a == "/stylevj/error"]
        assert any("the show holds 5 keyframes, at most 5" in e for e in errors) or r.osc.counters.rejected >= 2
    finally:
        r.close()


def test_datagrams_the_system_drops_are_counted(demo, tmp_path):
    """A listener that falls behind a burst: what the kernel drops is counted (SO_RXQ_OVFL), not silent."""
    r = Rig(demo, tmp_path)
    try:
        r.osc.stop()  # nobody reads for a moment; a tiny buffer fills at once
        from realtime.control import OscServer

        osc = OscServer(r.show.submit, r.show.board, port=0)
        osc.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for seed in range(300):
                s.sendto(message("/stylevj/speed", 0.5), osc.address)
            osc.start()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and osc.counters.received + osc.counters.lost < 301:
                s.sendto(message("/stylevj/pause"), osc.address)  # a later datagram carries the drop count
                time.sleep(0.05)
                r.show.step()
        osc.stop()
        assert osc.counters.lost > 0  # the buffer held only a few of the 300
        assert osc.counters.received + osc.counters.lost >= 301
    finally:
        r.close()
