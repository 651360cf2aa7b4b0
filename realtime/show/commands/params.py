"""Setting the table's parameters: one command for every knob of `realtime.params`.

`SetParam("fader", 0.5)` is checked against the table when made (a value outside the range is
refused with one line naming the range, and nothing changes) and, at the frame boundary, replaces
the show's frozen `Params` with one holding the new value (`Stage.set_params`). OSC addresses,
the operator page, MIDI learn and `--set` all make this command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Hashable

from ...checks import Check, CheckError, checked
from ...params import TABLE, param
from .base import Command, Stage

PARAM_NAME = Check("choice", choices=tuple(TABLE))


@dataclass(frozen=True)
class SetParam(Command):
    """set a parameter of the table (stylevj osc list: each knob's own address and range)"""

    coalesce = True
    name: str = checked(PARAM_NAME)
    value: Any = checked(Check("any"))

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            object.__setattr__(self, "value", param(self.name)(self.value))
        except CheckError as exc:
            raise CheckError(str(exc)) from None

    def key(self) -> Hashable:
        return ("param", self.name)

    def apply(self, show: Stage) -> None:
        show.set_params(show.params.replace(**{self.name: self.value}))


@dataclass(frozen=True)
class ToggleParam(Command):
    """flip an on/off parameter of the table (key B: blackout; key O: overlay)"""

    name: str = checked(Check("choice", choices=tuple(n for n, p in TABLE.items() if p.kind == "bool")))

    def apply(self, show: Stage) -> None:
        show.set_params(show.params.replace(**{self.name: not show.params[self.name]}))
