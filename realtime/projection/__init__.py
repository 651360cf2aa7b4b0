"""Projection: put a photo into W+ as a keyframe (`stylevj project`).

    from realtime.projection import ProjectionSettings, project
    result = project(G, targets, ProjectionSettings(steps=500, loss="mse"))   # targets [B, 3, R, R] in [-1, 1]
    result.ws      # [B, num_ws, w_dim]: G.synthesis(result.ws, noise_mode="const") draws the fit

Modules: `inputs` (photos to targets), `crop` (centre / face crop), `vgg` (VGG16 features with
torchvision's weight names), `perceptual` (the LPIPS-style distance), `projector` (the
optimisation), `video` (convergence MP4, optional PyAV), `job` (the
command: many images, files per image, failures kept apart).
"""

from .inputs import ImageInputError, Target, load_target
from .job import Outcome, ProjectOptions, choose_loss, failure_summary, run_projection
from .perceptual import PerceptualDistance
from .projector import LOSSES, Projection, ProjectionSettings, project, psnr_db, w_spread
from .vgg import VGG16Features, VggWeightsError, default_weights_path, find_weights, load_vgg16

__all__ = [
    "LOSSES", "ImageInputError", "Outcome", "PerceptualDistance", "ProjectOptions", "Projection",
    "ProjectionSettings", "Target", "VGG16Features", "VggWeightsError", "choose_loss", "default_weights_path",
    "failure_summary", "find_weights", "load_target", "load_vgg16", "project", "psnr_db", "run_projection", "w_spread",
]
