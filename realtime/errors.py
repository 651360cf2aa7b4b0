"""The one exception family a stylevj user sees.

Anything raised as a `StylevjError` is a problem with the user's input (a file, a flag, a
message), not a bug: the CLI prints its message as one line and exits with status 2, and the
live show logs it and carries on.
"""


class StylevjError(Exception):
    """A user-facing error: its message names the thing and the reason in one line."""


class CheckpointError(StylevjError):
    """A generator checkpoint could not be read, is unsafe, or does not fit the network."""
