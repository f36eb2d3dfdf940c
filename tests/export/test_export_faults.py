"""Faults around export: a writer killed between ONNX and sidecar, empty/truncated ONNX files, an artifact and
an ONNX that do not belong together, calibration images that moved, advice that names the option to use."""
import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import onnx
import pytest

from calib import CalibConfig, QuantConfig, calibrate
from common.cli import run_cli
from common.errors import QYoloError
from common.onnx_file import load_onnx
from common.paired import HASH_KEY, sha256_of
from export import ExportConfig, export_onnx, sidecar_path
from export.__main__ import main as export_main
from yolo.fixture import FIXTURE_WEIGHTS
from yolo.synthetic import SyntheticConfig, generate_split

ROOT = Path(__file__).resolve().parents[2]

KILL_AFTER_ONNX = textwrap.dedent("""
    import os, signal, sys
    import common.paired as paired
    write = paired.write_bytes_atomic
    def write_then_terminate(*args, **kwargs):
        result = write(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGTERM)  # between the ONNX's rename and the sidecar's
        return result
    paired.write_bytes_atomic = write_then_terminate
    from export.__main__ import main
    from common.cli import run_cli
    sys.exit(run_cli(main, sys.argv[1:]))
""")


def fp32_args(out: Path, imgsz: int) -> list[str]:
    return ["--weights", str(FIXTURE_WEIGHTS), "--profile", "fp32", "--imgsz", str(imgsz), "--out", str(out)]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder, _ = generate_split(tmp_path_factory.mktemp("fault_data"), "calib", SyntheticConfig(n_images=2, seed=4),
                               progress=False)
    return folder


