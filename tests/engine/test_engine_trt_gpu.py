"""The user's chain, calibrate -> export -> build INT8 and FP16 engines -> evaluate, run through `make` exactly as a
user runs it (run folders redirected to a temporary directory), and what matters about its result:

- the INT8 engine built from the fixture's QDQ ONNX (`trt` profile, UH symmetric W8A8) runs its convolutions in INT8;
- its mAP matches ONNX Runtime's mAP on the same ONNX within 0.3 AP, and it passes the fidelity check;
- the FP16 baseline builds from the FP32 ONNX; the runner, CUDA-graph timing and version check work.

It runs twice over: on a machine with TensorRT and an NVIDIA GPU (the image: `make gpu-check` runs it), on the
fixture's own settings; and everywhere else through the TensorRT stand-in (tests/trt_standin) for both API
generations, on a small synthetic set (calibration and export shared by both), so CI executes every line of it.
The real run skips, saying why, where TensorRT or CUDA is missing.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from trt_standin import install_standin
from trt_standin.cuda import installed
from trt_standin.python_with_standin import ENV

from bench.report import load_metrics
from common.errors import QYoloError

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "yolo" / "assets" / "fixture.pt"
WRAPPER = Path(__file__).resolve().parents[1] / "trt_standin" / "python_with_standin.py"
TRT_REASON = "TensorRT is not installed (GPU tests run inside the project's Docker image: make docker-shell)"
# the metrics files the pipeline writes, named as the Makefile names them: <backend>-<ONNX stem>.json
INT8_TRT, INT8_ORT, FP16_TRT = "tensorrt-uh-sym-w8a8-trt", "ort-uh-sym-w8a8-trt", "tensorrt-fp16"

pytestmark = pytest.mark.slow
MODES = [pytest.param("tensorrt", marks=[pytest.mark.trt, pytest.mark.gpu]), "standin-10", "standin-11"]


def _require_trt_and_cuda():
    pytest.importorskip("tensorrt", reason=TRT_REASON)
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to PyTorch")


def _make(settings: dict, targets: list, env: dict | None = None) -> None:
    args = [f"{key}={value}" for key, value in settings.items()]
    done = subprocess.run(["make", *args, *map(str, targets)], cwd=ROOT, capture_output=True, text=True,
                          timeout=3600, env=env)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]


@pytest.fixture(scope="module")
def standin_exports(tmp_path_factory):
    """What does not depend on TensorRT, made once for both stand-in generations: 8 calibration and 8 validation
    synthetic images, the calibrated artifact, the `trt` and FP32 ONNX, and ONNX Runtime's metrics."""
    from yolo.synthetic import SyntheticConfig, generate_split

    tmp = tmp_path_factory.mktemp("standin")
    generate_split(tmp / "data", "calib", SyntheticConfig(n_images=8, seed=3), progress=False)
    generate_split(tmp / "data", "val", SyntheticConfig(n_images=8, seed=2), progress=False)
    (tmp / "installed").touch()  # the project is installed already: make must not run pip
    settings = {"CALIB_DIR": tmp / "calib", "EXPORT_DIR": tmp / "export", "BENCH_DIR": tmp / "bench",
                "DEVICE": "cpu", "BATCH": "4", "IMGSZ": "128", "CALIB_IMAGES": "8", "DATA": tmp / "data",
                "STAMP": tmp / "installed", "HAVE_TRT": "yes"}
    ort_metrics = tmp / "bench" / "metrics" / f"{INT8_ORT}.json"
    _make({**settings, "PY": sys.executable},
          [tmp / "export" / "uh-sym-w8a8-trt.onnx", tmp / "export" / "fp32.onnx", ort_metrics])
    return settings, ort_metrics


@pytest.fixture(scope="module", params=MODES)
def pipeline(request, tmp_path_factory):
    """Calibrate -> export -> build the INT8 and FP16 engines, and evaluate on TensorRT and ONNX Runtime."""
    if shutil.which("make") is None:
        pytest.skip("GNU make is not installed")
    if not WEIGHTS.is_file():
        pytest.skip(f"fixture weights {WEIGHTS} are missing")
    mode = request.param
    tmp = tmp_path_factory.mktemp(mode)
    env = dict(os.environ)
    if mode == "tensorrt":
        _require_trt_and_cuda()
        (tmp / "installed").touch()
        settings = {"CALIB_DIR": tmp / "calib", "EXPORT_DIR": tmp / "export", "BENCH_DIR": tmp / "bench",
                    "PY": sys.executable, "DEVICE": "cuda", "BATCH": "8", "STAMP": tmp / "installed",
                    "HAVE_TRT": "yes"}
        ort_metrics = tmp / "bench" / "metrics" / f"{INT8_ORT}.json"
    else:
        shared, ort_metrics = request.getfixturevalue("standin_exports")
        env[ENV] = mode.split("-")[1]
        settings = {**shared, "BENCH_DIR": tmp / "bench", "PY": f"{sys.executable} {WRAPPER}"}
    settings["ENGINE_DIR"] = tmp / "engines"
    metrics = {name: settings["BENCH_DIR"] / "metrics" / f"{name}.json" for name in (INT8_TRT, FP16_TRT)}
    metrics[INT8_ORT] = ort_metrics
    engines = {"int8": tmp / "engines" / "uh-sym-w8a8-trt.engine", "fp16": tmp / "engines" / "fp16.engine"}
    _make(settings, [*engines.values(), *metrics.values()], env)
    return {"mode": mode, "metrics": metrics, "batch": int(settings["BATCH"]), **engines,
            "onnx": settings["EXPORT_DIR"] / "uh-sym-w8a8-trt.onnx"}


