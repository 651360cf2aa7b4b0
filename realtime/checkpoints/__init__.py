"""Checkpoints from the web: the download cache (`download.py`) and NVIDIA's published networks by
short name (`catalog.py`). Standard library only, so `stylevj --help` and `stylevj models` start
without torch.
"""
