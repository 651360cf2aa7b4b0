"""MIDI knobs to stylevj over OSC: CC 1 -> speed, CC 2 -> truncation, CC 16 -> control 'smile', notes -> keyframes.

    pip install -e '.[midi]'          # mido + python-rtmidi
    python examples/midi_bridge.py --list
    python examples/midi_bridge.py --port "nanoKONTROL2" --osc 127.0.0.1:9000

Edit CONTROLS to fit your controller. A knob's 0..127 is mapped linearly onto the range given.
A preset's [[controls]] (knobs with meaning: a latent direction or a bend) take
`/stylevj/control/<name>/unit 0..1`, a fraction of the control's own range, so a knob needs
no numbers from the preset: map it onto 0..1 and rename 'smile' to your control.
"""

from __future__ import annotations

import argparse
import sys

from pythonosc.udp_client import SimpleUDPClient

# CC number -> (OSC address, low, high)
CONTROLS: dict[int, tuple[str, float, float]] = {
    1: ("/stylevj/speed", 0.0, 2.0),
    2: ("/stylevj/truncation", 0.3, 1.2),
    3: ("/stylevj/alpha", 0.0, 1.0),
    4: ("/stylevj/overlay/opacity", 0.0, 1.0),
    16: ("/stylevj/control/smile/unit", 0.0, 1.0),  # the whole range of the preset's control 'smile'
}
NOTE_GOTO_BASE = 36  # note 36 (C1) -> keyframe 0, 37 -> keyframe 1, ...


def translate(kind: str, number: int, value: int) -> tuple[str, list] | None:
    """One MIDI event as an OSC message (address, args), or None when it means nothing."""
    if kind == "control_change" and number in CONTROLS:
        address, low, high = CONTROLS[number]
        return address, [low + (high - low) * min(max(value, 0), 127) / 127.0]
    if kind == "note_on" and value > 0 and number >= NOTE_GOTO_BASE:
        return "/stylevj/goto/keyframe", [number - NOTE_GOTO_BASE]
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", help="MIDI input port (part of its name)")
    parser.add_argument("--osc", default="127.0.0.1:9000", help="stylevj's OSC host:port")
    parser.add_argument("--list", action="store_true", help="list MIDI inputs and exit")
    args = parser.parse_args()
    try:
        import mido
    except ImportError:
        print("midi_bridge: install the MIDI extra first: pip install -e '.[midi]'", file=sys.stderr)
        return 2
    names = mido.get_input_names()
    if args.list or not args.port:
        print("\n".join(names) or "no MIDI inputs found")
        return 0
    matches = [n for n in names if args.port.lower() in n.lower()]
    if not matches:
        print(f"midi_bridge: no MIDI input matching {args.port!r} (have: {', '.join(names) or 'none'})", file=sys.stderr)
        return 2
    host, _, port = args.osc.rpartition(":")
    client = SimpleUDPClient(host, int(port))
    with mido.open_input(matches[0]) as midi:
        print(f"{matches[0]} -> osc://{host}:{port} (Ctrl-C to stop)")
        for msg in midi:
            number = getattr(msg, "control", getattr(msg, "note", -1))
            value = getattr(msg, "value", getattr(msg, "velocity", 0))
            out = translate(msg.type, number, value)
            if out is not None:
                client.send_message(*out)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
