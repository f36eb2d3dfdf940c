"""CPU latency (`python -m bench cpu`): ONNX Runtime and OpenVINO, FP32 beside INT8, batch 1.

    python -m bench cpu --models fp32.onnx uh-asym-w8a8-cpu.onnx --backends ort openvino --out latency.json
    python -m bench cpu --arch yolov5s --imgsz 640 256        # built-in models (bench.models), random weights
    records, meta = run_benchmark(["fp32.onnx", "uh-asym-w8a8-cpu.onnx"], backends=("ort", "openvino"), threads=2)

Every (model, backend) pair is one configuration: each is warmed up, then the timed runs are interleaved over
rounds across all configurations (bench.latency). Writes `out` (JSON: meta + one record per backend x model with
median_ms, p90_ms, p99_ms, throughput_ips, threads, speedup_vs_fp32) and a PNG beside it. With `--arch`, the
models are bench.models' FP32 and INT8 graphs of named architectures (built once, reused).
"""
import argparse
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.latency import CLOCKS, Config, interleaved, latency_stats, machine_load
from bench.report import add_speedups, latency_table, plot_latency, write_latency_json
from common.atomic import check_output_file
from common.cli import image_size, non_negative_int, positive_int, thread_count
from common.errors import QYoloError
from common.log import get_logger
from common.provenance import cpu_name, run_provenance, versions
from yolo.registry import model_names

BACKENDS = ("ort", "openvino")
# openvino-bf16: OpenVINO with its own default precision on CPUs with bf16 units (AMX, AVX512-BF16), where it runs
# float layers in bf16 unless told f32. Opt-in: what an FP32 model costs a user who never quantizes on such a CPU.
OPTIONAL_BACKENDS = ("openvino-bf16",)


def make_backend(kind: str, path: Path, threads: int):
    if kind == "ort":
        from eval.backends.ort_backend import OrtBackend
        return OrtBackend(path, threads=threads)
    if kind in ("openvino", "openvino-bf16"):
        from eval.backends.openvino_backend import OpenVINOBackend
        return OpenVINOBackend(path, threads=threads, static_batch=1,
                               precision_hint="bf16" if kind == "openvino-bf16" else "f32")
    raise QYoloError(f"python -m bench cpu times CPU backends ({', '.join(BACKENDS + OPTIONAL_BACKENDS)}); got "
                     f"{kind!r} (TensorRT engines: python -m bench trt)")


