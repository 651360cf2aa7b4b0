"""The house is one-way: realtime/'s import graph, read from the package's own files with `ast`.

Every import counts: at module level, under TYPE_CHECKING and inside functions. The graph has no
cycle (between modules or between packages), no module imports another's private name, and no
package imports one above it in DESIGN.md's flow. The README's architecture map says the same.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "realtime"

# Lowest first. A package may import its own layer or any below it, never one above.
LAYERS: list[set[str]] = [
    {"realtime", "realtime.errors", "realtime.files", "realtime.checks", "realtime.choices", "realtime.progress",
     "realtime.checkpoints", "realtime.params", "realtime.midi"},  # nothing heavy: `stylevj --help` starts without torch
    {"realtime.images"},
    {"realtime.display"},  # frames to pixels on a surface: knows nothing of the generator
    {"realtime.models", "realtime.overlay"},  # the network; the panels the compositor draws
    {"realtime.latent"},  # W+ keyframes, paths, directions
    {"realtime.presets", "realtime.clock"},  # show files: data only; the beat clock (Link, MIDI clock, taps)
    {"realtime.record", "realtime.outputs"},  # video files, render, live recording; frame outputs (NDI)
    {"realtime.show", "realtime.projection", "realtime.sheets"},  # the show; photos into W+; contact sheets
    {"realtime.control", "realtime.audio"},  # adapters: OSC, keys, journal; sound (its analysis imports nothing of the show)
    {"realtime.session", "realtime.bench", "realtime.doctor", "realtime.cli"},  # owners of threads, the commands
]
RANK = {name: n for n, layer in enumerate(LAYERS) for name in layer}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def imports() -> dict[str, set[tuple[str, str]]]:
    """module -> {(imported module, name or '')} for every realtime import it makes."""
    modules = {module_name(p): p for p in ROOT.rglob("*.py")}
    graph: dict[str, set[tuple[str, str]]] = {}
    for module, path in modules.items():
        here = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found: set[tuple[str, str]] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {(a.name, "") for a in node.names if a.name.startswith("realtime")}
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = here.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                if not base.startswith("realtime"):
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.add((sub, "") if sub in modules else (base, alias.name))
        graph[module] = found
    return graph


GRAPH = imports()


def test_every_package_has_a_layer():
    missing = sorted({package_of(m) for m in GRAPH} - set(RANK))
    assert not missing, f"give {missing} a layer in LAYERS (and the README's map)"


def test_no_package_imports_one_above_it():
    wrong = [f"{m} imports {t}" for m, targets in GRAPH.items() for t, _ in targets
             if RANK[package_of(t)] > RANK[package_of(m)]]
    assert not wrong, "\n".join(sorted(wrong))


def test_no_module_imports_a_private_name():
    wrong = [f"{m} imports {name} from {t}" for m, targets in GRAPH.items() for t, name in targets
             if name.startswith("_") and not name.startswith("__")]
    assert not wrong, "\n".join(sorted(wrong))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def test_no_cycle_between_modules():
    edges = {m: {t for t, _ in targets if t != m} for m, targets in GRAPH.items()}
    assert _cycles(edges) == []


def test_no_cycle_between_packages():
    edges: dict[str, set[str]] = {}
    for m, targets in GRAPH.items():
        for t, _ in targets:
            if package_of(t) != package_of(m):
                edges.setdefault(package_of(m), set()).add(package_of(t))
    assert _cycles(edges) == []


def test_the_checks_catch_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", sorted({package_of(m) for m in GRAPH} - {"realtime"}))
def test_the_readme_maps_every_package(package):
    readme = (ROOT.parent / "README.md").read_text()
    short = package.split(".")[1]
    assert f"`realtime/{short}" in readme, f"README's architecture map lacks realtime/{short}"


# A house you can see (issue 22): every module readable in one sitting, and realtime/'s root a
# short list of the shared basics; everything else sits in a package named for what it holds.
MAX_LINES = 600
MAX_LOOSE_MODULES = 10


def test_no_module_is_longer_than_the_limit():
    long = {str(p.relative_to(ROOT.parent)): n for p in ROOT.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"split these by what they hold (at most {MAX_LINES} lines a module): {long}"


def test_the_root_holds_at_most_a_few_loose_modules():
    loose = sorted(p.stem for p in ROOT.glob("*.py") if p.name != "__init__.py")
    assert len(loose) <= MAX_LOOSE_MODULES, f"{len(loose)} loose modules at realtime/ (at most {MAX_LOOSE_MODULES}): {loose}"


def test_checkpoints_need_only_the_standard_library():
    """`stylevj models` and the download cache start anywhere: no torch, no numpy."""
    outside = {f"{path.name} imports {name}" for path in (ROOT / "checkpoints").glob("*.py")
               for node in ast.walk(ast.parse(path.read_text()))
               for name in ([a.name for a in node.names] if isinstance(node, ast.Import) else
                            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
               if name.partition(".")[0] not in sys.stdlib_module_names | {"realtime"}}
    assert not outside, sorted(outside)
