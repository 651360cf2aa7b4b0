"""Knobs with meaning: latent directions and network bending, set, glided and added live."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable

from ...checks import Check, checked, choice, number
from ...latent.controls import CONTROL_NAME, ControlError, Controls, Knob
from ...latent.directions import METHODS
from ...presets import LAYER_RANGE, ControlSpec
from ..build import make_knob
from .base import INDEX, Command, CommandError, Stage


def _on_control(show: Stage, change: Callable[[Controls], None]) -> None:
    try:
        change(show.player.controls)
    except ControlError as exc:
        raise CommandError(str(exc)) from None


@dataclass(frozen=True)
class SetControl(Command):
    """set a control to a value within its own range; it glides there at its slew"""

    coalesce = True
    name: str = checked(CONTROL_NAME)
    value: float = checked(Check("number"))  # the control's own range is checked when applied

    def key(self) -> Hashable:
        return ("control", self.name)

    def apply(self, show: Stage) -> None:
        _on_control(show, lambda controls: controls.set(self.name, self.value))


@dataclass(frozen=True)
class SetControlUnit(Command):
    """set a control by a fraction of its range: 0 its low end, 1 its high end (mappings, MIDI)"""

    coalesce = True
    name: str = checked(CONTROL_NAME)
    amount: float = checked(number(0, 1))

    def key(self) -> Hashable:
        return ("control", self.name)

    def apply(self, show: Stage) -> None:
        _on_control(show, lambda controls: controls.set_unit(self.name, self.amount))


@dataclass(frozen=True)
class AddControl(Command):
    """make a control live from a direction of this checkpoint (index 0: the strongest), or replace one"""

    edits = False  # InstallControl, when the direction is ready, is the edit
    name: str = checked(CONTROL_NAME)
    index: int = checked(INDEX)
    method: str = checked(choice(METHODS), "sefa")
    layers: str = checked(LAYER_RANGE, "all")
    low: float = checked(number(-1e6, 1e6), -3.0)
    high: float = checked(number(-1e6, 1e6), 3.0)
    slew: float = checked(number(0, 600), 0.5)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.spec()  # a range that does not hold 0 or is upside down is refused when made

    def spec(self) -> ControlSpec:
        """The [[controls]] entry this control is (what a save writes)."""
        return ControlSpec(name=self.name, method=self.method, index=self.index,
                           layers=None if self.layers == "all" else self.layers, range=(self.low, self.high),
                           slew=self.slew)

    def apply(self, show: Stage) -> None:
        spec, G, preset = self.spec(), show.worker.G, show.preset
        show.load_later(lambda: InstallControl(make_knob(spec, G, preset)))  # GANSpace may take seconds


@dataclass(frozen=True)
class InstallControl(Command):
    """put a control made by the loader live at its neutral value (made by AddControl, never sent)"""

    knob: Knob

    def apply(self, show: Stage) -> None:
        show.player.controls.add(self.knob)
        show.emit("control/added", self.knob.name)
