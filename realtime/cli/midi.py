"""`stylevj midi ports`: the MIDI ports `run --midi-in` and `--midi-out` can name."""

from __future__ import annotations

import argparse


def cmd_midi(args: argparse.Namespace) -> int:
    """List the MIDI input and output ports (stylevj's own left out); a backend that cannot start
    (the midi extra missing, no ALSA sequencer, no JACK server) is one line and exit status 2."""
    from ..control.midi_ports import default_api, list_ports

    api = args.midi_api or default_api()
    inputs, outputs = list_ports(api)
    print(f"MIDI ports ({api}):")
    for title, names in (("in", inputs), ("out", outputs)):
        print(f"  {title}:" + ("" if names else " none"))
        for name in names:
            print(f"    {name}")
    return 0
