"""stylevj: a live StyleGAN2 instrument for the stage.

Packages hold one concern each, and import one way (README "Architecture", DESIGN.md): `models`
(the generator and its loaders), `latent` (keyframes, paths, directions), `display`, `overlay`,
`record`, `show` (its commands, loop and published state), `control` (OSC, keys, journal),
`audio`, `projection`; `session` owns the threads of a running show, `cli` is the command.
"""

__version__ = "0.1.0"
