"""Latency measurement, the one home for it: CPU wall-clock runs interleaved across configurations, CUDA-event
timing of GPU launches (optionally replaying a CUDA graph), the statistics every benchmark reports, and what the
machine was doing meanwhile.

Interleaving: every configuration is warmed up, then the timed runs go in rounds across all configurations, so a
change in machine load during the benchmark hits every configuration alike ("side by side in one run").
CUDA events measure GPU time per launch (input already on the device, output left there): the same quantity as
trtexec's "GPU Compute Time" without data transfers, so the two medians can stand side by side.
"""
import os
import platform
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from tqdm import tqdm


def latency_stats(times_ms: Sequence[float], batch: int = 1) -> dict:
    """median/p90/p99/mean/min/max in ms, throughput in images per second (batch / mean latency), run count."""
    ms = np.asarray(times_ms, dtype=np.float64)
    if ms.size == 0:
        raise ValueError("no timings to summarize")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    mean = float(ms.mean())
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": mean, "min_ms": float(ms.min()),
            "max_ms": float(ms.max()), "throughput_ips": batch * 1000.0 / mean if mean > 0 else float("inf"),
            "runs": int(ms.size)}


@dataclass
class Config:
    """One timed CPU configuration: a callable taking the input batch, and what to record about it."""

    label: dict
    run: Callable[[np.ndarray], object]
    batch: np.ndarray
    times_ms: list[float] = field(default_factory=list)


def interleaved(configs: list[Config], warmup: int, runs: int, rounds: int, progress: bool = True) -> None:
    """Warm every config up, then `rounds` rounds of runs/rounds timed calls per config (appended to times_ms)."""
    rounds = max(1, min(rounds, runs))
    per_round = [runs // rounds + (1 if r < runs % rounds else 0) for r in range(rounds)]
    total = len(configs) * (warmup + runs)
    with tqdm(total=total, desc="benchmarking", unit="run", disable=not progress) as bar:
        for config in configs:
            for _ in range(warmup):
                config.run(config.batch)
            bar.update(warmup)
        for count in per_round:
            for config in configs:
                for _ in range(count):
                    start = time.perf_counter()
                    config.run(config.batch)
                    config.times_ms.append((time.perf_counter() - start) * 1000.0)
                bar.update(count)


def capture_cuda_graph(torch, launch: Callable[[object], None], stream):
    """A CUDA graph of one `launch(stream)`, checked by one replay on that same stream; (graph, None), or
    (None, reason) when the launch cannot be captured (the failed capture's CUDA error is cleared first)."""
    graph = torch.cuda.CUDAGraph()
    try:
        # thread_local: the launched library may touch CUDA APIs on other threads that capture must not forbid.
        with torch.cuda.graph(graph, stream=stream, capture_error_mode="thread_local"):
            launch(stream)
        with torch.cuda.stream(stream):  # the check replay goes on the timing stream, ordered before the timing
            graph.replay()
        stream.synchronize()
    except Exception as exc:  # capture errors surface as RuntimeError with CUDA's text
        clear_cuda_error(torch)
        return None, f"CUDA graph capture failed ({type(exc).__name__}: {exc}); timed plain launches"
    return graph, None


def clear_cuda_error(torch, get_last_error: Callable[[], object] | None = None) -> None:
    """Wait for the device, then reset CUDA's last error, which a failed capture leaves set (trtexec does the same):
    otherwise the next, unrelated CUDA call would report the capture's failure."""
    try:
        torch.cuda.synchronize()
    except RuntimeError:
        pass  # the capture's error, surfacing here once; cleared below
    get_last_error = get_last_error or _cuda_get_last_error()
    if get_last_error is not None:
        get_last_error()


def _cuda_get_last_error() -> Callable[[], object] | None:
    """cudaGetLastError of the CUDA runtime already loaded in this process (torch does not expose it): through
    NVIDIA's cuda-python when installed, else the runtime library by its soname."""
    import ctypes
    import importlib

    for module in ("cuda.bindings.runtime", "cuda.cudart"):
        try:
            return importlib.import_module(module).cudaGetLastError
        except (ImportError, AttributeError):
            continue
    for soname in ("libcudart.so.12", "libcudart.so.13", "libcudart.so", "cudart64_12.dll"):
        try:
            return ctypes.CDLL(soname).cudaGetLastError
        except (OSError, AttributeError):
            continue
    return None


def cuda_event_times(torch, launch: Callable[[object], None], stream, iterations: int, graph=None,
                     desc: str = "timing") -> list[float]:
    """GPU milliseconds of `iterations` launches on `stream` (replays of `graph` when given), by CUDA events."""
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(iterations)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(iterations)]
    with torch.cuda.stream(stream):
        for i in tqdm(range(iterations), desc=desc, leave=False):
            starts[i].record(stream)
            if graph is not None:
                graph.replay()
            else:
                launch(stream)
            ends[i].record(stream)
    stream.synchronize()
    return [start.elapsed_time(end) for start, end in zip(starts, ends)]


def _cpu_times() -> tuple[int, int] | None:
    try:
        with open("/proc/stat") as handle:
            fields = [int(v) for v in handle.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields), idle


def machine_load(sample_s: float = 1.0) -> dict:
    """Load average, and how busy the CPUs were over `sample_s` seconds while this process sleeps: the share of
    the machine other processes use (the load average also counts this benchmark's own recent work)."""
    info: dict = {"cpu_count": os.cpu_count()}
    try:
        info["loadavg_1_5_15"] = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        pass
    before = _cpu_times()
    if before is not None and sample_s > 0:
        time.sleep(sample_s)
        after = _cpu_times()
        total, idle = after[0] - before[0], after[1] - before[1]
        info["others_busy_fraction"] = round(1.0 - idle / total, 3) if total > 0 else None
    return info


def cpu_name() -> str:
    """The CPU's model name (as lscpu shows it), for labelling CPU figures."""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
