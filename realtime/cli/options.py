"""What the `stylevj` commands share: argparse types that check a value at parse time (the same
range the code behind the option holds, so a bad one is argparse's one line and exit 2 before any
model loads), the options several commands take, and the device choice."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any, Callable

from ..checks import NETWORKS, Check, CheckError, integer, parse_host_port
from ..choices import FITS
from ..errors import StylevjError
from ..params import Param, param

FLAG_WORDS = {"1": True, "true": True, "on": True, "0": False, "false": False, "off": False}


def pick_device(name: str) -> str:
    """'auto' is CUDA when present, else CPU; an explicit 'cuda' without CUDA is a user error."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise StylevjError(f"device '{name}' asked for, but this machine has no CUDA GPU (use --device cpu)")
    return name


def size(text: str) -> tuple[int, int]:
    """`WIDTHxHEIGHT`, each side 16 to 16384 pixels."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, e.g. 1920x1080, got {text!r}") from None
    if not (16 <= width <= 16384 and 16 <= height <= 16384):
        raise argparse.ArgumentTypeError(f"size {width}x{height} is out of range")
    return width, height


def psi(text: str) -> float:
    """A truncation psi, within [-2, 2]."""
    value = finite(text)
    if not -2.0 <= value <= 2.0:
        raise argparse.ArgumentTypeError(f"truncation psi must be within [-2, 2], got {text}")
    return value


def finite(text: str) -> float:
    """A finite number (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def positive(text: str) -> float:
    """A finite number above 0 (seconds, loops)."""
    value = finite(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def count(text: str) -> int:
    """A whole number, at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def workers(text: str) -> int | str:
    """`--workers`: a whole number of workers, at least 1, or 'auto' (one per GPU, else per CPU core)."""
    return "auto" if text.strip().lower() == "auto" else count(text)


def port(text: str) -> int:
    """A TCP or UDP port, 0 (any free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port must be within [0, 65535], got {text}")
    return value


def checked_by(check: Check, lower_exclusive: bool = False) -> Callable[[str], Any]:
    """An argparse type: the text as a number (a whole one for an integer check) through `check`,
    the same range the code behind the option holds; `lower_exclusive`: the low end is refused too."""

    def parse(text: str) -> Any:
        value = finite(text)
        if check.kind == "integer" and value != int(value):
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}")
        if lower_exclusive and value <= check.lo:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}" if check.lo == 0 else
                                             f"must be above {check.lo:g}, got {text}")
        try:
            return check(int(value) if check.kind == "integer" else value)
        except CheckError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def out_file(text: str) -> str:
    """A file (or folder) to write: its folder must exist and be writable now, not after the model loads."""
    path = Path(text).expanduser()
    folder = path.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{path}: folder {folder} is not writable")
    if path.is_dir() and path.suffix:  # x.png that is a folder: the write would fail at the end
        raise argparse.ArgumentTypeError(f"{path}: is a folder")
    return text


def in_file(text: str) -> str:
    """A file to read: it must exist and be a file."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{path}: no such file")
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{path}: is a folder, not a file")
    return text


def folder(text: str) -> str:
    """An existing folder."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{path}: {'not a folder' if path.exists() else 'no such folder'}")
    return text


def host_port(text: str) -> str:
    """`HOST:PORT`, checked as the show will read it."""
    try:
        parse_host_port(text)
    except CheckError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def networks(text: str) -> str:
    """A comma-separated allow-list of addresses or CIDR networks."""
    try:
        NETWORKS(text.split(","))
    except CheckError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def ndi_name(text: str) -> str:
    """An NDI source name (1 to 100 printable characters)."""
    from ..outputs.base import OutputError, check_output_name

    try:
        return check_output_name(text)
    except OutputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def ndi_size(text: str) -> tuple[int, int]:
    """An output canvas `WIDTHxHEIGHT`: even sides from 16 to 8192."""
    from ..outputs.base import OutputError, parse_output_size

    try:
        return parse_output_size(text)
    except OutputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def ndi_discovery(text: str) -> tuple[str, ...]:
    """NDI's extra IPs: `IP,IP,...`, each an IP address."""
    from ..outputs.ndi import parse_discovery
    from ..outputs.base import OutputError

    try:
        return parse_discovery(text)
    except OutputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def midi_port(text: str) -> str:
    """--midi-in, --midi-out: part of a port's name (or `all`), never empty."""
    from ..control.midi_ports import wanted_problem

    problem = wanted_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return text


