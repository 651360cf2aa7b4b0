"""Show files (TOML): what to load, which keyframes, how to move, how it looks. Data only.

    [generator]               source = "demo" (or a published name, a URL, a path relative to this file), noise
    [stage]                   fader, blackout
    [clock]                   source = "audio" | "tap" | "fixed" | "link" | "midi", tempo
    [play]                    speed, truncation, position
    [path]                    spline, alpha, closed, constant_speed, blend
    [mix]                     keyframe, layers = [first, last]     (optional)
    [overlay]                 visible, tensor, gpu, opacity, font, font_size, tensor_rows, tensor_hz, tensor_rect, gpu_rect
    [osc]                     host, port, reply, allow, [[osc.mappings]]
    [[keyframes]]             seed = 7 | file = "keyframes/face.safetensors", name, truncation, at
    [audio]                   bpm, [[audio.mappings]] feature, target, amount, range, curve, decay, every
    [[controls]]              name, method + index | file | bend + resolution, layers, range, default, slew, edge
    [[outputs]]               kind = "ndi", name, size = [w, h], clean   (frame outputs: NDI sources)
    [[midi]]                  param, kind, number, channel, port, mode, range   (realtime/midi/mapping.py)

The keys that are live parameters (speed, truncation, the path, noise, the overlay's panels, the
fader, ...) are declared in the parameter table (`realtime/params.py`: each knob's `preset` says
its "section.key"); `Preset.params` and `Preset.with_params` read and write them by walking it.
Each table is a frozen dataclass whose fields carry their checks (`realtime.checks`); reading and
writing walk those dataclasses, so a new key is one field plus its use. Loading checks every key:
an unknown key or a bad value is a `PresetError` naming the file, the key and the reason.
Saving is atomic (temp file, fsync, rename). A `Preset` is a frozen value passed explicitly.

Turning a preset into a running show (keyframes mapped through a generator, a player) and back
(the live show captured as a preset) lives next to the show, in `realtime.show.build`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Collection

import tomli_w

from .checks import (HOST_PORT, NETWORKS, OPTIONAL_TEXT, TEXT, Check, CheckError, Checked, OutputSpec, check_of,
                     checked, choice, integer, integers, number, numbers)
from .checkpoints.catalog import find_published
from .checkpoints.download import is_url
from .choices import OSC_PORT
from .errors import StylevjError
from .midi import MidiMapping
from .params import PARAMS, Params, shortest, table_field
from .files import atomic_write, check_writable_target, read_bounded, user_folder
from .latent import POSITION, PathSettings, StyleMix
from .latent.controls import BEND_KINDS, CONTROL_NAME, neutral
from .latent.cues import CueTimeline, parse_time
from .latent.hearing import ONSET_DECAY, Heard
from .latent.directions import METHODS
from .models.bending import EDGES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class PresetError(StylevjError):
    """A preset file that cannot be read or is wrong; the message names file, key and reason."""


_PRESET_NAME = re.compile(r"\w(?:[\w .-]{0,62}\w)?")


def preset_name_problem(name: str) -> str | None:
    """Why `name` cannot name a preset file, or None: the one rule for saving, loading, OSC and
    the page. Letters, digits, '_', '-', '.' and spaces, at most 64, starting and ending with a
    letter, digit or '_' (so no ' default', '..', '.' or '...toml'); '.toml' may end it."""
    stem = name[:-5] if name.endswith(".toml") else name
    if _PRESET_NAME.fullmatch(stem) is None:
        return ("must be a plain name inside the presets folder (letters, digits, '_', '-', '.' and spaces, "
                f"at most 64, starting and ending with a letter, digit or '_'), got {name!r}")
    return None


PRESET_NAME = Check("text", extra=preset_name_problem, max_length=69)


def _section(cls: type, optional: bool = False) -> Any:
    """A TOML table held as a dataclass (None when optional and absent)."""
    if optional:
        return field(default=None, metadata={"section": cls})
    return field(default_factory=cls, metadata={"section": cls})


def _sections(cls: type) -> Any:
    """An array of TOML tables ([[name]]), held as a tuple of dataclasses."""
    return field(default=(), metadata={"sections": cls})


# ---- the tables --------------------------------------------------------------------------------


@dataclass(frozen=True)
class GeneratorSettings(Checked):
    source: str = checked(TEXT, "demo", "'demo', 'arch:NAME', a published name (stylevj models), an https URL, "
                               "or a checkpoint path relative to the preset")
    noise: str = table_field("noise")
    translate_x: float = table_field("translate_x")  # StyleGAN3's input transform (realtime/params.py)
    translate_y: float = table_field("translate_y")
    rotate: float = table_field("rotate")


@dataclass(frozen=True)
class PlaySettings(Checked):
    speed: float = table_field("speed")
    truncation: float = table_field("truncation")
    position: float = checked(POSITION, 0.0, "where the show starts, in keyframe units (journals keep the live one)")


def _cue_time(value: Any) -> str | None:
    if value is None:
        return None
    try:
        parse_time(value)
    except ValueError as exc:
        return f"must be a time: {exc}"
    return None


@dataclass(frozen=True)
class KeyframeSpec(Checked):
    """One [[keyframes]] entry: a seed or a file (as written, relative to the preset)."""

    seed: int | None = checked(integer(0, 2**32 - 1, optional=True), None, "seed (same z as NVIDIA's generate.py)")
    file: str | None = checked(OPTIONAL_TEXT, None, "W+ or W tensor file, relative to the preset")
    name: str | None = checked(OPTIONAL_TEXT, None, "display name")
    truncation: float | None = checked(number(-2, 2, optional=True), None, "this keyframe's own truncation")
    at: str | float | None = checked(Check("any", optional=True, extra=_cue_time), None,
                                     "cue: reach this keyframe at this time of the show ('1:12.5')")

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.seed is None) == (self.file is None):
            raise CheckError("needs exactly one of 'seed' or 'file'")


def _in_order(rows: tuple[int, int]) -> str | None:
    return None if rows[0] < rows[1] else f"must satisfy 0 <= first < stop, got {list(rows)} (the rows w[first:stop])"


def _inside(rect: tuple[float, ...]) -> str | None:
    x, y, w, h = rect
    if w <= 0 or h <= 0 or x + w > 1 + 1e-9 or y + h > 1 + 1e-9:
        return f"must have width, height > 0 and stay inside the output (x + width <= 1, y + height <= 1), got {list(rect)}"
    return None


RECT = numbers(4, 0, 1, extra=_inside)


@dataclass(frozen=True)
class ClockSettings(Checked):
    """The beat clock (realtime/clock): where tempo and beat come from, and the fixed tempo."""

    source: str = table_field("clock")
    tempo: float = table_field("tempo")


@dataclass(frozen=True)
class StageSettings(Checked):
    """What the stage output does to the whole picture: the master fader and blackout."""

    fader: float = table_field("fader")
    blackout: bool = table_field("blackout")


@dataclass(frozen=True)
class OverlaySettings(Checked):
    """The overlay panels (realtime/overlay): which are on, where, and how they look."""

    visible: bool = table_field("overlay")
    tensor: bool = table_field("overlay_tensor")
    gpu: bool = table_field("overlay_gpu")
    opacity: float = table_field("overlay_opacity")
    font: str | None = checked(OPTIONAL_TEXT, None, "monospace .ttf, relative to the preset")
    font_size: float = checked(number(4, 200), 15.0, "pixels at 1080 output lines")
    tensor_rows: tuple[int, int] = checked(integers(2, 0, 10_000, extra=_in_order), (0, 2), "W+ rows printed, w[first:stop]")
    tensor_hz: float = checked(number(0.1, 240), 10.0, "prints a second, at most one per generated frame")
    tensor_rect: tuple[float, float, float, float] = checked(RECT, (0.015, 0.03, 0.4, 0.62), "x, y, w, h: output fractions")
    gpu_rect: tuple[float, float, float, float] = checked(RECT, (0.585, 0.03, 0.4, 0.62), "x, y, w, h: output fractions")


def _address(value: str) -> str | None:
    return None if value.startswith("/") else f"must start with '/', got {value!r}"


@dataclass(frozen=True)
class OscMapping(Checked):
    """A user address mapped onto a one-number parameter: TouchDesigner's OSC Out CHOP sends one
    address per channel, e.g. /speed 0..1 -> speed 0..4. `param` names an OSC parameter
    (speed, truncation, ...); the OSC adapter checks it (`check_mappings`)."""

    address: str = checked(Check("text", extra=_address), doc="the address the sender uses")
    param: str = checked(TEXT, doc="the stylevj parameter it drives (speed, truncation, alpha, ...)")
    input: tuple[float, float] = checked(numbers(2), (0.0, 1.0), "[low, high] the sender sends")
    output: tuple[float, float] = checked(numbers(2), (0.0, 1.0), "[low, high] of the parameter")

    def convert(self, value: float) -> float:
        """The sender's value mapped linearly from `input` onto `output`, clamped to it."""
        lo, hi = self.input
        x = 0.0 if hi == lo else (value - lo) / (hi - lo)
        x = min(max(x, 0.0), 1.0)
        return self.output[0] + x * (self.output[1] - self.output[0])


