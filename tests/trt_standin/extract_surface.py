"""Extract the Python surface of the `tensorrt` module from TensorRT's pybind11 binding sources.

Run by hand when the supported TensorRT releases change; its output (surface/tensorrt-<ref>.json) is committed and
read by the tests, which check the test suite's TensorRT stand-in against it:

    git clone --bare https://github.com/NVIDIA/TensorRT /tmp/TensorRT.git     # or any clone that has the tags
    python tests/trt_standin/extract_surface.py --repo /tmp/TensorRT.git --ref v10.8.0
    python tests/trt_standin/extract_surface.py --repo /tmp/TensorRT.git --ref v11.1

What is read (at the given tag, through `git show`, so a bare clone is enough): the enum values of include/*.h, and
every binding source under
python/src (pyCore.cpp, pyFoundationalTypes.cpp, pyGraph.cpp, pyPlugin.cpp, pyInt8.cpp where the release has it,
parsers/pyOnnx.cpp, pyTensorRT.cpp) and the Python package's __init__.py (which adds __version__, `volume`, the
Logger severity aliases, ...). `#if EXPORT_ALL_BINDINGS` blocks are kept (the full `tensorrt` module, not the lean
or dispatch runtime); other `#if` blocks are dropped.

What is recorded, per class: its bases, methods (each overload with its keyword names and which have defaults; None
where the source names no arguments, so pybind11 derives them from the C++ signature), static methods and
properties (read-only or not); per enum: its members and whether they are exported into the enclosing scope;
module functions and attributes. Standard library only.
"""
import argparse
import ast
import json
import re
import subprocess
import sys
from pathlib import Path

try:
    from .cpp_bindings import Surface, header_enum_values, parse_bindings, preprocess, strip_comments
except ImportError:  # run as a script (python tests/trt_standin/extract_surface.py)
    from cpp_bindings import Surface, header_enum_values, parse_bindings, preprocess, strip_comments

SURFACE_DIR = Path(__file__).resolve().parent / "surface"
BINDING_DIRS = ("python/src/infer", "python/src/parsers")
EXTRA_FILES = ("python/src/pyTensorRT.cpp",)
INIT_PY = "python/packaging/bindings_wheel/tensorrt/__init__.py"


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """git in `repo`, a work tree or a bare repository (its git directory has HEAD at the top)."""
    location = ["--git-dir", str(repo)] if (repo / "HEAD").is_file() else ["-C", str(repo)]
    return subprocess.run(["git", *location, *args], capture_output=True, text=True)


def git_show(repo: Path, ref: str, path: str) -> str | None:
    done = _git(repo, "show", f"{ref}:{path}")
    return done.stdout if done.returncode == 0 else None


def git_list(repo: Path, ref: str, folder: str, suffix: str = ".cpp") -> list[str]:
    done = _git(repo, "ls-tree", "--name-only", f"{ref}:{folder}")
    return [f"{folder}/{name}" for name in done.stdout.split() if name.endswith(suffix)] if done.returncode == 0 else []


def resolve_commit(repo: Path, ref: str) -> str:
    done = _git(repo, "rev-parse", f"{ref}^{{commit}}")
    if done.returncode != 0:
        raise SystemExit(f"{ref} is not a tag or commit of {repo}: {done.stderr.strip()}")
    return done.stdout.strip()


# -- the Python package's __init__.py -------------------------------------------------------------------------
def parse_init_py(text: str, surface: Surface) -> None:
    """Module-level functions and names, class attributes it sets, and the Logger severity aliases it copies."""
    # the template's placeholders (##NAME##), filled at packaging time: the module name, else a neutral value
    text = text.replace("##TENSORRT_MODULE##", "tensorrt")
    _visit_init_body(ast.parse(re.sub(r"##[A-Z_]+##", "0", text)).body, surface)


def _visit_init_body(body: list, surface: Surface) -> None:
    for node in body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            surface.functions.setdefault(node.name, [[{"name": a.arg, "default": False} for a in node.args.args]])
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                _record_assignment(target, node.value, surface)
        elif isinstance(node, ast.For) and isinstance(node.iter, ast.Call):
            _record_enum_aliases(node, surface)
        elif isinstance(node, ast.If):
            _visit_init_body(node.body, surface)


