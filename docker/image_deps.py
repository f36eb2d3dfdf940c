"""The GPU image's Python dependencies: one install step, resolved the same way in three places.

    python docker/image_deps.py install   # in the Dockerfile: install requirements*.txt into the image's Python
    python docker/image_deps.py check     # make docker-check: pip's dry run of that same step, without Docker
    python docker/image_deps.py lock      # make lock: re-resolve docker/constraints-image.txt for the image

The step installs requirements.txt and requirements-dev.txt with pip, binary wheels only, under two constraint
files: the packages of the base image that must stay as NVIDIA built them (docker/base-image.json "held": torch,
TensorRT, and numpy, the ABI every compiled package there was built against) at the versions the image has, and
the image's own lock (docker/constraints-image.txt) for everything else. opencv-python-headless is left out when
the image already provides cv2 (two distributions writing one cv2 package clash). `check` and `lock` cannot read
the image: they take its Python version, glibc and held versions from docker/base-image.json and ask pip for the
resolution on that target (--python-version, --platform manylinux_2_<glibc>..2_17, --dry-run --ignore-installed),
from the package index alone (--isolated: no local pip configuration or wheel folders). Standard library only:
it runs before the project is installed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE_IMAGE = ROOT / "docker" / "base-image.json"
IMAGE_LOCK = ROOT / "docker" / "constraints-image.txt"
REQUIREMENTS = (ROOT / "requirements.txt", ROOT / "requirements-dev.txt")
DEFAULT_INDEX = "https://pypi.org/simple"
OPENCV = "opencv-python-headless"
LOCK_HEADER = """\
# The exact versions the GPU image installs (docker/image_deps.py install, run by docker/Dockerfile): every package
# requirements*.txt bring in, resolved for the image's Python and numpy (docker/base-image.json) rather than for the
# development machines (constraints.txt). The packages the image keeps as built (torch, TensorRT, numpy) are not here.
# Refresh with `make lock` (both locks); `make docker-check` proves this one resolves for the image without Docker.
"""


class DepsError(Exception):
    """A problem a user fixes: printed as one line, exit status 2."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path) -> dict[str, str]:
    """{canonical name: version} of the name==version lines of a constraints file (comments ignored)."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonical(name)] = version.strip()
    return pins


def requirement_names(paths=REQUIREMENTS) -> list[str]:
    names = []
    for path in paths:
        for line in path.read_text().splitlines():
            match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", line.split("#", 1)[0])
            if match:
                names.append(canonical(match.group(1)))
    return names


def load_base(path: Path = BASE_IMAGE) -> dict:
    base = json.loads(path.read_text())
    for key in ("image", "python", "glibc", "held"):
        if key not in base:
            raise DepsError(f"{path} has no {key!r}: see the format in docker/image_deps.py")
    base["held"] = {canonical(name): version for name, version in base["held"].items()}
    return base


def platforms(glibc: str) -> list[str]:
    """The manylinux tags a glibc accepts, newest first (pip takes only the tags it is given, so all of them)."""
    major, minor = (int(part) for part in glibc.split("."))
    if major != 2 or minor < 17:
        raise DepsError(f"glibc {glibc}: manylinux wheels need glibc 2.17 or newer")
    return [f"manylinux_2_{m}_x86_64" for m in range(minor, 16, -1)] + ["manylinux2014_x86_64"]


def requirement_files(work: Path, provides_cv2: bool) -> list[Path]:
    """requirements*.txt as the image installs them: without opencv-python-headless where the image has cv2."""
    files = []
    for path in REQUIREMENTS:
        if provides_cv2:
            kept = [line for line in path.read_text().splitlines()
                    if not re.match(r"\s*opencv[-_]python", line, re.I)]
            path = work / path.name
            path.write_text("\n".join(kept) + "\n")
        files.append(path)
    return files


def pip_arguments(held: dict[str, str], work: Path, provides_cv2: bool, lock: Path | None) -> list[str]:
    """The `pip install` arguments of the image's install step (the same for install, check and lock)."""
    held_file = work / "held.txt"
    held_file.write_text("".join(f"{name}=={version}\n" for name, version in sorted(held.items())))
    args = ["--only-binary=:all:", "-c", str(held_file)]
    if lock is not None:
        others = {name: v for name, v in read_pins(lock).items() if name not in held}
        lock_file = work / "locked.txt"
        lock_file.write_text("".join(f"{name}=={version}\n" for name, version in sorted(others.items())))
        args += ["-c", str(lock_file)]
    for path in requirement_files(work, provides_cv2):
        args += ["-r", str(path)]
    return args


def target_arguments(base: dict, work: Path, report: Path, index: str) -> list[str]:
    """Resolve for the image, not for this machine: its Python, its glibc, nothing installed here counted."""
    args = ["--isolated", "--dry-run", "--ignore-installed", "--target", str(work / "target"), "--report",
            str(report), "--index-url", index, "--python-version", base["python"], "--implementation", "cp"]
    for tag in platforms(base["glibc"]):
        args += ["--platform", tag]
    return args


