"""Live control over OSC (TouchDesigner, MIDI bridges, any sender) and the live-edit journal.

    controller = Controller(port=9000, reply=("127.0.0.1", 9001)).start()
    show = Show(..., controller=controller, journal=Journal(path))   # applied at frame boundaries

`stylevj osc list` prints the address table (realtime/control/addresses.py).
"""

from .addresses import ADDRESSES, PREFIX, TABLE, OscError, reference
from .controller import Controller, Mapping
from .journal import Journal, default_journal_path

__all__ = ["ADDRESSES", "Controller", "Journal", "Mapping", "OscError", "PREFIX", "TABLE", "default_journal_path", "reference"]
