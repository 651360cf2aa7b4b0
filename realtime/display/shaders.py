"""GLSL programs from files: `shaders/NAME.vert` + `shaders/NAME.frag`, one program per purpose.

The files ship as package data (`realtime.shaders`) and are read through `importlib.resources`,
so an editable checkout and an installed wheel load the same text. A library may be given extra
folders searched first (a look under development, or a test injecting a broken shader).

Sources are passed to the driver verbatim, so the line numbers in its log are the file's lines.
A compile or link failure becomes one `ShaderError` line naming the file and the line, parsed
from whichever driver log format (Mesa, NVIDIA, AMD/Intel) came back.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import moderngl

from .errors import ShaderError

log = logging.getLogger(__name__)

PACKAGE = "realtime.shaders"

# One compile-log line: Mesa `0:12(3): error: ...`, NVIDIA `0(12) : error C0000: ...`,
# AMD/Intel/Apple `ERROR: 0:12: ...`. Group 1 is the line number, group 2 the message.
_LOG_LINE = re.compile(r"^\s*(?:ERROR:\s*)?\d+[:(](\d+)\)?(?:\(\d+\))?\s*:\s*(.*?)\s*$")

# Titles and underlines moderngl puts around the driver's log.
_TITLES = ("GLSL Compiler failed", "GLSL Linker failed", "Program", "vertex_shader", "fragment_shader")


class ShaderLibrary:
    """Finds and caches GLSL sources by file name; builds programs by name, raising `ShaderError`.

    `search_paths` are folders looked in before the installed `realtime.shaders` package.
    The cache holds text only: programs belong to a GL context, and their owner (the
    compositor) keeps them.
    """

    def __init__(self, search_paths: Iterable[str | os.PathLike] = ()) -> None:
        self.search_paths: tuple[Path, ...] = tuple(Path(p) for p in search_paths)
        self._sources: dict[str, tuple[str, str]] = {}

    def locate(self, filename: str) -> tuple[str, str]:
        """(where, text) of `filename`; `where` is the path a user can open."""
        if filename not in self._sources:
            self._sources[filename] = self._read(filename)
        return self._sources[filename]

    def source(self, filename: str) -> str:
        """The text of `filename` (e.g. 'image.frag'), read once."""
        return self.locate(filename)[1]

    def program(self, ctx: moderngl.Context, name: str) -> moderngl.Program:
        """Compile and link `NAME.vert` + `NAME.frag` in `ctx`."""
        vert_where, vert = self.locate(f"{name}.vert")
        frag_where, frag = self.locate(f"{name}.frag")
        try:
            program = ctx.program(vertex_shader=vert, fragment_shader=frag)
        except moderngl.Error as exc:
            raise ShaderError(describe_failure(str(exc), vert_where, frag_where)) from None
        log.debug("built shader program %r from %s and %s", name, vert_where, frag_where)
        return program

    def _read(self, filename: str) -> tuple[str, str]:
        if Path(filename).name != filename:
            raise ShaderError(f"shader name {filename!r} must be a plain file name")
        for folder in self.search_paths:
            path = folder / filename
            if path.is_file():
                return str(path), path.read_text(encoding="utf-8")
        packaged = resources.files(PACKAGE).joinpath(filename)
        if packaged.is_file():
            return str(packaged), packaged.read_text(encoding="utf-8")
        places = [str(p) for p in self.search_paths] + [f"package {PACKAGE}"]
        raise ShaderError(f"shader {filename} not found (looked in {', '.join(places)})")


def describe_failure(log_text: str, vert_where: str, frag_where: str) -> str:
    """One line for a moderngl compile/link failure: 'FILE:LINE: message' where it can say."""
    lines = [ln.strip() for ln in log_text.splitlines()]
    if lines and lines[0].startswith("GLSL Linker failed"):
        detail = _first_message(lines[1:]) or "no log from the driver"
        return f"shader program {vert_where} + {frag_where}: link failed: {detail}"
    where = {"vertex_shader": vert_where, "fragment_shader": frag_where}
    stage = None
    found: list[tuple[str, str, str]] = []  # (file, line, message)
    for ln in lines:
        if ln in where:
            stage = ln
            continue
        match = _LOG_LINE.match(ln)
        if match and stage is not None:
            found.append((where[stage], match.group(1), match.group(2)))
    errors = [f for f in found if "error" in f[2].lower()] or found
    if not errors:
        detail = _first_message(lines) or "no log from the driver"
        return f"shader program {vert_where} + {frag_where}: compile failed: {detail}"
    file, line, message = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"shader {file}:{line}: {message}{more}"


def _first_message(lines: Iterable[str]) -> str:
    """The first line of a driver log that says something (not a title or underline)."""
    for ln in lines:
        if ln and not set(ln) <= {"="} and ln not in _TITLES:
            return ln
    return ""
