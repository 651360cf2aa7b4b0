"""The `stylevj` command: one entry point, a subcommand per job.

User errors (`StylevjError`) are caught once, here: one line on stderr, exit status 2, no
traceback. Anything else is a bug and keeps its traceback.

`parser.py` builds the parser; the commands live by what they work on: `live.py` (run, osc, audio,
monitors), `pictures.py` (still, render, preview, directions, project), `checkpoints.py` (models,
convert), `machine.py` (doctor, bench); `options.py` holds the parse-time checks they share.
Nothing here imports torch at module level: `stylevj --help` starts at once.
"""

from __future__ import annotations

import logging
import sys

from ..errors import StylevjError
from .parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """`stylevj ARGS`: the exit status; a user error is one line on stderr and status 2."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv or ["run"])  # plain `stylevj` plays the default show
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        return args.func(args)
    except StylevjError as exc:
        print(f"stylevj: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stylevj: interrupted", file=sys.stderr)
        return 130
