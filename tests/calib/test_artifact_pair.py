"""Artifact and sidecar stay consistent by construction: a writer killed between the two writes leaves a stale
sidecar that the next load detects (one warning line) and rewrites from the artifact's own record."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from calib.artifact import read_artifact
from common.paired import HASH_KEY, sha256_of
from common.provenance import sidecar_path
from common.pt_file import read_pt
from yolo.synthetic import SyntheticConfig, generate_split

ROOT = Path(__file__).resolve().parents[2]

# Runs `python -m calib` in a child whose artifact write is followed by a SIGTERM to itself, before the sidecar.
KILL_AFTER_ARTIFACT = textwrap.dedent("""
    import os, signal, sys
    import common.paired as paired
    write = paired.write_bytes_atomic
    def write_then_terminate(*args, **kwargs):
        result = write(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # delivered here: between the artifact's rename and the sidecar's
        return result
    paired.write_bytes_atomic = write_then_terminate
    from calib.__main__ import main
    from common.cli import run_cli
    sys.exit(run_cli(main, sys.argv[1:]))
""")


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder, _ = generate_split(tmp_path_factory.mktemp("pair_data"), "calib", SyntheticConfig(n_images=2, seed=3),
                               progress=False)
    return folder


def calib_args(images, out, method):
    return ["--data", str(images), "--num-images", "2", "--imgsz", "64", "--batch", "2", "--threads", "1",
            "--no-progress", "--method", method, "--scheme", "sym", "--out", str(out)]


@pytest.mark.slow
def test_kill_between_artifact_and_sidecar_is_detected_and_repaired(images, tmp_path, capsys):
    out = tmp_path / "m.pt"
    first = subprocess.run([sys.executable, "-m", "calib", *calib_args(images, out, "minmax")], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert json.loads(sidecar_path(out).read_text())["method"] == "minmax"

    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_ARTIFACT, *calib_args(images, out, "uh")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == 143, killed.stderr
    assert killed.stderr.strip().splitlines()[-1].startswith("terminated: temporary files removed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt", "m.pt.json"]  # no temp file left
    assert read_pt(out)["method"] == "uh"  # the new artifact ...
    stale = json.loads(sidecar_path(out).read_text())
    assert stale["method"] == "minmax" and stale[HASH_KEY] != sha256_of(out.read_bytes())  # ... the old sidecar

    capsys.readouterr()
    payload = read_artifact(out)
    assert payload["method"] == "uh"
    assert capsys.readouterr().err.splitlines() == [
        f"WARNING: sidecar {sidecar_path(out)} describes another file than the one beside it (an interrupted "
        f"write?); rewritten from {out}, which carries its own record"]
    repaired = json.loads(sidecar_path(out).read_text())
    assert repaired["method"] == "uh" and repaired[HASH_KEY] == sha256_of(out.read_bytes())
    assert repaired["ranges"] == payload["ranges"]

    read_artifact(out)
    assert capsys.readouterr().err == ""  # consistent now: nothing to say


def test_sidecar_hash_is_the_artifact_content(images, tmp_path):
    from calib import CalibConfig, calibrate

    out = calibrate(CalibConfig(data=images, num_images=2, imgsz=64, batch_size=2, out=tmp_path / "a.pt",
                                progress=False))
    sidecar = json.loads(sidecar_path(out).read_text())
    assert sidecar[HASH_KEY] == sha256_of(out.read_bytes())
    assert all(Path(p).is_absolute() for p in sidecar["calibration"]["images"])  # re-readable from any folder
    assert Path(sidecar["calibration"]["data"]).is_absolute()
