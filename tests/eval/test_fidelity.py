"""The deployment fidelity check on real exported graphs of the fixture: exact graphs pass, a graph with one
activation off by a known factor fails, runtimes agree with torch where that is a property of the product, and a
runtime that is wrong on this CPU is reported with its figures instead of failing the suite."""
import functools
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest

from common.errors import QYoloError
from eval.backends.base import create_backend
from eval.fidelity import FidelityConfig, check_fidelity
from eval.fidelity.perturb import activation_dequantizers, scale_activation
from eval.fidelity.source import NOT_QUANTIZED, find_artifact

IMGSZ = 128
pytestmark = pytest.mark.slow  # calibrates and exports four graphs (about a minute on 2 cores)


@functools.lru_cache(maxsize=None)
def workspace() -> Path:
    from yolo.synthetic import SyntheticConfig, generate_split

    folder = Path(tempfile.mkdtemp(prefix="qyolo-fidelity-"))
    generate_split(folder / "data", "calib", SyntheticConfig(n_images=8, seed=11), progress=False)
    return folder


@functools.lru_cache(maxsize=None)
def artifact(scheme: str) -> Path:
    from calib import CalibConfig, QuantConfig, calibrate

    root = workspace()
    return calibrate(CalibConfig(quant=QuantConfig(method="uh", scheme=scheme), data=root / "data" / "calib",
                                 num_images=8, imgsz=IMGSZ, out=root / f"uh-{scheme}-w8a8.pt", threads=1,
                                 batch_size=8, progress=False))


@functools.lru_cache(maxsize=None)
def graph(name: str) -> Path:
    """trt (sym, int8), cpu-u8 (sym re-encoded as uint8, no integer ops), cpu (asym, integer-op completed),
    cpuexact (asym, Q/DQ only at the artifact's quantizers)."""
    from export import ExportConfig, export_onnx

    scheme, profile, integer_ops = {"trt": ("sym", "trt", None), "cpu-u8": ("sym", "cpu", False),
                                    "cpu": ("asym", "cpu", None), "cpuexact": ("asym", "cpu", False)}[name]
    return export_onnx(ExportConfig(out=workspace() / f"{name}.onnx", artifact=artifact(scheme), profile=profile,
                                    imgsz=IMGSZ, dynamic_batch=True, integer_ops=integer_ops, calib_images=8))


def check(model: Path, backend: str = "ort", **kwargs) -> dict:
    return check_fidelity(FidelityConfig(model=model, backend=backend, images=8, progress=False,
                                         backend_options={"threads": 1}, **kwargs))


@pytest.mark.parametrize("name", ["trt", "cpu-u8", "cpu", "cpuexact"])
def test_onnx_runtime_agrees_with_torch_on_every_profile(name):
    report = check(graph(name))
    assert report["verdict"] == "pass", report["reasons"]
    assert report["artifact"].endswith(".pt") and report["figures"]["images"] == 8
    assert report["figures"]["reference_detections"] > 0  # a check on no detections would prove nothing


@pytest.mark.parametrize("name", ["cpu-u8", "cpuexact"])
def test_openvino_agrees_with_torch_on_uint8_graphs(name):
    report = check(graph(name), "openvino")
    assert report["verdict"] == "pass", report["reasons"]


def _scores(model: Path, backend: str) -> np.ndarray:
    """objectness x best class probability of every prediction, on the workspace's 8 images."""
    from yolo.images import read_image
    from yolo.letterbox import preprocess

    paths = sorted((workspace() / "data" / "calib").glob("*.jpg"))
    x = np.stack([preprocess(read_image(p), IMGSZ)[0] for p in paths])
    pred = create_backend(backend, model, threads=1)(x)
    return pred[..., 4] * pred[..., 5:].max(-1)


