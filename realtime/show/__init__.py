"""The running show: its vocabulary (commands), the loop that applies them by wall-clock time,
the generator worker, and the snapshot it publishes each frame.

    show = Show(player, GeneratorWorker(G), surface, Compositor(surface.ctx), sink)
    show.submit(SetParam("speed", 0.5))          # from any thread; applied at the next frame boundary
    show.board.latest()                 # the newest ShowState
    show.run()                          # threads are started by realtime.session.ShowSession

`show/` never imports the adapters (`control/`, `audio/`): they make commands and read snapshots.
"""

from .build import LiveShow, capture, load_keyframes, player_from_preset
from .commands import Command, CommandError, CommandQueue, Folders
from .loop import Show, ShowStats
from .state import Event, ShowState, StateBoard
from .worker import Frame, GeneratorWorker

__all__ = [
    "Command", "CommandError", "CommandQueue", "Event", "Folders", "Frame", "GeneratorWorker", "LiveShow", "Show",
    "ShowState", "ShowStats", "StateBoard", "capture", "load_keyframes", "player_from_preset",
]
