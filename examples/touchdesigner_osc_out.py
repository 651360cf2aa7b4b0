"""TouchDesigner: drive stylevj from CHOP channels. Paste into a CHOP Execute DAT whose CHOP is
the channels to send (e.g. a Constant or a MIDI In CHOP), next to an OSC Out DAT named
'oscout1' pointing at stylevj's host and port (9000). Turn on 'Value Change' in the DAT.

Channel names map to addresses below; values go out as floats (stylevj accepts whole floats
for integer arguments). For feedback, add an OSC In DAT on the port given to
`stylevj run --osc-reply <this machine>:9001`: it receives /stylevj/position, /speed,
/keyframes, /fps (30 Hz) and events /stylevj/loop, /stylevj/keyframe/added, /stylevj/error.

Alternatively skip this script: point an OSC Out CHOP at stylevj and map its channel addresses
in the preset ([[osc.mappings]] address = "/speed", param = "speed", input = [0, 1],
output = [0, 4]); TouchDesigner's /_samplerate style metadata is ignored.
"""

ADDRESSES = {
    "speed": "/stylevj/speed",
    "truncation": "/stylevj/truncation",
    "alpha": "/stylevj/alpha",
    "opacity": "/stylevj/overlay/opacity",
}


def onValueChange(channel, sampleIndex, val, prev):  # noqa: N802 - TouchDesigner's callback name
    address = ADDRESSES.get(channel.name)
    if address is not None:
        op("oscout1").sendOSC(address, [float(val)])  # noqa: F821 - `op` is TouchDesigner's global
    return


def addKeyframe(seed, psi=0.7):  # noqa: N802 - call from a button: mod(me).addKeyframe(42)
    op("oscout1").sendOSC("/stylevj/keyframe/add/seed", [int(seed), float(psi)])  # noqa: F821
