"""The names a user may choose from, each defined once for the code and the command line.

This module imports nothing, so `stylevj --help`, `osc send` and `monitors` build their
argument parser without loading torch or OpenGL; the modules that act on a choice import its
names from here.
"""

NOISE_MODES = ("const", "random", "none")  # the generator's noise inputs
CLOCK_SOURCES = ("audio", "tap", "fixed", "link", "midi")  # where the beat clock takes tempo and beat
FITS = ("contain", "cover", "stretch")  # how the picture keeps its aspect (display.Fit)
SINK_MODES = ("auto", "interop", "host")  # how frames reach GL
MIDI_APIS = ("alsa", "jack", "coremidi", "winmm")  # MIDI backends (python-rtmidi): ALSA and JACK on Linux
FORMATS = ("h264", "prores", "png")  # video files
LOSSES = ("perceptual", "mse", "both")  # projection losses
DIRECTION_METHODS = ("sefa", "ganspace")  # latent directions from a checkpoint
GANSPACE_SAMPLES = 100_000  # W samples for GANSpace's PCA (see realtime.latent.directions)
NAMED_RANGES = ("all", "coarse", "middle", "fine")  # W+ layer ranges by name
BENCH_SOURCES = ("demo", "arch:ffhq-256", "arch:ffhq-1024")  # `stylevj bench` default generators
PAGE_PORT = 8765  # the operator page's default port
OSC_PORT = 9000  # the OSC listener's default UDP port (a preset's [osc] port)
