"""Show files (TOML): what to load, which keyframes, how to move, how it looks.

    [generator]               source = "demo" (or a checkpoint path, relative to this file)
    [play]                    speed, truncation
    [path]                    spline, alpha, closed, constant_speed, blend
    [mix]                     keyframe, layers = [first, last]     (optional)
    [overlay]                 tensor, gpu, opacity, font, font_size, tensor_rows, tensor_hz, tensor_rect, gpu_rect
    [osc]                     host, port
    [[keyframes]]             seed = 7 | file = "keyframes/face.safetensors", name, truncation

Loading checks every key: an unknown key or a bad value is a `PresetError` naming the file,
the key and the reason. Saving is atomic (temp file, fsync, rename), and keyframes that exist
only in memory (snapshots, projected faces added live) are written beside the preset first.
A `Preset` is a frozen value: the show passes it around, nothing keeps a global one.
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import tomli_w

from .errors import StylevjError
from .files import atomic_write
from .latent import Keyframe, PathSettings, Player, StyleMix, keyframe_from_seed, load_keyframe, save_keyframe
from .latent.cues import CueTimeline, parse_time
from .latent.player import SPLINES
from .models.generator import NOISE_MODES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class PresetError(StylevjError):
    """A preset file that cannot be read or is wrong; the message names file, key and reason."""


@dataclass(frozen=True)
class KeyframeSpec:
    """One [[keyframes]] entry: a seed or a file (as written, relative to the preset)."""

    seed: int | None = None
    file: str | None = None
    name: str | None = None
    truncation: float | None = None
    at: str | float | None = None  # cue: reach this keyframe at this time of the show ("1:12.5")


@dataclass(frozen=True)
class OverlaySettings:
    """The overlay panels (realtime/overlay): which are on, where, and how they look."""

    tensor: bool = False
    gpu: bool = False
    opacity: float = 0.85  # the panels' window background; text stays opaque
    font: str | None = None  # monospace .ttf, relative to the preset; default DejaVu Sans Mono (matplotlib)
    font_size: float = 15.0  # pixels at 1080 output lines; scales with the output (30 px at 4K)
    tensor_rows: tuple[int, int] = (0, 2)  # W+ rows printed, as the slice w[first:stop]
    tensor_hz: float = 10.0  # prints a second, at most one per generated frame
    tensor_rect: tuple[float, float, float, float] = (0.015, 0.03, 0.4, 0.62)  # x, y, w, h: output fractions from top-left
    gpu_rect: tuple[float, float, float, float] = (0.585, 0.03, 0.4, 0.62)

    def __post_init__(self) -> None:  # TOML arrays arrive as lists: keep the value hashable
        for name in ("tensor_rows", "tensor_rect", "gpu_rect"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


@dataclass(frozen=True)
class OscMapping:
    """A user address mapped onto a parameter: TouchDesigner's OSC Out CHOP sends one address
    per channel, e.g. /speed 0..1 -> speed 0..4."""

    address: str
    param: str
    input: tuple[float, float] = (0.0, 1.0)
    output: tuple[float, float] = (0.0, 1.0)


@dataclass(frozen=True)
class OscSettings:
    host: str = "127.0.0.1"
    port: int = 9000
    reply: str = ""  # "host:port" for feedback (TouchDesigner's OSC In)
    allow: tuple[str, ...] = ()  # sender CIDRs when host is not loopback
    mappings: tuple[OscMapping, ...] = ()


@dataclass(frozen=True)
class Preset:
    generator: str = "demo"
    noise: str = "const"
    speed: float = 0.25
    truncation: float = 0.7
    position: float = 0.0  # where the show starts, in keyframe units (journals keep the live one)
    path: PathSettings = PathSettings()
    mix: StyleMix | None = None
    overlay: OverlaySettings = OverlaySettings()
    osc: OscSettings = OscSettings()
    keyframes: tuple[KeyframeSpec, ...] = ()
    base_dir: Path = field(default=Path("."), compare=False)

    def resolve(self, relative: str) -> Path:
        """A path written in the preset, relative to the preset's folder."""
        path = Path(relative).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def generator_source(self) -> str | Path:
        """What load_generator takes: 'demo', 'arch:NAME', or the resolved checkpoint path."""
        if self.generator == "demo" or self.generator.startswith("arch:"):
            return self.generator
        return self.resolve(self.generator)


# ---- validation ------------------------------------------------------------------------------


def _number(lo: float, hi: float):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return "must be a number"
        return None if lo <= v <= hi else f"must be within [{lo:g}, {hi:g}], got {v:g}"
    return check


