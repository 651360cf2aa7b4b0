"""The audio package's user-facing errors: a file that cannot be heard, a device that is not there.

All are `StylevjError`s, so the CLI prints them as one line and the live show logs them and plays
on without sound.
"""

from __future__ import annotations

from ..errors import StylevjError


class AudioError(StylevjError):
    """Audio input or analysis was asked for something it cannot do (a bad BPM, too few taps)."""


class AudioFileError(AudioError):
    """An audio file is missing, unreadable, empty or silent: the message names the file and why."""


class AudioDeviceError(AudioError):
    """Live input is unavailable: no sounddevice/PortAudio, no such device, or the device failed."""