@pytest.fixture
def tensorrt_here(pipeline, monkeypatch):
    """In this process: the real TensorRT, or the stand-in of the pipeline's generation."""
    if pipeline["mode"] == "tensorrt":
        yield
        return
    module = install_standin(monkeypatch, pipeline["mode"].split("-")[1])
    with installed(module.__standin__.gpu):
        yield


def test_int8_engine_runs_its_convolutions_in_int8(pipeline):
    sidecar = json.loads(Path(str(pipeline["int8"]) + ".json").read_text())
    layers = sidecar["layers"]
    assert sidecar["precision"] == "int8" and layers["detail_available"]
    assert layers["int8_convolution_ratio"] is not None and layers["int8_convolution_ratio"] >= 0.5, layers
    assert sidecar["source_onnx_sha256"] and sidecar["profile"]["max"][0] == pipeline["batch"]


def test_int8_engine_map_matches_onnxruntime(pipeline):
    rows = {(r["backend"], r["model"]): r for r in load_metrics(list(pipeline["metrics"].values()))}
    trt_ap = rows[("tensorrt", "uh-sym-w8a8-trt")]["AP"]
    ort_ap = rows[("ort", "uh-sym-w8a8-trt")]["AP"]
    assert abs(trt_ap - ort_ap) <= 0.3, f"TensorRT AP {trt_ap:.2f} vs ONNX Runtime AP {ort_ap:.2f}"


def test_fp16_engine_has_no_int8(pipeline):
    sidecar = json.loads(Path(str(pipeline["fp16"]) + ".json").read_text())
    layers = sidecar["layers"]
    assert sidecar["precision"] == "fp16" and layers["int8_convolutions"] == 0 and "INT8" not in layers["by_precision"]


def test_runner_agrees_with_onnxruntime_on_raw_outputs(pipeline, tensorrt_here):
    import onnxruntime as ort

    from engine.runner import TrtRunner

    runner = TrtRunner(pipeline["int8"])
    h, w = runner.input_hw
    batch = np.random.default_rng(0).random((3, 3, h, w), dtype=np.float32)
    trt_out = runner(batch)
    session = ort.InferenceSession(str(pipeline["onnx"]), providers=["CPUExecutionProvider"])
    ort_out = session.run(None, {session.get_inputs()[0].name: batch})[0]
    assert trt_out.shape == ort_out.shape
    objectness = np.abs(trt_out[..., 4] - ort_out[..., 4])
    assert float(np.mean(objectness)) < 0.02 and float(np.percentile(objectness, 99)) < 0.2


def test_cuda_graph_timing_and_trtexec(pipeline, tensorrt_here):
    from bench.trt import bench_engine

    batches = [1, pipeline["batch"]]
    records = bench_engine(pipeline["int8"], batches, warmup=10, iterations=50)
    assert [r["batch"] for r in records] == batches
    for record in records:
        assert record["cuda_graph"] and 0 < record["median_ms"] <= record["p99_ms"]
        if shutil.which("trtexec"):
            assert record["trtexec_median_ms"] > 0


def test_engine_from_another_tensorrt_version_is_refused(pipeline, tensorrt_here, tmp_path):
    from engine.runner import TrtRunner

    engine = tmp_path / "copy.engine"
    shutil.copy(pipeline["int8"], engine)
    sidecar = json.loads(Path(str(pipeline["int8"]) + ".json").read_text())
    sidecar["tensorrt_version"] = "9.0.0"
    Path(str(engine) + ".json").write_text(json.dumps(sidecar))
    with pytest.raises(QYoloError, match="built by TensorRT 9.0.0.*Rebuild"):
        TrtRunner(engine)


def test_int8_engine_passes_the_fidelity_check(pipeline):
    """`python -m eval --backend tensorrt` checks the engine against its calibrated artifact (found through the
    engine sidecar's source ONNX) before scoring it; TensorRT computes the artifact's numbers."""
    record = json.loads(pipeline["metrics"][INT8_TRT].read_text())
    assert record["fidelity"]["verdict"] == "pass", record["fidelity"]
    fp16 = json.loads(pipeline["metrics"][FP16_TRT].read_text())
    assert "fidelity" not in fp16  # a float engine has no artifact to compare with
