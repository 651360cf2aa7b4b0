"""Stage-proof II, the network side: the operator page and the OSC listener under abuse.

Real servers on 127.0.0.x, real TCP/UDP sockets and WebSocket clients, a flooding client in a
process of its own (as a browser would be). No show is needed: the servers get a submit that
records and an empty StateBoard. Waits poll with a deadline; nothing asserts a speed."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from realtime.control import page as page_module
from realtime.control.osc import OscServer
from realtime.control.lan import choose_address, interface_addresses
from realtime.control.page import PageServer
from realtime.control.page_commands import PAGE_COMMANDS
from realtime.show import Folders, StateBoard
from realtime.show import commands as c

from .conftest import osc_message

DEADLINE = 60.0
REPO = Path(__file__).resolve().parents[1]


def wait_for(condition, what: str, timeout: float = DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Recorder:
    """The show's submit, recorded: (monotonic time, command, origin)."""

    def __init__(self) -> None:
        self.got: list[tuple[float, c.Command, object]] = []

    def __call__(self, command, origin) -> bool:
        self.got.append((time.monotonic(), command, origin))
        return True

    def commands(self, kind: type) -> list:
        return [cmd for _, cmd, _ in list(self.got) if isinstance(cmd, kind)]


@pytest.fixture
def served(tmp_path):
    """A factory of started PageServers on 127.0.0.x (stopped at the end)."""
    servers = []

    def start(host: str = "127.0.0.1") -> tuple[PageServer, Recorder]:
        recorder = Recorder()
        server = PageServer(recorder, StateBoard(), Folders.beside(tmp_path), host=host, port=0).start()
        servers.append(server)
        return server, recorder

    yield start
    for server in servers:
        server.stop()


def page_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("realtime.control.page")]


def raw_http(address, lines: list[str], source: str | None = None) -> tuple[int, bytes]:
    """Send a hand-written HTTP request; (status, body)."""
    with socket.create_connection(address, timeout=30, source_address=(source, 0) if source else None) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def ws_frame(text: str) -> bytes:
    """One masked WebSocket text frame (a client's)."""
    data, mask = text.encode(), b"\x01\x02\x03\x04"
    size = len(data)
    head = bytes([0x81]) + (bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2, "big"))
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


# ---- a page that sends and never reads ----------------------------------------------------------


def test_a_page_that_sends_and_never_reads_is_dropped_and_counted(served, caplog):
    caplog.set_level(logging.WARNING)
    server, _ = served()
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # it never reads: its window fills at once
    s.connect(server.address)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{server.address[1]}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    assert b" 101 " in s.recv(1024).split(b"\r\n")[0]
    wait_for(lambda: server.clients == 1, "the page to be connected")
    s.settimeout(1.0)
    frame = ws_frame("not json " * 20)  # each is answered with a refusal it never reads
    cut = False
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline and not cut:
        try:
            s.sendall(frame * 64)
        except socket.timeout:  # the server stopped reading us: we wait, as a blocked sender does
            pass
        except OSError:  # reset or broken pipe: the server cut us
            cut = True
    s.close()
    assert cut, "a page that reads nothing was never cut off"
    wait_for(lambda: server.clients == 0, "the page to be gone on the server too")
    assert server.counters.dropped == 1 and server.report()["dropped"] == 1
    dropped = [line for line in page_lines(caplog) if "dropped page" in line]
    assert len(dropped) == 1 and "127.0.0.1" in dropped[0], page_lines(caplog)


# ---- a flood is paced: the page's thread cannot take the interpreter from the render thread ------

FLOOD = """
import json, sys
from websockets.sync.client import connect
with connect(sys.argv[1], open_timeout=30) as ws:
    for i in range(int(sys.argv[2])):
        ws.send(json.dumps({"command": "SetParam", "args": {"name": "speed", "value": (i % 100) / 100}}))
    ws.send(json.dumps({"command": "Pause"}))
    ws.recv(timeout=60)  # the hello: the flood is all out
"""


def test_a_websocket_flood_is_paced_so_the_page_never_takes_the_render_threads_time(served):
    server, recorder = served()
    flood = subprocess.Popen([sys.executable, "-c", FLOOD, f"ws://127.0.0.1:{server.address[1]}/ws", "3000"])
    try:
        wait_for(lambda: recorder.commands(c.Pause), "the flood to be all taken in", timeout=120)
    finally:
        flood.kill()
        flood.wait()
    times = [t for t, cmd, _ in recorder.got if isinstance(cmd, (c.SetParam, c.Pause))]
    assert len(times) == 3001  # none lost: the flood waited in its own socket
    worst, first = 0, 0
    for last, t in enumerate(times):  # the most taken in within any one second
        while t - times[first] >= 1.0:
            first += 1
        worst = max(worst, last - first + 1)
    assert worst <= page_module.INTAKE_HZ + page_module.INTAKE_BURST, worst  # at most that much work in any second


