"""GLSL programs, one per purpose, installed as the package data `realtime.shaders`.

This folder holds no Python: `realtime.display.shaders` reads the `.vert` / `.frag` files by
name through `importlib.resources`, so an installed wheel and an editable checkout behave alike.
"""
