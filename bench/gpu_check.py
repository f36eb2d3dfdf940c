"""`python -m bench gpu-check` (`make gpu-check`): the first run on a GPU machine, one report, pass or fail per step.

Run inside the project's image (or on any host with PyTorch's CUDA build and TensorRT). Steps, in order:

1. environment: the GPU, its compute capability, torch and its CUDA, TensorRT (a missing TensorRT fails the engine
   steps, not the others);
2. gpu tests: the suite's tests marked `gpu` or `trt` (pytest, JUnit XML kept);
3. engines: the fixture calibrated (UH, symmetric W8A8) and exported, its INT8 engine from the `trt` ONNX and its
   FP16 engine from the FP32 ONNX, built with the layer report (INT8 must cover at least half the convolutions);
4. fidelity: each engine evaluated on the synthetic validation images; the INT8 one with the deployment fidelity
   check against its calibrated artifact and within 0.3 AP of ONNX Runtime on the same ONNX, the FP16 one against
   ONNX Runtime on the FP32 ONNX (same detections, within 0.5 AP);
5. calibration timing: UH calibration of 1,500 images at 640 px on the GPU, split into image loading and the rest.

Without a CUDA GPU it stops at once with one line saying so (exit 2). The report is a table on the terminal and
<out>/report.json; the exit status is 0 when every step passed within the time budget (10 minutes), else 1.
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ElementTree
from dataclasses import asdict, dataclass, field
from pathlib import Path

from common.atomic import check_output_dir, write_json_atomic
from common.cli import image_size, make_config, non_negative_int, positive_int, torch_device
from common.errors import QYoloError
from common.log import get_logger
from engine.device import gpu_info, require_cuda
from engine.errors import tensorrt_available

INT8_MIN_RATIO = 0.5
INT8_AP_TOLERANCE = 0.3   # the GPU test's bound: TensorRT computes what ONNX Runtime computes on the same graph
FP16_AP_TOLERANCE = 0.5


@dataclass(frozen=True)
class GpuCheckConfig:
    out: Path = Path("runs/gpu-check")
    device: int = 0
    weights: Path | None = None            # None: the embedded fixture
    imgsz: int = 256                       # the fixture's engines and evaluation
    calib_data: Path | None = None         # None: the fixture's synthetic calibration split (256 images)
    val_data: Path | None = None           # None: the fixture's synthetic validation set (COCO JSON)
    engine_calib_images: int | None = None  # None: all of calib_data's 256
    val_images: int = 200
    calib_images: int = 1500               # the timing step: the paper's calibration set size ...
    calib_imgsz: int = 640                 # ... at the COCO input size
    calib_device: str | None = None        # None: cuda:<device>
    tests: tuple[str, ...] = ("tests",)
    run_tests: bool = True
    budget_s: float = 600.0
    progress: bool = True

    def __post_init__(self):
        object.__setattr__(self, "out", Path(self.out))
        for name in ("val_images", "calib_images"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.budget_s <= 0:
            raise ValueError(f"budget_s must be > 0, got {self.budget_s}")

    @property
    def calibration_device(self) -> str:
        return self.calib_device or f"cuda:{self.device}"


@dataclass
class StepResult:
    name: str
    status: str = "fail"        # pass | fail
    seconds: float = 0.0
    summary: str = ""
    details: dict = field(default_factory=dict)


# -- steps -----------------------------------------------------------------------------------------------------------
def step_environment(cfg: GpuCheckConfig, state: dict) -> StepResult:
    torch = require_cuda(cfg.device)
    gpu = gpu_info(cfg.device)
    details = {"gpu": gpu, "torch": torch.__version__, "cuda": torch.version.cuda,
               "tensorrt": None, "driver": _driver_version()}
    if tensorrt_available():
        import tensorrt

        details["tensorrt"] = tensorrt.__version__
    state["tensorrt"] = details["tensorrt"]
    summary = (f"{gpu['name']} (compute capability {'.'.join(map(str, gpu['compute_capability']))}, "
               f"{gpu['memory_gib']} GiB), torch {details['torch']} CUDA {details['cuda']}, "
               f"TensorRT {details['tensorrt'] or 'NOT INSTALLED'}")
    return StepResult("environment", "pass", summary=summary, details=details)


def _driver_version() -> str | None:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    done = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True,
                          text=True, timeout=30)
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else None


def junit_counts(path: Path) -> dict:
    """tests / failures / errors / skipped from a pytest JUnit XML file (its testsuite elements summed)."""
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    return {key: sum(int(suite.get(key, 0)) for suite in suites) for key in ("tests", "failures", "errors", "skipped")}


def step_gpu_tests(cfg: GpuCheckConfig, state: dict, timeout_s: float) -> StepResult:
    xml = cfg.out / "pytest-gpu.xml"
    command = [sys.executable, "-m", "pytest", "-m", "gpu or trt", "-q", "-p", "no:cacheprovider", "-rs",
               f"--junitxml={xml}", *cfg.tests]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=max(1.0, timeout_s))
    except subprocess.TimeoutExpired:
        return StepResult("gpu tests", summary=f"did not finish within {timeout_s:.0f} s",
                          details={"command": command})
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
    counts = junit_counts(xml) if xml.is_file() else {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    ran = counts["tests"] - counts["skipped"]
    passed = ran - counts["failures"] - counts["errors"]
    ok = done.returncode == 0 and ran > 0
    summary = (f"{passed}/{ran} passed, {counts['skipped']} skipped" if ran else
               f"no GPU test ran ({counts['skipped']} skipped)") + ("" if ok else f" (pytest exit {done.returncode})")
    return StepResult("gpu tests", "pass" if ok else "fail", summary=summary,
                      details={**counts, "command": " ".join(command), "junit": str(xml), "output_tail": tail})


def step_engines(cfg: GpuCheckConfig, state: dict) -> StepResult:
    from calib import CalibConfig, QuantConfig, calibrate
    from engine.build import build_engine
    from engine.config import EngineConfig
    from engine.sidecar import read_sidecar
    from export import ExportConfig, export_onnx
    from yolo.fixture import FIXTURE_WEIGHTS, fixture_calib_images

    if state.get("tensorrt") is None:
        return StepResult("engines", summary="TensorRT is not installed in this Python: run inside the project's "
                                             "image (make docker-build && make docker-shell)")
    weights = cfg.weights or FIXTURE_WEIGHTS
    work = cfg.out / "work"
    artifact = calibrate(CalibConfig(quant=QuantConfig(method="uh", scheme="sym"), weights=weights,
                                     data=cfg.calib_data or fixture_calib_images(progress=cfg.progress),
                                     num_images=cfg.engine_calib_images, imgsz=cfg.imgsz,
                                     device=cfg.calibration_device, out=work / "uh-sym-w8a8.pt",
                                     progress=cfg.progress))
    onnx = {"int8": export_onnx(ExportConfig(out=work / "uh-sym-w8a8-trt.onnx", artifact=artifact, profile="trt",
                                             imgsz=cfg.imgsz, dynamic_batch=True)),
            "fp16": export_onnx(ExportConfig(out=work / "fp32.onnx", weights=weights, profile="fp32",
                                             imgsz=cfg.imgsz, dynamic_batch=True))}
    engines, details = {}, {}
    for precision, source in onnx.items():
        engines[precision] = build_engine(EngineConfig(onnx=source, output=work / f"{precision}.engine",
                                                       precision=precision, batch=8, device=cfg.device,
                                                       timing_cache=work / "timing.cache"))
        record = read_sidecar(engines[precision])
        details[precision] = {"engine": str(engines[precision]), "build_seconds": record["build_seconds"],
                              "layers": record["layers"], "build": record["build"]}
    state.update(engines=engines, onnx=onnx, artifact=artifact)
    ratio = details["int8"]["layers"]["int8_convolution_ratio"]
    ok = ratio is not None and ratio >= INT8_MIN_RATIO and details["fp16"]["layers"]["int8_convolutions"] == 0
    summary = (f"INT8 engine: {details['int8']['layers']['int8_convolutions']}/"
               f"{details['int8']['layers']['convolutions']} convolutions in INT8 (needs >= {INT8_MIN_RATIO:.0%}); "
               f"FP16 engine; built in {details['int8']['build_seconds']:.0f} s + "
               f"{details['fp16']['build_seconds']:.0f} s")
    return StepResult("engines", "pass" if ok else "fail", summary=summary, details=details)


def _val_data(cfg: GpuCheckConfig) -> Path:
    from yolo.fixture import fixture_val_data

    return cfg.val_data or fixture_val_data(progress=cfg.progress)


def _evaluate(cfg: GpuCheckConfig, model: Path, backend: str, fidelity: bool, name: str) -> dict:
    from eval.stage import EvalConfig, evaluate

    device = f"cuda:{cfg.device}" if backend == "tensorrt" else "cpu"
    return evaluate(EvalConfig(model=model, data=_val_data(cfg), backend=backend,
                               imgsz=cfg.imgsz, device=device, max_images=cfg.val_images, fidelity=fidelity,
                               out=cfg.out / "eval" / name, progress=cfg.progress))


def _raw_agreement(cfg: GpuCheckConfig, reference_model: Path, engine: Path) -> dict:
    """The fidelity comparison between ONNX Runtime on `reference_model` and the engine, on the validation images:
    what the artifact-based check does for a quantized engine, for one that has no artifact."""
    import numpy as np

    from eval.backends.base import backend_layout, create_backend
    from eval.fidelity.compare import Thresholds, compare_outputs, judge
    from yolo.datasets import open_dataset
    from yolo.images import read_image
    from yolo.letterbox import preprocess

    records = open_dataset(_val_data(cfg)).images[:16]
    x = np.stack([preprocess(read_image(r.path), cfg.imgsz)[0] for r in records])
    reference = create_backend("ort", reference_model, device="cpu")
    deployed = create_backend("tensorrt", engine, device=f"cuda:{cfg.device}")
    try:
        figures = compare_outputs(reference(x), np.asarray(deployed(x), np.float32), backend_layout(deployed))
    finally:
        reference.close()
        deployed.close()
    verdict, reasons = judge(figures, Thresholds())
    return {"verdict": verdict, "reasons": reasons, "figures": figures.to_dict()}


def step_fidelity(cfg: GpuCheckConfig, state: dict) -> StepResult:
    if "engines" not in state:
        return StepResult("fidelity", summary="no engines to evaluate (the engines step failed)")
    int8 = _evaluate(cfg, state["engines"]["int8"], "tensorrt", True, "tensorrt-int8")
    int8_ort = _evaluate(cfg, state["onnx"]["int8"], "ort", False, "ort-int8")
    fp16 = _evaluate(cfg, state["engines"]["fp16"], "tensorrt", False, "tensorrt-fp16")
    fp32_ort = _evaluate(cfg, state["onnx"]["fp16"], "ort", False, "ort-fp32")
    fp16_agreement = _raw_agreement(cfg, state["onnx"]["fp16"], state["engines"]["fp16"])
    int8_verdict = (int8.get("fidelity") or {}).get("verdict")
    gaps = {"int8": abs(int8["AP"] - int8_ort["AP"]), "fp16": abs(fp16["AP"] - fp32_ort["AP"])}
    ok = (int8_verdict == "pass" and gaps["int8"] <= INT8_AP_TOLERANCE and fp16_agreement["verdict"] == "pass"
          and gaps["fp16"] <= FP16_AP_TOLERANCE)
    summary = (f"INT8: fidelity {int8_verdict}, AP {int8['AP']:.1f} vs ONNX Runtime {int8_ort['AP']:.1f}; "
               f"FP16: {fp16_agreement['verdict']} against ONNX Runtime FP32, AP {fp16['AP']:.1f} vs "
               f"{fp32_ort['AP']:.1f} ({int8['num_images']} images)")
    details = {"int8": {"AP": int8["AP"], "ort_AP": int8_ort["AP"], "fidelity": int8.get("fidelity")},
               "fp16": {"AP": fp16["AP"], "ort_fp32_AP": fp32_ort["AP"], "agreement": fp16_agreement},
               "ap_gaps": gaps}
    return StepResult("fidelity", "pass" if ok else "fail", summary=summary, details=details)


def _timing_images(cfg: GpuCheckConfig) -> Path:
    """cfg.calib_images synthetic images in their own split (made once, reused by later runs)."""
    from yolo.synthetic import SyntheticConfig, generate_split

    root = cfg.out / "data"
    folder = root / f"timing{cfg.calib_images}"
    if not (folder.is_dir() and len(list(folder.glob("*.jpg"))) >= cfg.calib_images):
        generate_split(root, f"timing{cfg.calib_images}", SyntheticConfig(n_images=cfg.calib_images, seed=7),
                       progress=cfg.progress)
    return folder


def step_calibration_timing(cfg: GpuCheckConfig, state: dict) -> StepResult:
    from calib import CalibConfig, QuantConfig, calibrate
    from common.provenance import sidecar_path

    images = _timing_images(cfg)
    started = time.perf_counter()
    artifact = calibrate(CalibConfig(quant=QuantConfig(method="uh", scheme="asym"), weights=cfg.weights, data=images,
                                     num_images=cfg.calib_images, imgsz=cfg.calib_imgsz, batch_size=32,
                                     device=cfg.calibration_device, out=cfg.out / "work" / "timing-uh-asym.pt",
                                     progress=cfg.progress))
    wall = time.perf_counter() - started
    record = json.loads(sidecar_path(artifact).read_text())
    timings = record.get("timings", {})
    used = record["calibration"]["num_images"]
    ok = used == cfg.calib_images
    summary = (f"{used} images at {cfg.calib_imgsz} px on {cfg.calibration_device}: {wall:.1f} s (decoding "
               f"{timings.get('images_s', 0):.1f} s, collection and ranges {timings.get('collect_s', 0):.1f} s)")
    return StepResult("calibration timing", "pass" if ok else "fail", summary=summary,
                      details={"wall_s": round(wall, 2), "timings": timings, "images": used,
                               "imgsz": cfg.calib_imgsz, "device": cfg.calibration_device})


# -- running and reporting -------------------------------------------------------------------------------------------
def _run_step(name: str, function, *args) -> StepResult:
    started = time.perf_counter()
    try:
        result = function(*args)
    except QYoloError as exc:
        result = StepResult(name, summary=str(exc).splitlines()[0], details={"error": str(exc)})
    except Exception as exc:  # noqa: BLE001 - a check reports every failure and goes on with the next step
        result = StepResult(name, summary=f"{type(exc).__name__}: {exc}".splitlines()[0],
                            details={"traceback": traceback.format_exc()})
    result.seconds = round(time.perf_counter() - started, 1)
    get_logger().info(f"gpu-check: {result.name}: {result.status.upper()} ({result.seconds:.0f} s) {result.summary}")
    return result


def format_report(results: list[StepResult], total_s: float, budget_s: float) -> str:
    width = max(len(r.name) for r in results)
    lines = [f"{'step':<{width}}  status  seconds  result", f"{'-' * width}  ------  -------  ------"]
    lines += [f"{r.name:<{width}}  {r.status.upper():<6}  {r.seconds:7.1f}  {r.summary}" for r in results]
    verdict = "PASS" if all(r.status == "pass" for r in results) and total_s <= budget_s else "FAIL"
    over = f" (over the {budget_s / 60:.0f}-minute budget)" if total_s > budget_s else ""
    lines.append(f"gpu-check {verdict}: {sum(r.status == 'pass' for r in results)}/{len(results)} steps passed in "
                 f"{total_s / 60:.1f} min{over}")
    return "\n".join(lines)


def run_gpu_check(cfg: GpuCheckConfig) -> dict:
    """Run the steps; returns (and writes to <out>/report.json) the report. A machine without a CUDA GPU is a
    QYoloError before any work."""
    require_cuda(cfg.device)
    check_output_dir(cfg.out)
    cfg.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    state: dict = {}
    results = [_run_step("environment", step_environment, cfg, state)]
    if cfg.run_tests:
        remaining = cfg.budget_s - (time.perf_counter() - started)
        results.append(_run_step("gpu tests", step_gpu_tests, cfg, state, remaining))
    results.append(_run_step("engines", step_engines, cfg, state))
    results.append(_run_step("fidelity", step_fidelity, cfg, state))
    results.append(_run_step("calibration timing", step_calibration_timing, cfg, state))
    total = time.perf_counter() - started
    table = format_report(results, total, cfg.budget_s)
    report = {"passed": table.splitlines()[-1].startswith("gpu-check PASS"), "seconds": round(total, 1),
              "budget_s": cfg.budget_s, "steps": [asdict(r) for r in results],
              "config": {k: str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v
                         for k, v in asdict(cfg).items()}}
    write_json_atomic(cfg.out / "report.json", report)
    print(table)
    print(f"report: {cfg.out / 'report.json'}")
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-check"))
    parser.add_argument("--device", type=non_negative_int, default=0, help="CUDA device index")
    parser.add_argument("--imgsz", type=image_size, default=256, help="the engines' input size")
    parser.add_argument("--calib-data", type=Path, help="calibration images of the engines (default: the fixture's)")
    parser.add_argument("--val-data", type=Path, help="COCO JSON the engines are scored on (default: the fixture's)")
    parser.add_argument("--val-images", type=positive_int, default=200)
    parser.add_argument("--calib-images", type=positive_int, default=1500, help="images of the timing step")
    parser.add_argument("--calib-imgsz", type=image_size, default=640, help="input size of the timing step")
    parser.add_argument("--calib-device", type=torch_device, default=None, help="default: cuda:<device>")
    parser.add_argument("--tests", nargs="+", default=["tests"], help="what pytest collects the GPU tests from")
    parser.add_argument("--skip-tests", action="store_true", help="leave out the GPU tests step")
    parser.add_argument("--budget-min", type=float, default=10.0, help="time budget of the whole check")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    cfg = make_config(GpuCheckConfig, out=args.out, device=args.device, imgsz=args.imgsz, calib_data=args.calib_data,
                      val_data=args.val_data, val_images=args.val_images,
                      calib_images=args.calib_images, calib_imgsz=args.calib_imgsz, calib_device=args.calib_device,
                      tests=tuple(args.tests), run_tests=not args.skip_tests, budget_s=args.budget_min * 60,
                      progress=not args.no_progress)
    return 0 if run_gpu_check(cfg)["passed"] else 1