# ---- token guesses ------------------------------------------------------------------------------


def test_token_guesses_lock_the_address_out_with_one_log_line_per_interval(served, caplog):
    caplog.set_level(logging.WARNING)
    server, _ = served("127.0.0.2")  # beyond 127.0.0.1: the token is required
    port = server.address[1]
    statuses = [raw_http(server.address, [f"GET /?token=guess{i} HTTP/1.1", f"Host: 127.0.0.2:{port}",
                                          "Connection: close"], source="127.0.0.5")[0] for i in range(200)]
    assert statuses[:page_module.TOKEN_TRIES] == [403] * page_module.TOKEN_TRIES
    assert set(statuses[page_module.TOKEN_TRIES:]) == {429}
    assert server.counters.limited == 200 - page_module.TOKEN_TRIES and server.report()["limited"] == 195
    right = [f"GET /?token={server.token} HTTP/1.1", f"Host: 127.0.0.2:{port}", "Connection: close"]
    assert raw_http(server.address, right, source="127.0.0.5")[0] == 429  # locked out: even the right one waits
    assert raw_http(server.address, right, source="127.0.0.6")[0] == 200  # another address is not
    lines = page_lines(caplog)
    assert len(lines) <= 4, lines  # 403 once, the lockout, 429 once (not 200 lines)
    assert any("5 wrong tokens" in line and "127.0.0.5" in line for line in lines)


# ---- requests that cannot be read ---------------------------------------------------------------


@pytest.mark.parametrize("lines", [
    ["GET / HTTP/1.1", "Host: 127.0.0.1", "Host: evil.example"],
    ["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Origin: http://a", "Origin: http://b", "Upgrade: websocket",
     "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"],
    ["GET /ws HTTP/1.1", "Host: 127.0.0.1", "Origin: http://[oops", "Upgrade: websocket", "Connection: Upgrade",
     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"],
    ["GET //[x HTTP/1.1", "Host: 127.0.0.1"],
], ids=["two-hosts", "two-origins", "bad-origin", "bad-path"])
def test_a_request_that_cannot_be_read_is_a_400_with_one_line(served, caplog, lines):
    caplog.set_level(logging.DEBUG)
    server, _ = served()
    status, body = raw_http(server.address, lines + ["Connection: close"])
    assert status == 400 and body.count(b"\n") == 1 and body.startswith(b"400 bad request"), body
    assert server.counters.malformed == 1 and server.clients == 0
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]  # no traceback, no 500
    assert len([line for line in page_lines(caplog) if "bad request" in line]) == 1


# ---- any JSON value in any field: a reply, never a drop -----------------------------------------

HOSTILE = [10 ** 400, -(10 ** 400), 1e400, 2 ** 63, "x" * 5000, "", [], [1] * 3, {}, {"a": 1}, None, True,
           -0.0, 3.5, [[[[[[[[]]]]]]]]]


def test_any_json_value_of_a_wrong_type_or_size_in_any_field_is_a_reply_never_a_drop(served):
    from websockets.sync.client import connect

    server, recorder = served()
    with connect(f"ws://127.0.0.1:{server.address[1]}/ws", open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=30))["type"] == "hello"

        def reply() -> dict | None:
            """The next answer to a message (state and pictures are skipped); None: accepted."""
            while True:
                try:
                    message = ws.recv(timeout=0.5 if accepted_ok else 30)
                except TimeoutError:
                    return None
                if isinstance(message, str) and json.loads(message)["type"] == "error":
                    return json.loads(message)

        sent = 0
        for cls in PAGE_COMMANDS:
            for field in c.arguments(cls):
                for value in HOSTILE:
                    text = json.dumps({"command": cls.__name__, "args": {field.name: value}})
                    before = len(recorder.got)
                    ws.send(text)
                    sent += 1
                    accepted_ok = True
                    answer = wait_for(lambda: len(recorder.got) > before or reply(), f"{cls.__name__} {value!r:.40}")
                    if isinstance(answer, dict):
                        assert answer["message"].startswith(cls.__name__), answer
        huge = json.dumps({"command": "SetParam", "args": {"name": "speed", "value": int("9" * 400)}})
        accepted_ok = False
        for text in (huge, "[" * 5000 + "]" * 5000, '{"command": ' * 3000, '"\\ud800"', "1e999"):
            ws.send(text)
            assert reply() is not None, text[:40]
        ws.send(huge)
        assert reply()["message"] == "SetParam: speed must be within [-1000, 1000], got a 400-digit number"
        ws.send(json.dumps({"command": "SetParam", "args": {"name": "speed", "value": 0.25}}))  # the connection is still there
        wait_for(lambda: c.SetParam("speed", 0.25) in recorder.commands(c.SetParam), "a good command after all that")
    assert server.counters.dropped == 0 and sent == len(HOSTILE) * sum(len(c.arguments(cls)) for cls in PAGE_COMMANDS)