def test_openvino_on_int8_activations_gets_the_verdict_its_outputs_deserve():
    """OpenVINO's signed-int8 activation kernels miscompute on some CPUs (AMD EPYC) and are right on others. Whether
    they are right here is measured independently, against ONNX Runtime on the same graph (which computes torch's
    numbers: test above): agreeing outputs must get pass, outputs far off must get fail (the suite then reports the
    runtime's error with its figures instead of failing)."""
    report = check(graph("trt"), "openvino")
    ort, ov = _scores(graph("trt"), "ort"), _scores(graph("trt"), "openvino")
    confident = (ort > 0.25) | (ov > 0.25)  # the predictions a detector user sees
    worst = float(np.quantile(np.abs(ort - ov)[confident], 0.95)) if confident.any() else 0.0
    figures = f"p95 score difference {worst:.3f} on {int(confident.sum())} confident predictions"
    if worst < 0.1:  # rounding-level differences: the runtime computes the graph
        assert report["verdict"] == "pass", (figures, report["reasons"])
    elif worst > 0.3:  # the runtime is wrong on this CPU: the check must say so
        assert report["verdict"] == "fail", (figures, report["figures"])
        pytest.xfail(f"OpenVINO computes int8-activation graphs wrongly on this CPU ({figures}); the fidelity check "
                     f"says fail: {report['reasons']}")
    else:
        pytest.skip(f"OpenVINO's outputs are neither close to ONNX Runtime's nor far off ({figures}); no verdict is "
                    "known to be right")


def test_uint8_re_encoding_computes_the_trt_graphs_numbers():
    x = np.random.default_rng(0).random((2, 3, IMGSZ, IMGSZ), dtype=np.float32)
    trt = create_backend("ort", graph("trt"), threads=1, optimization="disabled")(x)
    u8 = create_backend("ort", graph("cpu-u8"), threads=1, optimization="disabled")(x)
    assert np.allclose(trt, u8, rtol=1e-5, atol=1e-4)
    zero_points = [onnx.numpy_helper.to_array(i) for i in onnx.load(str(graph("cpu-u8"))).graph.initializer
                   if i.name.startswith("uint8_zero_point")]
    assert zero_points and all((z == 128).all() for z in zero_points)


@pytest.mark.parametrize("factor", [4.0, 0.25])
def test_a_graph_with_one_activation_off_by_a_factor_fails(factor, tmp_path):
    broken = tmp_path / f"broken_x{factor:g}.onnx"
    node = scale_activation(graph("cpuexact"), broken, factor, index=0)  # the stem's output: everything flows through
    assert node in {n.name for n in activation_dequantizers(onnx.load(str(broken)))}
    report = check(broken, artifact=artifact("asym"))
    assert report["verdict"] == "fail", report["figures"]


def test_artifact_is_found_from_the_graph_and_a_moved_folder(tmp_path):
    found, status = find_artifact(graph("cpuexact"))
    assert status == "ok" and found.resolve() == artifact("asym").resolve()
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copy(graph("cpuexact"), moved / "m.onnx")
    shutil.copy(artifact("asym"), moved / artifact("asym").name)
    model = onnx.load(str(moved / "m.onnx"))
    for prop in model.metadata_props:
        if prop.key == "qyolo.artifact":
            prop.value = f"/nowhere/{artifact('asym').name}"
    onnx.save(model, str(moved / "m.onnx"))
    found, status = find_artifact(moved / "m.onnx")
    assert status == "ok" and found == moved / artifact("asym").name


def test_a_recalibrated_artifact_is_not_used(tmp_path):
    copy = tmp_path / "a.pt"
    shutil.copy(artifact("asym"), copy)
    model = onnx.load(str(graph("cpuexact")))
    for prop in model.metadata_props:
        if prop.key == "qyolo.artifact":
            prop.value = str(copy)
    onnx.save(model, str(tmp_path / "g.onnx"))
    assert find_artifact(tmp_path / "g.onnx")[1] == "ok"
    copy.write_bytes(copy.read_bytes() + b"\0")
    found, status = find_artifact(tmp_path / "g.onnx")
    assert found is None and "changed after" in status


