"""Frame outputs: the stage picture sent to other programs (NDI), off the render thread."""

from .base import (FrameOutput, OutputError, OutputReport, Outputs, OutputSpec, Transport, check_output_name,
                   check_output_size, parse_output_size)

__all__ = ["FrameOutput", "OutputError", "OutputReport", "OutputSpec", "Outputs", "Transport", "build_outputs",
           "check_output_name", "check_output_size", "make_output", "parse_output_size"]


def make_output(spec: OutputSpec) -> FrameOutput:
    """The output `spec` asks for, not yet opened (its kind's transport: NDI today)."""
    from .ndi import ndi_output

    makers = {"ndi": ndi_output}
    return makers[spec.kind](spec)


def build_outputs(specs: list[OutputSpec] | tuple[OutputSpec, ...]) -> Outputs:
    """The outputs for `specs`; no thread starts here (the session starts them)."""
    return Outputs([make_output(spec) for spec in specs])
