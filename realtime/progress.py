"""One progress reporter for long jobs (`stylevj render`, `stylevj project`): tqdm's bar.

On a terminal it is a live bar with rate and time left; when stderr is not a terminal (a log
file, CI) the bar is off and the jobs log their own summary line when done.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int, label: str, unit: str) -> tqdm:
    """A bar over `total` units, labelled; call `.update(n)`, `.set_postfix(...)`, `.close()`."""
    return tqdm(total=total, desc=label, unit=unit, file=sys.stderr, disable=None, dynamic_ncols=True,
                mininterval=0.2)
