"""StyleGAN3's input transform from the show's knobs: translate x, y (picture widths) and rotate (degrees).

NVIDIA's visualizer (viz/equivariance_widget.py, viz/renderer.py) builds the picture's transform
as "rotate, then translate" and copies its *inverse* into `G.synthesis.input.transform`:

    m = [[cos a, sin a, x], [-sin a, cos a, y], [0, 0, 1]]      (gen_images.py: make_transform)
    G.synthesis.input.transform.copy_(inv(m))

The same matrix is made here, so a knob value means what it means in NVIDIA's tools. The buffer
is written in place (`copy_`), never replaced: a CUDA graph or a compiled synthesis that read it
at capture time reads the new values on its next replay.

Which knobs a generator takes is said by `features(G)`; `supported(params, G)` gives the show's
parameters with those it cannot act on set back to their defaults (and their names), so a show
and a render handle a preset written for another network the same way.
"""

from __future__ import annotations

import logging
import math

import torch

from ..params import PARAMS, Params

log = logging.getLogger(__name__)

TRANSFORM_PARAMS = ("translate_x", "translate_y", "rotate")


def transform_matrix(translate_x: float, translate_y: float, rotate: float) -> torch.Tensor:
    """The 3x3 float32 buffer value for this translation (picture widths) and rotation (degrees):
    the inverse of NVIDIA's `make_transform((x, y), angle)`, computed in float64."""
    a = math.radians(rotate)
    c, s = math.cos(a), math.sin(a)
    m = torch.tensor([[c, s, translate_x], [-s, c, translate_y], [0.0, 0.0, 1.0]], dtype=torch.float64)
    return torch.linalg.inv(m).float()


def has_input_transform(G) -> bool:
    """True for a generator whose synthesis starts from a transformable input (StyleGAN3)."""
    return isinstance(getattr(getattr(getattr(G, "synthesis", None), "input", None), "transform", None), torch.Tensor)


def features(G) -> frozenset[str]:
    """What `G` offers of the knobs' `Param.needs` ("stylegan3": the input transform)."""
    return frozenset({"stylegan3"}) if has_input_transform(G) else frozenset()


def set_input_transform(G, translate_x: float, translate_y: float, rotate: float) -> None:
    """Copy the transform into G's buffer in place (on the caller's device stream)."""
    buffer = G.synthesis.input.transform
    buffer.copy_(transform_matrix(translate_x, translate_y, rotate).to(buffer.dtype))


def supported(params: Params, G) -> Params:
    """`params` with the knobs `G` cannot act on back at their defaults (a preset written for a
    StyleGAN3 network, played on a StyleGAN2 one); one warning names those that were set."""
    has = features(G)
    dropped = [p for p in PARAMS if p.needs and p.needs not in has and params[p.name] != p.default]
    for requirement in sorted({p.requirement for p in dropped}):
        names = [p.name for p in dropped if p.requirement == requirement]
        log.warning("%s ignored: %s %s", ", ".join(names), "they need" if len(names) > 1 else "it needs", requirement)
    return params.replace(**{p.name: p.default for p in dropped})


def knob_values(params: Params) -> tuple[float, float, float]:
    """The transform's knobs as `params` sets them: (translate_x, translate_y, rotate)."""
    x, y, turn = (float(params[n]) for n in TRANSFORM_PARAMS)
    return x, y, turn


def apply_transform(G, transform: tuple[float, float, float]) -> None:
    """Set G's input transform to (translate_x, translate_y, rotate) (nothing for a generator without one)."""
    if has_input_transform(G):
        set_input_transform(G, *transform)


def apply_params(G, params: Params) -> None:
    """Set G's input transform from the show's knobs (nothing for a generator without one)."""
    apply_transform(G, knob_values(params))
