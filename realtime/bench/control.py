"""The adapters' cost to the show: the paced loop with the operator page open (thumbnails
streaming), and display refreshes from an OSC message to its change applied."""

from __future__ import annotations

import statistics
import time

from .pacing import paced_loop
from .results import Row


def page_loop(show, seconds: float, source: str, G) -> Row:
    """The paced loop with the operator page open (compare late refreshes with the `loop` row):
    a WebSocket client takes the state and the thumbnails; the note says what a thumbnail costs
    the render thread (shrink + copy queued) and the page thread (JPEG)."""
    import threading

    from websockets.sync.client import connect

    from ..control import PageServer

    page = PageServer(show.submit, show.board, show.folders, port=0).start()
    tap, stop, received = show.thumbnail_tap, threading.Event(), {"state": 0, "jpeg": 0}
    cost0, taken0 = tap.cost_ms, tap.taken

    def watch() -> None:
        with connect(f"ws://{page.address[0]}:{page.address[1]}/ws") as ws:
            while not stop.is_set():
                try:
                    received["jpeg" if isinstance(ws.recv(timeout=0.2), bytes) else "state"] += 1
                except TimeoutError:
                    continue

    reader = threading.Thread(target=watch, name="bench-page", daemon=True)
    reader.start()
    try:
        deadline = time.perf_counter() + 10.0
        while received["jpeg"] == 0 and time.perf_counter() < deadline:  # thumbnails flowing
            show.step()
            time.sleep(1 / 60)
        jpeg0, jpeg_ms0 = page.counters.thumbnails, page.counters.jpeg_ms
        row = paced_loop(show, "loop+page", seconds, source, G)
        taken, jpegs = max(tap.taken - taken0, 1), max(page.counters.thumbnails - jpeg0, 1)
        row.note += (f"; page open: {tap.taken - taken0} thumbnails, render thread {(tap.cost_ms - cost0) / taken:.2f} ms "
                     f"each, JPEG {(page.counters.jpeg_ms - jpeg_ms0) / jpegs:.2f} ms each on the page thread, "
                     f"{received['state']} state messages")
    finally:
        stop.set()
        reader.join(timeout=5)
        page.stop()
        show.step()
    return row


def osc_latency(show, source: str, G, trials: int = 30) -> Row:
    """Display refreshes from an OSC message leaving a socket to its change applied (60 Hz pace)."""
    import socket

    from pythonosc.osc_message_builder import OscMessageBuilder

    from ..control import OscServer

    osc = OscServer(show.submit, show.board, port=0).start()
    frames: list[float] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            for i in range(trials):
                value = 0.5 + 0.01 * i
                builder = OscMessageBuilder(address="/stylevj/truncation")
                builder.add_arg(value)
                start = show.stats.refreshes
                client.sendto(builder.build().dgram, osc.address)
                deadline = time.perf_counter() + 1.0
                while abs(show.player.truncation - value) > 1e-4 and time.perf_counter() < deadline:
                    tick = time.perf_counter()
                    show.step()
                    show.surface.ctx.finish()
                    time.sleep(max(0.0, 1 / 60 - (time.perf_counter() - tick)))
                frames.append(float(show.stats.refreshes - start))
    finally:
        osc.stop()
    median = statistics.median(frames)
    return Row("osc->applied", source, str(G.device), "frames", 1, len(frames), median, min(frames), 0.0,
               f"display refreshes from send to applied (max {max(frames):.0f}); ms columns are frames here")