@dataclass(frozen=True)
class OscSettings(Checked):
    host: str = checked(TEXT, "127.0.0.1", "listen address (a LAN address needs allow)")
    port: int = checked(integer(1, 65535), OSC_PORT, "UDP port")
    reply: str = checked(HOST_PORT, "", "'host:port' for feedback (TouchDesigner's OSC In)")
    allow: tuple[str, ...] = checked(NETWORKS, (), "sender networks when host is not loopback")
    mappings: tuple[OscMapping, ...] = _sections(OscMapping)


_LAYER_SPEC = re.compile(r"all|coarse|middle|fine|\d+(-\d+)?")


def _layer_spec(value: str) -> str | None:
    if _LAYER_SPEC.fullmatch(value.strip().lower()) is None:
        return f"must be all, coarse, middle, fine, 'A-B' or 'A' (W+ rows), got {value!r}"
    return None


LAYER_RANGE = Check("text", extra=_layer_spec)  # checked against the generator's W+ when it is known


def _increasing(pair: tuple[float, float]) -> str | None:
    return None if pair[0] < pair[1] else f"must be [low, high] with low < high, got {list(pair)}"


@dataclass(frozen=True)
class ControlSpec(Checked):
    """One [[controls]] entry: a named knob that moves the picture along a direction in W (from
    the checkpoint: `method` + `index`; or a `file`) on some W+ rows, or that bends the feature
    maps at one block `resolution`. `/stylevj/control/<name> value` turns it live; it glides to
    a new value at `slew` (seconds for a jump across the whole range)."""

    name: str = checked(CONTROL_NAME, doc="the knob's name, as in /stylevj/control/<name>")
    method: str | None = checked(Check("choice", choices=METHODS, optional=True), None,
                                 "a direction computed from the checkpoint: sefa or ganspace")
    file: str | None = checked(OPTIONAL_TEXT, None, "a direction file (.npy/.npz/.safetensors), relative to the preset")
    index: int | None = checked(integer(0, 100_000, optional=True), None,
                                "which direction: 0 is the strongest (with method), or the row of a file of several")
    layers: str | None = checked(Check("text", optional=True, extra=_layer_spec), None,
                                 "W+ rows a direction moves: all (the default), coarse, middle, fine or 'A-B'")
    bend: str | None = checked(Check("choice", choices=BEND_KINDS, optional=True), None,
                               "instead of a direction, bend the picture: " + ", ".join(BEND_KINDS))
    resolution: int | None = checked(integer(4, 65_536, optional=True), None, "bends: the block (px) whose feature maps bend")
    edge: str | None = checked(Check("choice", choices=EDGES, optional=True), None,
                               "bends: what shows past the border: wrap (the default), zeros, border, reflection")
    range: tuple[float, float] = checked(numbers(2, extra=_increasing), (-3.0, 3.0), "[low, high] values the knob takes")
    default: float | None = checked(number(-1e9, 1e9, optional=True), None,
                                    "the value at start (none: neutral, 0, or 1 for zoom and gain)")
    slew: float = checked(number(0, 600), 0.5, "seconds a jump across the whole range takes (0: instant)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if sum(x is not None for x in (self.method, self.file, self.bend)) != 1:
            raise CheckError(f"control '{self.name}' needs exactly one of 'method', 'file' or 'bend'")
        if self.method is not None and self.index is None:
            raise CheckError(f"control '{self.name}' needs 'index' (0 is the method's strongest direction)")
        if self.bend is not None:
            if self.resolution is None:
                raise CheckError(f"control '{self.name}' needs 'resolution' (the block whose features bend)")
            if self.index is not None or self.layers is not None:
                raise CheckError(f"control '{self.name}': 'index' and 'layers' are for directions, not bends")
            if self.bend == "zoom" and self.range[0] <= 0:
                raise CheckError(f"control '{self.name}': a zoom range must stay above 0, got {list(self.range)}")
        elif self.resolution is not None or self.edge is not None:
            raise CheckError(f"control '{self.name}': 'resolution' and 'edge' are for bends; a direction uses 'layers'")
        start = neutral(self.bend) if self.default is None else self.default
        if not self.range[0] <= start <= self.range[1]:
            which = "default" if self.default is not None else f"neutral value {start:g} (give a 'default')"
            raise CheckError(f"control '{self.name}' {which} must be within range {list(self.range)}")


BEAT_FEATURE = "beat"  # the `Heard` field that drives the path (one segment per `every` beats)
AUDIO_FEATURES = Heard.levels() + (BEAT_FEATURE,)  # the 0..1 fields drive speed or truncation
TRANSFORM_TARGETS = ("translate_x", "translate_y", "rotate")  # StyleGAN3's input: knobs of the table
AUDIO_TARGETS = ("speed", "truncation", "path") + TRANSFORM_TARGETS
AUDIO_CURVES = ("linear", "square", "sqrt", "smooth")


def _low_below_high(pair: tuple[float, float]) -> str | None:
    return None if pair[0] < pair[1] else f"must be [low, high] with low < high, got {list(pair)}"


@dataclass(frozen=True)
class AudioMapping(Checked):
    """One [[audio.mappings]] entry: a feature of the music moves the show on top of its knobs.

    A 0..1 feature of `Heard` (level, onset, low, mid, high, beat_phase) -> speed (keyframes/s
    added along the direction of play), truncation (psi added) or, on a StyleGAN3 network, its
    input's translate_x / translate_y (picture widths added) or rotate (degrees added): the
    feature's `range` is stretched to 0..1, shaped by `curve`, times `amount`. `onset` is the
    show's one onset pulse: 1 at an onset, falling to 37 % in `decay` seconds (every onset
    mapping of a show shares it). beat_phase -> rotate with amount 360 turns the picture once per
    beat without a jump. beat -> path: one path segment per `every` beats, keyframes landing on
    every `every`-th beat.
    """

    feature: str = checked(choice(AUDIO_FEATURES), doc="what is heard: " + ", ".join(AUDIO_FEATURES))
    target: str = checked(choice(AUDIO_TARGETS), doc="what moves: speed, truncation, translate_x, translate_y, "
                          "rotate (StyleGAN3), or path (with beat)")
    amount: float = checked(number(-360, 360), 1.0, "what a full feature adds (keyframes/s for speed, psi for "
                            "truncation, picture widths for translate, degrees for rotate)")
    range: tuple[float, float] = checked(numbers(2, 0, 1, extra=_low_below_high), (0.0, 1.0),
                                         "[low, high] of the feature (0..1) stretched to 0..1; outside is clamped")
    curve: str = checked(choice(AUDIO_CURVES), "linear", "shape: linear, square (calm until loud), sqrt (eager), smooth")
    decay: float = checked(number(0.01, 10), ONSET_DECAY, "onset: seconds for the pulse to fall to 37%")
    every: int = checked(integer(1, 64), 4, "beat: beats per path segment")

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.feature == BEAT_FEATURE) != (self.target == "path"):
            raise CheckError(f"feature '{self.feature}' cannot drive target '{self.target}' "
                             "(beat drives path; the others drive speed, truncation, translate_x, translate_y or rotate)")