def param_setting(text: str) -> tuple[str, Any]:
    """`--set NAME=VALUE`: the name looked up in the parameter table (an unknown one lists the names
    there are), the text read as the knob's kind and checked against its one range
    (`realtime/params.py`), so a bad setting is argparse's one line before any model loads."""
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        knob = param(name.strip())
        return knob.name, knob(read_as(knob, value.strip()))
    except CheckError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def read_as(knob: Param, text: str) -> Any:
    """The text of a `--set` value as the knob's kind: float, int, bool (0/1, true/false, on/off) or a
    choice's name; CheckError naming the knob when the text is not of that kind."""
    if knob.kind == "bool":
        if text.lower() not in FLAG_WORDS:
            raise CheckError(f"{knob.name} must be 0/1, true/false or on/off, got {text!r}")
        return FLAG_WORDS[text.lower()]
    if knob.kind in ("float", "int"):
        try:
            value = float(text)
        except ValueError:
            raise CheckError(f"{knob.name} must be a {'whole ' if knob.kind == 'int' else ''}number, got {text!r}") from None
        return int(value) if knob.kind == "int" and value.is_integer() else value
    return text


class CollectSettings(argparse.Action):
    """Repeated `--set` options into one `{name: value}` dict (a later one for the same name wins)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        name, value = values
        setattr(namespace, self.dest, {**(getattr(namespace, self.dest) or {}), name: value})


THUMB = integer(16, 4096)  # contact-sheet tiles, pixels
SOURCE_HELP = ("generator: a .pkl/.pt/.safetensors file, a published name such as 'ffhq-1024' or an https URL "
               "(downloaded once; stylevj models), 'demo' (built in) or 'arch:ffhq-1024' (random weights)")


def shared_options() -> dict[str, argparse.ArgumentParser]:
    """Options several commands share, defined once."""
    device = argparse.ArgumentParser(add_help=False)
    device.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")
    generator = argparse.ArgumentParser(add_help=False, parents=[device])
    generator.add_argument("--checkpoint", metavar="SOURCE", help=SOURCE_HELP + " (default: the preset's, or demo)")
    generator.add_argument("--fp32", action="store_true", help="no fp16 layers even on CUDA")
    preset = argparse.ArgumentParser(add_help=False)
    preset.add_argument("preset", nargs="?", help="preset TOML (default: the built-in default show)")
    look = argparse.ArgumentParser(add_help=False)
    look.add_argument("--fit", choices=FITS, default="contain", help="how the picture keeps its aspect")
    look.add_argument("--overlay", metavar="PANELS", help="overlay panels shown at start: tensor,gpu or none "
                      "(default: the preset's [overlay] flags); O hides and shows them")
    look.add_argument("--font", metavar="TTF", type=in_file,
                      help="monospace TrueType font for the overlay (default: DejaVu Sans Mono from matplotlib)")
    settings = argparse.ArgumentParser(add_help=False)
    settings.add_argument("--set", metavar="NAME=VALUE", type=param_setting, action=CollectSettings, default={},
                          help="start with this parameter set, over the preset's (repeatable; the names and ranges: "
                          "stylevj osc list, /stylevj/<name>), e.g. --set speed=0.5 --set overlay=off")
    return {"device": device, "generator": generator, "preset": preset, "look": look, "settings": settings}
