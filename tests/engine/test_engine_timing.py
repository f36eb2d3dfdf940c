"""Latency statistics and trtexec output parsing (no GPU needed)."""
from pathlib import Path

import pytest

from engine.timing import latency_stats
from engine.trtexec import parse_trtexec_output, trtexec_command

TRTEXEC_LOG = """\
[12/03/2024-10:00:01] [I] === Performance summary ===
[12/03/2024-10:00:01] [I] Throughput: 2451.37 qps
[12/03/2024-10:00:01] [I] Latency: min = 0.391113 ms, max = 0.523926 ms, mean = 0.402 ms, median = 0.400391 ms, percentile(90%) = 0.406 ms, percentile(95%) = 0.41 ms, percentile(99%) = 0.44 ms
[12/03/2024-10:00:01] [I] Enqueue Time: min = 0.0023 ms, max = 0.05 ms, mean = 0.003 ms, median = 0.0029 ms, percentile(90%) = 0.0033 ms, percentile(95%) = 0.0035 ms, percentile(99%) = 0.006 ms
[12/03/2024-10:00:01] [I] H2D Latency: min = 0 ms, max = 0 ms, mean = 0 ms, median = 0 ms, percentile(90%) = 0 ms, percentile(95%) = 0 ms, percentile(99%) = 0 ms
[12/03/2024-10:00:01] [I] GPU Compute Time: min = 0.391113 ms, max = 0.523926 ms, mean = 0.402 ms, median = 0.4 ms, percentile(90%) = 0.406 ms, percentile(95%) = 0.41 ms, percentile(99%) = 0.44 ms
[12/03/2024-10:00:01] [I] D2H Latency: min = 0 ms, max = 0 ms, mean = 0 ms, median = 0 ms, percentile(90%) = 0 ms, percentile(95%) = 0 ms, percentile(99%) = 0 ms
[12/03/2024-10:00:01] [I] Total Host Walltime: 3.00118 s
[12/03/2024-10:00:01] [I] Total GPU Compute Time: 2.95 s
"""


def test_latency_stats():
    stats = latency_stats([1.0, 2.0, 3.0, 4.0, 100.0], batch=4)
    assert stats["median_ms"] == 3.0 and stats["min_ms"] == 1.0 and stats["max_ms"] == 100.0
    assert stats["mean_ms"] == 22.0 and stats["iterations"] == 5
    assert stats["p90_ms"] == pytest.approx(61.6) and stats["p99_ms"] == pytest.approx(96.16)
    assert stats["throughput_ips"] == pytest.approx(4 * 1000 / 22.0)


def test_latency_stats_rejects_empty_and_bad_batch():
    with pytest.raises(ValueError, match="no timings"):
        latency_stats([], 1)
    with pytest.raises(ValueError, match="batch"):
        latency_stats([1.0], 0)


def test_parse_trtexec_performance_summary():
    parsed = parse_trtexec_output(TRTEXEC_LOG)
    assert parsed["throughput_qps"] == 2451.37
    assert parsed["gpu_compute_time"]["median_ms"] == 0.4 and parsed["gpu_compute_time"]["p99_ms"] == 0.44
    assert parsed["latency"]["median_ms"] == 0.400391 and parsed["latency"]["p90_ms"] == 0.406
    assert parsed["h2d_latency"]["median_ms"] == 0.0
    assert parse_trtexec_output("nothing here") == {}


def test_trtexec_command():
    cmd = trtexec_command("/usr/src/tensorrt/bin/trtexec", Path("m.engine"), "images", (32, 3, 256, 256), 200)
    assert cmd[0].endswith("trtexec") and "--loadEngine=m.engine" in cmd and "--iterations=200" in cmd
    assert "--shapes=images:32x3x256x256" in cmd and "--useCudaGraph" in cmd and "--noDataTransfers" in cmd
    static = trtexec_command("trtexec", Path("m.engine"), "images", None, cuda_graph=False)
    assert not any(a.startswith("--shapes") for a in static) and "--useCudaGraph" not in static
