"""Fixtures of the engine tests: the TensorRT stand-in (both API generations) on the stand-in GPU."""
import pytest
from trt_standin import GENERATIONS, StandInGpu, install_standin
from trt_standin.cuda import installed


@pytest.fixture(params=sorted(GENERATIONS), ids=[f"trt{g}" for g in sorted(GENERATIONS)])
def trt(request, monkeypatch):
    """The stand-in `tensorrt` module, once per TensorRT generation (10: the image's 10.8; 11: 11.1)."""
    gpu = StandInGpu()
    module = install_standin(monkeypatch, request.param, gpu)
    with installed(gpu):
        yield module


@pytest.fixture
def gpu(trt):
    return trt.__standin__.gpu