def _integer(lo: int, hi: int):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int):
            return "must be a whole number"
        return None if lo <= v <= hi else f"must be within [{lo}, {hi}], got {v}"
    return check


def _boolean(v):
    return None if isinstance(v, bool) else "must be true or false"


def _text(v):
    return None if isinstance(v, str) and v else "must be a non-empty string"


def _choice(options):
    def check(v):
        return None if v in options else f"must be one of {', '.join(options)}, got {v!r}"
    return check


def _pair(v):
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
        return "must be two whole numbers [first, last]"
    return None if 0 <= v[0] <= v[1] else f"must satisfy 0 <= first <= last, got {v}"


def _host_port(v):
    if not isinstance(v, str):
        return "must be a string 'host:port'"
    if v == "":
        return None
    host, _, port = v.rpartition(":")
    return None if host and port.isdigit() and 1 <= int(port) <= 65535 else f"must be 'host:port', got {v!r}"


def _text_list(v):
    return None if isinstance(v, list) and all(isinstance(x, str) and x for x in v) else "must be a list of strings"


def _range(v):
    ok = isinstance(v, list) and len(v) == 2 and all(_number(-1e9, 1e9)(x) is None for x in v)
    return None if ok else "must be two numbers [low, high]"


MAPPING_SCHEMA = {"address": _text, "param": _text, "input": _range, "output": _range}


def _mappings(v):
    if not isinstance(v, list):
        return "must be a list of [[osc.mappings]] tables"
    for n, m in enumerate(v, start=1):
        if not isinstance(m, dict):
            return f"#{n} must be a table"
        for key, value in m.items():
            if key not in MAPPING_SCHEMA:
                return f"#{n} unknown key '{key}' (known: {', '.join(MAPPING_SCHEMA)})"
            problem = MAPPING_SCHEMA[key](value)
            if problem:
                return f"#{n} {key} {problem}"
        if "address" not in m or "param" not in m:
            return f"#{n} needs 'address' and 'param'"
        if not m["address"].startswith("/"):
            return f"#{n} address must start with '/'"
        from .control.addresses import TABLE, PREFIX

        entry = TABLE.get(PREFIX + m["param"])
        if entry is None or not entry.param or len(entry.args) != 1 or entry.args[0].kind not in "fi":
            return f"#{n} param '{m['param']}' is not a one-number parameter (speed, truncation, alpha, goto, ...)"
    return None


def _slice(v):
    if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
        return "must be two whole numbers [first, stop] (the rows w[first:stop])"
    return None if 0 <= v[0] < v[1] else f"must satisfy 0 <= first < stop, got {v}"


def _rect(v):
    if not (isinstance(v, list) and len(v) == 4 and all(_number(0, 1)(x) is None for x in v)):
        return "must be four numbers [x, y, width, height], fractions of the output within [0, 1]"
    x, y, w, h = v
    if w <= 0 or h <= 0 or x + w > 1 + 1e-9 or y + h > 1 + 1e-9:
        return f"must have width, height > 0 and stay inside the output (x + width <= 1, y + height <= 1), got {v}"
    return None


SCHEMA = {
    "generator": {"source": _text, "noise": _choice(NOISE_MODES)},
    "play": {"speed": _number(-1000, 1000), "truncation": _number(-2, 2), "position": _number(-1e6, 1e6)},
    "path": {"spline": _choice(SPLINES), "alpha": _number(0, 1), "closed": _boolean,
             "constant_speed": _boolean, "blend": _number(0, 60)},
    "mix": {"keyframe": _integer(0, 10_000), "layers": _pair},
    "overlay": {"tensor": _boolean, "gpu": _boolean, "opacity": _number(0, 1), "font": _text,
                "font_size": _number(4, 200), "tensor_rows": _slice, "tensor_hz": _number(0.1, 240),
                "tensor_rect": _rect, "gpu_rect": _rect},
    "osc": {"host": _text, "port": _integer(1, 65535), "reply": _host_port, "allow": _text_list, "mappings": _mappings},
}
def _cue_time(v):
    try:
        parse_time(v)
    except ValueError as exc:
        return f"must be a time: {exc}"
    return None


KEYFRAME_SCHEMA = {"seed": _integer(0, 2**32 - 1), "file": _text, "name": _text, "truncation": _number(-2, 2),
                   "at": _cue_time}


def _checked(table: object, where: str, schema: dict, origin: str) -> dict:
    if not isinstance(table, dict):
        raise PresetError(f"{origin}: {where} must be a table")
    for key, value in table.items():
        if key not in schema:
            raise PresetError(f"{origin}: {where} unknown key '{key}' (known: {', '.join(schema)})")
        problem = schema[key](value)
        if problem:
            raise PresetError(f"{origin}: {where} {key} {problem}")
    return table


