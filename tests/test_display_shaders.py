"""Shaders as files: found by name, a broken one named by file and line, and shipped as package data."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from realtime.display import Compositor, ShaderError, ShaderLibrary
from realtime.display.shaders import describe_failure
from realtime.errors import StylevjError

from .conftest import REPO

GOOD_VERT = (REPO / "shaders" / "image.vert").read_text()
GOOD_FRAG = (REPO / "shaders" / "image.frag").read_text()


def broken(tmp_path: Path, filename: str, text: str) -> ShaderLibrary:
    (tmp_path / filename).write_text(text)
    return ShaderLibrary(search_paths=[tmp_path])


def test_packaged_shaders_load_by_name():
    library = ShaderLibrary()
    where, text = library.locate("image.frag")
    assert where.endswith("image.frag") and text.startswith("#version 330 core")
    assert library.source("image.frag") is text  # read once, then cached


def test_broken_fragment_shader_names_file_and_line(egl_ctx, tmp_path):
    lines = GOOD_FRAG.splitlines()
    number = next(i for i, ln in enumerate(lines, 1) if "color = vec4" in ln)
    lines[number - 1] = "    color = vec4(undefined_thing, 1.0);"
    library = broken(tmp_path, "image.frag", "\n".join(lines) + "\n")
    with pytest.raises(ShaderError) as info:
        Compositor(egl_ctx, library=library)
    message = str(info.value)
    assert f"{tmp_path / 'image.frag'}:{number}:" in message
    assert "undefined_thing" in message and "\n" not in message
    assert isinstance(info.value, StylevjError)


def test_broken_vertex_shader_names_file_and_line(egl_ctx, tmp_path):
    library = broken(tmp_path, "image.vert", "#version 330 core\n\nvoid main() {\n    gl_Position = vec4(0.0)\n}\n")
    with pytest.raises(ShaderError, match=r"image\.vert:5: .*error"):
        library.program(egl_ctx, "image")


def test_link_error_names_both_files(egl_ctx, tmp_path):
    frag = GOOD_FRAG.replace("in vec2 uv;", "in vec3 uv;").replace(", uv)", ", uv.xy)")  # compiles, cannot link
    library = broken(tmp_path, "image.frag", frag)
    with pytest.raises(ShaderError) as info:
        library.program(egl_ctx, "image")
    message = str(info.value)
    assert "link failed" in message and "image.vert" in message and "image.frag" in message and "uv" in message


def test_missing_shader_says_where_it_looked(egl_ctx, tmp_path):
    with pytest.raises(ShaderError, match=r"nope\.vert not found .*package realtime\.shaders"):
        ShaderLibrary([tmp_path]).program(egl_ctx, "nope")
    with pytest.raises(ShaderError, match="plain file name"):
        ShaderLibrary().source("../pyproject.toml")


@pytest.mark.parametrize("log, expected", [
    # NVIDIA
    ("GLSL Compiler failed\n\nfragment_shader\n===============\n0(14) : error C1008: undefined variable \"x\"\n",
     "shader F.frag:14: error C1008: undefined variable \"x\""),
    # AMD / Intel on Windows, Apple
    ("GLSL Compiler failed\n\nvertex_shader\n=============\n"
     "ERROR: 0:9: 'x' : undeclared identifier\nERROR: 1 compilation errors.\n",
     "shader V.vert:9: 'x' : undeclared identifier"),
    # Mesa, a warning before the error, two errors
    ("GLSL Compiler failed\n\nfragment_shader\n===============\n"
     "0:3(7): warning: unused\n0:5(2): error: bad\n0:6(2): error: worse\n",
     "shader F.frag:5: error: bad (and 1 more)"),
])
def test_driver_log_formats(log, expected):
    assert describe_failure(log, "V.vert", "F.frag") == expected


def test_pyproject_ships_every_package_and_the_shaders():
    """Packages are listed (shaders/ maps into realtime.shaders), so a new one must be added by hand."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(p.parent.relative_to(REPO).parts)
        for p in (REPO / "realtime").rglob("__init__.py") if "__pycache__" not in p.parts
    }
    missing = sorted(on_disk - set(config["packages"]))
    assert not missing, f"add {missing} to [tool.setuptools] packages in pyproject.toml"
    assert config["package-dir"]["realtime.shaders"] == "shaders"
    globs = config["package-data"]["realtime.shaders"]
    for shader in (REPO / "shaders").iterdir():
        if shader.is_file() and shader.suffix not in (".py", ".pyc"):
            assert any(shader.match(g) for g in globs), f"{shader.name} would not be installed"


def test_installed_package_finds_the_shader_files():
    names = {entry.name for entry in resources.files("realtime.shaders").iterdir()}
    assert {"image.vert", "image.frag"} <= names
