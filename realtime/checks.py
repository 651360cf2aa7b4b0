"""Validated values, declared once: a field's range lives on the dataclass that holds it.

A `Check` validates one value and describes itself ("f[-1000..1000]"). `checked(CHECK, default)`
puts it on a dataclass field; `validate(obj)` (called from `__post_init__`) checks every such
field. The same declarations serve every way in:

- presets (`realtime.presets`): TOML tables are read into these dataclasses, every key checked;
- show commands (`realtime.show.commands`): a command cannot be made with a value out of range;
- the OSC table and the operator page describe arguments from them.

So a range is written in one place, and a new preset key is one field plus its use.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
from dataclasses import dataclass
from typing import Any, Callable

from .errors import StylevjError


class CheckError(StylevjError, ValueError):
    """A value refused by its check; the message is the reason ("must be within [0, 1], got 2")."""


@dataclass(frozen=True)
class Check:
    """One kind of value: `kind` is number, integer, flag, text, choice or list (of `items`).

    `__call__` returns the value (converted where harmless: an int for a number becomes a float,
    a list a tuple) or raises `CheckError` with the reason. `optional`: None is accepted too.
    """

    kind: str
    lo: float = -math.inf
    hi: float = math.inf
    choices: tuple[str, ...] = ()
    length: int | None = None  # lists: exact number of items (None: any)
    items: "Check | None" = None  # lists: the check of each item
    optional: bool = False
    extra: Callable[[Any], str | None] | None = None  # a further rule: the reason, or None
    max_length: int = 512  # text: longer is refused (OSC and page input are bounded)

    def __call__(self, value: Any) -> Any:
        if value is None and self.optional:
            return None
        value = self._convert(value)
        if self.extra is not None:
            problem = self.extra(value)
            if problem:
                raise CheckError(problem)
        return value

    def _convert(self, value: Any) -> Any:
        if self.kind == "any":  # left to `extra`
            return value
        if self.kind in ("number", "integer"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise CheckError(f"must be a {'whole ' if self.kind == 'integer' else ''}number, got {_kind_of(value)}")
            if isinstance(value, int) and not -_FLOAT_MAX <= value <= _FLOAT_MAX:  # compared exactly: no overflow
                bounds = f"[{_num(self.lo)}, {_num(self.hi)}]" if math.isfinite(self.lo) else "a float's range"
                raise CheckError(f"must be within {bounds}, got {_num(value)}")
            if not math.isfinite(value):
                raise CheckError(f"must be finite, got {value}")
            if self.kind == "integer":
                if value != int(value):
                    raise CheckError(f"must be a whole number, got {value}")
                value = int(value)
            else:
                value = within_range(float(value), self.lo, self.hi)
            if not self.lo <= value <= self.hi:
                raise CheckError(f"must be within [{_num(self.lo)}, {_num(self.hi)}], got {_num(value)}")
            return value
        if self.kind == "flag":
            if not isinstance(value, bool):
                raise CheckError(f"must be true or false, got {_kind_of(value)}")
            return value
        if self.kind in ("text", "choice"):
            if not isinstance(value, str):
                raise CheckError(f"must be a string, got {_kind_of(value)}")
            if len(value) > self.max_length:
                raise CheckError(f"is too long ({len(value)} characters, at most {self.max_length})")
            if self.kind == "choice" and value not in self.choices:
                raise CheckError(f"must be one of {', '.join(self.choices)}, got {value!r}")
            if self.kind == "text" and not value.strip():
                raise CheckError("must be a non-empty string")
            return value
        if self.kind == "list":
            if not isinstance(value, (list, tuple)):
                raise CheckError(f"must be a list, got {_kind_of(value)}")
            if self.length is not None and len(value) != self.length:
                raise CheckError(f"must be a list of {self.length} items, got {len(value)}")
            assert self.items is not None
            out = []
            for n, item in enumerate(value):
                try:
                    out.append(self.items(item))
                except CheckError as exc:
                    raise CheckError(f"item {n + 1} {exc}") from None
            return tuple(out)
        raise AssertionError(f"unknown check kind {self.kind}")

    def describe(self) -> str:
        """Short form for tables: f[0..1], i[0..100000], a|b, s, [f, f]."""
        if self.kind == "number":
            return f"f[{_num(self.lo)}..{_num(self.hi)}]" if math.isfinite(self.lo) else "f"
        if self.kind == "integer":
            return f"i[{_num(self.lo)}..{_num(self.hi)}]" if math.isfinite(self.lo) else "i"
        if self.kind == "flag":
            return "0|1"
        if self.kind == "any":
            return "any"
        if self.kind == "choice":
            return "|".join(self.choices)
        if self.kind == "list":
            inner = self.items.describe() if self.items else "?"
            return f"[{inner} x{self.length}]" if self.length else f"[{inner}, ...]"
        return "s"


def _kind_of(value: Any) -> str:
    return {bool: "true/false", str: "a string", list: "a list", dict: "a table", type(None): "nothing"}.get(
        type(value), type(value).__name__)


_FLOAT_MAX = 1.7976931348623157e308  # a larger integer (JSON and TOML allow 400 digits) has no float
FLOAT32_EPSILON = 2.0**-23  # float32's relative spacing: OSC floats arrive rounded to it


def within_range(value: float, lo: float, hi: float) -> float:
    """`value`, or the bound it is within float32 rounding of (then exactly that bound).

    OSC sends float32: a range's own end, 1e-9 say, arrives as 9.99999972e-10 and must still be
    accepted (as 1e-9). Every number range goes through this; a value further out is returned
    unchanged for the caller to refuse."""
    if value < lo and lo - value <= abs(lo) * FLOAT32_EPSILON:
        return lo
    if value > hi and value - hi <= abs(hi) * FLOAT32_EPSILON:
        return hi
    return value


def _num(x: float) -> str:
    if isinstance(x, int) and abs(x) >= 10**16:
        return f"a {len(str(abs(x)))}-digit number"  # not the digits themselves: a reason stays one short line
    return f"{x:g}" if isinstance(x, float) else str(x)


# ---- the checks stylevj uses ---------------------------------------------------------------------


def number(lo: float, hi: float, optional: bool = False) -> Check:
    return Check("number", float(lo), float(hi), optional=optional)


def integer(lo: int, hi: int, optional: bool = False) -> Check:
    return Check("integer", lo, hi, optional=optional)


FLAG = Check("flag")
TEXT = Check("text")
OPTIONAL_TEXT = Check("text", optional=True)


def choice(options: tuple[str, ...] | list[str]) -> Check:
    return Check("choice", choices=tuple(options))


def numbers(count: int, lo: float = -1e9, hi: float = 1e9, extra: Callable[[Any], str | None] | None = None) -> Check:
    """A fixed-length list of numbers, e.g. a [low, high] range or an [x, y, w, h] rectangle."""
    return Check("list", length=count, items=number(lo, hi), extra=extra)


def integers(count: int, lo: int, hi: int, extra: Callable[[Any], str | None] | None = None) -> Check:
    return Check("list", length=count, items=integer(lo, hi), extra=extra)


TEXTS = Check("list", items=TEXT)

# Ranges the command line shares with the code behind it (here, so `stylevj --help` needs no torch).
SEED = integer(0, 2**32 - 1)  # a latent seed: numpy's RandomState takes exactly these
PORT = integer(0, 65535)  # 0: any free port
CRF = integer(0, 51)  # x264's constant rate factor: 0 lossless, 51 worst
RECORD_FPS = number(1, 240)  # live recordings' frame rate
PROJECTION_STEPS = integer(1, 1_000_000)
PROJECTION_BATCH = integer(1, 1024)

OUTPUT_KINDS = ("ndi",)  # frame outputs a show can open (realtime/outputs, presets' [[outputs]]): NDI today
MAX_OUTPUT_SIDE = 8192  # the largest canvas side an output accepts (NDI and GL limits are near)


def output_name_problem(name: str) -> str | None:
    """Why `name` cannot name an output's network source (1..100 printable characters), or None."""
    if not name or len(name) > 100 or not name.isprintable() or name != name.strip():
        return f"{name!r} must be 1 to 100 printable characters, without leading or trailing spaces"
    return None


