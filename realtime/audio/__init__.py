"""Listening: what the music is doing, as numbers the show can move with.

One streaming analyser serves the live show and the offline render alike, so a music video
moves exactly as the rehearsal did::

    from realtime.audio import AudioAnalyser, AudioListener, DeviceInput, frame_features
    from realtime.audio.soundtrack import read_soundtrack

    # offline (render): the features valid at t = n / fps, no look-ahead
    song = read_soundtrack("song.flac", scan=True)  # any format PyAV decodes; checked, not held
    for n, features in enumerate(frame_features(song, fps=30)):  # decoded as the frames are pulled
        ...                                         # features.level, .onset_count, .beat_phase ...

    # live: a device callback feeds a queue, a thread analyses, the show reads the newest snapshot
    listener = AudioListener()
    device = DeviceInput(listener.feed, device="Scarlett")  # needs pip install 'stylevj[audio]'
    listener.start(); device.start()
    features = listener.latest()                    # at each display frame, never blocks
    device.stop(); listener.stop()

Public surface:

- `AudioFeatures` — frozen snapshot: `time`, `level`, `flux`, `onset_count`, `last_onset_time`,
  `low`, `mid`, `high`, `bpm`, `beat_phase`, `beat`, `tempo_source`, `tempo_confidence`,
  `rms_db`; normalised features are in 0..1. The names it shares with the show's `Heard`
  (`realtime.latent.hearing`) mean the same there; "onset" means only the show's pulse.
- `AnalyserConfig` — every analysis setting (hop, FFT size, bands, gain release, thresholds).
- `AudioAnalyser` — `process(block) -> AudioFeatures`; `set_bpm(bpm | None)`; `tap(times)`.
- Songs stream, never held whole: `realtime.audio.soundtrack.read_soundtrack(path, scan=False)
  -> Soundtrack` checks a file (up to its first sound; `scan` reads it through once for its exact
  `.length`) and each reader decodes it afresh (`.planes()`, `.mono_chunks()`); the live player
  keeps READ_AHEAD seconds decoded ahead of the playhead (`realtime.audio.stream.ReadAhead`).
- `read_audio(path) -> AudioClip` (`.samples`, `.sample_rate`, `.duration`, `.frame_count(fps)`)
  holds a short clip whole (at most MAX_CLIP_SECONDS, 10 min); `decode_chunks(path)` streams the
  same samples.
- `frame_features(audio, fps, frames=None) -> Iterator[AudioFeatures]` — offline, per video frame
  (a clip, a song or samples);
  `sample_at(n, fps, rate)` and `frames_covering(samples, fps, rate)` do the frame-time maths.
- `AudioListener` — `feed(block)`, `start()`, `stop()`, `latest()`, `flush()`, `set_bpm()`, `tap()`.
- `DeviceInput`, `list_input_devices()`, `find_input_device(spec)` — sounddevice, optional.
- `TapTempo`, `fit_taps(times)` — collecting taps and turning them into (period, last beat).
- Errors: `AudioError` (a `StylevjError`), `AudioFileError`, `AudioDeviceError`.

The analysis modules import only `realtime.errors` and third-party packages (numpy, PyAV, and
sounddevice when live input is used). The adapter half, imported explicitly and not from here,
turns features into the show's commands: `realtime.audio.mapping` (pure: features + the preset's
`[audio]` -> `Heard` (with the one onset pulse) and `Drive`, carried by `AudioHeard` and
`SetAudioDrive`; the render's per-frame hook) and
`realtime.audio.drive` (`AudioDriver`, `FilePlayer`: the live thread). The show never imports
audio; `realtime.audio.soundtrack` reads a song with its channels for playing and muxing.
"""

from .analyser import AudioAnalyser
from .config import MAX_BLOCK, SAMPLE_RATE, AnalyserConfig
from .decode import AudioClip, decode_chunks, read_audio
from .device import DeviceInput, InputDevice, find_input_device, list_input_devices, load_sounddevice
from .errors import AudioDeviceError, AudioError, AudioFileError
from .features import AudioFeatures
from .listener import AudioListener
from .offline import frame_features
from .tempo import TapTempo, fit_taps
from .timing import frames_covering, sample_at

__all__ = [
    "MAX_BLOCK", "SAMPLE_RATE",
    "AnalyserConfig", "AudioAnalyser", "AudioClip", "AudioDeviceError", "AudioError", "AudioFeatures",
    "AudioFileError", "AudioListener", "DeviceInput", "InputDevice", "TapTempo",
    "decode_chunks", "find_input_device", "fit_taps", "frame_features", "frames_covering",
    "list_input_devices", "load_sounddevice", "read_audio", "sample_at",
]