def parse_preset(data: dict, origin: str, base_dir: Path) -> Preset:
    """A Preset from parsed TOML; every key checked, errors name origin, key and reason."""
    sections = {name: _checked(data.get(name, {}), f"[{name}]", schema, origin) for name, schema in SCHEMA.items()}
    for key in data:
        if key not in SCHEMA and key != "keyframes":
            raise PresetError(f"{origin}: unknown section [{key}] (known: {', '.join(list(SCHEMA) + ['keyframes'])})")
    entries = data.get("keyframes", [])
    if not isinstance(entries, list):
        raise PresetError(f"{origin}: keyframes must be [[keyframes]] entries")
    specs = []
    for n, entry in enumerate(entries, start=1):
        where = f"[[keyframes]] #{n}"
        _checked(entry, where, KEYFRAME_SCHEMA, origin)
        if ("seed" in entry) == ("file" in entry):
            raise PresetError(f"{origin}: {where} needs exactly one of 'seed' or 'file'")
        specs.append(KeyframeSpec(**entry))
    gen, play, path, mix = sections["generator"], sections["play"], sections["path"], sections["mix"]
    style_mix = None
    if mix:
        if set(mix) != {"keyframe", "layers"}:
            raise PresetError(f"{origin}: [mix] needs both 'keyframe' and 'layers'")
        style_mix = StyleMix(mix["keyframe"], mix["layers"][0], mix["layers"][1])
    return Preset(
        generator=gen.get("source", "demo"), noise=gen.get("noise", "const"),
        speed=float(play.get("speed", 0.25)), truncation=float(play.get("truncation", 0.7)),
        position=float(play.get("position", 0.0)),
        path=PathSettings(**{k: float(v) if k in ("alpha", "blend") else v for k, v in path.items()}),
        mix=style_mix, overlay=OverlaySettings(**sections["overlay"]), osc=_osc_settings(sections["osc"]),
        keyframes=tuple(specs), base_dir=base_dir,
    )


def _osc_settings(table: dict) -> OscSettings:
    mappings = tuple(
        OscMapping(m["address"], m["param"], tuple(m.get("input", (0.0, 1.0))), tuple(m.get("output", (0.0, 1.0))))
        for m in table.get("mappings", [])
    )
    return OscSettings(host=table.get("host", "127.0.0.1"), port=table.get("port", 9000), reply=table.get("reply", ""),
                       allow=tuple(table.get("allow", ())), mappings=mappings)


def cue_timeline(preset: Preset) -> CueTimeline | None:
    """The preset's cue timing (keyframes with `at`), or None when it has no cues."""
    cues = [(parse_time(spec.at), float(k)) for k, spec in enumerate(preset.keyframes) if spec.at is not None]
    if not cues:
        return None
    try:
        return CueTimeline(cues, preset.speed)
    except ValueError as exc:
        raise PresetError(f"{preset.base_dir}: [[keyframes]] at: {exc}") from None


def load_preset(path: str | Path) -> Preset:
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PresetError(f"{path}: no such preset file") from None
    except IsADirectoryError:
        raise PresetError(f"{path}: is a folder, not a preset file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PresetError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: not valid TOML ({exc})") from None
    return parse_preset(data, str(path), path.resolve().parent)


def default_preset_path() -> Path:
    """presets/default.toml as installed with the package."""
    return Path(str(resources.files("realtime.preset_files") / "default.toml"))


# ---- keyframes -------------------------------------------------------------------------------


def load_keyframes(preset: Preset, G) -> list[Keyframe]:
    """Every keyframe of the preset, mapped or loaded for generator G."""
    keyframes = []
    for spec in preset.keyframes:
        if spec.seed is not None:
            keyframes.append(keyframe_from_seed(G, spec.seed, spec.truncation, spec.name))
        else:
            kf = load_keyframe(preset.resolve(spec.file), G.num_ws, G.w_dim, spec.name)
            if spec.truncation is not None:
                from .models.generator import truncate

                kf = Keyframe(truncate(kf.w, G.w_avg.to(kf.w.device), spec.truncation), kf.name, kf.source)
            keyframes.append(kf)
    return [kf.to(G.device) for kf in keyframes]


_SEED_SOURCE = re.compile(r"^seed:(\d+)(?:@([-0-9.e]+))?$")