@dataclass(frozen=True)
class AudioSettings(Checked):
    """[audio]: how the music moves the show (`run --audio/--audio-in`, `render --audio`).
    Without [[audio.mappings]] the default mapping applies: onsets push the speed, the low band
    breathes the truncation."""

    bpm: float | None = checked(number(20, 400, optional=True), None, "tempo; none: estimated from the music (key T taps it)")
    mappings: tuple[AudioMapping, ...] = _sections(AudioMapping)

    def __post_init__(self) -> None:
        super().__post_init__()
        decays = sorted({m.decay for m in self.mappings if m.feature == "onset"})
        if len(decays) > 1:
            raise CheckError("onset mappings must share one decay (the show has one onset pulse), got "
                             + ", ".join(f"{d:g}" for d in decays))


DEFAULT_AUDIO_MAPPINGS = (
    AudioMapping(feature="onset", target="speed", amount=1.0, decay=ONSET_DECAY),
    AudioMapping(feature="low", target="truncation", amount=0.25, curve="smooth"),
)


@dataclass(frozen=True)
class Preset:
    generator: GeneratorSettings = _section(GeneratorSettings)
    stage: StageSettings = _section(StageSettings)
    clock: ClockSettings = _section(ClockSettings)
    play: PlaySettings = _section(PlaySettings)
    path: PathSettings = _section(PathSettings)
    mix: StyleMix | None = _section(StyleMix, optional=True)
    overlay: OverlaySettings = _section(OverlaySettings)
    osc: OscSettings = _section(OscSettings)
    keyframes: tuple[KeyframeSpec, ...] = _sections(KeyframeSpec)
    controls: tuple[ControlSpec, ...] = _sections(ControlSpec)
    outputs: tuple[OutputSpec, ...] = _sections(OutputSpec)
    midi: tuple[MidiMapping, ...] = _sections(MidiMapping)
    audio: AudioSettings | None = _section(AudioSettings, optional=True)
    base_dir: Path = field(default=Path("."), compare=False)

    @property
    def params(self) -> Params:
        """The table's parameters as this preset sets them (each lives at its `Param.preset`
        "section.key"; read by walking the table)."""
        return Params({p.name: getattr(getattr(self, p.preset.split(".")[0]), p.preset.split(".")[1])
                       for p in PARAMS if p.saved})

    def with_params(self, params: Params) -> Preset:
        """This preset with the table's saved parameters set to `params` (written by walking the table)."""
        sections: dict[str, dict] = {}
        for p in PARAMS:
            if p.saved:
                section, key = p.preset.split(".")
                value = params[p.name]
                sections.setdefault(section, {})[key] = shortest(value) if isinstance(value, float) else value
        return replace(self, **{name: replace(getattr(self, name), **keys) for name, keys in sections.items()})

    def resolve(self, relative: str) -> Path:
        """A path written in the preset, relative to the preset's folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def generator_source(self) -> str | Path:
        """What load_generator takes: 'demo', 'arch:NAME', a URL or published name, or the resolved
        checkpoint path (relative to the preset's folder)."""
        source = self.generator.source
        if source == "demo" or source.startswith("arch:") or is_url(source):
            return source
        path = self.resolve(source)
        return source if find_published(source) and not path.exists() else path


# ---- reading: TOML tables into the dataclasses ---------------------------------------------------


def _table_fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)
            if check_of(f) is not None or "section" in f.metadata or "sections" in f.metadata}


