"""MIDI bytes as messages: what a port delivers, read the way the MIDI 1.0 spec says, and no further.

    decoder = MidiDecoder()
    for message in decoder.feed([0xB0, 7, 100, 8, 20]):   # running status: two CCs
        ...                                                 # MidiMessage("cc", channel=1, number=7, value=100), ...

Running status is kept per port (one decoder per port); real-time bytes (clock, start, stop,
continue) may arrive anywhere, even inside another message, and leave it whole. System
exclusive is skipped whole, however long. Data bytes with no status before them, a message cut
short by the next status, and unknown status bytes are dropped: a broken controller's bytes
never become a message they were not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

CHANNEL_DATA = {0x80: 2, 0x90: 2, 0xA0: 2, 0xB0: 2, 0xC0: 1, 0xD0: 1, 0xE0: 2}  # data bytes per channel status
SYSTEM_DATA = {0xF1: 1, 0xF2: 2, 0xF3: 1}  # system common: quarter frame, song position, song select
REAL_TIME = {0xF8: "clock", 0xFA: "start", 0xFB: "continue", 0xFC: "stop"}
SYSEX, SYSEX_END = 0xF0, 0xF7
STATUS = re.compile(rb"[\x80-\xff]")  # where a SysEx body ends: the next status (or real-time) byte


@dataclass(frozen=True)
class MidiMessage:
    """One message a controller or clock sent. `kind`: cc, note_on, note_off, pitchbend (value
    0..16383, 8192 the centre), or a clock message (clock, start, stop, continue, songpos: value
    in sixteenth notes). `channel` 1..16 (0 for system messages)."""

    kind: str
    channel: int = 0
    number: int = 0
    value: int = 0

    @property
    def clock(self) -> bool:
        return self.channel == 0


class MidiDecoder:
    """Bytes from one port in, messages out; keeps running status and skips system exclusive."""

    def __init__(self) -> None:
        self._status: int | None = None  # the status data bytes belong to (running status)
        self._data: list[int] = []
        self._sysex = False

    def feed(self, data: Iterable[int]) -> list[MidiMessage]:
        out: list[MidiMessage] = []
        raw = _bytes(data)
        at, end = 0, len(raw)
        while at < end:
            if self._sysex:  # a SysEx body (a dump may be kilobytes) is skipped at C speed
                found = STATUS.search(raw, at)
                if found is None:
                    break
                at = found.start()
            byte = raw[at]
            at += 1
            if byte >= 0xF8:  # real time: anywhere, changes nothing else
                kind = REAL_TIME.get(byte)
                if kind is not None:
                    out.append(MidiMessage(kind))
                continue
            if byte >= 0x80:
                self._sysex = byte == SYSEX
                self._status = byte if (byte < 0xF0 or byte in SYSTEM_DATA) else None
                self._data = []
                continue
            if self._sysex or self._status is None:
                continue  # inside system exclusive, or a stray data byte
            self._data.append(byte)
            status = self._status
            needed = CHANNEL_DATA.get(status & 0xF0) if status < 0xF0 else SYSTEM_DATA[status]
            if len(self._data) < needed:
                continue
            message = _message(status, self._data)
            self._data = []
            if status >= 0xF0:
                self._status = None  # system common ends running status
            if message is not None:
                out.append(message)
        return out


def _bytes(data: Iterable[int]) -> bytes:
    """A port's bytes as `bytes`; values that are not bytes (no port sends them) are dropped."""
    items = data if isinstance(data, (bytes, list, tuple)) else list(data)
    try:
        return bytes(items)
    except (ValueError, TypeError):
        return bytes(b for b in items if isinstance(b, int) and 0 <= b <= 0xFF)


def _message(status: int, data: list[int]) -> MidiMessage | None:
    kind, channel = status & 0xF0, (status & 0x0F) + 1
    if kind == 0xB0:
        return MidiMessage("cc", channel, data[0], data[1])
    if kind == 0x90:
        return MidiMessage("note_on" if data[1] else "note_off", channel, data[0], data[1])
    if kind == 0x80:
        return MidiMessage("note_off", channel, data[0], data[1])
    if kind == 0xE0:
        return MidiMessage("pitchbend", channel, 0, data[0] | data[1] << 7)
    if status == 0xF2:
        return MidiMessage("songpos", 0, 0, data[0] | data[1] << 7)
    return None  # aftertouch, program change, quarter frames: nothing here uses them


def encode(kind: str, channel: int, number: int, value: int) -> list[list[int]]:
    """The bytes that set a controller's `kind` control to `value` (feedback): cc (0..127), cc14
    (0..16383: coarse CC then fine CC+32), note (velocity: 0 is note off), pitchbend (0..16383)."""
    ch = (channel - 1) & 0x0F
    if kind == "cc":
        return [[0xB0 | ch, number, value & 0x7F]]
    if kind == "cc14":
        return [[0xB0 | ch, number, value >> 7 & 0x7F], [0xB0 | ch, number + 32, value & 0x7F]]
    if kind == "note":
        return [[0x90 | ch, number, value & 0x7F]]
    return [[0xE0 | ch, value & 0x7F, value >> 7 & 0x7F]]
