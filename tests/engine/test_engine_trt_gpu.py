"""On a machine with TensorRT and an NVIDIA GPU: build real engines from the fixture and check what matters.

- the INT8 engine built from the fixture's QDQ ONNX (`trt` profile, UH symmetric W8A8) has INT8 layers;
- its mAP on the synthetic validation set matches ONNX Runtime's mAP on the same ONNX within 0.3 AP;
- the FP16 baseline builds from the FP32 ONNX; the runner, CUDA-graph timing and version check work.
The chain runs through the Makefile (`make` with the run folders redirected to a temporary directory), exactly
as a user runs it. Everything here skips, saying why, where TensorRT or CUDA is missing.
"""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.errors import QYoloError
from eval.report_bench import load_metrics

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = ROOT / "yolo" / "assets" / "fixture.pt"
TRT_REASON = "TensorRT is not installed (GPU tests run inside the project's Docker image: make docker-shell)"

pytestmark = [pytest.mark.trt, pytest.mark.gpu, pytest.mark.slow]


def _require_trt_and_cuda():
    pytest.importorskip("tensorrt", reason=TRT_REASON)
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to PyTorch")
    if shutil.which("make") is None:
        pytest.skip("GNU make is not installed")
    if not WEIGHTS.is_file():
        pytest.skip(f"fixture weights {WEIGHTS} are missing")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """Calibrate -> export -> build the INT8 and FP16 engines, and evaluate on TensorRT and ONNX Runtime."""
    _require_trt_and_cuda()
    tmp = tmp_path_factory.mktemp("trt")
    dirs = {"CALIB_DIR": tmp / "calib", "EXPORT_DIR": tmp / "export", "ENGINE_DIR": tmp / "engines",
            "BENCH_DIR": tmp / "bench"}
    metrics = {name: dirs["BENCH_DIR"] / "metrics" / f"{name}.json"
               for name in ("tensorrt-uh-sym-w8a8-trt", "ort-uh-sym-w8a8-trt", "tensorrt-fp16")}
    targets = [str(dirs["ENGINE_DIR"] / "uh-sym-w8a8-trt.engine"), str(dirs["ENGINE_DIR"] / "fp16.engine"),
               *map(str, metrics.values())]
    args = [f"{k}={v}" for k, v in dirs.items()] + ["HAVE_TRT=yes", "DEVICE=cuda", "BATCH=8", f"PY={sys.executable}"]
    done = subprocess.run(["make", *args, *targets], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    return {"dirs": dirs, "metrics": metrics, "int8": dirs["ENGINE_DIR"] / "uh-sym-w8a8-trt.engine",
            "fp16": dirs["ENGINE_DIR"] / "fp16.engine", "onnx": dirs["EXPORT_DIR"] / "uh-sym-w8a8-trt.onnx"}


def test_int8_engine_runs_its_convolutions_in_int8(pipeline):
    sidecar = json.loads(Path(str(pipeline["int8"]) + ".json").read_text())
    layers = sidecar["layers"]
    assert sidecar["precision"] == "int8" and layers["detail_available"]
    assert layers["int8_convolution_ratio"] >= 0.5, layers
    assert sidecar["source_onnx_sha256"] and sidecar["profile"]["max"][0] == 8


def test_int8_engine_map_matches_onnxruntime(pipeline):
    rows = {(r["backend"], r["model"]): r for r in load_metrics(list(pipeline["metrics"].values()))}
    trt_ap = rows[("tensorrt", "uh-sym-w8a8-trt")]["AP"]
    ort_ap = rows[("ort", "uh-sym-w8a8-trt")]["AP"]
    assert abs(trt_ap - ort_ap) <= 0.3, f"TensorRT AP {trt_ap:.2f} vs ONNX Runtime AP {ort_ap:.2f}"


def test_fp16_engine_has_no_int8(pipeline):
    sidecar = json.loads(Path(str(pipeline["fp16"]) + ".json").read_text())
    layers = sidecar["layers"]
    assert sidecar["precision"] == "fp16" and layers["int8_convolutions"] == 0 and "INT8" not in layers["by_precision"]


def test_runner_agrees_with_onnxruntime_on_raw_outputs(pipeline):
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


def test_cuda_graph_timing_and_trtexec(pipeline):
    from engine.bench import bench_engine

    records = bench_engine(pipeline["int8"], [1, 8], warmup=10, iterations=50)
    assert [r["batch"] for r in records] == [1, 8]
    for record in records:
        assert record["cuda_graph"] and 0 < record["median_ms"] <= record["p99_ms"]
        if shutil.which("trtexec"):
            assert record["trtexec_median_ms"] > 0


def test_engine_from_another_tensorrt_version_is_refused(pipeline, tmp_path):
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
    record = json.loads(pipeline["metrics"]["tensorrt_uh_sym_w8a8_trt"].read_text())
    assert record["fidelity"]["verdict"] == "pass", record["fidelity"]
    fp16 = json.loads(pipeline["metrics"]["tensorrt_fp16"].read_text())
    assert "fidelity" not in fp16  # a float engine has no artifact to compare with
