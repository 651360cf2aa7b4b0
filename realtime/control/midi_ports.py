"""MIDI ports through python-rtmidi: the backend by name, the ports there are, and the ones open.

    ports = MidiPorts("alsa", inputs="nanoKONTROL", output="nanoKONTROL")
    ports.rescan()        # each second, on the MIDI thread: opens what appeared, closes what vanished
    for port, data, age in ports.take(): ...   # what arrived since (age: seconds before now)

`--midi-in NAME` is a part of the port's name (case does not matter) or `all`; `--midi-out NAME`
the same, for one output. A controller unplugged and plugged back in is found again by the next
rescan. A name that matches nothing, or a backend that cannot start (the extra not installed, no
ALSA sequencer, no JACK server), is one line naming the ports there are; the show runs on and
the rescans keep looking. stylevj's own ports (its clients are named "stylevj") are never
opened as inputs, so `all` never hears its own feedback.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from ..choices import MIDI_APIS
from ..errors import StylevjError

log = logging.getLogger(__name__)

APIS = dict(zip(MIDI_APIS, ("API_LINUX_ALSA", "API_UNIX_JACK", "API_MACOSX_CORE", "API_WINDOWS_MM")))
CLIENT = "stylevj"  # the name our rtmidi clients carry (JACK makes it stylevj-01, ...)
ALL = "all"

QUEUE = 16384  # messages rtmidi keeps per input between two takes (a flood of a few seconds)


class MidiError(StylevjError):
    """MIDI cannot be used as asked: no backend, or no such port. One line, naming what there is."""


def default_api() -> str:
    """The platform's own MIDI: ALSA on Linux, CoreMIDI on macOS, Windows MultiMedia on Windows."""
    return {"darwin": "coremidi", "win32": "winmm"}.get(sys.platform, "alsa")


def load_rtmidi(api: str) -> tuple[Any, int]:
    """The rtmidi module and the number of `api`, or a MidiError saying what is missing."""
    if api not in APIS:
        raise MidiError(f"--midi-api {api}: not a MIDI API (choose from {', '.join(APIS)})")
    try:
        import rtmidi
    except ImportError:
        raise MidiError("MIDI needs the midi extra: pip install 'stylevj[midi]' (mido, python-rtmidi)") from None
    number = getattr(rtmidi, APIS[api])
    if number not in rtmidi.get_compiled_api():
        built = ", ".join(name for name, attr in APIS.items() if getattr(rtmidi, attr) in rtmidi.get_compiled_api())
        raise MidiError(f"MIDI API {api} is not built into python-rtmidi here (it has: {built or 'none'})")
    return rtmidi, number


def open_client(api: str, output: bool = False) -> Any:
    """An rtmidi MidiIn (or MidiOut) client on `api`, or a MidiError: the backend cannot start."""
    rtmidi, number = load_rtmidi(api)
    try:
        if output:
            return rtmidi.MidiOut(rtapi=number, name=CLIENT)
        return rtmidi.MidiIn(rtapi=number, name=CLIENT, queue_size_limit=QUEUE)
    except (rtmidi.RtMidiError, OSError) as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        others = [name for name, attr in APIS.items() if name != api and getattr(rtmidi, attr) in rtmidi.get_compiled_api()]
        hint = f" (other MIDI APIs here: {', '.join(f'--midi-api {o}' for o in others)})" if others else ""
        raise MidiError(f"MIDI ({api}) cannot start: {why.rstrip('.')}{hint}") from None


def list_ports(api: str) -> tuple[list[str], list[str]]:
    """(inputs, outputs) on `api`, without stylevj's own; a MidiError when the backend cannot start."""
    listers = open_client(api), open_client(api, output=True)
    try:
        return tuple([n for n in lister.get_ports() if not ours(n)] for lister in listers)  # type: ignore[return-value]
    finally:
        for lister in listers:
            lister.delete()


def ours(name: str) -> bool:
    return name.startswith(CLIENT)


def wanted_problem(wanted: object) -> str | None:
    """Why `wanted` cannot name ports (--midi-in, --midi-out), or None: it must be part of a
    port's name or `all`; an empty one would match every port, loop-backs included."""
    if not isinstance(wanted, str):
        return f"must be part of a port's name, got {type(wanted).__name__}"
    if not wanted.strip():
        return f"needs part of a port's name, or all (see 'stylevj midi ports'), got {wanted!r}"
    if len(wanted) > 256 or not wanted.isprintable():
        return f"must be one printable line of at most 256 characters, got {wanted[:40]!r}"
    return None


def matching(names: list[str], wanted: str) -> list[str]:
    """The ports `wanted` names: all of them for `all` (but loop-back 'Through' ports), else those
    whose name holds it (case does not matter)."""
    if wanted.lower() == ALL:
        return [n for n in names if "through" not in n.lower()]
    return [n for n in names if wanted.lower() in n.lower()]


def open_named(client: Any, name: str, label: str) -> None:
    """Open the port called `name` on `client`. rtmidi opens by index, and an index is only
    good in the list of the client that opens: the listed names leave out stylevj's own ports, and
    ports come and go between two listings."""
    names = client.get_ports()
    if name not in names:
        raise MidiError(f"{name} is gone")
    client.open_port(names.index(name), label)


def no_match(direction: str, wanted: str, names: list[str]) -> str:
    return f"no MIDI {direction} port matches '{wanted}' (ports: {', '.join(names) or 'none'})"


