"""One progress reporter for long jobs (`stylevj render`, `stylevj project`, checkpoint downloads): tqdm's bar.

On a terminal it is a live bar with rate and time left; when stderr is not a terminal (a log
file, CI) the bar is off and the jobs log their own summary line when done.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def progress_bar(total: int | None, label: str, unit: str, initial: int = 0) -> tqdm:
    """A bar over `total` units (None: unknown), labelled, starting at `initial`; call `.update(n)`,
    `.set_postfix(...)`, `.close()`. Unit 'B' counts bytes and prints them as kB, MB, GB."""
    return tqdm(total=total, initial=initial, desc=label, unit=unit, file=sys.stderr, disable=None,
                dynamic_ncols=True, mininterval=0.2, unit_scale=unit == "B")
