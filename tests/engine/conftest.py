"""Fixtures of the engine tests: the TensorRT stand-in (both API generations) on the stand-in GPU."""
import sys

import pytest
from trt_standin import GENERATIONS, CudaTorch, StandInGpu, make_tensorrt
from trt_standin.cuda import installed


def install_standin(monkeypatch, generation: str, gpu: StandInGpu | None = None):
    """sys.modules["tensorrt"] = the stand-in for `generation`, and the engine stage's torch on the stand-in GPU;
    both undone by monkeypatch at the end of the test. Returns the module (its __standin__ is the shared state)."""
    import engine.device

    gpu = gpu or StandInGpu()
    module = make_tensorrt(generation, gpu)
    monkeypatch.setitem(sys.modules, "tensorrt", module)
    monkeypatch.setattr(engine.device, "_import_torch", lambda: CudaTorch(gpu))
    return module


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
