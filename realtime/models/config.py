"""The architecture of a StyleGAN2 generator, as plain data.

Every loader turns a checkpoint into a `GeneratorConfig` read from the file's tensors and stored
arguments, never from assumptions about "the usual" 512-channel network. The config is what the
native `.safetensors` format stores in its header, so it is JSON-friendly and frozen.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

from ..errors import CheckpointError


class JsonConfig:
    """A frozen config dataclass as the JSON that native files store in their header."""

    label = "generator"  # how a malformed one is named in the error

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str):
        try:
            data = json.loads(text)
            data["channels"] = tuple(data["channels"])
            return cls(**data)
        except CheckpointError:
            raise
        except (ValueError, TypeError, KeyError) as exc:
            raise CheckpointError(f"{cls.label} config is malformed: {exc}") from None


@dataclass(frozen=True)
class GeneratorConfig(JsonConfig):
    """Shape and numerics of a StyleGAN2 (config-e/f, skip architecture) generator.

    channels[i] is the feature width of the block at resolution 4 * 2**i, so
    len(channels) == log2(resolution) - 1.
    """

    z_dim: int
    w_dim: int
    resolution: int
    channels: tuple[int, ...]
    mapping_layers: int = 8
    mapping_hidden: int = 0  # 0: same as w_dim
    mapping_lr: float = 0.01
    img_channels: int = 3
    conv_clamp: float | None = None  # clamp on every conv output (NVIDIA's conv_clamp)
    num_fp16_res: int = 0  # how many of the highest resolutions may run in fp16 on CUDA

    def __post_init__(self) -> None:
        log2 = int(round(math.log2(self.resolution))) if self.resolution > 0 else 0
        if self.resolution < 4 or 2**log2 != self.resolution:
            raise CheckpointError(f"resolution {self.resolution} is not a power of two >= 4")
        if len(self.channels) != log2 - 1:
            raise CheckpointError(
                f"{len(self.channels)} channel widths given for resolution {self.resolution},"
                f" expected {log2 - 1}"
            )
        if min(self.channels) < 1 or self.z_dim < 1 or self.w_dim < 1 or self.mapping_layers < 1:
            raise CheckpointError("generator widths and depths must be positive")
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))

    @property
    def log2_resolution(self) -> int:
        return int(math.log2(self.resolution))

    @property
    def resolutions(self) -> tuple[int, ...]:
        """Block resolutions from 4 up to the output, e.g. (4, 8, ..., 1024)."""
        return tuple(4 * 2**i for i in range(len(self.channels)))

    @property
    def num_ws(self) -> int:
        """W+ rows: one per conv layer plus one for the last ToRGB (2*log2(res) - 2)."""
        return 2 * self.log2_resolution - 2

    @property
    def hidden(self) -> int:
        return self.mapping_hidden or self.w_dim

    @property
    def fp16_min_resolution(self) -> int:
        """Blocks at this resolution and above may run in fp16 (NVIDIA's rule, at least 8)."""
        if self.num_fp16_res <= 0:
            return self.resolution * 2
        return max(2 ** (self.log2_resolution + 1 - self.num_fp16_res), 8)

    def describe(self) -> str:
        """One line for logs: the facts a VJ checks when a checkpoint loads."""
        fp16 = f", fp16 top {self.num_fp16_res} res" if self.num_fp16_res else ""
        clamp = f", clamp {self.conv_clamp:g}" if self.conv_clamp else ""
        return (
            f"{self.resolution}px, z {self.z_dim}, w {self.w_dim}, {self.num_ws} ws,"
            f" mapping {self.mapping_layers}x{self.hidden}, channels"
            f" {'/'.join(str(c) for c in self.channels)}{clamp}{fp16}"
        )
