"""Video out: offline renders (`stylevj render`) and live recording of the stage output."""

from .encoder import FORMATS, EncoderError, VideoWriter

__all__ = ["EncoderError", "FORMATS", "VideoWriter"]
