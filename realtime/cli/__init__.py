"""The `stylevj` command: one entry point, a subcommand per job.

User errors (`StylevjError`) are caught once, here: one line on stderr, exit status 2, no
traceback. Anything else is a bug and keeps its traceback. SIGTERM (systemd, `docker stop`,
`kill`) stops a command the way Ctrl-C does: threads joined, the journal's last write, a
recording finished; exit status 143.

`parser.py` builds the parser; the commands live by what they work on: `live.py` (run, osc, audio,
monitors), `pictures.py` (still, render, preview, directions, project), `checkpoints.py` (models,
convert), `machine.py` (doctor, bench); `options.py` holds the parse-time checks they share.
Nothing here imports torch at module level: `stylevj --help` starts at once.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

from ..errors import StylevjError
from .parser import build_parser

__all__ = ["build_parser", "main"]


def main(argv: list[str] | None = None) -> int:
    """`stylevj ARGS`: the exit status; a user error is one line on stderr and status 2."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv or ["run"])  # plain `stylevj` plays the default show
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    on_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if on_main else None
    try:
        return args.func(args)
    except StylevjError as exc:
        print(f"stylevj: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("stylevj: stopped (SIGTERM)", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("stylevj: interrupted", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would be, so every orderly stop runs the same way."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated()
