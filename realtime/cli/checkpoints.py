"""The commands about checkpoints: `models` (NVIDIA's published networks, downloaded ahead) and
`convert` (any supported checkpoint into stylevj's format)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..errors import StylevjError

log = logging.getLogger("stylevj")


def cmd_models(args: argparse.Namespace) -> int:
    """`stylevj models [--fetch NAME...]`: the published networks, or download them now."""
    from ..checkpoints.catalog import describe_catalog, is_remote, resolve_checkpoint

    if not args.fetch:
        print(describe_catalog())
        return 0
    for source in args.fetch:
        if not is_remote(source):
            raise StylevjError(f"{source}: not a published name or an https URL (stylevj models lists the names)")
        print(f"{source}: {resolve_checkpoint(source)}")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    """`stylevj convert SOURCE OUT`: any supported checkpoint as stylevj's .safetensors."""
    from ..models import load_generator, save_native

    out = Path(args.out)
    if out.exists() and not args.force:
        raise StylevjError(f"{out}: already exists (add --force to replace it)")
    if not out.parent.is_dir():
        raise StylevjError(f"{out}: folder {out.parent} does not exist")
    G = load_generator(args.source)
    save_native(G, out)
    log.info("wrote %s (%s)", out, G.cfg.describe())
    return 0