class MidiPorts:
    """The ports asked for, kept open across unplugging: `rescan()` and `take()` on the MIDI thread.

    Messages wait in rtmidi's own queue (C++) until taken: no Python runs on the backend's
    real-time thread, so a busy interpreter never stalls the MIDI system (JACK's cycle) and loses
    messages there."""

    def __init__(self, api: str, inputs: str | None, output: str | None) -> None:
        self.api, self.wanted_in, self.wanted_out = api, inputs, output
        self.inputs: dict[str, Any] = {}  # port name -> open MidiIn
        self.output: tuple[str, Any] | None = None
        self.problem = ""
        self._listers: tuple[Any, Any] | None = None

    def rescan(self) -> bool:
        """Open what now matches, close what vanished; True when the open ports or the problem changed."""
        before = (tuple(self.inputs), self.output and self.output[0], self.problem)
        try:
            if self._listers is None:
                self._listers = open_client(self.api), open_client(self.api, output=True)
            names_in = [n for n in self._listers[0].get_ports() if not ours(n)]
            names_out = [n for n in self._listers[1].get_ports() if not ours(n)]
        except MidiError as exc:
            self._close_all()
            self.problem = str(exc)
        except Exception as exc:  # a backend that died under us (a JACK server gone): start again next time
            self._close_all()
            self.problem = f"MIDI ({self.api}): {type(exc).__name__}: {exc}"
        else:
            problems = [self._scan_inputs(names_in), self._scan_output(names_out)]
            self.problem = "; ".join(p for p in problems if p)
        changed = before != (tuple(self.inputs), self.output and self.output[0], self.problem)
        if changed and self.problem and self.problem != before[2]:
            log.warning("%s; the show runs on and keeps looking", self.problem)
        return changed

    def _scan_inputs(self, names: list[str]) -> str:
        if self.wanted_in is None:
            return ""
        for name in [n for n in self.inputs if n not in names]:  # unplugged
            log.warning("MIDI in: %s is gone (it is opened again when it comes back)", name)
            self._close(self.inputs.pop(name))
        for name in matching(names, self.wanted_in):
            if name not in self.inputs:
                port = self._open_input(name)
                if port is not None:
                    self.inputs[name] = port
                    log.info("MIDI in: %s", name)
        return "" if self.inputs else no_match("input", self.wanted_in, names)

    def _open_input(self, name: str) -> Any:
        client = None
        try:
            client = open_client(self.api)
            # SysEx is kept for the decoder, which skips it: it ends running status, which a decoder
            # that never saw it would carry on into a broken controller's stray data bytes. Clock is
            # kept: the beat follows it.
            client.ignore_types(sysex=False, timing=False, active_sense=True)
            open_named(client, name, f"in {len(self.inputs) + 1}")
            return client
        except Exception as exc:  # the port vanished between listing and opening: the next rescan sees
            log.warning("MIDI in: cannot open %s (%s)", name, exc)
            if client is not None:
                self._close(client)
            return None

    def _scan_output(self, names: list[str]) -> str:
        if self.wanted_out is None:
            return ""
        if self.output is not None and self.output[0] not in names:
            log.warning("MIDI out: %s is gone (it is opened again when it comes back)", self.output[0])
            self._close(self.output[1])
            self.output = None
        found = matching(names, self.wanted_out)
        if self.output is None and found:
            try:
                client = open_client(self.api, output=True)
                open_named(client, found[0], "feedback")
                self.output = (found[0], client)
                log.info("MIDI out: %s (feedback)", found[0])
            except Exception as exc:
                log.warning("MIDI out: cannot open %s (%s)", found[0], exc)
        return "" if self.output is not None else no_match("output", self.wanted_out, names)

    def take(self) -> list[tuple[str, list, float]]:
        """What arrived on every input since the last take, in order per port: (port, bytes, age),
        age the seconds between its arrival and the newest message of its port (rtmidi's deltas)."""
        taken = []
        for name, client in self.inputs.items():
            got = []
            while True:
                try:
                    event = client.get_message()
                except Exception:  # a port whose backend died: the next rescan closes it
                    break
                if event is None:
                    break
                got.append(event)
            age = 0.0
            for data, delta in reversed(got):
                taken.append((name, data, age))
                age += delta
        taken.reverse()
        return taken

    def send(self, data: list[int]) -> bool:
        """Send one message on the feedback output; False when none is open (or it failed)."""
        if self.output is None:
            return False
        try:
            self.output[1].send_message(data)
            return True
        except Exception as exc:  # unplugged mid-send: the next rescan closes it
            log.debug("MIDI out: %s", exc)
            return False

    def _close(self, client: Any) -> None:
        try:
            if hasattr(client, "cancel_callback"):  # an input: no callback runs while it closes
                client.cancel_callback()
            client.close_port()
            client.delete()
        except Exception as exc:  # closing a port whose backend died: nothing left to release
            log.debug("MIDI: closing a port: %s", exc)

    def _close_all(self) -> None:
        for client in self.inputs.values():
            self._close(client)
        self.inputs = {}
        if self.output is not None:
            self._close(self.output[1])
            self.output = None
        if self._listers is not None:
            for lister in self._listers:
                self._close(lister)
            self._listers = None

    def close(self) -> None:
        self._close_all()