def _record_assignment(target: ast.expr, value: ast.expr, surface: Surface) -> None:
    """`__version__ = ...` and `SomeClass.attr = ...`."""
    if isinstance(target, ast.Name) and target.id == "__version__":
        surface.attributes["__version__"] = "str"
    elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        owner = target.value.id
        if owner in surface.classes:
            surface.classes[owner].setdefault("python_attributes", {})[target.attr] = ast.unparse(value)


def _record_enum_aliases(loop: ast.For, surface: Surface) -> None:
    """`for name, value in Enum.__members__.items(): setattr(Class, name, value)`: Class gets the enum's members."""
    enum_name = ast.unparse(loop.iter.func).removesuffix(".__members__.items")
    for stmt in loop.body:
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if isinstance(call, ast.Call) and ast.unparse(call.func) == "setattr":
            owner = ast.unparse(call.args[0])
            if owner in surface.classes and enum_name in surface.enums:
                attributes = surface.classes[owner].setdefault("python_attributes", {})
                for member in surface.enums[enum_name]["members"]:
                    attributes[member] = f"{enum_name}.{member}"


def header_version(text: str) -> str:
    """MAJOR.MINOR.PATCH.BUILD from NvInferVersion.h (the value `tensorrt.__version__` carries)."""
    defines = dict(re.findall(r"#define\s+(\w+)\s+(\w+)", text))

    def value(key: str) -> str:
        seen = set()
        while key in defines and key not in seen:
            seen.add(key)
            key = defines[key]
        return key

    return ".".join(value(f"NV_TENSORRT_{part}") for part in ("MAJOR", "MINOR", "PATCH", "BUILD"))


def extract(repo: Path, ref: str) -> dict:
    files = [path for folder in BINDING_DIRS for path in git_list(repo, ref, folder)] + list(EXTRA_FILES)
    surface = Surface()
    for header in git_list(repo, ref, "include", suffix=".h"):
        for name, values in header_enum_values(strip_comments(git_show(repo, ref, header) or "")).items():
            surface.header_enums.setdefault(name, values)
    texts = {}
    for path in files:
        text = git_show(repo, ref, path)
        if text is None:
            raise SystemExit(f"{path} is missing at {ref} in {repo}")
        texts[path] = preprocess(strip_comments(text))
    # enums and classes first everywhere (a class may reference a type bound in another file), calls with them
    for path in ("python/src/infer/pyFoundationalTypes.cpp", *[p for p in files if "FoundationalTypes" not in p]):
        if path in texts:
            parse_bindings(texts[path], surface)
    surface.resolve_bases()
    surface.settle_enum_values()
    init_py = git_show(repo, ref, INIT_PY)
    if init_py is None:
        raise SystemExit(f"{INIT_PY} is missing at {ref} in {repo}")
    parse_init_py(init_py, surface)
    version = header_version(git_show(repo, ref, "include/NvInferVersion.h") or "")
    return {"version": version, "source": {"repository": "https://github.com/NVIDIA/TensorRT", "ref": ref,
                       "commit": resolve_commit(repo, ref), "files": sorted(files) + [INIT_PY]},
            "module": surface.as_dict()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, required=True, help="a clone (or bare clone) of NVIDIA/TensorRT")
    parser.add_argument("--ref", required=True, help="tag or commit, e.g. v10.8.0")
    parser.add_argument("--out", type=Path, help="default: surface/tensorrt-<ref without v>.json beside this script")
    args = parser.parse_args(argv)
    out = args.out or SURFACE_DIR / f"tensorrt-{args.ref.lstrip('v')}.json"
    data = extract(args.repo, args.ref)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    tmp.replace(out)
    module = data["module"]
    print(f"{out}: {len(module['classes'])} classes, {len(module['enums'])} enums, "
          f"{len(module['functions'])} functions (commit {data['source']['commit']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