# ---- OSC: unsupported type tags and other per-packet lines --------------------------------------


def test_unsupported_osc_type_tags_are_refused_with_one_line_per_sender(caplog):
    caplog.set_level(logging.WARNING)
    recorder = Recorder()
    osc = OscServer(recorder, StateBoard(), host="127.0.0.1", port=0, allow=["127.0.0.0/29"]).start()
    char = b"/stylevj/speed\x00\x00,c\x00\x00\x00\x00\x00A"  # 'c' (an OSC char): python-osc cannot read it
    bundle = b"#bundle\x00" + bytes(8) + len(char).to_bytes(4, "big") + char
    senders = []
    try:
        for source in ("127.0.0.2", "127.0.0.3", "127.0.0.9"):  # .9 is outside the allow-list
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((source, 0))
            senders.append(s)
        for i in range(150):
            for s in senders:
                s.sendto(char if i % 2 else bundle, osc.address)
        wait_for(lambda: osc.counters.rejected + osc.counters.blocked_senders == 450, "every packet handled")
        assert osc.counters.rejected == 300 and osc.counters.blocked_senders == 150
        senders[0].sendto(osc_message("/stylevj/speed", 0.5), osc.address)
        wait_for(lambda: recorder.commands(c.SetParam), "a good message after them")
    finally:
        for s in senders:
            s.close()
        osc.stop()
    lines = [r.getMessage() for r in caplog.records]
    assert not [line for line in lines if "Unhandled parameter type" in line]
    mine = [line for line in lines if line.startswith("OSC")]
    assert len(mine) == 3, mine  # one per sender: .2 and .3 refused, .9 blocked
    assert sum("unsupported argument type 'c'" in line for line in mine) == 2


# ---- the page's counters are in /stylevj/state --------------------------------------------------


def test_the_session_puts_the_pages_counters_into_the_osc_state(served):
    from realtime.session import ShowSession

    page, _ = served()
    osc = OscServer(Recorder(), StateBoard(), port=0)
    try:
        ShowSession(object(), osc=osc, page=page)  # links them; nothing starts
        page.counters.dropped = 3
        assert osc.reports["page"]()["dropped"] == 3
    finally:
        osc.sock.close()


# ---- the URL a phone can use --------------------------------------------------------------------


def test_the_address_chosen_for_a_phone_is_never_loopback():
    here = interface_addresses()
    assert ("lo", "127.0.0.1") in here  # real data from the kernel
    assert choose_address([a for _, a in here if a.startswith("127.")]) is None
    assert choose_address(["127.0.0.1", "169.254.3.4", "0.0.0.0", "10.1.2.3"]) == "10.1.2.3"
    assert choose_address(["169.254.3.4", "nonsense"]) == "169.254.3.4"


NAMESPACE = """
ip link set lo up
{extra}
python -c '
from realtime.control.page import PageServer
from realtime.show import Folders, StateBoard
page = PageServer(lambda c, o: True, StateBoard(), Folders.beside(__import__("pathlib").Path("/tmp")), host="0.0.0.0",
                  port=8765, token="T")
print("URL", page.phone_url)
print(page.invitation())
'
"""
VETH = "ip link add v0 type veth peer name v1 && ip addr add 10.9.8.7/24 dev v0 && ip link set v0 up && ip link set v1 up"


@pytest.mark.skipif(not shutil.which("unshare") or os.geteuid() != 0, reason="needs root and unshare for a network namespace")
def test_bound_to_every_address_without_a_default_route_the_url_is_a_lan_address(tmp_path):
    def run(extra: str) -> str:
        done = subprocess.run(["unshare", "-n", "sh", "-c", textwrap.dedent(NAMESPACE.format(extra=extra))],
                              capture_output=True, text=True, timeout=120, cwd=REPO)
        if done.returncode and "Operation not permitted" in done.stderr:
            pytest.skip("network namespaces are not permitted here")
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    lan = run(VETH)  # an interface with an address and no default route (a stage network without a gateway)
    assert "URL http://10.9.8.7:8765/?token=T" in lan and "127.0.0.1" not in lan
    alone = run("")  # loopback only: say so in one line, no QR code of 127.0.0.1
    assert "URL None" in alone
    message = alone.split("URL None\n", 1)[1].strip()
    assert "\n" not in message and "no network address besides loopback" in message
    assert "▀" not in alone and "█" not in alone
