"""The README documents every OSC address (MIDI controllers, once a bridge example here, are tested in test_midi.py)."""

from __future__ import annotations

from pathlib import Path

from realtime.control import ADDRESSES, PREFIX
from realtime.control.addresses import markdown

REPO = Path(__file__).resolve().parent.parent


def test_readme_lists_every_address():
    readme = (REPO / "README.md").read_text()
    missing = [a.path for a in ADDRESSES if f"`{PREFIX}{a.path}`" not in readme]
    assert not missing, f"README lacks {missing}"
    assert markdown() in readme, "README's OSC table differs from the code: paste realtime.control.addresses.markdown()"
