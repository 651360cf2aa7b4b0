"""Adapters from the outside world to the show's commands, and readers of its snapshots.

    osc = OscServer(show.submit, show.board, port=9000, reply=("127.0.0.1", 9001))
    journal = Journal(path, show.board)   # reporters read journal.board: edits on disk before they are told
    window.on_key = key_handler(show.submit)
    page = PageServer(show.submit, show.board, folders, port=8765)   # the operator page
    midi = MidiAdapter(show.submit, show.board, inputs="all", output="nanoKONTROL")   # controllers
    # threads: started and stopped by realtime.session.ShowSession

`stylevj osc list` prints the address table (realtime/control/addresses.py).
"""

from .addresses import ADDRESSES, NOT_OVER_OSC, PREFIX, TABLE, OscError, mappable, reference, to_command
from .journal import Journal, default_journal_path, ended_cleanly, keep_previous
from .keys import KEY_COMMANDS, key_handler
from .midi import MidiAdapter
from .osc import OscServer
from .page import PageServer

__all__ = [
    "ADDRESSES", "KEY_COMMANDS", "MidiAdapter", "NOT_OVER_OSC", "Journal", "OscError", "OscServer", "PREFIX", "PageServer", "TABLE",
    "default_journal_path", "ended_cleanly", "keep_previous", "key_handler", "mappable", "reference", "to_command",
]
