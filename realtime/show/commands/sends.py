"""Frame outputs added and removed while the show runs: NDI sources (/stylevj/output/add,
/stylevj/output/remove, a preset's [[outputs]]).

Opening a sender can take a while (NDI starts its runtime and announces the source), so it is
the loader's job, never the render thread's: the command hands the opening over, and
`OutputOpened` puts the open output into the show at a later frame boundary. A runtime that
fails to load or a refused name is one "error" line to the sender; the show runs on. Removing
never waits either: the output's GL buffers go at once, its sender thread closes the transport.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ...checks import OUTPUT_KINDS, OUTPUT_NAME, Check, checked, choice
from ...errors import StylevjError
from ...outputs import FrameOutput, OutputError, OutputSpec, make_output, parse_output_size
from .base import ON, Command, CommandError, Stage

log = logging.getLogger(__name__)

STAGE_SIZE = "stage"  # the size argument that follows the stage (the default)


def _size_problem(text: str) -> str | None:
    if text == STAGE_SIZE:
        return None
    try:
        parse_output_size(text)
    except OutputError as exc:
        return str(exc).removeprefix("output size ")
    return None


SIZE = Check("text", optional=True, extra=_size_problem, max_length=32)  # 'WxH' or 'stage'


@dataclass(frozen=True)
class AddOutput(Command):
    """send the stage picture as an NDI source NAME: at the stage's size, or its own WxH canvas (the show's fit); clean 1 leaves the overlay out"""

    edits = False  # an edit once it is open (OutputOpened): a failed one is never saved

    name: str = checked(OUTPUT_NAME)
    size: str | None = checked(SIZE, None)
    clean: bool = checked(ON, False)
    kind: str = checked(choice(OUTPUT_KINDS), "ndi")

    def spec(self) -> OutputSpec:
        size = None if self.size in (None, STAGE_SIZE) else parse_output_size(self.size)
        return OutputSpec(self.kind, self.name, size, self.clean)

    def apply(self, show: Stage) -> None:
        open_later(show, self.spec())


@dataclass(frozen=True)
class OutputOpened(Command):
    """an output the loader opened, into the show (made by AddOutput and preset loads, never sent)"""

    output: FrameOutput

    def apply(self, show: Stage) -> None:
        output = self.output
        if show.outputs.find(output.spec.name) is not None:  # two senders added the same name at once
            output.retire()
            raise CommandError(f"an output named {output.spec.name!r} is already running")
        show.outputs.add(output)
        log.info("%s output %r added, sent as %r", output.spec.kind, output.spec.name, output.sent_as)
        show.emit("output/added", output.spec.name, output.sent_as)

    def discard(self) -> None:
        self.output.discard()  # a sender opened too late: its source must not linger on the network


@dataclass(frozen=True)
class RemoveOutput(Command):
    """stop sending the output NAME (its receivers see the source go)"""

    name: str = checked(OUTPUT_NAME)

    def apply(self, show: Stage) -> None:
        show.outputs.remove(self.name)  # an unknown name: OutputError naming the outputs there are
        log.info("output %r removed", self.name)
        show.emit("output/removed", self.name)


def open_later(show: Stage, spec: OutputSpec) -> None:
    """Open the output `spec` on the loader's thread; `OutputOpened` adds it (render thread)."""
    if show.outputs.find(spec.name) is not None:
        raise CommandError(f"an output named {spec.name!r} is already running (remove it first: /stylevj/output/remove)")
    output = make_output(spec)

    def job() -> Command:
        output.open()  # OutputError: the loader tells the sender in one line
        return OutputOpened(output)

    show.load_later(job, what=f"opening {spec.kind} output {spec.name}")


def open_outputs_of_preset(show: Stage, specs: tuple[OutputSpec, ...]) -> None:
    """A loaded preset's [[outputs]]: each one not already running as asked is opened (one of
    the same name but another size or picture is replaced). Outputs the preset does not name
    keep running: changing the look never cuts a feed a mixer is showing."""
    for spec in specs:
        running = show.outputs.find(spec.name)
        if running is not None and running.spec == spec and not running.error:
            continue
        if running is not None:
            show.outputs.remove(spec.name)
        try:
            open_later(show, spec)
        except StylevjError as exc:  # the loader is full: the others still get their turn
            show.emit("error", f"output {spec.name!r}: {exc}")
