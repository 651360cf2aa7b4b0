"""Show files (TOML): what to load, which keyframes, how to move, how it looks.

    [generator]               source = "demo" (or a checkpoint path, relative to this file)
    [play]                    speed, truncation
    [path]                    spline, alpha, closed, constant_speed, blend
    [mix]                     keyframe, layers = [first, last]     (optional)
    [overlay]                 tensor, gpu, opacity
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


@dataclass(frozen=True)
class OverlaySettings:
    tensor: bool = False
    gpu: bool = False
    opacity: float = 0.85


@dataclass(frozen=True)
class OscSettings:
    host: str = "127.0.0.1"
    port: int = 9000


@dataclass(frozen=True)
class Preset:
    generator: str = "demo"
    noise: str = "const"
    speed: float = 0.25
    truncation: float = 0.7
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


SCHEMA = {
    "generator": {"source": _text, "noise": _choice(NOISE_MODES)},
    "play": {"speed": _number(-1000, 1000), "truncation": _number(-2, 2)},
    "path": {"spline": _choice(SPLINES), "alpha": _number(0, 1), "closed": _boolean,
             "constant_speed": _boolean, "blend": _number(0, 60)},
    "mix": {"keyframe": _integer(0, 10_000), "layers": _pair},
    "overlay": {"tensor": _boolean, "gpu": _boolean, "opacity": _number(0, 1)},
    "osc": {"host": _text, "port": _integer(1, 65535)},
}
KEYFRAME_SCHEMA = {"seed": _integer(0, 2**32 - 1), "file": _text, "name": _text, "truncation": _number(-2, 2)}


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
        path=PathSettings(**{k: float(v) if k in ("alpha", "blend") else v for k, v in path.items()}),
        mix=style_mix, overlay=OverlaySettings(**sections["overlay"]), osc=OscSettings(**sections["osc"]),
        keyframes=tuple(specs), base_dir=base_dir,
    )


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


def keyframe_specs(keyframes: list[Keyframe], preset_path: Path) -> tuple[KeyframeSpec, ...]:
    """Specs for live keyframes: seeds stay seeds, files stay files, anything else (snapshots,
    projections) is written as .safetensors into '<preset stem>.keyframes/' beside the preset."""
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
        else:
            stem = re.sub(r"[^A-Za-z0-9_-]+", "-", kf.name).strip("-") or "keyframe"
            file = folder / f"{n:03d}-{stem}.safetensors"
            while file in used:
                file = file.with_name(file.stem + "-x.safetensors")
            save_keyframe(kf, file)
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
        "play": {"speed": preset.speed, "truncation": preset.truncation},
        "path": {"spline": preset.path.spline, "alpha": preset.path.alpha, "closed": preset.path.closed,
                 "constant_speed": preset.path.constant_speed, "blend": preset.path.blend},
        "overlay": {"tensor": preset.overlay.tensor, "gpu": preset.overlay.gpu, "opacity": preset.overlay.opacity},
        "osc": {"host": preset.osc.host, "port": preset.osc.port},
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
        truncation=preset.truncation, mix=preset.mix,
    )


def capture(preset: Preset, player, path: str | Path) -> Preset:
    """The preset as the live show stands now (keyframes, speed, look), ready to save at `path`;
    keyframes that exist only in memory are written beside it first."""
    path = Path(path).expanduser()
    return replace(
        preset, keyframes=keyframe_specs(list(player.keyframes), path), speed=player.speed,
        truncation=player.truncation, path=player.settings, mix=player.mix, base_dir=path.resolve().parent,
    )
