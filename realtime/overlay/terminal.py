"""The terminal panel: the live W+ printed the way `print(w[first:stop])` prints it, scrolling.

`TensorPrint` is the text model (no GL): it keeps a terminal's scrollback, starting with the
prompt that launched the script, and appends `str(w[first:stop])` at most `hz` times a second,
one print per new frame. The text is PyTorch's own formatting, so the global print options,
the `...` summary of large tensors and the `device='cuda:0'` suffix are exactly what a real
`print` would show. `TerminalPanel` draws it in an Ubuntu terminal window.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path

import torch

from .panel import BLUE, GREEN, TEXT, Panel
from .text import Line

USER = "user@stage"
COMMAND = "python live.py"


class TensorPrint:
    """A terminal's scrollback where a script prints a slice of the current W+.

    rows: (first, stop) of the W+ rows printed, as the slice `w[first:stop]` (stop past the
    end is clipped, as slicing does). hz: at most this many prints a second.
    """

    def __init__(self, rows: tuple[int, int] = (0, 2), hz: float = 10.0, scrollback: int = 500,
                 user: str = USER, command: str = COMMAND) -> None:
        first, stop = (int(v) for v in rows)
        if not 0 <= first < stop:
            raise ValueError(f"tensor rows must satisfy 0 <= first < stop, got {rows}")
        if not hz > 0:
            raise ValueError(f"tensor print rate must be positive, got {hz}")
        self.rows = (first, stop)
        self.interval = 1.0 / float(hz)
        self.user = user
        self.command = command
        self._lines: deque[str] = deque([self.prompt()], maxlen=scrollback)
        self._last_w: torch.Tensor | None = None
        self._last_time = float("-inf")
        self.version = 0  # goes up with every print
        self.last_text = ""

    def prompt(self) -> str:
        return f"{self.user}:~$ {self.command}"

    def format(self, w: torch.Tensor) -> str:
        """What `print(w[first:stop])` shows."""
        first, stop = self.rows
        return str(w[first:stop])

    def update(self, w: torch.Tensor, now: float) -> bool:
        """Print `w` if it is a new tensor and the rate allows; True if the text changed."""
        if w is self._last_w or now - self._last_time < self.interval:
            return False
        self._last_w = w
        self._last_time = now
        self.last_text = self.format(w)
        self._lines.extend(self.last_text.split("\n"))
        self.version += 1
        return True

    @property
    def lines(self) -> tuple[str, ...]:
        """The scrollback, oldest first (the prompt until it scrolls away)."""
        return tuple(self._lines)

    def screen(self, columns: int, rows: int) -> list[str]:
        """The last `rows` lines as a terminal of `columns` shows them (long lines wrap), then
        the cursor's line."""
        if columns <= 0 or rows <= 0:
            return []
        out: list[str] = []
        for line in reversed(self._lines):
            wrapped = [line[i:i + columns] for i in range(0, len(line), columns)] or [""]  # hard wrap
            out[:0] = wrapped
            if len(out) >= rows:
                break
        return (out + ["█"])[-rows:]


class TerminalPanel(Panel):
    """The W+ print in an Ubuntu terminal window; call `update(w, now)` each refresh."""

    name = "tensor"
    title = f"{USER}: ~"

    def __init__(self, font: str | Path, rect: tuple[float, float, float, float] = (0.015, 0.03, 0.4, 0.62),
                 font_size: float = 15.0, opacity: float = 0.85, rows: tuple[int, int] = (0, 2),
                 hz: float = 10.0) -> None:
        super().__init__(font, rect, font_size, opacity)
        self.text = TensorPrint(rows, hz)

    def update(self, w: torch.Tensor, now: float) -> bool:
        try:
            return self.text.update(w, now)
        except Exception as exc:  # e.g. a CUDA error while printing: never the show's problem
            self._failed("print", exc)
            return False

    def content_key(self) -> object:
        return self.text.version

    def lines(self, columns: int, rows: int) -> list[Line]:
        prompt = self.text.prompt()
        out: list[Line] = []
        for line in self.text.screen(columns, rows):
            if line == prompt[: len(line)] and line:  # the prompt, in Ubuntu's bash colours
                user, _, rest = line.partition(":")
                out.append(((user, GREEN), (":", TEXT), (rest[:1], BLUE), (rest[1:], TEXT)))
            else:
                out.append(((line, TEXT),))
        return out