@pytest.mark.slow
def test_kill_between_onnx_and_sidecar_is_detected_and_repaired(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    assert run_cli(export_main, fp32_args(out, 64)) == 0
    killed = subprocess.run([sys.executable, "-c", KILL_AFTER_ONNX, *fp32_args(out, 96)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == 143, killed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json"]
    assert json.loads(sidecar_path(out).read_text())["config"]["imgsz"] == 64  # stale: describes the old ONNX
    capsys.readouterr()
    model = load_onnx(out)
    assert {p.key: p.value for p in model.metadata_props}["qyolo.imgsz"] == "96"
    assert capsys.readouterr().err.splitlines() == [
        f"WARNING: sidecar {sidecar_path(out)} describes another file than the one beside it (an interrupted "
        f"write?); rewritten from {out}, which carries its own record"]
    repaired = json.loads(sidecar_path(out).read_text())
    assert repaired["config"]["imgsz"] == 96 and repaired[HASH_KEY] == sha256_of(out.read_bytes())
    assert repaired["metadata"]["qyolo.imgsz"] == "96" and repaired["op_counts"]


@pytest.mark.parametrize("content, message", [
    (b"", r"holds no ONNX graph \(0 bytes: empty or not an ONNX model\); re-export it"),
    (None, r"is not a readable ONNX model \(DecodeError: .*\); it is truncated or not ONNX: re-export it"),
])
def test_empty_or_truncated_onnx_is_one_line_in_lint_and_fidelity(tmp_path, content, message, capsys):
    from export.fidelity import main as fidelity_main
    from export.lint import main as lint_main

    path = tmp_path / "bad.onnx"
    if content is None:
        good = export_onnx(ExportConfig(out=tmp_path / "good.onnx", weights=FIXTURE_WEIGHTS, profile="fp32",
                                        imgsz=64))
        content = good.read_bytes()[: good.stat().st_size // 2]
    path.write_bytes(content)
    capsys.readouterr()
    assert run_cli(lint_main, [str(path)]) == 2
    assert run_cli(fidelity_main, ["--artifact", "a.pt", "--onnx", str(path), "--data", "d"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(e.startswith(f"error: {path} ") for e in errors)
    assert all(re.search(message, e) for e in errors), errors


@pytest.mark.slow
def test_fidelity_refuses_an_onnx_of_another_artifact_and_an_empty_comparison(images, tmp_path, capsys):
    from export.fidelity import main as fidelity_main

    first = calibrate(CalibConfig(quant=QuantConfig(scheme="sym"), data=images, num_images=2, imgsz=64,
                                  batch_size=2, out=tmp_path / "a.pt", progress=False))
    second = calibrate(CalibConfig(quant=QuantConfig(method="minmax", scheme="sym"), data=images, num_images=2,
                                   imgsz=64, batch_size=2, out=tmp_path / "b.pt", progress=False))
    onnx_a = export_onnx(ExportConfig(out=tmp_path / "a_trt.onnx", artifact=first, profile="trt", imgsz=64))
    capsys.readouterr()
    args = ["--onnx", str(onnx_a), "--data", str(images), "--images", "2"]
    assert run_cli(fidelity_main, ["--artifact", str(second), *args]) == 2
    assert capsys.readouterr().err == (f"error: {onnx_a} was not exported from {second} (its qyolo.artifact_sha256 "
                                       f"names another file: {first.resolve()}); give the artifact it came from, or "
                                       "re-export it from this one\n")
    assert run_cli(fidelity_main, ["--artifact", str(first), *args]) == 0
    assert json.loads(capsys.readouterr().out)["quantizers_compared"] > 50

    float_onnx = export_onnx(ExportConfig(out=tmp_path / "f.onnx", weights=FIXTURE_WEIGHTS, profile="fp32", imgsz=64))
    proto = onnx.load(str(float_onnx))  # an ONNX from elsewhere: no record of its source, no quantizers
    del proto.metadata_props[:]
    onnx.save(proto, str(float_onnx))
    capsys.readouterr()
    assert run_cli(fidelity_main, ["--artifact", str(first), "--onnx", str(float_onnx), "--data", str(images),
                                   "--images", "2"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: no quantizer of {float_onnx} matched one of {first}: nothing was compared; give the QDQ ONNX "
        "exported from this artifact (python -m export --artifact ...)")


def test_cpu_profile_after_the_calibration_images_moved_names_both_ways_out(images, tmp_path, monkeypatch):
    moved = tmp_path / "images"
    shutil.copytree(images, moved)
    monkeypatch.chdir(tmp_path)
    artifact = calibrate(CalibConfig(data="images", num_images=2, imgsz=64, batch_size=2, out=tmp_path / "a.pt",
                                     progress=False))  # a relative --data, recorded as absolute paths
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert export_onnx(ExportConfig(out=tmp_path / "ok.onnx", artifact=artifact, profile="cpu", imgsz=64)).is_file()
    shutil.rmtree(moved)
    with pytest.raises(QYoloError, match=rf"the cpu profile's integer ops re-read the artifact's calibration images, "
                                         rf"but neither they nor {moved} are found from {elsewhere}; give --calib-data "
                                         r"<image folder or dataset>, or --no-integer-ops"):
        export_onnx(ExportConfig(out=tmp_path / "m.onnx", artifact=artifact, profile="cpu", imgsz=64))


def test_advice_names_the_option_to_use(images, tmp_path):
    artifact = calibrate(CalibConfig(data=images, num_images=2, imgsz=64, batch_size=2, out=tmp_path / "asym.pt",
                                     progress=False))
    with pytest.raises(QYoloError, match=rf"^{artifact} was calibrated with asymmetric activations"):
        export_onnx(ExportConfig(out=tmp_path / "m.onnx", artifact=artifact, profile="trt", imgsz=64))
    with pytest.raises(QYoloError, match=rf"^{artifact} is a calibrated artifact, not an FP32 checkpoint; give it as "
                                         r"--artifact \(python -m export\)"):
        export_onnx(ExportConfig(out=tmp_path / "m.onnx", weights=artifact, profile="fp32", imgsz=64))
    with pytest.raises(QYoloError, match=rf"^--weights {tmp_path} is a folder; give the \.pt file"):
        export_onnx(ExportConfig(out=tmp_path / "m.onnx", weights=tmp_path, profile="fp32", imgsz=64))
