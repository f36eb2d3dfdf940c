"""CUDA-event / CUDA-graph timing on a real GPU, without TensorRT: a stand-in runner launches a torch conv."""
import pytest

from bench.trt import time_engine

pytestmark = pytest.mark.gpu


class ConvRunner:
    """Has what time_engine uses from TrtRunner: torch, stream, profile_shapes, input_name, buffers, enqueue."""

    def __init__(self, torch):
        self.torch, self.device, self.input_name = torch, torch.device("cuda", 0), "images"
        self.conv = torch.nn.Conv2d(3, 64, 3, padding=1).cuda().eval()
        self.stream = torch.cuda.Stream(self.device)
        self.profile_shapes = ((1, 3, 256, 256), (8, 3, 256, 256), (8, 3, 256, 256))
        self._buffers = {}

    def buffers(self, shape):
        if shape not in self._buffers:
            self._buffers[shape] = {"images": self.torch.empty(shape, device=self.device)}
        self.current = self._buffers[shape]
        return self.current

    def enqueue(self, stream=None):
        with self.torch.no_grad(), self.torch.cuda.stream(stream or self.stream):
            self.current["out"] = self.conv(self.current["images"])


def test_time_engine_with_and_without_cuda_graph():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU visible to PyTorch")
    runner = ConvRunner(torch)
    with_graph = time_engine(runner, 8, warmup=5, iterations=30, cuda_graph=True)
    plain = time_engine(runner, 1, warmup=5, iterations=30, cuda_graph=False)
    assert with_graph["cuda_graph"] is True and plain["cuda_graph"] is False
    for stats in (with_graph, plain):
        assert stats["runs"] == 30 and 0 < stats["min_ms"] <= stats["median_ms"] <= stats["max_ms"]
    assert with_graph["input_shape"] == [8, 3, 256, 256] and with_graph["throughput_ips"] > 0