def resolve(base: dict, lock: Path | None, index: str, provides_cv2: bool) -> dict[str, str]:
    """{canonical name: version} pip would install into the image (a dry run); DepsError with pip's words."""
    with tempfile.TemporaryDirectory(prefix="image-deps-") as tmp:
        work, report = Path(tmp), Path(tmp) / "report.json"
        command = [sys.executable, "-m", "pip", "install", *target_arguments(base, work, report, index),
                   *pip_arguments(base["held"], work, provides_cv2, lock)]
        env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        done = subprocess.run(command, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            errors = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
            raise DepsError("pip cannot resolve the image's install step for Python " + base["python"] + ":\n  "
                            + "\n  ".join(errors[-12:]))
        installed = json.loads(report.read_text())["install"]
    return {canonical(item["metadata"]["name"]): item["metadata"]["version"] for item in installed}


def compare_with_lock(resolved: dict[str, str], lock: dict[str, str], held: dict[str, str]) -> list[str]:
    """What makes the lock wrong for the resolution: packages it lacks or pins at another version."""
    problems = []
    for name, version in sorted(resolved.items()):
        if name in held:
            if version != held[name]:
                problems.append(f"{name} resolved to {version}, but the image holds {held[name]}")
        elif name not in lock:
            problems.append(f"{name}=={version} is not in {IMAGE_LOCK.name}")
        elif lock[name] != version:
            problems.append(f"{name} resolved to {version}, the lock says {lock[name]}")
    return problems


def index_reachable(index: str, timeout: float = 10.0) -> str | None:
    """None when the package index answers, else why not."""
    try:
        with urllib.request.urlopen(index.rstrip("/") + "/pip/", timeout=timeout):
            return None
    except OSError as exc:
        return f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"


# -- the three commands ---------------------------------------------------------------------------------------------
def command_check(args) -> int:
    base = load_base()
    if args.skip_if_offline:
        reason = index_reachable(args.index)
        if reason is not None:
            print(f"docker-check skipped: the package index {args.index} is unreachable ({reason})")
            return 0
    lock = read_pins(IMAGE_LOCK)
    rows = []
    for provides_cv2 in (False, True):  # the image either has cv2 (OpenCV dropped) or not: both must resolve
        resolved = resolve(base, IMAGE_LOCK, args.index, provides_cv2)
        problems = compare_with_lock(resolved, lock, base["held"])
        if problems:
            raise DepsError(f"the image lock {IMAGE_LOCK} does not match the resolution (run `make lock`):\n  "
                            + "\n  ".join(problems))
        rows.append(resolved)
    resolved = rows[0]
    width = max(map(len, resolved))
    print(f"image {base['image']}: Python {base['python']}, glibc {base['glibc']}, held "
          + ", ".join(f"{n}=={v}" for n, v in sorted(base["held"].items())))
    for name, version in sorted(resolved.items()):
        source = "held (image)" if name in base["held"] else "image lock"
        print(f"  {name:<{width}}  {version:<14} {source}")
    print(f"docker-check passed: the install step resolves ({len(resolved)} packages, with and without the "
          f"image's own cv2), every version as {IMAGE_LOCK.relative_to(ROOT)} pins it")
    return 0


def command_lock(args) -> int:
    base = load_base()
    resolved = resolve(base, None, args.index, provides_cv2=False)
    held_names = set(base["held"])
    pins = {name: version for name, version in resolved.items() if name not in held_names}
    tmp = IMAGE_LOCK.with_suffix(".tmp")
    tmp.write_text(LOCK_HEADER + "".join(f"{name}=={version}\n" for name, version in sorted(pins.items())))
    tmp.replace(IMAGE_LOCK)
    print(f"{IMAGE_LOCK.relative_to(ROOT)}: {len(pins)} packages for Python {base['python']} "
          f"(held by the image: {', '.join(sorted(held_names))})")
    return 0


def installed_versions(names) -> dict[str, str]:
    from importlib import metadata

    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def broken_requirements(pip_check_output: str, ours: set[str]) -> list[str]:
    """`pip check` complaints that involve a package this step installed or holds (others predate it)."""
    lines = []
    for line in pip_check_output.splitlines():
        names = {canonical(n) for n in re.findall(r"(?:^|requires |requirement |you have )([A-Za-z0-9._-]+)", line)}
        if names & ours:
            lines.append(line.strip())
    return lines


def command_install(args) -> int:
    import importlib.util

    base = load_base()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    if python != base["python"]:
        print(f"note: this image has Python {python}; docker/image_deps.py was resolved for {base['python']} "
              f"({base['image']}): run `make docker-check` after changing the base")
    held = {canonical(name): version for name, version in installed_versions(base["held"]).items()}
    provides_cv2 = importlib.util.find_spec("cv2") is not None
    with tempfile.TemporaryDirectory(prefix="image-deps-") as tmp:
        command = [sys.executable, "-m", "pip", "install", "--no-cache-dir",
                   *pip_arguments(held, Path(tmp), provides_cv2, IMAGE_LOCK)]
        print("held as the image has them: " + ", ".join(f"{n}=={v}" for n, v in sorted(held.items()))
              + ("; cv2 from the image" if provides_cv2 else ""))
        if subprocess.run(command).returncode != 0:
            raise DepsError("pip could not install the project's requirements into the image (see above); "
                            "`make docker-check` resolves the same step without Docker")
    done = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True)
    ours = set(read_pins(IMAGE_LOCK)) | set(held) | set(requirement_names())
    broken = broken_requirements(done.stdout, ours)
    if broken:
        raise DepsError("the install left broken requirements among the project's packages:\n  "
                        + "\n  ".join(broken))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="docker/image_deps.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("check", "lock"):
        command = sub.add_parser(name)
        command.add_argument("--index", default=DEFAULT_INDEX, help=f"package index (default {DEFAULT_INDEX})")
        if name == "check":
            command.add_argument("--skip-if-offline", action="store_true",
                                 help="pass with a message when the index cannot be reached (CI)")
    sub.add_parser("install")
    args = parser.parse_args(argv)
    try:
        return {"check": command_check, "lock": command_lock, "install": command_install}[args.command](args)
    except DepsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
