"""Ready-made shows installed with stylevj (presets/ in the source tree)."""
