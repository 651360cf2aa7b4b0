"""MIDI CC to applied: display refreshes from a controller's CC leaving its port to the knob it
drives applied, as the OSC row measures OSC (target: at most 2 refreshes).

The controller is a real virtual port made here (rtmidi) and the show's own MIDI adapter listens
to it, so the figure holds the backend's transport, the adapter's poll and the show's frame
boundary. The backend: the platform's own (ALSA on Linux) when it can start, else a running JACK
server, else a JACK server of our own on the dummy backend (`private_jack`, also what the tests
run on); without any of them the row says why. JACK's dummy backend runs 256-frame periods at
48 kHz (5.3 ms): a CC waits for the next period, as it would behind a sound card. The note also
gives the transport alone: ms from a CC sent to the adapter having decoded it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import time
from typing import Iterator

from .results import Row

CONTROLLER = "bench-controller"  # the virtual controller's client name (not stylevj's: the adapter opens it)
JACK_PERIOD = 256  # frames per period of the private server, at 48 kHz
CC = 20  # the control the bench moves, mapped to truncation for the run


@contextlib.contextmanager
def private_jack(name: str, timeout: float = 20.0) -> Iterator[None]:
    """A JACK server of our own on the dummy backend (no sound card), named `name` and made the
    default for this process (JACK_DEFAULT_SERVER) while the block runs; MidiError when jackd or
    python-rtmidi's JACK API is missing or the server does not start.

    Synchronous mode (--sync): each period waits for every client, so a loaded machine makes
    periods late instead of skipping a late client's period; asynchronous JACK drops the MIDI of a
    client that missed its period, and a test or bench process is such a client when the CPU is
    busy (the client timeout is long for the same reason)."""
    from ..control.midi_ports import MidiError, load_rtmidi, open_client

    if shutil.which("jackd") is None:
        raise MidiError("no JACK server to start: jackd is not installed (apt-get install jackd2)")
    load_rtmidi("jack")  # the binding and its JACK API, before starting anything
    old = os.environ.get("JACK_DEFAULT_SERVER")
    os.environ["JACK_DEFAULT_SERVER"] = name
    server = subprocess.Popen(["jackd", "--sync", "--timeout", "5000", "--no-realtime", "-d", "dummy", "-r", "48000",
                               "-p", str(JACK_PERIOD)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                open_client("jack").delete()
                break
            except MidiError as exc:
                if server.poll() is not None:
                    raise MidiError(f"jackd would not start here (exit status {server.returncode})") from None
                if time.monotonic() > deadline:
                    raise MidiError(f"jackd did not answer within {timeout:g} s ({exc})") from None
                time.sleep(0.05)
        yield
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if old is None:
            os.environ.pop("JACK_DEFAULT_SERVER", None)
        else:
            os.environ["JACK_DEFAULT_SERVER"] = old


def midi_backend(stack: contextlib.ExitStack) -> str:
    """The MIDI API a virtual controller can use here: the platform's own, a running JACK server,
    or a private JACK server entered on `stack`; a MidiError saying what each lacked."""
    from ..control.midi_ports import MidiError, default_api, open_client

    problems = []
    for api in dict.fromkeys((default_api(), "jack")):
        try:
            open_client(api, output=True).delete()
            return api
        except MidiError as exc:
            problems.append(str(exc))
    try:
        stack.enter_context(private_jack(f"stylevj-bench-{os.getpid()}"))
        return "jack"
    except MidiError as exc:
        problems.append(str(exc))
    raise MidiError("; ".join(problems))


def midi_latency(show, source: str, G, trials: int = 30) -> Row:
    """Display refreshes from a CC sent on a virtual controller to `truncation` applied (60 Hz
    pace), through the show's MIDI adapter; one row saying why when no MIDI backend runs here."""
    from ..control import MidiAdapter
    from ..control.midi_ports import MidiError, load_rtmidi
    from ..params import param
    from ..show.commands import MidiForget, MidiMap

    with contextlib.ExitStack() as stack:
        try:
            api = midi_backend(stack)
            rtmidi, number = load_rtmidi(api)
            controller = rtmidi.MidiOut(rtapi=number, name=CONTROLLER)
            stack.callback(controller.delete)
            controller.open_virtual_port("controller")
        except (MidiError, OSError) as exc:  # rtmidi's errors are OSErrors: a backend without virtual ports
            return _unmeasured(source, G, f"skipped: {exc}")
        adapter = MidiAdapter(show.submit, show.board, inputs=CONTROLLER, api=api, now=show.clock, rescan_s=0.1).start()
        stack.callback(adapter.stop)
        if not _until(show, lambda s: any(CONTROLLER in name for name in s.midi.inputs), 10.0):
            problem = show.board.latest().midi.problem
            return _unmeasured(source, G, f"skipped: the MIDI adapter did not open the virtual controller ({problem})")
        mapping = MidiMap("truncation", "cc", CC, port=CONTROLLER)
        show.submit(mapping, "bench")
        stack.callback(show.submit, MidiForget("truncation"), "bench")
        _until(show, lambda s: mapping.mapping() in s.midi.mappings, 5.0)
        truncation = param("truncation")
        low, high = truncation.low, truncation.high
        start = round((show.player.truncation - low) / (high - low) * 127)  # where the knob is: pickup takes it
        controller.send_message([0xB0, CC, start])
        if not _until(show, lambda s: s.params.truncation == truncation(low + (high - low) * start / 127), 5.0):
            return _unmeasured(source, G, f"failed: the CC did not take truncation over (it is {show.player.truncation:g})")
        frames, walls, missed = [], [], 0
        for _ in range(trials):
            value = (start + 5) % 128  # a new position each time
            target = truncation(low + (high - low) * value / 127)
            before, sent = show.stats.refreshes, time.perf_counter()
            controller.send_message([0xB0, CC, value])
            deadline = sent + 1.0
            while abs(show.player.truncation - target) > 1e-4 and time.perf_counter() < deadline:
                _paced_step(show)
            missed += abs(show.player.truncation - target) > 1e-4
            walls.append((time.perf_counter() - sent) * 1000)
            frames.append(float(show.stats.refreshes - before))
            start = value
        transport = _transport_ms(controller, adapter, trials)
    median = statistics.median(frames)
    return Row("midi->applied", source, str(G.device), "frames", 1, len(frames), median, min(frames), 0.0,
               f"display refreshes from a CC sent on a virtual {api} port to applied (max {max(frames):.0f}"
               f"{f', {missed} not applied within 1 s' if missed else ''}), {statistics.median(walls):.1f} ms; "
               f"of that, the port to the adapter: {transport}; ms columns are frames here")


