"""An LPIPS-style perceptual distance on VGG16 features, written for projection.

Both images are resized to 256x256 (area averaging down, bilinear up), normalised with the
ImageNet mean and std VGG16 was trained with, and run through VGG16 to the ReLUs after conv1_2,
conv2_2, conv3_3, conv4_3 and conv5_3. At every position each stage's channel vector is scaled
to unit length; the distance of a stage is the squared difference of those unit vectors, summed
over channels and averaged over positions (so it lies in [0, 4]: 2 - 2 cos of the angle between
the two vectors). The five stages are averaged with equal weights: LPIPS learns a weight per
channel on top of this, which we do not ship; its paper reports that the unweighted, normalised
features already follow human judgements of similarity well. Gradients flow to the first image; the second (the target) is usually fixed,
so its features can be computed once with `features()`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .vgg import VGG16Features

PERCEPTUAL_SIZE = 256
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_EPS = 1e-10


def resize_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """images [B, C, H, W] to [B, C, size, size]: area averaging to shrink, bilinear to grow."""
    if images.shape[-2:] == (size, size):
        return images
    if images.shape[-1] > size:
        return F.interpolate(images, size=(size, size), mode="area")
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)


class PerceptualDistance(nn.Module):
    """distance(a, b) -> [B]: how different two batches of images [B, 3, H, W] in [-1, 1] look."""

    def __init__(self, vgg: VGG16Features, size: int = PERCEPTUAL_SIZE) -> None:
        super().__init__()
        self.vgg = vgg
        self.size = size
        self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1))

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """Unit-length channel vectors of the five stages, each [B, C, h, w]."""
        x = resize_square(images.float(), self.size)
        x = ((x + 1) / 2 - self.mean) / self.std  # [-1, 1] -> what VGG16 saw in training
        return [f * torch.rsqrt(f.square().sum(dim=1, keepdim=True) + _EPS) for f in self.vgg.taps(x)]

    @staticmethod
    def compare(fa: list[torch.Tensor], fb: list[torch.Tensor]) -> torch.Tensor:
        """Distance [B] between two lists of unit features from `features()`."""
        per_stage = [(a - b).square().sum(dim=1).mean(dim=(1, 2)) for a, b in zip(fa, fb)]
        return torch.stack(per_stage).mean(dim=0)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.compare(self.features(a), self.features(b))

    def extra_repr(self) -> str:
        return f"size={self.size}, stages=conv1_2..conv5_3, equal weights"
