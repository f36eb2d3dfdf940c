"""Latency measurement of CPU backends: warm-up, then timed runs interleaved across configurations in rounds so
that a change in machine load during the benchmark hits every configuration alike ("side by side in one run")."""
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from tqdm import tqdm


def latency_stats(times_s: list[float], batch: int = 1) -> dict:
    """median/p90/p99/mean/min/max in ms and throughput in images per second (batch / mean latency)."""
    ms = np.asarray(times_s, dtype=np.float64) * 1000.0
    return {"median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "p99_ms": float(np.percentile(ms, 99)), "mean_ms": float(ms.mean()), "min_ms": float(ms.min()),
            "max_ms": float(ms.max()), "throughput_ips": float(batch * 1000.0 / ms.mean()), "runs": int(ms.size)}


@dataclass
class Config:
    """One timed configuration: a callable taking the input batch, and what to record about it."""

    label: dict
    run: Callable[[np.ndarray], object]
    batch: np.ndarray
    times: list[float] = field(default_factory=list)


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def interleaved(configs: list[Config], warmup: int, runs: int, rounds: int, progress: bool = True,
                clock: str = "wall") -> None:
    """Warm every config up, then `rounds` rounds of runs/rounds timed calls per config (times in seconds).

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
                    config.times.append(now() - start)
                bar.update(count)


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
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()
