"""Benchmark: end-to-end calibration time (`calib.calibrate`: checkpoint -> artifact), with its breakdown.

For each method: the wall time of one `calibrate()` call, split (from the artifact's sidecar) into model loading,
image decoding + letterbox, and the calibration pass (forward in calibration mode + statistics + range search),
beside a plain FP32 forward over the same batches (what the statistics cost on top of inference).
Default: the fixture on its 256 synthetic calibration images at 256 px on the CPU. On a GPU machine the paper-scale
figure is YOLOv5s (random weights: timing only) with 1,500 images at 640:
    python -m tools.calib_time --model yolov5s-random --data data/synthetic/train --num-images 1500 --imgsz 640 \
        --device cuda --methods uh-asym uh-sym
Writes runs/bench/calib_time.json atomically. Run: `python -m tools.calib_time [--methods ...] [--threads 1]`.
"""
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from bench.latency import cpu_name
from calib import CalibConfig, QuantConfig, calibrate
from calib.artifact import read_artifact
from calib.data import CalibrationImages, calibration_image_paths
from common.atomic import write_json_atomic
from common.cli import CliParser, run_cli
from common.errors import QYoloError

OUTPUT = Path("runs/bench/calib_time.json")
METHODS = {"uh-asym": ("uh", "asym"), "uh-sym": ("uh", "sym"), "minmax": ("minmax", "sym"),
           "minmax-asym": ("minmax", "asym"), "percentile": ("percentile", "sym"), "mse": ("mse", "sym"),
           "entropy": ("entropy", "sym")}


def random_yolov5s(folder: Path) -> Path:
    """YOLOv5s (80 classes) with random weights in the project's state-dict format: for timing only."""
    from yolo.configs import yolov5_cfg
    from yolo.model import DetectionModel

    torch.manual_seed(0)
    model = DetectionModel(yolov5_cfg("s"), nc=80)
    path = folder / "yolov5s-random.pt"
    torch.save({"format": "q-yolo-state-dict", "yaml": model.yaml, "names": model.names,
                "state_dict": model.state_dict()}, path)
    return path


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


@torch.no_grad()
def fp32_forward_seconds(weights: Path, paths: list, imgsz: int, batch: int, device: str) -> float:
    """A plain FP32 forward over the same batches (images decoded beforehand, not timed)."""
    from yolo.checkpoint import load_model

    model = load_model(weights, device=device)
    batches = [b.to(device) for b in CalibrationImages(paths, imgsz, batch)]
    model(batches[0])  # warm-up (allocator, cudnn autotune)
    _sync(device)
    started = time.perf_counter()
    for x in batches:
        model(x)
    _sync(device)
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = CliParser(prog="python -m tools.calib_time", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="fixture", help="fixture | yolov5s-random | a checkpoint path")
    parser.add_argument("--data", default=None, help="calibration images (default: the synthetic calib split)")
    parser.add_argument("--num-images", type=int, default=None)
    parser.add_argument("--imgsz", type=int, default=None)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--methods", nargs="+", default=["uh-asym", "uh-sym", "minmax"],
                        help=f"of {list(METHODS)}, or 'all'")
    parser.add_argument("--repeat", type=int, default=1, help="runs per method; the median wall time is reported")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    methods = list(METHODS) if args.methods == ["all"] else args.methods
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise QYoloError(f"unknown method(s) {unknown}; choose from {list(METHODS)} or 'all'")
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="qyolo-calib-bench-") as tmp:
        tmp = Path(tmp)
        weights = {"fixture": None, "yolov5s-random": None}.get(args.model, args.model)
        if args.model == "yolov5s-random":
            weights = random_yolov5s(tmp)
        base = CalibConfig(weights=weights, data=args.data, num_images=args.num_images, imgsz=args.imgsz,
                           batch_size=args.batch, device=args.device, progress=False)
        rows = []
        for label in methods:
            method, scheme = METHODS[label]
            walls, sidecar = [], None
            for run in range(args.repeat):
                config = CalibConfig(quant=QuantConfig(method=method, scheme=scheme), weights=base.weights,
                                     data=args.data, num_images=base.num_images, imgsz=base.imgsz,
                                     batch_size=args.batch, device=args.device, out=tmp / f"{label}-{run}.pt",
                                     progress=False)
                _sync(args.device)
                started = time.perf_counter()
                path = calibrate(config)
                walls.append(time.perf_counter() - started)
                sidecar = read_artifact(path)
            timings, images = sidecar["timings"], sidecar["calibration"]["num_images"]
            row = {"method": label, "images": images, "imgsz": base.imgsz, "batch": args.batch,
                   "wall_s": round(statistics.median(walls), 2), "walls_s": [round(w, 2) for w in walls],
                   **{k: round(timings[k], 2) for k in ("load_model_s", "images_s", "collect_s")},
                   "collect_ms_per_image": round(1000 * timings["collect_s"] / images, 1)}
            rows.append(row)
            print(f"{label:12s} {row['wall_s']:7.1f} s end to end ({images} images at {base.imgsz}): load "
                  f"{row['load_model_s']:.1f} s, images {row['images_s']:.1f} s, calibration pass "
                  f"{row['collect_s']:.1f} s ({row['collect_ms_per_image']} ms/image)", flush=True)
        paths = calibration_image_paths(sidecar["data"], base.num_images, base.seed)
        forward = fp32_forward_seconds(Path(sidecar["source"]["weights"]), paths, base.imgsz, args.batch, args.device)
    print(f"{'fp32 forward':12s} {forward:7.1f} s over the same {len(paths)} images (no statistics)")
    result = {"benchmark": "calib_time", "model": args.model, "weights": sidecar["source"]["weights"]
              if args.model != "yolov5s-random" else "yolov5s (random weights)", "data": sidecar["data"],
              "device": args.device, "threads": torch.get_num_threads(), "torch": str(torch.__version__),
              "python": platform.python_version(), "machine": platform.machine(), "cpu": cpu_name(),
              "fp32_forward_s": round(forward, 2), "rows": rows}
    if args.device.startswith("cuda"):
        result["gpu"] = torch.cuda.get_device_name()
    write_json_atomic(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
