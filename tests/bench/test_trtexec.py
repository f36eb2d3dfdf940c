"""trtexec: its command per TensorRT generation and its output parsing (no GPU needed)."""
from pathlib import Path

from bench.trtexec import parse_trtexec_output, trtexec_command

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


def test_parse_trtexec_performance_summary():
    parsed = parse_trtexec_output(TRTEXEC_LOG)
    assert parsed["throughput_qps"] == 2451.37
    assert parsed["gpu_compute_time"]["median_ms"] == 0.4 and parsed["gpu_compute_time"]["p99_ms"] == 0.44
    assert parsed["latency"]["median_ms"] == 0.400391 and parsed["latency"]["p90_ms"] == 0.406
    assert parsed["h2d_latency"]["median_ms"] == 0.0
    assert parse_trtexec_output("nothing here") == {}


def test_trtexec_command_tensorrt10_opts_in_to_graphs_and_no_transfers():
    cmd = trtexec_command("/usr/src/tensorrt/bin/trtexec", Path("m.engine"), "images", (32, 3, 256, 256), 200)
    assert cmd == ["/usr/src/tensorrt/bin/trtexec", "--loadEngine=m.engine", "--warmUp=500", "--iterations=200",
                   "--shapes=images:32x3x256x256", "--noDataTransfers", "--useCudaGraph"]
    static = trtexec_command("trtexec", Path("m.engine"), "images", None, cuda_graph=False)
    assert static == ["trtexec", "--loadEngine=m.engine", "--warmUp=500", "--iterations=300", "--noDataTransfers"]


def test_trtexec_command_tensorrt11_turns_graphs_off_explicitly():
    """11.x: graphs and no transfers are the default and the 10.x flags are no-ops; only --noCudaGraph counts."""
    graph = trtexec_command("trtexec", Path("m.engine"), "images", None, cuda_graph=True, tensorrt_major=11)
    plain = trtexec_command("trtexec", Path("m.engine"), "images", None, cuda_graph=False, tensorrt_major=11)
    assert graph == ["trtexec", "--loadEngine=m.engine", "--warmUp=500", "--iterations=300"]
    assert plain == graph + ["--noCudaGraph"]
