"""Errors the display layer raises for problems a user can fix (all are `StylevjError`s)."""

from __future__ import annotations

from ..errors import StylevjError


class DisplayError(StylevjError):
    """No window or context could be made as asked (no display, unknown monitor, old OpenGL)."""


class ShaderError(StylevjError):
    """A GLSL program failed to compile or link; the message names the file and the line."""


class InteropError(StylevjError):
    """CUDA-GL interop is impossible or failed here; the host-copy sink still works."""
