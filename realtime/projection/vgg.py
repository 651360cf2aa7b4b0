"""VGG16's convolutional stack (ImageNet weights), only as far as the perceptual distance needs.

The layout mirrors torchvision's `vgg16().features` index for index, so the state dict that
torchvision caches (`vgg16-397923af.pth`) loads by its own key names (`features.0.weight`, ...)
without torchvision installed. Only `features.*` is used; the classifier in that file is ignored.
Weights are read with `torch.load(weights_only=True)` and checked key by key before use.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import torch
from torch import nn

from ..errors import StylevjError

log = logging.getLogger(__name__)

VGG16_FILE = "vgg16-397923af.pth"
VGG16_URL = f"https://download.pytorch.org/models/{VGG16_FILE}"

# Output channels of the 13 convolutions; "M" is a 2x2 max pool. Five stages: 2, 2, 3, 3, 3 convs.
_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")

# Indices in `features` of the ReLUs after conv1_2, conv2_2, conv3_3, conv4_3, conv5_3.
TAPS = (3, 8, 15, 22, 29)


class VggWeightsError(StylevjError):
    """VGG16 weights are missing, unreadable, or not VGG16's."""


class VGG16Features(nn.Module):
    """torchvision's VGG16 `features` (conv 3x3 + ReLU, max pools), frozen, in eval mode.

    `taps(x)` returns the activations after the ReLUs at TAPS and stops there, so the last
    pool is never computed.
    """

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in _LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, item, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
                channels = item
        self.features = nn.Sequential(*layers)
        self.eval().requires_grad_(False)

    def taps(self, x: torch.Tensor, at: tuple[int, ...] = TAPS) -> list[torch.Tensor]:
        """Activations at the `features` indices `at` for x [B, 3, H, W] (ImageNet-normalised)."""
        out = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in at:
                out.append(x)
                if len(out) == len(at):
                    break
        return out

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.taps(x)


def default_weights_path() -> Path:
    """Where torchvision caches VGG16: $TORCH_HOME/hub/checkpoints (default ~/.cache/torch/...)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE


def how_to_get_weights() -> str:
    """One line telling a user how to put VGG16 weights where stylevj looks."""
    folder = default_weights_path().parent
    return (
        f"put {VGG16_FILE} into {folder} (download {VGG16_URL}, or on a machine with internet run"
        f" python -c \"import torchvision; torchvision.models.vgg16(weights='DEFAULT')\" and copy the file from its"
        " ~/.cache/torch/hub/checkpoints), or pass --vgg-weights FILE; --loss mse needs no weights"
    )


def find_weights(explicit: str | os.PathLike | None = None) -> Path | None:
    """The VGG16 weights file to use: `explicit` (which must exist), else torchvision's cache, else None."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise VggWeightsError(f"{path}: no such VGG16 weights file")
        return path
    cached = default_weights_path()
    return cached if cached.is_file() else None


def load_vgg16(path: str | os.PathLike, device: str | torch.device = "cpu") -> VGG16Features:
    """VGG16 `features` with the weights in `path` (a torchvision state dict), on `device`.

    Every `features.*` tensor must be there with its shape; the classifier is ignored.
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise VggWeightsError(f"{path}: not a plain state dict of tensors (refused by weights_only loading)") from None
    except (OSError, RuntimeError, ValueError, EOFError, KeyError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
        raise VggWeightsError(f"{path}: not a readable PyTorch weights file ({reason})") from None
    if not isinstance(state, dict):
        raise VggWeightsError(f"{path}: holds a {type(state).__name__}, not a VGG16 state dict")
    net = VGG16Features()
    expected = net.state_dict()
    for key, ref in expected.items():
        tensor = state.get(key)
        if not isinstance(tensor, torch.Tensor):
            raise VggWeightsError(f"{path}: tensor '{key}' is missing (not torchvision's VGG16 weights?)")
        if tuple(tensor.shape) != tuple(ref.shape):
            raise VggWeightsError(f"{path}: tensor '{key}' has shape {list(tensor.shape)}, expected {list(ref.shape)}")
        if not tensor.is_floating_point() or not torch.isfinite(tensor).all():
            raise VggWeightsError(f"{path}: tensor '{key}' is not finite floating point")
    net.load_state_dict({k: state[k].float() for k in expected})
    log.info("VGG16 weights: %s", path)
    return net.to(device)
