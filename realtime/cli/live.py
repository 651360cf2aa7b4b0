"""The live show's commands: `run`, `osc list|send`, `audio devices`, `monitors`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import StylevjError
from .options import pick_device


def cmd_run(args: argparse.Namespace) -> int:
    """`stylevj run`: play a show until it is quit or its time is up."""
    from ..control import default_journal_path
    from ..session import RunOptions, run_show

    run_show(RunOptions(
        preset=args.preset, checkpoint=args.checkpoint, device=pick_device(args.device), fp32=args.fp32,
        headless=args.headless, fullscreen=args.fullscreen, monitor=args.monitor, size=args.size, fit=args.fit,
        crossfade=args.crossfade, upload=args.upload, seconds=args.seconds, frames=args.frames, snapshot=args.snapshot,
        overlay=args.overlay, font=args.font, osc=not args.no_osc, osc_host=args.osc_host, osc_port=args.osc_port,
        osc_allow=tuple(args.osc_allow.split(",")) if args.osc_allow else (), osc_reply=args.osc_reply,
        control=not args.no_control, control_host=args.control_host, control_port=args.control_port,
        presets_dir=args.presets_dir, keyframes_dir=args.keyframes_dir,
        journal=Path(args.journal).expanduser() if args.journal else default_journal_path(), resume=args.resume,
        cues=args.cues, record_dir=args.record_dir, record_fps=args.record_fps,
        audio=args.audio, audio_in=args.audio_in, audio_output=not args.mute, cuda_graphs=not args.no_cuda_graphs,
        compile=args.compile, params=args.set,
        ndi=args.ndi, ndi_size=args.ndi_size, ndi_clean=args.ndi_clean, ndi_discovery=args.ndi_discovery or (),
        link=args.link or args.link_start_stop, link_start_stop=args.link_start_stop,
        midi_in=args.midi_in, midi_out=args.midi_out, midi_api=args.midi_api,
    ))
    return 0


def cmd_osc(args: argparse.Namespace) -> int:
    """`stylevj osc list|send`: the address table, or one message sent."""
    if args.osc_command == "list":
        from ..control import reference  # the table is made from the show's commands

        print(reference())
        return 0
    return _osc_send(args)


def _osc_send(args: argparse.Namespace) -> int:
    """Send one message; with --wait, print what comes back (state, errors) for that long, as
    text or (--json) as one JSON array a script can parse. Nothing listening (the host refused
    the datagram), or no reply within --wait, is one line and exit status 1."""
    import json
    import socket
    import time

    from pythonosc.osc_message import OscMessage
    from pythonosc.osc_message_builder import OscMessageBuilder

    builder = OscMessageBuilder(address=args.address)
    for text in args.args:
        builder.add_arg(_osc_value(text))
    where = f"{args.host}:{args.port}"
    refused = f"no show listens on {where} (nothing is bound to that port: is stylevj run started, with OSC on?)"
    replies: list[tuple[str, list]] = []
    parts: dict[int, str] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            # connected: the host's "port unreachable" comes back as ConnectionRefusedError, and
            # only the show's own replies (from the port it listens on) are read
            sock.connect((args.host, args.port))
            sock.send(builder.build().dgram)
        except ConnectionRefusedError:
            raise StylevjError(refused) from None
        except OSError as exc:
            raise StylevjError(f"cannot send to {where} ({exc.strerror or exc})") from None
        # without --wait, a moment for the refusal of a port nobody listens on (loopback and LAN
        # answer in well under that); a show that is there sends nothing back, so silence is fine
        deadline = time.monotonic() + (args.wait if args.wait > 0 else REFUSAL_WAIT_S)
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except (socket.timeout, TimeoutError):
                break
            except ConnectionRefusedError:
                raise StylevjError(refused) from None
            if args.wait <= 0:
                continue
            message = OscMessage(data)
            if message.address == "/stylevj/state/part":  # a large state, in parts: one whole state
                index, count, text = message.params
                parts[index] = text
                if len(parts) == count:
                    _print_reply("/stylevj/state", ["".join(parts[i] for i in range(count))], args.json, replies)
                continue
            _print_reply(message.address, list(message.params), args.json, replies)
    if args.json:
        print(json.dumps(replies, default=str))  # an OSC blob (bytes) as text
    if args.wait > 0 and not replies:
        print(f"stylevj: no show answered on {where} within {args.wait:g} s", file=sys.stderr)
        return 1
    return 0


REFUSAL_WAIT_S = 0.25
"""How long `osc send` without --wait listens for the host's refusal (ICMP port unreachable)."""


def _print_reply(address: str, params: list, as_json: bool, replies: list) -> None:
    """One reply: printed now as `address args...` (errors on stderr), or kept for the JSON array,
    where the state's JSON text is an object, not a string."""
    if as_json:
        if address == "/stylevj/state" and params and isinstance(params[0], str):
            import json

            params = [json.loads(params[0])]
        replies.append({"address": address, "args": params})
        return
    replies.append((address, params))
    stream = sys.stderr if address == "/stylevj/error" else sys.stdout
    print(address, *params, file=stream)


def _osc_value(text: str) -> object:
    """An OSC argument from the command line: a whole number, a number, or the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def cmd_audio(args: argparse.Namespace) -> int:
    """`stylevj audio devices`: the sound inputs, * marking the default."""
    from ..audio import list_input_devices

    devices = list_input_devices()
    if not devices:
        print("no sound input device found")
    for device in devices:
        print(device.describe())
    return 0


def cmd_monitors(args: argparse.Namespace) -> int:
    """`stylevj monitors`: the monitors and their last modes."""
    from ..display import list_monitors

    monitors = list_monitors()
    if not monitors:
        print("no monitors found")
    for m in monitors:
        modes = ", ".join(str(mode) for mode in m.modes[-4:])
        print(f"{m.index}: {m.name}  current {m.current}  (modes: {modes})")
    return 0
