"""Latency measurement, the one home for it: CPU wall-clock runs interleaved across configurations, CUDA-event
timing of GPU launches (optionally replaying a CUDA graph), the statistics every benchmark reports, and what the
machine was doing meanwhile.

Interleaving: every configuration is warmed up, then the timed runs go in rounds across all configurations, so a
change in machine load during the benchmark hits every configuration alike ("side by side in one run").
CUDA events measure GPU time per launch (input already on the device, output left there): the same quantity as
trtexec's "GPU Compute Time" without data transfers, so the two medians can stand side by side.
"""
import os
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


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved(configs: list[Config], warmup: int, runs: int, rounds: int, progress: bool = True,
                clock: str = "wall") -> None:
    """Warm every config up, then `rounds` rounds of runs/rounds timed calls per config (appended to times_ms).

    clock="cpu" times the CPU seconds the process spends per call (all its threads) instead of the wall clock:
    on a machine other processes load, with 1 thread, that is close to the quiet machine's wall time where
    wall-clock latencies are inflated several-fold by waiting for a core."""
    now = CLOCKS[clock]
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
                    start = now()
                    config.run(config.batch)
                    config.times_ms.append((now() - start) * 1000.0)
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
    otherwise the next, unrelated CUDA call would report the capture's failure. The error lives in the CUDA runtime
    library that made the failing call, so it is reset there: in every libcudart this process has loaded (torch's),
    never through NVIDIA's cuda-python, whose runtime module keeps its own error state and would reset nothing."""
    try:
        torch.cuda.synchronize()
    except RuntimeError:
        pass  # the capture's error, surfacing here once; cleared below
    for reset in [get_last_error] if get_last_error is not None else _loaded_cudart_get_last_error():
        reset()


PROC_MAPS = "/proc/self/maps"


def loaded_cudart_paths(maps_text: str) -> list[str]:
    """The CUDA runtime libraries (libcudart.so*) mapped into a process, from its /proc/<pid>/maps text, in order."""
    paths = []
    for line in maps_text.splitlines():
        fields = line.split(maxsplit=5)
        path = fields[5].strip() if len(fields) == 6 else ""
        if os.path.basename(path).startswith("libcudart.so") and path not in paths:
            paths.append(path)
    return paths


def _loaded_cudart_get_last_error() -> list[Callable[[], object]]:
    """cudaGetLastError of each libcudart already loaded here (dlopen of a loaded library returns that same
    library, and so the same error state); none where the runtime is linked statically or maps are unreadable."""
    import ctypes

    try:
        with open(PROC_MAPS) as handle:
            paths = loaded_cudart_paths(handle.read())
    except OSError:
        return []
    functions = []
    for path in paths:
        try:
            functions.append(ctypes.CDLL(path).cudaGetLastError)
        except (OSError, AttributeError):
            continue
    return functions


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
