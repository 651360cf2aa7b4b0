"""A doctor's finding, the screen that lists them, and the guard that turns a broken check into
one line of that screen."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

STATUSES = ("ok", "degraded", "missing", "fail")


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was checked, how it stands, and what to do about it."""

    name: str
    status: str  # one of STATUSES
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {self.status!r}")


def safely(name: str, required: bool, check: Callable[..., Finding], *args: Any) -> Finding:
    """`check(*args)`, or a line saying it could not be checked: fail when a show needs it."""
    try:
        return check(*args)
    except Exception as exc:  # noqa: BLE001 - one broken check is one line, never a traceback
        log.debug("doctor: the %s check failed", name, exc_info=True)
        return Finding(name, "fail" if required else "missing", f"could not check ({one_line(exc)})")


def one_line(exc: BaseException) -> str:
    """One line: a user-facing error's own message, else the exception's type and first line."""
    from ..errors import StylevjError

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if text and isinstance(exc, StylevjError):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def show_can_run(findings: Sequence[Finding]) -> bool:
    """True unless something every show needs failed (a 'fail' line)."""
    return not any(f.status == "fail" for f in findings)


def format_report(findings: Sequence[Finding]) -> str:
    """The screen `stylevj doctor` prints: a line per finding, its fix under it, then the verdict."""
    width = max((len(f.name) for f in findings), default=0)
    lines = []
    for f in findings:
        lines.append(f"{f.status:<8}  {f.name:<{width}}  {f.detail}")
        if f.fix:
            lines.append(f"{'':<8}  {'':<{width}}  fix: {f.fix}")
    counts = {s: sum(f.status == s for f in findings) for s in STATUSES}
    if show_can_run(findings):
        rest = ", ".join(f"{counts[s]} {s}" for s in ("degraded", "missing") if counts[s])
        lines.append(f"\nA show can run here{f' ({rest})' if rest else ''}.")
    else:
        failed = ", ".join(f.name for f in findings if f.status == "fail")
        lines.append(f"\nNo show can run here: {failed} failed.")
    return "\n".join(lines)
