"""What a file is and what made it: the calibrated artifact's format name (the stages that meet such a file
recognise it by this), the JSON sidecar's path, the content hash of an input, the versions of the software
involved. Every stage's sidecar uses these."""
import hashlib
import importlib
import platform
from pathlib import Path

ARTIFACT_FORMAT = "q-yolo-calibrated"  # the "format" key of calib's artifact files


def sidecar_path(path: str | Path) -> Path:
    """`runs/calib/uh-asym-w8a8.pt` -> `runs/calib/uh-asym-w8a8.pt.json` (the same rule for every artifact)."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def versions(*modules: str) -> dict[str, str]:
    """Python, the platform, and the `__version__` of each named module that is installed (absent ones omitted:
    the optional runtimes are not on every machine)."""
    found = {"python": platform.python_version(), "platform": platform.platform()}
    for name in modules:
        try:
            found[name] = str(importlib.import_module(name).__version__)
        except ImportError:
            continue
    return found
