"""The running show: the loop that advances by wall-clock time and the generator worker.

    worker = GeneratorWorker(G).start()
    show = Show(player, worker, surface, Compositor(surface.ctx), sink)
    show.run()
"""

from .loop import Show, ShowStats
from .worker import Frame, GeneratorWorker, to_rgba8

__all__ = ["Frame", "GeneratorWorker", "Show", "ShowStats", "to_rgba8"]