def run_benchmark(models: Sequence[str | Path | tuple[str | Path, int]], backends: Sequence[str] = BACKENDS,
                  threads: int = 2, warmup: int = 10, runs: int = 50, rounds: int = 5, arch: str | None = None,
                  out: str | Path | None = "runs/bench/latency.json", plot_path: str | Path | None = None,
                  progress: bool = True, clock: str = "wall") -> tuple[list[dict], dict]:
    """Time `models` (ONNX paths, or (path, input size) pairs for graphs with a dynamic input size); clock="cpu"
    records CPU time per call instead of wall time (bench.latency.interleaved)."""
    log = get_logger()
    if clock not in CLOCKS:
        raise QYoloError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    if not models:
        raise QYoloError("no models to time; give ONNX files (python -m bench cpu --models ...) or "
                         "architectures (python -m bench cpu --arch yolov5s)")
    if runs < 1 or warmup < 0 or threads < 1:
        raise QYoloError(f"runs must be >= 1, warmup >= 0 and threads >= 1 (got {runs}, {warmup}, {threads})")
    for kind in backends:
        if kind not in BACKENDS + OPTIONAL_BACKENDS:
            raise QYoloError(f"unknown backend {kind!r}; python -m bench cpu times "
                             f"{', '.join(BACKENDS + OPTIONAL_BACKENDS)}")
    plan = [(Path(m[0]), m[1]) if isinstance(m, tuple) else (Path(m), None) for m in models]
    configs = []
    for path, size in plan:
        for kind in backends:
            backend = make_backend(kind, path, threads)
            hw = backend.hw if backend.hw[0] is not None else (size, size)
            if hw[0] is None:
                raise QYoloError(f"{path} has a dynamic input size; export it with a fixed --imgsz")
            meta = backend.metadata
            batch = np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)
            label = {"backend": kind, "model": str(path), "variant": path.stem, "precision": backend.precision,
                     "quantization": backend.quantization,
                     "profile": meta.get("qyolo.profile"), "integer_ops": meta.get("qyolo.integer_ops"),
                     "imgsz": int(hw[0]), "input_shape": [1, 3, *hw], "batch": 1, "threads": threads}
            configs.append(Config(label, backend, batch))
    meta = {"cpu": cpu_name(), "threads": threads, "warmup": warmup, "runs": runs, "rounds": rounds, "clock": clock,
            "arch": arch, "load_before": machine_load(), "started": time.ctime(),
            "versions": versions("onnxruntime", "openvino"), "provenance": run_provenance()}
    interleaved(configs, warmup, runs, rounds, progress, clock)
    meta["load_after"] = machine_load()
    records = [{**c.label, **latency_stats(c.times_ms, 1), "warmup": warmup, "clock": clock} for c in configs]
    add_speedups(records)
    print(latency_table(records))
    busy = meta["load_before"].get("others_busy_fraction")
    if busy is not None and busy > 0.15 and clock == "wall":
        log.warning(f"other processes used {busy:.0%} of the CPUs just before the timing: latencies are inflated "
                    f"and ratios noisy; re-run on a quiet machine for publishable figures")
    if out is not None:
        out = Path(out)
        write_latency_json(out, records, meta)
        png = Path(plot_path) if plot_path else out.with_suffix(".png")
        plot_latency(png, records, meta)
        log.info(f"wrote {out} and {png}")
    return records, meta


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`python -m bench cpu`'s options: what to time (ONNX files, or built-in models of named architectures) and
    how."""
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--models", nargs="+", type=Path, help="ONNX files to time")
    what.add_argument("--arch", nargs="+", choices=model_names(), metavar="ARCH",
                      help="time bench.models' graphs of these architectures (random weights), e.g. yolov5s "
                           "yolov7-tiny yolov8n yolo11s, in one interleaved run")
    parser.add_argument("--imgsz", nargs="+", type=image_size, help="--arch: input sizes (default 640 256)")
    parser.add_argument("--model-root", type=Path, default=Path("runs/bench/models"), help="--arch: model folder")
    parser.add_argument("--rebuild", action="store_true", help="--arch: re-export the models")
    parser.add_argument("--anchors", action="store_true",
                        help="--arch: also time ONNX Runtime quantize_static's and NNCF's graphs of the FP32 model")
    parser.add_argument("--op-profile", type=Path,
                        help="then write the per-operator profile of the same models here (bench.op_profile)")
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS + OPTIONAL_BACKENDS,
                        help="openvino-bf16: OpenVINO with bf16 float layers, its default on CPUs with bf16 units")
    parser.add_argument("--threads", type=thread_count, default=2)
    parser.add_argument("--warmup", type=non_negative_int, default=10)
    parser.add_argument("--runs", type=positive_int, default=50, help="timed runs per configuration")
    parser.add_argument("--rounds", type=positive_int, default=5,
                        help="the timed runs are interleaved in this many rounds")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/latency.json"))
    parser.add_argument("--plot", type=Path, help="PNG path (default: --out with .png)")
    parser.add_argument("--clock", choices=CLOCKS, default="wall",
                        help="cpu: CPU seconds per call instead of wall time (steadier on a loaded machine, 1 thread)")


def _models(args: argparse.Namespace) -> list:
    """The ONNX files to time: the given ones, or the built-in models of every (architecture, size)."""
    if args.models:
        extra = [name for name, value in (("--imgsz", args.imgsz), ("--anchors", args.anchors),
                                          ("--rebuild", args.rebuild)) if value]
        if extra:
            raise QYoloError(f"{extra[0]} applies to --arch (the built-in models), not to --models")
        return list(args.models)
    from bench.models import build_models

    return [(path, size) for arch in args.arch for size in args.imgsz or (640, 256)
            for path in build_models(arch, size, args.model_root, rebuild=args.rebuild, anchors=args.anchors)]


def run(args: argparse.Namespace) -> int:
    check_output_file(args.out)
    if args.plot:
        check_output_file(args.plot, "--plot")
    if args.op_profile:
        check_output_file(args.op_profile, "--op-profile")
    models = _models(args)
    arch = " ".join(args.arch) if args.arch else None
    run_benchmark(models, args.backends, args.threads, args.warmup, args.runs, args.rounds, arch, args.out,
                  args.plot, clock=args.clock)
    if args.op_profile:
        from bench.op_profile import run_profiles

        profiled = [b for b in args.backends if b in ("ort", "openvino")]  # the op profile reads f32 OpenVINO only
        run_profiles([m[0] if isinstance(m, tuple) else m for m in models], profiled, args.threads,
                     out=args.op_profile)
    return 0