def test_engine_sidecar_leads_to_the_artifact(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not read")
    meta = {p.key: p.value for p in onnx.load(str(graph("trt"))).metadata_props}
    sidecar = {"format": "q-yolo-engine/1", "source_onnx": str(graph("trt")), "onnx_metadata": meta}
    (tmp_path / "m.engine.json").write_text(json.dumps(sidecar))
    found, status = find_artifact(engine)
    assert status == "ok" and found.resolve() == artifact("sym").resolve()
    sidecar["onnx_metadata"] = {}  # older sidecars: through the source ONNX instead
    (tmp_path / "m.engine.json").write_text(json.dumps(sidecar))
    assert find_artifact(engine)[0].resolve() == artifact("sym").resolve()


def test_fp32_graphs_and_unknown_sources_are_clear_errors(tmp_path):
    from export import ExportConfig, export_onnx
    from yolo.fixture import FIXTURE_WEIGHTS

    fp32 = export_onnx(ExportConfig(out=tmp_path / "fp32.onnx", weights=FIXTURE_WEIGHTS, profile="fp32",
                                    imgsz=IMGSZ))
    assert find_artifact(fp32) == (None, NOT_QUANTIZED)
    with pytest.raises(QYoloError, match="not quantized"):
        check(fp32)
    with pytest.raises(QYoloError, match="does not exist"):
        check(graph("trt"), artifact=tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="torch backend"):
        FidelityConfig(model=graph("trt"), backend="torch")
    with pytest.raises(ValueError, match="images"):
        FidelityConfig(model=graph("trt"), images=0)


def test_eval_records_the_verdict_and_warns_loudly_on_failure(tmp_path, capsys):
    from eval import EvalConfig, evaluate
    from yolo.synthetic import SyntheticConfig, generate_split

    _, annotations = generate_split(tmp_path / "val", "val", SyntheticConfig(n_images=4, seed=5), progress=False)
    common = dict(data=annotations, backend="ort", imgsz=IMGSZ, progress=False, fidelity_images=4,
                  backend_options={"threads": 1})
    good = evaluate(EvalConfig(model=graph("cpuexact"), out=tmp_path / "good.json", **common))
    assert good["fidelity"]["verdict"] == "pass"
    assert json.loads((tmp_path / "good.json").read_text())["fidelity"]["verdict"] == "pass"
    broken = tmp_path / "broken.onnx"
    scale_activation(graph("cpuexact"), broken, 4.0, index=0)
    bad = evaluate(EvalConfig(model=broken, artifact=artifact("asym"), **common))
    assert bad["fidelity"]["verdict"] == "fail"
    assert "DOES NOT COMPUTE WHAT ITS ARTIFACT COMPUTES" in capsys.readouterr().err
    off = evaluate(EvalConfig(model=graph("cpuexact"), fidelity=False, **common))
    assert "fidelity" not in off


def test_cli_exit_codes(tmp_path, capsys):
    from common.cli import run_cli
    from eval.fidelity.__main__ import main

    out = tmp_path / "report.json"
    assert run_cli(main, ["--model", str(graph("cpuexact")), "--images", "4", "--no-progress", "--out", str(out)]) == 0
    assert "PASS" in capsys.readouterr().out and json.loads(out.read_text())["verdict"] == "pass"
    scale_activation(graph("cpuexact"), tmp_path / "broken.onnx", 4.0, index=0)
    code = run_cli(main, ["--model", str(tmp_path / "broken.onnx"), "--artifact", str(artifact("asym")),
                          "--images", "4", "--no-progress"])
    assert code == 1 and "FAIL" in capsys.readouterr().out
    assert run_cli(main, ["--model", str(tmp_path / "missing.onnx"), "--no-progress"]) == 2
    assert "missing.onnx" in capsys.readouterr().err