def _unmeasured(source: str, G, why: str) -> Row:
    """The row when nothing could be measured, saying why (at most 200 characters)."""
    return Row("midi->applied", source, str(G.device), "frames", 1, 0, 0.0, 0.0, 0.0, why[:200])


def _transport_ms(controller, adapter, trials: int) -> str:
    """Median and max ms from a CC sent to the adapter having decoded it (the backend's period
    and the adapter's poll), the show not refreshing meanwhile; CC 119, mapped to nothing."""
    times = []
    for n in range(trials):
        heard, sent = adapter.received, time.perf_counter()
        controller.send_message([0xB0, 119, n % 128])
        while adapter.received == heard and time.perf_counter() - sent < 0.5:
            time.sleep(0.0002)
        if adapter.received != heard:
            times.append((time.perf_counter() - sent) * 1000)
    if not times:
        return "nothing decoded within 0.5 s"
    return f"{statistics.median(times):.1f} ms median, {max(times):.1f} max"


def _until(show, condition, seconds: float) -> bool:
    """Refresh the show at its pace until `condition(state)` holds; False after `seconds`."""
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        state = show.board.latest()
        if state is not None and condition(state):
            return True
        _paced_step(show)
    return False


def _paced_step(show) -> None:
    tick = time.perf_counter()
    show.step()
    show.surface.ctx.finish()
    time.sleep(max(0.0, 1 / 60 - (time.perf_counter() - tick)))
