"""Presets and the running show: a preset into keyframes and a player, the live show back into a preset.

    player = player_from_preset(preset, G)                  # keyframes mapped/loaded for G
    saved = capture(preset, state, path)                    # state: a ShowState or LiveShow.of(player, params)
    save_preset(saved, path)

Live keyframes that exist only in memory (snapshots, projected faces added live) are written as
.safetensors beside the preset when captured, each once.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import StylevjError
from ..files import atomic_write
from ..latent import Keyframe, Player, StyleMix, keyframe_from_seed, load_keyframe
from ..latent.controls import ControlReading, Controls, Knob
from ..latent.direction_files import cached_directions, load_direction, load_direction_set
from ..latent.directions import DirectionError, compute_directions, direction_offset
from ..latent.keyframes import keyframe_bytes
from ..latent.layer_ranges import parse_layers, rows_of
from ..models import truncate
from ..params import Params
from ..presets import ControlSpec, KeyframeSpec, Preset, PresetError, relative_path
from .state import MidiState

if TYPE_CHECKING:  # pragma: no cover
    from .state import ShowState


@dataclass(frozen=True)
class LiveShow:
    """What `capture` reads of a live show (a `ShowState` has the same fields): what the
    parameter table does not hold (keyframes, position, mix, controls) and the parameters."""

    keyframes: tuple[Keyframe, ...]
    position: float
    params: Params
    mix: StyleMix | None
    controls: tuple[ControlReading, ...] = ()
    midi: MidiState = MidiState()  # the MIDI mappings (saved as [[midi]])
    outputs: tuple = ()  # OutputReports (frame outputs): each one's `spec` is saved as [[outputs]]

    @classmethod
    def of(cls, player: Player, params: Params, midi: MidiState | None = None, outputs: tuple = ()) -> LiveShow:
        """The show as it stands now (call on the render thread, which moves the player)."""
        return cls(player.keyframes, player.position, params, player.mix, player.controls.readings(), midi or MidiState(),
                   outputs)


def load_keyframes(preset: Preset, G) -> list[Keyframe]:
    """Every keyframe of the preset, mapped or loaded for generator G (all or nothing)."""
    keyframes = []
    for spec in preset.keyframes:
        if spec.seed is not None:
            keyframes.append(keyframe_from_seed(G, spec.seed, spec.truncation, spec.name))
        else:
            kf = load_keyframe(preset.resolve(spec.file), G.num_ws, G.w_dim, spec.name)
            if spec.truncation is not None:
                kf = Keyframe(truncate(kf.w, G.w_avg.to(kf.w.device), spec.truncation), kf.name, kf.source)
            keyframes.append(kf)
    return [kf.to(G.device) for kf in keyframes]


def check_mix(preset: Preset, num_ws: int, keyframes: int, origin: str = "") -> None:
    """The preset's [mix] must name an existing keyframe and W+ rows this generator has."""
    mix = preset.mix
    if mix is None:
        return
    where = origin or str(preset.base_dir)
    if mix.last >= num_ws:
        raise PresetError(f"{where}: [mix] layers {list(mix.layers)} are not within 0..{num_ws - 1} (this generator's W+ rows)")
    if mix.keyframe >= keyframes:
        raise PresetError(f"{where}: [mix] keyframe {mix.keyframe} does not exist (the preset has {keyframes})")


def make_knob(spec: ControlSpec, G, preset: Preset, found: dict | None = None) -> Knob:
    """The live control for one [[controls]] entry on generator G (directions computed or read).

    SeFa directions are computed for the control's own layers (milliseconds, deterministic);
    GANSpace ones come from the per-checkpoint cache. `found` shares computed sets between the
    controls of one preset. The knob keeps `spec` (a file made absolute) for saving.
    """
    found = {} if found is None else found
    low, high = spec.range
    if spec.bend is not None:
        channels = G.synthesis.bend_channels  # resolution -> channels where a bend acts (StyleGAN2 and 3)
        if spec.resolution not in channels:
            raise DirectionError(f"bend at {spec.resolution} px: this generator's blocks are at "
                                 f"{', '.join(str(r) for r in channels)} px")
        return Knob(spec.name, low, high, spec.slew, bend=spec.bend, resolution=spec.resolution,
                    edge=spec.edge or "wrap", channels=channels[spec.resolution], source=spec)
    rows = parse_layers(spec.layers or "all", rows_of(G))
    if spec.file is not None:
        path = preset.resolve(spec.file)
        spec = replace(spec, file=str(path.resolve()))
        if spec.index is None:
            direction = load_direction(path, G.num_ws, G.w_dim)
        else:
            vectors = load_direction_set(path, G.w_dim)
            if spec.index >= len(vectors):
                raise DirectionError(f"{path}: holds {len(vectors)} directions, no index {spec.index}")
            direction = vectors[spec.index]
    else:
        key = (spec.method, rows if spec.method == "sefa" else None)
        if key not in found:
            found[key] = (compute_directions(G, "sefa", rows) if spec.method == "sefa"
                          else cached_directions(G, spec.method))
        directions = found[key]
        if spec.index >= len(directions):
            raise DirectionError(f"{spec.method} has {len(directions)} directions (w_dim), no index {spec.index}")
        direction = directions.vectors[spec.index]
    unit = direction_offset(direction, 1.0, rows, G.num_ws).to(G.device)  # [num_ws, w_dim]
    return Knob(spec.name, low, high, spec.slew, unit_offset=unit, source=spec)


