"""Engine latency on the GPU: warm-up, then N launches timed by CUDA events, optionally replaying a CUDA graph.

Measures GPU time per launch (input already on the device, output left there), the same quantity as trtexec's
"GPU Compute Time" with --noDataTransfers, so the two medians can stand side by side.
"""
from typing import Sequence

import numpy as np
from tqdm import tqdm

from common.log import get_logger


def latency_stats(times_ms: Sequence[float], batch: int) -> dict:
    """median/p90/p99/mean/min/max in ms and throughput in images per second (batch / mean latency)."""
    arr = np.asarray(times_ms, dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no timings to summarize")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    mean = float(arr.mean())
    return {
        "median_ms": float(np.median(arr)),
        "p90_ms": float(np.percentile(arr, 90)),
        "p99_ms": float(np.percentile(arr, 99)),
        "mean_ms": mean,
        "min_ms": float(arr.min()),
        "max_ms": float(arr.max()),
        "throughput_ips": batch * 1000.0 / mean if mean > 0 else float("inf"),
        "iterations": int(arr.size),
    }


def _capture_graph(torch, runner, stream):
    """A CUDA graph of one engine launch, or (None, reason) when this engine cannot be captured."""
    graph = torch.cuda.CUDAGraph()
    try:
        # thread_local: TensorRT may touch CUDA APIs on other threads that capture must not forbid.
        with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
            runner.enqueue(stream)
        graph.replay()
        stream.synchronize()
    except Exception as exc:  # capture errors surface as RuntimeError with CUDA's text
        torch.cuda.synchronize()
        return None, f"CUDA graph capture failed ({type(exc).__name__}: {exc}); timed plain launches"
    return graph, None


def time_engine(runner, batch: int, warmup: int = 50, iterations: int = 300, cuda_graph: bool = True) -> dict:
    """Time `runner` (an engine.runner.TrtRunner) at `batch` images; returns latency_stats plus how it was timed."""
    torch = runner.torch
    lo, opt, _ = runner.profile_shapes
    shape = (batch, *opt[1:])
    tensors = runner.buffers(shape)
    input_tensor = tensors[runner.input_name]
    if input_tensor.is_floating_point():
        input_tensor.uniform_(0, 1)
    stream = torch.cuda.Stream(runner.device)
    stream.wait_stream(torch.cuda.current_stream(runner.device))
    with torch.cuda.stream(stream):
        for _ in range(max(1, warmup)):  # also flushes TensorRT's deferred work before any capture
            runner.enqueue(stream)
    stream.synchronize()

    graph, note = _capture_graph(torch, runner, stream) if cuda_graph else (None, None)
    if note:
        get_logger().warning(note)
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iterations)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(iterations)]
    with torch.cuda.stream(stream):
        for i in tqdm(range(iterations), desc=f"timing batch {batch}", leave=False):
            starts[i].record(stream)
            if graph is not None:
                graph.replay()
            else:
                runner.enqueue(stream)
            ends[i].record(stream)
    stream.synchronize()
    times = [start.elapsed_time(end) for start, end in zip(starts, ends)]
    return {**latency_stats(times, batch), "batch": batch, "input_shape": list(shape), "warmup": warmup,
            "cuda_graph": graph is not None, "timing": "cuda-events, GPU time per launch, no host transfers",
            **({"note": note} if note else {})}
