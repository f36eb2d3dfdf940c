"""Latency records for engines: our CUDA-event timing at batch 1 and a larger batch, trtexec's median beside it.

Records use the same keys as eval.bench's CPU records (backend, precision, imgsz, batch, median_ms, p90_ms,
p99_ms, throughput) so one report reads both.
"""
from pathlib import Path

from common.log import get_logger
from engine.runner import TrtRunner
from engine.timing import time_engine
from engine.trtexec import run_trtexec


def engine_label(sidecar: dict | None, engine_path: Path) -> dict:
    """What an engine is, for tables: precision and model/bit settings from its sidecar and the export metadata."""
    meta = (sidecar or {}).get("onnx_metadata", {})
    return {"precision": (sidecar or {}).get("precision", "unknown"), "engine": str(engine_path),
            "variant": meta.get("variant") or meta.get("qyolo.variant") or engine_path.stem,
            "tensorrt_version": (sidecar or {}).get("tensorrt_version"),
            "int8_layers": ((sidecar or {}).get("layers") or {}).get("int8_layers")}


def usable_batches(requested: list[int], max_batch: int) -> list[int]:
    """The requested batch sizes the engine's profile allows, in order, without duplicates (logs the rest)."""
    kept = []
    for batch in requested:
        if batch > max_batch:
            get_logger().warning(f"batch {batch} exceeds the engine's profile max {max_batch}; skipped")
        elif batch not in kept:
            kept.append(batch)
    return kept


def bench_engine(engine_path: str | Path, batches: list[int], warmup: int = 50, iterations: int = 300,
                 cuda_graph: bool = True, use_trtexec: bool = True, device: int = 0) -> list[dict]:
    engine_path = Path(engine_path)
    runner = TrtRunner(engine_path, device=device)
    label = engine_label(runner.sidecar, engine_path)
    torch = runner.torch
    gpu = torch.cuda.get_device_name(runner.device)
    lo, opt, hi = runner.profile_shapes
    records = []
    for batch in usable_batches(batches, runner.max_batch):
        stats = time_engine(runner, batch, warmup=warmup, iterations=iterations, cuda_graph=cuda_graph)
        shape = (batch, *opt[1:])
        external = run_trtexec(engine_path, runner.input_name, None if lo == hi else shape, iterations,
                               cuda_graph=cuda_graph) if use_trtexec else None
        records.append({"backend": "tensorrt", **label, "imgsz": opt[2], "device": gpu, "threads": None, **stats,
                        "trtexec_median_ms": external["median_ms"] if external else None,
                        "trtexec": external})
        get_logger().info(f"{engine_path.name} batch {batch}: median {stats['median_ms']:.3f} ms, "
                          f"p99 {stats['p99_ms']:.3f} ms, {stats['throughput_ips']:.0f} img/s"
                          + (f"; trtexec median {external['median_ms']:.3f} ms" if external else ""))
    return records
