"""The clock's one error: a clock message or tempo that makes no sense, named in one line."""

from ..errors import StylevjError


class ClockError(StylevjError):
    """A beat clock input (a MIDI clock message, a tempo, a source name) that cannot be used."""
