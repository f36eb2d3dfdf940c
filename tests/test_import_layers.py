"""The import graph, read from the sources: every package imports only packages of lower layers (and itself), so no
import points upward and nothing in the product imports the benchmarks or the scripts around it; and no module uses
another module's private names (what modules share has a public name). A new top-level package fails here until it
is given its layer."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Lowest first. The product is everything below "bench"; bench measures the product; the top layer chains or
# studies the rest (the demo, the lab scripts, the results pages, the image's dependency tool).
LAYERS = [
    {"common"},
    {"yolo"},
    {"calib"},
    {"export"},
    {"engine"},
    {"eval"},
    {"sensitivity", "sweep"},
    {"mixed"},
    {"bench"},
    {"tools", "scripts", "results", "docker"},
]
LAYER_OF = {package: level for level, packages in enumerate(LAYERS) for package in packages}
NOT_PACKAGES = {"tests", "docs", "data", "runs"}


def top_level_packages() -> list[str]:
    return sorted(p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")
                  and p.name not in NOT_PACKAGES and any(p.rglob("*.py")))


def imported_packages(path: Path) -> set[tuple[str, int]]:
    """(top-level name, line) of every absolute import in a file, function-level imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {(alias.name.split(".")[0], node.lineno) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add((node.module.split(".")[0], node.lineno))
    return found


def test_every_package_has_a_layer():
    unplaced = [name for name in top_level_packages() if name not in LAYER_OF]
    assert not unplaced, f"give {unplaced} a layer in LAYERS (which packages may it import, which may import it?)"


@pytest.mark.parametrize("package", top_level_packages())
def test_imports_point_down(package):
    upward = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for name, line in imported_packages(path):
            if name in LAYER_OF and name != package and LAYER_OF[name] >= LAYER_OF[package]:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not upward, "\n".join(upward)


@pytest.mark.parametrize("package", top_level_packages())
def test_no_private_names_across_modules(package):
    borrowed = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                    and node.module.split(".")[0] in LAYER_OF:
                private = [a.name for a in node.names if a.name.startswith("_") and not a.name.startswith("__")]
                if private:
                    borrowed.append(f"{path.relative_to(ROOT)}:{node.lineno} takes {private} from {node.module}")
    assert not borrowed, "\n".join(borrowed)


def test_the_reader_sees_every_import(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import os, bench.cpu\nfrom eval.stage import x\nfrom . import y\n\n"
                      "def f():\n    from sweep import run\n")
    assert imported_packages(source) == {("os", 1), ("bench", 1), ("eval", 2), ("sweep", 6)}