def keyframe_specs(keyframes: list[Keyframe], preset_path: Path, saved: dict | None = None) -> tuple[KeyframeSpec, ...]:
    """Specs for live keyframes: seeds stay seeds, files stay files, anything else (snapshots,
    projections) is written as .safetensors into '<preset stem>.keyframes/' beside the preset.

    saved: {id(keyframe.w): (keyframe.w, path)} of tensors already written, reused and updated
    (a journal writes each live keyframe once, however often it records)."""
    folder = preset_path.parent / f"{preset_path.stem}.keyframes"
    specs, used = [], set()
    for n, kf in enumerate(keyframes):
        seed = _SEED_SOURCE.match(kf.source)
        if seed:
            psi = float(seed.group(2)) if seed.group(2) else None
            specs.append(KeyframeSpec(seed=int(seed.group(1)), name=kf.name, truncation=psi))
            continue
        if kf.source.startswith("file:"):
            file = Path(kf.source[5:])
        elif saved is not None and id(kf.w) in saved:
            file = saved[id(kf.w)][1]
        else:
            stem = re.sub(r"[^A-Za-z0-9_-]+", "-", kf.name).strip("-") or "keyframe"
            file = folder / f"{n:03d}-{stem}.safetensors"
            while file in used or (saved is not None and file.exists()):
                file = file.with_name(file.stem + "-x.safetensors")
            save_keyframe(kf, file)
            if saved is not None:
                saved[id(kf.w)] = (kf.w, file)
        used.add(file)
        specs.append(KeyframeSpec(file=_relative(file, preset_path.parent), name=kf.name))
    return tuple(specs)


def _relative(path: Path, base: Path) -> str:
    """path as written relative to base ('../faces/a.npy'), so a show folder can move."""
    try:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return str(path.resolve())


# ---- saving ----------------------------------------------------------------------------------


def preset_to_toml(preset: Preset) -> str:
    data: dict = {
        "generator": {"source": preset.generator, "noise": preset.noise},
        "play": {"speed": preset.speed, "truncation": preset.truncation, "position": preset.position},
        "path": {"spline": preset.path.spline, "alpha": preset.path.alpha, "closed": preset.path.closed,
                 "constant_speed": preset.path.constant_speed, "blend": preset.path.blend},
        "overlay": {k: list(v) if isinstance(v, tuple) else v for k, v in preset.overlay.__dict__.items() if v is not None},
        "osc": {"host": preset.osc.host, "port": preset.osc.port, "reply": preset.osc.reply, "allow": list(preset.osc.allow),
                "mappings": [{"address": m.address, "param": m.param, "input": list(m.input), "output": list(m.output)}
                             for m in preset.osc.mappings]},
    }
    if preset.mix is not None:
        data["mix"] = {"keyframe": preset.mix.keyframe, "layers": [preset.mix.first, preset.mix.last]}
    data["keyframes"] = [{k: v for k, v in spec.__dict__.items() if v is not None} for spec in preset.keyframes]
    return tomli_w.dumps(data)


def save_preset(preset: Preset, path: str | Path) -> Path:
    """Write the preset atomically; relative paths inside are kept relative to its new folder."""
    path = Path(path).expanduser()
    if not path.parent.is_dir():
        raise PresetError(f"{path}: folder {path.parent} does not exist")
    moved = replace(preset, keyframes=tuple(
        replace(spec, file=_relative(preset.resolve(spec.file), path.parent)) if spec.file else spec
        for spec in preset.keyframes
    ))
    if preset.overlay.font:
        moved = replace(moved, overlay=replace(preset.overlay, font=_relative(preset.resolve(preset.overlay.font), path.parent)))
    if moved.generator not in ("demo",) and not moved.generator.startswith("arch:"):
        moved = replace(moved, generator=_relative(preset.resolve(preset.generator), path.parent))
    try:
        return atomic_write(path, preset_to_toml(moved).encode("utf-8"))
    except OSError as exc:
        raise PresetError(f"{path}: cannot write ({exc.strerror or exc})") from None


# ---- presets and the player ------------------------------------------------------------------


def player_from_preset(preset: Preset, G) -> Player:
    """A player ready to run the preset's show on generator G."""

    return Player(
        load_keyframes(preset, G), G.w_avg, settings=preset.path, speed=preset.speed,
        truncation=preset.truncation, mix=preset.mix, position=preset.position,
    )


def capture(preset: Preset, player: Player, path: str | Path, saved: dict | None = None, noise: str | None = None) -> Preset:
    """The preset as the live show stands now (keyframes, speed, position, look), ready to save
    at `path`; keyframes that exist only in memory are written beside it first."""
    path = Path(path).expanduser()
    return replace(
        preset, keyframes=keyframe_specs(list(player.keyframes), path, saved), speed=player.speed,
        truncation=player.truncation, position=round(player.position, 6), path=player.settings, mix=player.mix,
        noise=noise or preset.noise, base_dir=path.resolve().parent,
    )
