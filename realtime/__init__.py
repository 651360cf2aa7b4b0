"""stylevj: a live StyleGAN2 instrument for the stage.

Packages hold one concern each (see DESIGN.md): `models` (the generator and its loaders),
and, as the project grows, `latent`, `show`, `display`, `overlay`, `control`.
"""

__version__ = "0.1.0"
