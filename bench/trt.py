"""`python -m bench trt`: latency of TensorRT engines, our CUDA-event timing (bench.latency) at the engine's tuned
batch (or the batches asked for), trtexec's median beside it.

    python -m bench trt runs/engines/<name>-b1/*.engine --batches opt --out runs/bench/latency-tensorrt.json

TensorRT picks kernels for the optimization profile's `opt` batch; an engine timed at another batch runs kernels
chosen for a different shape, so a batch-1 figure from a batch-32 engine is not the batch-1 latency a batch-1
engine has. `OPT` ("opt") times each engine at its own opt batch; `make bench` builds a batch-1 engine for the
batch-1 rows for that reason, and timing any other batch logs a warning.

Records use the same keys as `python -m bench cpu`'s records (backend, precision, imgsz, batch, median_ms, p90_ms,
p99_ms, throughput_ips, runs) so one report reads both.
"""
import argparse
from pathlib import Path

from bench.latency import capture_cuda_graph, cuda_event_times, latency_stats
from bench.trtexec import run_trtexec
from common.errors import QYoloError
from common.log import get_logger
from engine.errors import major_version
from engine.runner import TrtRunner
from export.metadata import quantization


def engine_label(sidecar: dict | None, engine_path: Path) -> dict:
    """What an engine is, for tables: its sidecar's precision and layer counts, and the calibration settings
    (method, scheme, bits) the export metadata of the ONNX it was built from records."""
    sidecar = sidecar or {}
    meta = sidecar.get("onnx_metadata", {})
    layers = sidecar.get("layers") or {}
    return {"precision": sidecar.get("precision", "unknown"), "engine": str(engine_path),
            "variant": meta.get("qyolo.variant", engine_path.stem), "quantization": quantization(meta),
            "tensorrt_version": sidecar.get("tensorrt_version"),
            "int8_convolutions": layers.get("int8_convolutions"), "convolutions": layers.get("convolutions")}


OPT = "opt"


def usable_batches(requested: list[int | str], min_batch: int, max_batch: int,
                   opt_batch: int | None = None) -> list[int]:
    """The requested batch sizes the engine's profile allows, in order, without duplicates (logs the rest); "opt"
    stands for the profile's opt batch. A request that leaves none is a user error naming the profile."""
    kept = []
    for batch in requested:
        if batch == OPT:
            if opt_batch is None:
                raise QYoloError("batch 'opt' needs the engine's optimization profile")
            batch = opt_batch
        if not min_batch <= batch <= max_batch:
            get_logger().warning(f"batch {batch} is outside the engine's profile {min_batch}..{max_batch}; skipped")
        elif batch not in kept:
            kept.append(batch)
    if not kept:
        raise QYoloError(f"none of the batches {requested} fits the engine's profile {min_batch}..{max_batch}; "
                         f"pass --batches within it or rebuild the engine with another --min-batch/--batch")
    return kept


def time_engine(runner, batch: int, warmup: int = 50, iterations: int = 300, cuda_graph: bool = True) -> dict:
    """Time `runner` (an engine.runner.TrtRunner) at `batch` images on its own stream; returns latency_stats plus
    how it was timed."""
    torch = runner.torch
    _, opt, _ = runner.profile_shapes
    shape = (batch, *opt[1:])
    input_tensor = runner.buffers(shape)[runner.input_name]
    stream = runner.stream
    with torch.cuda.stream(stream):
        if input_tensor.is_floating_point():
            input_tensor.uniform_(0, 1)
        for _ in range(max(1, warmup)):  # also flushes TensorRT's deferred work before any capture
            runner.enqueue(stream)
    stream.synchronize()
    graph, note = capture_cuda_graph(torch, runner.enqueue, stream) if cuda_graph else (None, None)
    if note:
        get_logger().warning(note)
    times = cuda_event_times(torch, runner.enqueue, stream, iterations, graph, desc=f"timing batch {batch}")
    return {**latency_stats(times, batch), "batch": batch, "input_shape": list(shape), "warmup": warmup,
            "cuda_graph": graph is not None, "timing": "cuda-events, GPU time per launch, no host transfers",
            **({"note": note} if note else {})}


def bench_engine(engine_path: str | Path, batches: list[int | str] = (OPT,), warmup: int = 50, iterations: int = 300,
                 cuda_graph: bool = True, use_trtexec: bool = True, device: int = 0) -> list[dict]:
    engine_path = Path(engine_path)
    runner = TrtRunner(engine_path, device=device)
    label = engine_label(runner.sidecar, engine_path)
    gpu = runner.torch.cuda.get_device_name(runner.device)
    lo, opt, hi = runner.profile_shapes
    trt_major = major_version(runner.trt.__version__)
    records = []
    for batch in usable_batches(list(batches), lo[0], hi[0], opt[0]):
        if batch != opt[0]:
            get_logger().warning(f"{engine_path.name} is tuned for batch {opt[0]} (its profile's opt); its batch "
                                 f"{batch} time runs kernels chosen for batch {opt[0]}. For a batch-{batch} "
                                 f"figure, build an engine with --batch {batch} (or --opt-batch {batch})")
        stats = time_engine(runner, batch, warmup=warmup, iterations=iterations, cuda_graph=cuda_graph)
        shape = (batch, *opt[1:])
        external = run_trtexec(engine_path, runner.input_name, None if lo == hi else shape, iterations,
                               cuda_graph=cuda_graph, tensorrt_major=trt_major) if use_trtexec else None
        records.append({"backend": "tensorrt", **label, "imgsz": opt[2], "device": gpu, "threads": None, **stats,
                        "opt_batch": opt[0],
                        "trtexec_median_ms": external["median_ms"] if external else None,
                        "trtexec": external})
        get_logger().info(f"{engine_path.name} batch {batch}: median {stats['median_ms']:.3f} ms, "
                          f"p99 {stats['p99_ms']:.3f} ms, {stats['throughput_ips']:.0f} img/s"
                          + (f"; trtexec median {external['median_ms']:.3f} ms" if external else ""))
    return records


def _batch(text: str):
    """A positive batch size, or 'opt' for the engine's own tuned batch."""
    from common.cli import positive_int

    return text if text == OPT else positive_int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from common.cli import non_negative_int, positive_int

    parser.add_argument("engines", type=Path, nargs="+", help="engines built by python -m engine build")
    parser.add_argument("--batches", type=_batch, nargs="+", default=[OPT],
                        help="batch sizes to time; 'opt' (default): the batch each engine was built for (profile opt)")
    parser.add_argument("--warmup", type=non_negative_int, default=50)
    parser.add_argument("--iterations", type=positive_int, default=300)
    parser.add_argument("--no-cuda-graph", action="store_true")
    parser.add_argument("--no-trtexec", action="store_true")
    parser.add_argument("--device", type=non_negative_int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench/latency-tensorrt.json"))


def run(args: argparse.Namespace) -> int:
    from common.atomic import check_output_file, write_json_atomic
    from common.provenance import versions

    check_output_file(args.out)
    records = []
    for engine in args.engines:
        records += bench_engine(engine, args.batches, warmup=args.warmup, iterations=args.iterations,
                                cuda_graph=not args.no_cuda_graph, use_trtexec=not args.no_trtexec,
                                device=args.device)
    meta = {"batches": args.batches, "warmup": args.warmup, "iterations": args.iterations,
            "cuda_graph": not args.no_cuda_graph, "versions": versions("tensorrt", "torch")}
    write_json_atomic(args.out, {"meta": meta, "records": records})  # the layout of bench cpu's JSON
    print(args.out)
    return 0
