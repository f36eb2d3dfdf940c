"""bench.latency: the statistics, interleaved CPU timing, and the CUDA-graph capture order and error clearing
(checked with a recording stand-in for torch.cuda, no GPU needed)."""
import contextlib
import types

import numpy as np
import pytest

from bench.latency import Config, capture_cuda_graph, clear_cuda_error, interleaved, latency_stats


def test_latency_stats_known_values():
    stats = latency_stats([1.0, 2.0, 3.0, 4.0, 100.0], batch=4)
    assert stats["median_ms"] == 3.0 and stats["min_ms"] == 1.0 and stats["max_ms"] == 100.0
    assert stats["mean_ms"] == 22.0 and stats["runs"] == 5
    assert stats["p90_ms"] == pytest.approx(61.6) and stats["p99_ms"] == pytest.approx(96.16)
    assert stats["throughput_ips"] == pytest.approx(4 * 1000 / 22.0)


def test_latency_stats_rejects_empty_and_bad_batch():
    with pytest.raises(ValueError, match="no timings"):
        latency_stats([], 1)
    with pytest.raises(ValueError, match="batch"):
        latency_stats([1.0], 0)


def test_interleaved_runs_every_config_in_rounds():
    calls = []
    configs = [Config({"name": n}, lambda batch, n=n: calls.append(n), np.zeros(1)) for n in "ab"]
    interleaved(configs, warmup=1, runs=5, rounds=2, progress=False)
    # warm-ups first, then round 1 (3 runs each), round 2 (2 runs each), alternating configurations
    assert "".join(calls) == "ab" + "aaabbb" + "aabb"
    assert [len(c.times_ms) for c in configs] == [5, 5] and all(t >= 0 for t in configs[0].times_ms)


class FakeCuda:
    """Records which stream is current when a graph replays, and what a failed capture leaves behind."""

    def __init__(self, capture_fails=False):
        self.current, self.events, self.capture_fails = "default", [], capture_fails
        cuda = self

        class CUDAGraph:
            def replay(self):
                cuda.events.append(("replay", cuda.current))

        self.CUDAGraph = CUDAGraph

    @contextlib.contextmanager
    def stream(self, stream):
        previous, self.current = self.current, stream.name
        yield
        self.current = previous

    @contextlib.contextmanager
    def graph(self, graph, stream, capture_error_mode):
        with self.stream(stream):
            yield
        if self.capture_fails:
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")

    def synchronize(self):
        self.events.append(("synchronize", None))
        if self.capture_fails:
            raise RuntimeError("CUDA error: operation not permitted when stream is capturing")


class FakeStream:
    name = "side"

    def synchronize(self):
        pass


def test_capture_check_replay_runs_on_the_timing_stream():
    cuda = FakeCuda()
    torch = types.SimpleNamespace(cuda=cuda)
    launches = []
    graph, note = capture_cuda_graph(torch, lambda stream: launches.append((stream.name, cuda.current)),
                                     FakeStream())
    assert note is None and launches == [("side", "side")]
    assert cuda.events == [("replay", "side")]  # not on the default stream the timing would race with


def test_failed_capture_clears_the_cuda_error():
    cuda = FakeCuda(capture_fails=True)
    cleared = []
    graph, note = capture_cuda_graph(types.SimpleNamespace(cuda=cuda), lambda stream: None, FakeStream())
    assert graph is None and "CUDA graph capture failed (RuntimeError" in note
    clear_cuda_error(types.SimpleNamespace(cuda=cuda), get_last_error=lambda: cleared.append(True))
    assert ("synchronize", None) in cuda.events and cleared == [True]


def test_cuda_error_is_cleared_in_torchs_runtime_not_through_cuda_python(tmp_path, monkeypatch):
    """cuda-python's runtime module keeps its own error state (it is not the libcudart torch and TensorRT call), so
    clearing through it does nothing: the error must be reset in each libcudart mapped into the process."""
    import ctypes
    import sys

    from bench import latency

    cudart = "/usr/local/lib/python3.12/dist-packages/nvidia/cuda_runtime/lib/libcudart.so.12"
    maps = tmp_path / "maps"
    maps.write_text("7f0a1c000000-7f0a1c028000 r--p 00000000 08:01 1311 /usr/lib/x86_64-linux-gnu/libc.so.6\n"
                    f"7f0a2d000000-7f0a2d080000 r-xp 00000000 08:01 4242 {cudart}\n"
                    f"7f0a2d080000-7f0a2d090000 r--p 00080000 08:01 4242 {cudart}\n"
                    "7ffd5a1f0000-7ffd5a211000 rw-p 00000000 00:00 0 [stack]\n")
    assert latency.loaded_cudart_paths(maps.read_text()) == [cudart]
    monkeypatch.setattr(latency, "PROC_MAPS", str(maps))
    calls = []
    cuda_python = types.ModuleType("cuda.bindings.runtime")  # present in NGC images
    cuda_python.cudaGetLastError = lambda: calls.append("cuda-python")
    for name in ("cuda", "cuda.bindings", "cuda.bindings.runtime", "cuda.cudart"):
        monkeypatch.setitem(sys.modules, name, cuda_python)

    class Library:
        def __init__(self, path):
            self.cudaGetLastError = lambda: calls.append(path)

    monkeypatch.setattr(ctypes, "CDLL", Library)
    clear_cuda_error(types.SimpleNamespace(cuda=FakeCuda()))
    assert calls == [cudart]
