"""CPU latency benchmark (`python -m eval.bench`): ONNX Runtime and OpenVINO, FP32 beside INT8, batch 1.

    from eval.bench import run_benchmark
    records = run_benchmark(models=None, backends=("ort", "openvino"), sizes=(640, 256), threads=2)

Without `models` it builds the default models (eval.bench.models: YOLOv5s, random weights, FP32 and INT8 `cpu`
profile) for each size; anchors=True adds the graphs of ONNX Runtime's and NNCF's own quantizers
(eval.bench.anchors). Every (model, backend) pair is one configuration: each is warmed up, then the timed runs
are interleaved over rounds across all configurations. Writes `out` (JSON: meta + one record per backend x model
x input size with median_ms, p90_ms, p99_ms, throughput_ips, threads, speedup_vs_fp32) and a PNG beside it.
"""
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from common.errors import QYoloError
from common.log import get_logger
from eval.bench.report import add_speedups, plot, table, write_json
from eval.bench.timing import CLOCKS, Config, cpu_name, interleaved, latency_stats, machine_load

BACKENDS = ("ort", "openvino")


def make_backend(kind: str, path: Path, threads: int):
    if kind == "ort":
        from eval.backends.ort_backend import OrtBackend
        return OrtBackend(path, threads=threads)
    if kind == "openvino":
        from eval.backends.openvino_backend import OpenVINOBackend
        return OpenVINOBackend(path, threads=threads, static_batch=1)
    raise QYoloError(f"eval.bench times CPU backends ({', '.join(BACKENDS)}); got {kind!r} "
                     f"(TensorRT engines: python -m engine bench)")


def run_benchmark(models: Sequence[str | Path] | None = None, backends: Sequence[str] = BACKENDS,
                  sizes: Sequence[int] = (640, 256), threads: int = 2, warmup: int = 10, runs: int = 50,
                  rounds: int = 5, arch: str = "yolov5s", model_root: str | Path = "runs/bench/models",
                  out: str | Path | None = "runs/bench/latency.json", plot_path: str | Path | None = None,
                  rebuild: bool = False, progress: bool = True, anchors: bool = False,
                  clock: str = "wall") -> tuple[list[dict], dict]:
    log = get_logger()
    if clock not in CLOCKS:
        raise QYoloError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    if runs < 1 or warmup < 0 or threads < 1:
        raise QYoloError(f"runs must be >= 1, warmup >= 0 and threads >= 1 (got {runs}, {warmup}, {threads})")
    for kind in backends:
        if kind not in BACKENDS:
            raise QYoloError(f"unknown backend {kind!r}; eval.bench times {', '.join(BACKENDS)}")
    plan: list[tuple[Path, int | None]] = []
    if models:
        plan = [(Path(m), None) for m in models]
    else:
        from eval.bench.models import build_models
        for size in sizes:
            plan += [(p, size) for p in build_models(arch, size, model_root, rebuild=rebuild, anchors=anchors)]
    configs = []
    for path, size in plan:
        for kind in backends:
            backend = make_backend(kind, path, threads)
            hw = backend.hw if backend.hw[0] is not None else (size, size)
            if hw[0] is None:
                raise QYoloError(f"{path} has a dynamic input size; export it with a fixed --imgsz")
            if models and sizes and hw[0] not in sizes:
                log.info(f"{path} is {hw[0]}x{hw[1]}; timing it at that size")
            meta = backend.metadata
            batch = np.random.default_rng(0).random((1, 3, *hw), dtype=np.float32)
            label = {"backend": kind, "model": str(path), "variant": path.stem, "precision": backend.precision,
                     "profile": meta.get("qyolo.profile"), "integer_ops": meta.get("qyolo.integer_ops"),
                     "imgsz": int(hw[0]), "input_shape": [1, 3, *hw], "batch": 1, "threads": threads}
            configs.append(Config(label, backend, batch))
    meta = {"cpu": cpu_name(), "threads": threads, "warmup": warmup, "runs": runs, "rounds": rounds, "clock": clock,
            "arch": arch if not models else None, "load_before": machine_load(), "started": time.ctime(),
            "versions": _versions()}
    interleaved(configs, warmup, runs, rounds, progress, clock)
    meta["load_after"] = machine_load()
    records = [{**c.label, **latency_stats(c.times, 1), "warmup": warmup, "clock": clock} for c in configs]
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


def _versions() -> dict:
    found = {}
    for module in ("onnxruntime", "openvino", "nncf"):
        try:
            found[module] = __import__(module).__version__
        except ImportError:
            pass
    return found
