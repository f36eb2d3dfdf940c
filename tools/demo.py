"""python -m tools.demo (make demo): the pipeline on the embedded fixture, CPU only, a few minutes on 2 cores.

1. FP32: the fixture (YOLOv5n graph, 8 shape classes) on the 500-image synthetic validation set at 256 px;
   prints the COCO AP table and writes runs/demo/metrics.json (AP, AP50, AP75, APs, APm, APl + what was evaluated).
2. Calibration: Q-YOLO's Unilateral Histogram (uh, asymmetric, W8A8) on the 256 synthetic calibration images
   -> runs/demo/uh-asym-w8a8.pt (+ .json sidecar); its fake-quant evaluation beside FP32.
3. Deployment on the CPU: the FP32 model and the calibrated one exported to ONNX (`fp32` and `cpu` profiles: uint8
   activations on the UH grid, int8 per-channel weights), evaluated on ONNX Runtime in INT8, and both timed side
   by side at batch 1 (runs/demo/latency.json + .png).
Every step writes its files under --out; runs/demo/table.json / table.md hold the rows so far.
"""
import argparse
import sys
import time
from pathlib import Path

from common.atomic import check_output_dir
from common.cli import CliParser, positive_int, run_cli, thread_count_or_zero
from common.log import get_logger

LABEL_KEYS = ("model", "backend", "precision")


class Demo:
    """The demo's state: where it writes, the settings every step shares, the table rows so far."""

    def __init__(self, out: Path, threads: int | None, max_images: int | None, progress: bool):
        from yolo.fixture import FIXTURE_IMGSZ, FIXTURE_WEIGHTS, fixture_calib_images, fixture_val_data

        self.out, self.threads, self.max_images, self.progress = out, threads, max_images, progress
        self.weights, self.imgsz = Path(FIXTURE_WEIGHTS), FIXTURE_IMGSZ
        self.val_data = fixture_val_data(progress=progress)  # generated on first use (deterministic)
        self.calib_data = fixture_calib_images(progress=progress)
        self.rows: list[dict] = []
        self.started = time.perf_counter()

    def evaluate(self, model: Path, out: Path, label: str, backend: str = "torch") -> dict:
        from eval import EvalConfig, evaluate

        options = {"threads": self.threads} if self.threads else {}
        metrics = evaluate(EvalConfig(model=model, data=self.val_data, backend=backend, imgsz=self.imgsz, batch=16,
                                      max_images=self.max_images, out=out, backend_options=options,
                                      progress=self.progress))
        self.rows.append({**metrics, "model": label, "model_path": str(model)})
        self.write_table()
        return metrics

    def write_table(self) -> None:
        from eval.report import write_report

        write_report(self.rows, self.out / "table.json", self.out / "table.md", LABEL_KEYS)

    def print_table(self, title: str) -> None:
        from eval.report import format_table

        print(f"\n{title}\n{format_table(self.rows, LABEL_KEYS)}\n", flush=True)


def step_fp32(demo: Demo) -> dict:
    metrics = demo.evaluate(demo.weights, demo.out / "metrics.json", "fixture FP32")
    demo.print_table(f"FP32 fixture on {metrics['num_images']} synthetic validation images at {demo.imgsz} px")
    return metrics


def step_calibrate_uh(demo: Demo) -> Path:
    from calib import CalibConfig, QuantConfig, calibrate

    artifact = calibrate(CalibConfig(quant=QuantConfig(method="uh", scheme="asym", w_bits=8, a_bits=8),
                                     weights=demo.weights, data=demo.calib_data, num_images=256, imgsz=demo.imgsz,
                                     threads=demo.threads, out=demo.out / "uh-asym-w8a8.pt",
                                     progress=demo.progress))
    demo.evaluate(artifact, demo.out / "fakequant-uh-asym-w8a8.json", "uh W8A8 (fake quant)")
    demo.print_table("Q-YOLO UH calibration (asymmetric, W8A8, 256 calibration images) beside FP32")
    return artifact


def step_onnxruntime_int8(demo: Demo, artifact: Path) -> None:
    from bench.cpu import run_benchmark
    from export import ExportConfig, export_onnx

    fp32_onnx = export_onnx(ExportConfig(out=demo.out / "fixture_fp32.onnx", profile="fp32", weights=demo.weights,
                                         imgsz=demo.imgsz))
    int8_onnx = export_onnx(ExportConfig(out=demo.out / "uh-asym-w8a8-cpu.onnx", profile="cpu", artifact=artifact,
                                         imgsz=demo.imgsz))
    demo.evaluate(int8_onnx, demo.out / "ort-uh-asym-w8a8.json", "uh W8A8 (ONNX Runtime INT8)", backend="ort")
    demo.print_table("The same calibration exported as QDQ ONNX (cpu profile) and run by ONNX Runtime in INT8")
    print(f"ONNX Runtime latency, FP32 vs INT8, batch 1 at {demo.imgsz} px, 2 threads (30 interleaved runs):")
    run_benchmark(models=[fp32_onnx, int8_onnx], backends=["ort"], threads=2, warmup=5, runs=30, rounds=3,
                  out=demo.out / "latency.json", progress=demo.progress)  # prints its table


def main(argv=None) -> int:
    parser = CliParser(prog="python -m tools.demo", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    parser.add_argument("--threads", type=thread_count_or_zero, default=1,
                        help="torch CPU threads (default 1: predictable on shared 2-core machines; 0 = torch's)")
    parser.add_argument("--max-images", type=positive_int, default=None, help="evaluate on the first N images only")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    check_output_dir(args.out)
    demo = Demo(args.out, args.threads or None, args.max_images, not args.no_progress)
    step_fp32(demo)
    artifact = step_calibrate_uh(demo)
    step_onnxruntime_int8(demo, artifact)
    seconds = time.perf_counter() - demo.started
    get_logger().info(f"demo done in {seconds:.0f} s; results in {args.out}/ (metrics.json, table.json, table.md)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
