"""What the operator page may send is what the page sends (issue 22): no command is allowed on
the page's socket that page.js never sends, beyond the few named here for scripts that speak the
page's protocol; and every command page.js names is one the server accepts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from realtime.control.lan import invitation_text
from realtime.control.page_commands import PAGE_TABLE, PageError, make_command
from realtime.show import commands as c

SCRIPT = (Path(__file__).resolve().parent.parent / "realtime" / "control" / "page_files" / "page.js").read_text()
COMMAND_NAMES = {cls.__name__ for cls in c.all_commands()}
# Accepted from a page's socket though page.js draws no control for them (scripts and tests drive them).
NOT_DRAWN = {"Goto", "TogglePause", "ToggleParam"}


def names_in_script() -> set[str]:
    """Every command name page.js spells as a string (each `send("X")`, and the ternaries' arms)."""
    return set(re.findall(r'"([A-Z][A-Za-z]+)"', SCRIPT)) & COMMAND_NAMES


def test_the_page_accepts_only_what_it_sends():
    extra = set(PAGE_TABLE) - names_in_script() - NOT_DRAWN
    assert not extra, f"PAGE_COMMANDS allows what page.js never sends: {sorted(extra)}"


def test_every_command_the_page_sends_is_accepted():
    assert names_in_script() - set(PAGE_TABLE) == set()
    assert {"Play", "Pause", "SetParam", "SetControl"} <= names_in_script()  # the regex reads the real script


def test_the_overlay_is_the_overlay_knob_not_a_command_of_its_own():
    with pytest.raises(PageError, match="cannot send 'ToggleOverlay'"):
        make_command("ToggleOverlay", {})
    assert make_command("SetParam", {"name": "overlay", "value": False}) == c.SetParam(name="overlay", value=False)


def test_the_invitation_is_one_line_without_a_network_address():
    alone = invitation_text(None, "http://127.0.0.1:8765/?token=T")
    assert "\n" not in alone and "no network address besides loopback" in alone and "127.0.0.1:8765" in alone
    shared = invitation_text("http://10.9.8.7:8765/?token=T", "http://127.0.0.1:8765/?token=T")
    first, _, qr = shared.partition("\n")
    assert first.endswith("http://10.9.8.7:8765/?token=T") and "127.0.0.1" not in shared
    assert qr.strip(), "the QR code follows the URL"
