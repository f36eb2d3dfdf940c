"""What a file is and what made it: the calibrated artifact's format name (the stages that meet such a file
recognise it by this), the JSON sidecar's path, the content hash of an input, the versions of the software
involved, and the run that wrote a report (command, commit, CPU, date). Every stage's sidecar uses these."""
import datetime
import hashlib
import importlib
import platform
import subprocess
import sys
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


def cpu_name() -> str:
    """The CPU's model name (as lscpu shows it), for labelling figures."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def source_commit(root: str | Path | None = None) -> dict:
    """{"commit", "dirty"} of the git checkout holding this code (dirty: uncommitted changes to tracked files);
    both None outside a checkout or without git."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    if commit.returncode != 0 or status.returncode != 0:
        return {"commit": None, "dirty": None}
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


def run_provenance(argv: list[str] | None = None) -> dict:
    """What produced a report: the command line, the code's commit, the CPU, the time (UTC)."""
    command = " ".join(["python", "-m", Path(sys.argv[0]).parent.name] + sys.argv[1:]) \
        if argv is None and sys.argv and sys.argv[0].endswith("__main__.py") else " ".join(argv or sys.argv)
    return {"command": command, **source_commit(), "cpu": cpu_name(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
