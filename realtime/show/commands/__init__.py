"""The show's vocabulary: every change it accepts, as a typed, validated command.

One module per kind of change: `transport` (moving), `look`, `keyframes`, `presets`, `outputs`
(recording, snapshots, state), `sends` (frame outputs: NDI), `controls` (directions, bending),
`music`, `midi` (controller mappings); `base` says what a command is, `queue` is the show's one queue.

    show.submit(SetParam("speed", 0.5), origin=("osc", sender))      # from any thread
    # at the next frame boundary the show calls command.apply(show)

A command is a frozen dataclass whose fields carry their ranges (`realtime.checks`): it cannot
be made with a bad value, so every sender (OSC, the operator page, keys, MIDI through OSC,
audio) gets the same checks and the same behaviour. `apply` runs on the render thread at a frame
boundary; what can only be known then (a keyframe index that does not exist, a file that cannot
be read) raises `CommandError`, which the show reports as an "error" event to the sender.

Parameters (`coalesce = True`) collapse within a frame to the newest value per `key()`; other
commands all apply, in order. Adapters never reach into the show: they make commands and read
the published `ShowState`.
"""

from __future__ import annotations

from .base import Command, CommandError, Folders, INDEX, NUDGE, ON, PSI, SEED, SPEED_STEP, Stage, all_commands, arguments, describe, existing_keyframe
from .queue import CommandQueue, Pending, QueueCounts
from .transport import Goto, GotoKeyframe, Nudge, Pause, Play, Quit, ScaleSpeed, TogglePause
from .look import MixOff, SetMix, ToggleOverlay
from .keyframes import AddCurrentKeyframe, AddFileKeyframe, AddSeedKeyframe, ClearKeyframes, InsertKeyframe, MoveKeyframe, RemoveKeyframe, RenameKeyframe, ReplaceKeyframe, ReplaceWith, UndoKeyframes
from .presets import FileSaved, LoadFailed, LoadPreset, PresetLoaded, SavePreset
from .sends import AddOutput, OutputOpened, RemoveOutput
from .outputs import KeyframePictureMade, MakeKeyframePictures, ReportState, SetThumbnails, Snapshot, StartRecording, StopRecording, ToggleRecording
from .controls import AddControl, InstallControl, SetControl, SetControlUnit
from .params import SetParam, ToggleParam
from .music import AudioHeard, BPM, LINE, SetAudioDrive, SetAudioSource, SetBpm, Tap, UNIT
from .midi import MidiForget, MidiLearn, MidiMap, SetMidiPorts

__all__ = [
    "AddControl", "AddCurrentKeyframe", "AddOutput", "AddFileKeyframe", "AddSeedKeyframe", "AudioHeard", "BPM",
    "ClearKeyframes", "Command", "CommandError", "CommandQueue", "FileSaved", "Folders", "Goto", "GotoKeyframe", "INDEX",
    "InsertKeyframe", "InstallControl", "KeyframePictureMade", "MakeKeyframePictures", "OutputOpened", "RemoveOutput",
    "LINE", "LoadFailed", "LoadPreset", "MidiForget", "MidiLearn", "MidiMap", "MixOff", "MoveKeyframe", "NUDGE",
    "Nudge", "ON", "PSI", "Pause", "Pending", "Play", "PresetLoaded", "QueueCounts",
    "Quit", "RemoveKeyframe", "RenameKeyframe", "ReplaceKeyframe", "ReplaceWith", "ReportState", "SEED",
    "SPEED_STEP", "SavePreset", "ScaleSpeed", "SetAudioDrive", "SetAudioSource", "SetBpm", "SetMidiPorts",
    "SetControl", "SetControlUnit", "SetMix", "SetParam", "ToggleParam",
    "SetThumbnails", "Snapshot", "Stage", "StartRecording",
    "StopRecording", "Tap", "ToggleOverlay", "TogglePause", "ToggleRecording", "UNIT", "UndoKeyframes", "all_commands",
    "arguments", "describe", "existing_keyframe",
]