def build_controls(preset: Preset, G, origin: str = "") -> Controls:
    """The preset's [[controls]] as live controls on G, each at its default; one-line errors
    name the file, the entry and the reason."""
    where = origin or str(preset.base_dir)
    controls, found, edges = Controls(), {}, {}
    for n, spec in enumerate(preset.controls, start=1):
        try:
            knob = make_knob(spec, G, preset, found)
        except StylevjError as exc:
            raise PresetError(f"{where}: [[controls]] #{n} ({spec.name}) {exc}") from None
        if knob.bend is not None and edges.setdefault(knob.resolution, knob.edge) != knob.edge:
            raise PresetError(f"{where}: [[controls]] #{n} ({spec.name}) edge '{knob.edge}' differs from another "
                              f"bend at {knob.resolution} px ('{edges[knob.resolution]}'): one edge per resolution")
        controls.add(knob, spec.default)
    return controls


def player_from_preset(preset: Preset, G) -> Player:
    """A player ready to run the preset's show on generator G."""
    check_mix(preset, G.num_ws, len(preset.keyframes))
    return Player(
        load_keyframes(preset, G), G.w_avg, settings=preset.path, speed=preset.play.speed,
        truncation=preset.play.truncation, mix=preset.mix, position=preset.play.position,
        controls=build_controls(preset, G), num_ws=G.num_ws,
    )


def control_specs(readings: tuple[ControlReading, ...]) -> tuple[ControlSpec, ...]:
    """The live controls as [[controls]] entries, each with its live value as the default."""
    specs = []
    for r in readings:
        if isinstance(r.source, ControlSpec):
            specs.append(replace(r.source, default=min(max(round(r.value, 6), r.low), r.high)))
    return tuple(specs)


_SEED_SOURCE = re.compile(r"^seed:(\d+)(?:@([-0-9.e]+))?$")


def keyframe_specs(keyframes: tuple[Keyframe, ...] | list[Keyframe], preset_path: Path,
                   saved: dict | None = None) -> tuple[KeyframeSpec, ...]:
    """Specs for live keyframes: seeds stay seeds, files stay files, anything else (snapshots,
    projections) is written as .safetensors into '<preset stem>.keyframes/' beside the preset.

    A written file is named by its content ('<name>-<sha256 prefix>.safetensors') and never
    replaced by other content, so every earlier save of the preset (its `.bak`, an old journal)
    still finds the keyframes it names: a backup is whole. A file already there is not written
    again. saved: {id(keyframe.w): (keyframe.w, path)} of tensors already written, reused and
    updated (a journal writes each live keyframe once, however often it records)."""
    folder = preset_path.parent / f"{preset_path.stem}.keyframes"
    specs = []
    for kf in keyframes:
        seed = _SEED_SOURCE.match(kf.source)
        if seed:
            psi = float(seed.group(2)) if seed.group(2) else None
            specs.append(KeyframeSpec(seed=int(seed.group(1)), name=kf.name, truncation=psi))
            continue
        if kf.source.startswith("file:"):
            file = Path(kf.source[5:])
        elif saved is not None and id(kf.w) in saved and saved[id(kf.w)][1].parent == folder:
            file = saved[id(kf.w)][1]
        else:
            payload = keyframe_bytes(kf)
            stem = re.sub(r"[^A-Za-z0-9_-]+", "-", kf.name).strip("-")[:40] or "keyframe"
            file = folder / f"{stem}-{hashlib.sha256(payload).hexdigest()[:16]}.safetensors"
            if not file.is_file():  # content-addressed: one there already holds these very bytes
                folder.mkdir(parents=True, exist_ok=True)
                atomic_write(file, payload)
            if saved is not None:
                saved[id(kf.w)] = (kf.w, file)
        specs.append(KeyframeSpec(file=relative_path(file, preset_path.parent), name=kf.name))
    return tuple(specs)


def capture(preset: Preset, live: LiveShow | ShowState, path: str | Path, saved: dict | None = None) -> Preset:
    """The preset as the live show stands now (keyframes, speed, position, look), ready to save
    at `path`; keyframes that exist only in memory are written beside it first."""
    path = Path(path).expanduser()
    saved_preset = preset.with_params(live.params)  # every saved knob of the table, by walking it
    return replace(
        saved_preset, keyframes=keyframe_specs(live.keyframes, path, saved),
        play=replace(saved_preset.play, position=round(live.position, 6)), mix=live.mix,
        controls=control_specs(live.controls), midi=live.midi.mappings, base_dir=path.resolve().parent,
        outputs=tuple(o.spec for o in live.outputs),
    )
