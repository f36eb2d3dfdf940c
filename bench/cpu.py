"""CPU latency benchmark (`python -m bench.cpu`): ONNX Runtime and OpenVINO, FP32 beside INT8, batch 1.

    from bench.cpu import run_benchmark
    records, meta = run_benchmark(["fp32.onnx", "uh-asym-w8a8-cpu.onnx"], backends=("ort", "openvino"), threads=2)

Every (model, backend) pair is one configuration: each is warmed up, then the timed runs are interleaved over
rounds across all configurations (bench.latency). Writes `out` (JSON: meta + one record per backend x model with
median_ms, p90_ms, p99_ms, throughput_ips, threads, speedup_vs_fp32) and a PNG beside it. The default YOLOv5s
models come from `python -m tools.cpu_speed`, which builds them and calls this.
"""
import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from bench.cpu_report import add_speedups, plot, table, write_json
from bench.latency import CLOCKS, Config, cpu_name, interleaved, latency_stats, machine_load
from common.atomic import check_output_file
from common.cli import CliParser, non_negative_int, positive_int, run_cli, thread_count
from common.errors import QYoloError
from common.log import get_logger
from common.provenance import versions

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
    raise QYoloError(f"bench.cpu times CPU backends ({', '.join(BACKENDS + OPTIONAL_BACKENDS)}); got {kind!r} "
                     f"(TensorRT engines: python -m engine bench)")


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
        raise QYoloError("no models to time; give ONNX files (python -m bench.cpu --models ...) or run "
                         "`python -m tools.cpu_speed` for the default YOLOv5s models")
    if runs < 1 or warmup < 0 or threads < 1:
        raise QYoloError(f"runs must be >= 1, warmup >= 0 and threads >= 1 (got {runs}, {warmup}, {threads})")
    for kind in backends:
        if kind not in BACKENDS + OPTIONAL_BACKENDS:
            raise QYoloError(f"unknown backend {kind!r}; bench.cpu times {', '.join(BACKENDS + OPTIONAL_BACKENDS)}")
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
            "versions": versions("onnxruntime", "openvino")}
    interleaved(configs, warmup, runs, rounds, progress, clock)
    meta["load_after"] = machine_load()
    records = [{**c.label, **latency_stats(c.times_ms, 1), "warmup": warmup, "clock": clock} for c in configs]
    add_speedups(records)
    print(table(records))
    busy = meta["load_before"].get("others_busy_fraction")
    if busy is not None and busy > 0.15 and clock == "wall":
        log.warning(f"other processes used {busy:.0%} of the CPUs just before the timing: latencies are inflated "
                    f"and ratios noisy; re-run on a quiet machine for publishable figures")
    if out is not None:
        out = Path(out)
        write_json(out, records, meta)
        png = Path(plot_path) if plot_path else out.with_suffix(".png")
        plot(png, records, meta)
        log.info(f"wrote {out} and {png}")
    return records, meta


def add_timing_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every CPU latency run takes (also `python -m tools.cpu_speed`)."""
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS + OPTIONAL_BACKENDS,
                        help="openvino-bf16: OpenVINO with bf16 float layers, its default on CPUs with bf16 units")
    parser.add_argument("--threads", type=thread_count, default=2)
    parser.add_argument("--warmup", type=non_negative_int, default=10)
    parser.add_argument("--runs", type=positive_int, default=50, help="timed runs per configuration")
    parser.add_argument("--rounds", type=positive_int, default=5,
                        help="the timed runs are interleaved in this many rounds")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/latency.json"))
    parser.add_argument("--plot", type=Path, help="PNG path (default: --out with .png)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="cpu: CPU seconds per call instead of wall time (steadier on a loaded machine, 1 thread)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = CliParser(prog="python -m bench.cpu", description=__doc__.split("\n\n")[0],
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", type=Path, required=True, help="ONNX files to time")
    add_timing_arguments(parser)
    args = parser.parse_args(argv)
    check_output_file(args.out)
    if args.plot:
        check_output_file(args.plot, "--plot")
    run_benchmark(args.models, args.backends, args.threads, args.warmup, args.runs, args.rounds, None, args.out,
                  args.plot, clock=args.clock)
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