def output_size_problem(size: tuple[int, int]) -> str | None:
    """Why (width, height) cannot size an output, or None: even sides (4:2:2 video), 16 to MAX_OUTPUT_SIDE."""
    width, height = size
    if not (16 <= width <= MAX_OUTPUT_SIDE and 16 <= height <= MAX_OUTPUT_SIDE) or width % 2 or height % 2:
        return f"{width}x{height} must have even sides from 16 to {MAX_OUTPUT_SIDE}"
    return None


OUTPUT_NAME = Check("text", extra=output_name_problem, max_length=100)
OUTPUT_SIZE = Check("list", length=2, items=integer(0, 1_000_000), optional=True, extra=output_size_problem)


def parse_host_port(text: str) -> tuple[str, int]:
    """'host:port' (IPv6 as '[::1]:9001' or '::1:9001') -> (host, port); CheckError otherwise."""
    host, _, port = str(text).rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise CheckError(f"must be host:port (e.g. 127.0.0.1:9001), got {text!r}")
    return host, int(port)


def _host_port_or_empty(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string 'host:port', got {_kind_of(value)}"
    if value == "":
        return None
    try:
        parse_host_port(value)
    except CheckError as exc:
        return str(exc)
    return None


HOST_PORT = Check("any", extra=_host_port_or_empty)  # "" for none


def _networks(values: tuple[str, ...]) -> str | None:
    for v in values:
        try:
            ipaddress.ip_network(v.strip(), strict=False)
        except ValueError as exc:
            return f"holds {v!r}, not an address or network ({exc})"
    return None


NETWORKS = Check("list", items=TEXT, extra=_networks)


# ---- dataclass fields ----------------------------------------------------------------------------


def checked(check: Check, default: Any = dataclasses.MISSING, doc: str = "") -> Any:
    """A dataclass field validated by `check` (see `validate`); `doc` is its one-line meaning."""
    metadata = {"check": check, "doc": doc}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def check_of(field: dataclasses.Field) -> Check | None:
    return field.metadata.get("check")


def validate(obj: Any) -> None:
    """Check and convert every `checked` field of a (frozen) dataclass instance, in order.

    Raises `CheckError("<field> <reason>")` for the first bad one. Call it from `__post_init__`.
    """
    for f in dataclasses.fields(obj):
        check = check_of(f)
        if check is None:
            continue
        try:
            value = check(getattr(obj, f.name))
        except CheckError as exc:
            raise CheckError(f"{f.name} {exc}") from None
        object.__setattr__(obj, f.name, value)


class Checked:
    """Base for frozen dataclasses whose `checked` fields validate themselves when made."""

    def __post_init__(self) -> None:
        validate(self)


@dataclass(frozen=True)
class OutputSpec(Checked):
    """A frame output asked for (realtime/outputs): a preset's [[outputs]] entry, `run --ndi NAME
    [--ndi-size WxH] [--ndi-clean]`, /stylevj/output/add. Here, below presets and outputs, which
    both hold it."""

    kind: str = checked(choice(OUTPUT_KINDS), doc="ndi: a source TouchDesigner, Resolume and OBS receive")
    name: str = checked(OUTPUT_NAME, doc="the source's name (NDI shows it as 'HOST (NAME)')")
    size: tuple[int, int] | None = checked(OUTPUT_SIZE, None, "[width, height] of its own canvas, the show's fit "
                                           "(none: the stage's size)")
    clean: bool = checked(FLAG, False, "without the overlay")