def _read(cls: type, table: object, where: str, origin: str) -> Any:
    """One table as `cls`; errors name origin, the table (`where`), the key and the reason."""
    if not isinstance(table, dict):
        raise PresetError(f"{origin}: {where} must be a table")
    fields = _table_fields(cls)
    for key in table:
        if key not in fields:
            raise PresetError(f"{origin}: {where} unknown key '{key}' (known: {', '.join(fields)})")
    required = [name for name, f in fields.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if any(name not in table for name in required):
        names = " and ".join(f"'{n}'" for n in required)
        raise PresetError(f"{origin}: {where} needs {'both ' if len(required) == 2 else ''}{names}")
    values = {}
    for key, value in table.items():
        values[key] = _read_value(fields[key], value, where, origin)
    try:
        return cls(**values)
    except CheckError as exc:
        raise PresetError(f"{origin}: {where} {exc}") from None


def _read_value(f: dataclasses.Field, value: object, where: str, origin: str) -> Any:
    if "section" in f.metadata:
        return _read(f.metadata["section"], value, f"[{f.name}]", origin)
    if "sections" in f.metadata:
        name = f"{where.strip('[]')}.{f.name}" if where else f.name
        if not isinstance(value, list):
            raise PresetError(f"{origin}: {f.name} must be [[{name}]] entries")
        return tuple(_read(f.metadata["sections"], item, f"[[{name}]] #{n}", origin) for n, item in enumerate(value, 1))
    return value  # checked when the dataclass is made


def parse_preset(data: dict, origin: str, base_dir: Path) -> Preset:
    """A Preset from parsed TOML; every key checked, errors name origin, key and reason."""
    fields = _table_fields(Preset)
    for key in data:
        if key not in fields:
            known = ", ".join(fields)
            raise PresetError(f"{origin}: unknown section [{key}] (known: {known})")
    values = {key: _read_value(fields[key], value, "", origin) for key, value in data.items()}
    for table in ("controls", "outputs"):  # each entry's name is its own within its table
        seen: set[str] = set()
        for n, entry in enumerate(values.get(table, ()), start=1):
            if entry.name in seen:
                raise PresetError(f"{origin}: [[{table}]] #{n} name '{entry.name}' is used by an earlier {table[:-1]}")
            seen.add(entry.name)
    return Preset(**values, base_dir=base_dir)


MAX_PRESET_BYTES = 4 * 2**20  # a show of 10,000 keyframes is about 1 MB of TOML


def load_preset(path: str | Path) -> Preset:
    """Read and check a preset file: a regular file of at most MAX_PRESET_BYTES (read like every
    file the show reads, `files.read_bounded`); every problem is one PresetError line."""
    path = Path(path).expanduser()
    data = read_bounded(path, MAX_PRESET_BYTES, "preset file", PresetError)
    try:
        text = data.decode("utf-8-sig")  # a BOM some editors write is not part of the TOML
    except UnicodeDecodeError as exc:
        raise PresetError(f"{path}: cannot be read ({exc})") from None
    try:
        parsed = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise PresetError(f"{path}: not a preset (its tables or arrays are nested too deeply)") from None
    if _deeper_than(parsed, MAX_DEPTH):
        raise PresetError(f"{path}: not a preset (its tables or arrays are nested more than {MAX_DEPTH} deep)")
    return parse_preset(parsed, str(path), path.resolve().parent)


MAX_DEPTH = 8  # a preset's deepest value, [[osc.mappings]] input = [0, 1], is 4 deep


def _deeper_than(data: object, limit: int) -> bool:
    """Whether tables and arrays nest more than `limit` deep (walked without recursion, so the
    check itself never overflows the stack, and no message ever prints such a value)."""
    todo = [(data, 1)]
    while todo:
        value, depth = todo.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                todo.append((child, depth + 1))
    return False


def default_preset_path() -> Path:
    """presets/default.toml as installed with the package."""
    return Path(str(resources.files("realtime.preset_files") / "default.toml"))


def check_mappings(mappings: tuple[OscMapping, ...], params: Collection[str], origin: str) -> None:
    """Every [[osc.mappings]] param must be one of `params` (the OSC adapter's one-number
    parameters, given as data so that presets know nothing of OSC); `origin` names the file."""
    for n, mapping in enumerate(mappings, start=1):
        if mapping.param not in params:
            raise PresetError(f"{origin}: [[osc.mappings]] #{n} param '{mapping.param}' is not a one-number parameter "
                              f"({', '.join(sorted(params))})")


def cue_timeline(preset: Preset) -> CueTimeline | None:
    """The preset's cue timing (keyframes with `at`), or None when it has no cues."""
    cues = [(parse_time(spec.at), float(k)) for k, spec in enumerate(preset.keyframes) if spec.at is not None]
    if not cues:
        return None
    try:
        return CueTimeline(cues, preset.play.speed)
    except ValueError as exc:
        raise PresetError(f"{preset.base_dir}: [[keyframes]] at: {exc}") from None


# ---- writing -----------------------------------------------------------------------------------


def _write(obj: Any) -> dict:
    table: dict = {}
    for name, f in _table_fields(type(obj)).items():
        value = getattr(obj, name)
        if value is None:
            continue
        if "section" in f.metadata:
            table[name] = _write(value)
        elif "sections" in f.metadata:
            table[name] = [_write(item) for item in value]
        else:
            table[name] = [_as_given(v) for v in value] if isinstance(value, tuple) else _as_given(value)
    return table


def _as_given(value: Any) -> Any:
    """A float as the user gave it (an OSC float32 0.6000000238418579 is written 0.6: `shortest`)."""
    return shortest(value) if isinstance(value, float) else value


def preset_to_toml(preset: Preset) -> str:
    return tomli_w.dumps(_write(preset))


def relative_path(path: Path, base: Path) -> str:
    """path as written relative to base ('../faces/a.npy'), so a show folder can move."""
    try:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return str(path.resolve())


def user_presets_dir() -> Path:
    """$XDG_DATA_HOME/stylevj/presets (~/.local/share/stylevj/presets): where saves go when the
    show's presets are the read-only ones shipped with the package (`files.user_folder`)."""
    return user_folder("presets")


def save_preset(preset: Preset, path: str | Path, backup: bool = False) -> Path:
    """Write the preset atomically; relative paths inside are kept relative to its new folder.

    backup: a preset already at `path` is kept as `<name>.toml.bak` first (a user's save never
    destroys the previous version). The packaged presets are never written."""
    path = Path(path).expanduser()
    if not path.parent.is_dir():
        raise PresetError(f"{path}: folder {path.parent} does not exist")
    if path.resolve().parent == default_preset_path().parent.resolve():
        raise PresetError(f"{path}: the presets shipped with stylevj are read-only; save under another folder")
    moved = replace(preset, keyframes=tuple(
        replace(spec, file=relative_path(preset.resolve(spec.file), path.parent)) if spec.file else spec
        for spec in preset.keyframes
    ), controls=tuple(
        replace(spec, file=relative_path(preset.resolve(spec.file), path.parent)) if spec.file else spec
        for spec in preset.controls
    ))
    if preset.overlay.font:
        moved = replace(moved, overlay=replace(preset.overlay, font=relative_path(preset.resolve(preset.overlay.font), path.parent)))
    source = preset.generator_source()
    if isinstance(source, Path):  # a file: keep pointing at it from the new folder (not demo, a URL, a name)
        moved = replace(moved, generator=replace(moved.generator, source=relative_path(source, path.parent)))
    payload = preset_to_toml(moved).encode("utf-8")
    check_writable_target(path, "preset", PresetError)  # a FIFO there is refused, never read for the backup
    try:
        if backup and path.exists():
            bak = path.with_name(path.name + ".bak")
            check_writable_target(bak, "backup", PresetError)
            atomic_write(bak, read_bounded(path, MAX_PRESET_BYTES, "preset file", PresetError))
        return atomic_write(path, payload)
    except OSError as exc:
        raise PresetError(f"{path}: cannot write ({exc.strerror or exc})") from None
