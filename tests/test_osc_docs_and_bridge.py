"""The README documents every OSC address; the MIDI bridge example sends what it promises."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

from realtime.control import ADDRESSES, PREFIX
from realtime.control.addresses import markdown

REPO = Path(__file__).resolve().parent.parent


def test_readme_lists_every_address():
    readme = (REPO / "README.md").read_text()
    missing = [a.path for a in ADDRESSES if f"`{PREFIX}{a.path}`" not in readme]
    assert not missing, f"README lacks {missing}"
    assert markdown() in readme, "README's OSC table differs from the code: paste realtime.control.addresses.markdown()"


def test_midi_bridge_translates_knobs_and_sends_them():
    spec = importlib.util.spec_from_file_location("midi_bridge", REPO / "examples" / "midi_bridge.py")
    bridge = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bridge)
    assert bridge.translate("control_change", 1, 127) == ("/stylevj/speed", [2.0])
    assert bridge.translate("control_change", 2, 0) == ("/stylevj/truncation", [0.3])
    assert bridge.translate("note_on", 38, 100) == ("/stylevj/goto/keyframe", [2])
    assert bridge.translate("note_on", 38, 0) is None and bridge.translate("control_change", 99, 5) is None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(2)
        SimpleUDPClient(*listener.getsockname()).send_message(*bridge.translate("control_change", 1, 64))
        msg = OscMessage(listener.recvfrom(1024)[0])
    assert msg.address == "/stylevj/speed" and abs(msg.params[0] - 64 / 127 * 2) < 1e-6


def test_midi_bridge_maps_a_knob_onto_a_control():
    spec = importlib.util.spec_from_file_location("midi_bridge", REPO / "examples" / "midi_bridge.py")
    bridge = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bridge)
    assert bridge.translate("control_change", 16, 127) == ("/stylevj/control/smile/unit", [1.0])
    address, (value,) = bridge.translate("control_change", 16, 32)
    assert address == "/stylevj/control/smile/unit" and abs(value - 32 / 127) < 1e-9
    from realtime.control import to_command  # the show takes what the bridge sends
    from realtime.show.commands import SetControlUnit

    assert to_command(address, [value]) == SetControlUnit("smile", value)
