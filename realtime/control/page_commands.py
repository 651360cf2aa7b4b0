"""What the operator page may send, and how the page learns to draw its controls.

    make_command("SetParam", {"name": "fader", "value": 0.5})   # a checked command, or a PageError
    make_from_address("/stylevj/midi/learn", ["speed"])        # the same, by OSC address (PAGE_ADDRESSES)
    describe_commands()   # each page command's fields (kind, range, choices): the page's "hello"
    describe_params()     # the parameter table as `GET /api/params` answers it

Nothing else is made from a page's message: a name outside `PAGE_COMMANDS` is a PageError (its
reason goes back to that page), and every field is checked exactly as OSC's are, when the
command is made. An unbounded range end is null, never Infinity: strict JSON has none, and a
browser refuses a whole answer that holds one.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..checks import CheckError, check_of
from ..errors import StylevjError
from ..params import PARAMS
from ..show import Command
from ..show import commands as c
from .addresses import PREFIX, Address, OscError, lookup

# What the page may send (no Quit: a stop needs the stage keys). Every knob of the parameter table
# is one SetParam (or ToggleParam): the page draws those from `GET /api/params`, so no knob and no
# range is written twice; the overlay's on/off is the `overlay` knob. The preset's controls
# (SetControl) read their ranges from the state, where each control carries its own. The one-knob
# commands of before (SetSpeed, SetTruncation, SetPanel, ToggleOverlay, ...) are gone: every knob is SetParam.
PAGE_COMMANDS: tuple[type[Command], ...] = (
    c.Play, c.Pause, c.TogglePause, c.Goto, c.GotoKeyframe, c.Nudge, c.AddSeedKeyframe, c.AddFileKeyframe,
    c.AddCurrentKeyframe, c.RemoveKeyframe, c.ClearKeyframes, c.UndoKeyframes, c.MoveKeyframe, c.RenameKeyframe,
    c.LoadPreset, c.SavePreset, c.StartRecording, c.StopRecording, c.Snapshot, c.SetControl, c.SetParam,
    c.ToggleParam, c.Tap, c.SetBpm,
)
PAGE_TABLE: dict[str, type[Command]] = {cls.__name__: cls for cls in PAGE_COMMANDS}

# What the page may also send by OSC address, `{"osc": "/stylevj/midi/learn", "args": ["speed"]}`:
# the integrations' commands (MIDI learn, frame outputs), made by the OSC table exactly as an OSC
# message would be, so the page and a controller script say the same thing. Those the OSC table
# does not hold (an integration not installed in this build) are left out of the page's "hello".
PAGE_ADDRESSES: tuple[str, ...] = ("midi/learn", "midi/forget", "output/add", "output/remove")


class PageError(StylevjError):
    """A page message that cannot become a command: the reason goes back to that page."""


def make_command(name: Any, args: Any) -> Command:
    """The command a page message names, made (and so checked) from its arguments."""
    cls = PAGE_TABLE.get(name) if isinstance(name, str) else None
    if cls is None:
        raise PageError(f"the page cannot send {name!r}")
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise PageError(f"{name}: arguments must be an object")
    known = {f.name for f in c.arguments(cls)}
    unknown = sorted(set(args) - known)
    if unknown:
        raise PageError(f"{name}: unknown argument {', '.join(unknown)}")
    missing = sorted(f.name for f in c.arguments(cls) if f.default is dataclasses.MISSING and f.name not in args)
    if missing:
        raise PageError(f"{name}: missing {', '.join(missing)}")
    try:
        return cls(**args)
    except CheckError as exc:
        raise PageError(f"{name}: {exc}") from None
    except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:  # any JSON value is a reply, never a drop
        raise PageError(f"{name}: {str(exc)[:200] or type(exc).__name__}") from None


def page_addresses() -> dict[str, Address]:
    """The PAGE_ADDRESSES the OSC table holds, by full address."""
    out = {}
    for path in PAGE_ADDRESSES:
        try:
            entry, bound = lookup(PREFIX + path)
        except OscError:
            continue
        if not bound:
            out[PREFIX + path] = entry
    return out


def make_from_address(address: Any, args: Any) -> Command:
    """The command a page message names by OSC address (one of PAGE_ADDRESSES), made from its
    list of arguments as an OSC message's would be; a PageError says why not."""
    entry = page_addresses().get(address) if isinstance(address, str) else None
    if entry is None:
        raise PageError(f"the page cannot send {str(address)[:80]!r}")
    if args is None:
        args = []
    if not isinstance(args, list):
        raise PageError(f"{address}: arguments must be a list")
    try:
        return entry.make(args)
    except OscError as exc:
        raise PageError(str(exc)) from None
    except (TypeError, ValueError, ArithmeticError, RecursionError) as exc:
        raise PageError(f"{address}: {str(exc)[:200] or type(exc).__name__}") from None


def describe_addresses() -> dict:
    """The page's OSC-addressed commands this build holds: their arguments, in order."""
    return {address: {"doc": entry.meaning, "args": [{"name": a.name, "optional": a.optional} for a in entry.args]}
            for address, entry in page_addresses().items()}


def _bound(x: float) -> float | None:
    """A range end as JSON can carry it: None for an unbounded (infinite) end."""
    return x if math.isfinite(x) else None


def describe_commands() -> dict:
    """Each page command's meaning and checked fields (kind, range, choices): the page builds its
    controls from this, so no range is written twice."""
    out = {}
    for cls in PAGE_COMMANDS:
        args = []
        for f in c.arguments(cls):
            check = check_of(f)
            args.append({"name": f.name, "kind": check.kind, "lo": _bound(check.lo), "hi": _bound(check.hi),
                         "choices": list(check.choices), "optional": f.default is not dataclasses.MISSING})
        out[cls.__name__] = {"doc": c.describe(cls), "args": args}
    return out


def describe_params() -> dict:
    """What `GET /api/params` answers: every knob of the table as `Param.to_json()` gives it, in
    the table's order (the page draws one control per entry; a controller may read it too). An
    unbounded end is null: strict JSON has no Infinity, and a browser refuses the whole answer."""
    entries = [p.to_json() for p in PARAMS]
    for entry in entries:
        for end in ("min", "max"):
            if entry[end] is not None:
                entry[end] = _bound(entry[end])
    return {"params": entries}
