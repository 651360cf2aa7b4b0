"""`stylevj bench`: how fast each part runs here, as a table and a JSON file.

Measured, never asserted: tests do not time things. Each row runs a part for a while after a
warm-up and reports the median frame time (CUDA timings synchronise per frame, so they include
the whole kernel queue): generator, upload, composite, overlay, the paced loop (alone, while
recording, and a long soak), OSC to applied, render, projection, the audio analysis.

One module per part measured: `generator.py` (synthesis per precision, the knobs), `display.py`
(upload, composite, overlay), `pacing.py` (the paced loop, memory), `control.py` (operator page,
OSC), `show.py` (all of those on one running show), `record.py`, `projection.py`, `audio.py`,
`motion.py` (how the path moves), `link.py` (Link phase against a peer), `ndi.py` (NDI output's cost), `midi.py` (MIDI CC to applied); `results.py` holds `Row`, the table and the JSON. The GPU suite:
`gpu.py` (CUDA-event frame timing), `nvidia.py` (NVIDIA's generator on our weights), `suite.py`
(the plan and the goal).
"""

from .audio import bench_audio
from .display import bench_overlay, bench_surface
from .generator import bench_generator, bench_knobs, run_bench
from .link import bench_link
from .midi import midi_latency, private_jack
from .gpu import bench_frame
from .motion import MotionRow, bench_motion, format_motion
from .ndi import bench_ndi
from .nvidia import bench_reference, nvidia_generator, nvidia_state
from .projection import bench_projection
from .record import bench_render
from .results import Row, format_table, machine_info, write_json
from .show import bench_loop
from .suite import GPU_SOURCE, Planned, format_plan, goal_rows, gpu_suite, run_plan

__all__ = ["GPU_SOURCE", "MotionRow", "Planned", "Row", "bench_audio", "bench_frame", "bench_generator", "bench_knobs",
           "bench_link", "bench_loop", "bench_motion", "bench_ndi", "bench_overlay", "bench_projection", "bench_reference", "bench_render",
           "bench_surface", "format_motion", "format_plan", "format_table", "goal_rows", "gpu_suite", "machine_info", "midi_latency",
           "nvidia_generator", "nvidia_state", "private_jack", "run_bench", "run_plan", "write_json"]
